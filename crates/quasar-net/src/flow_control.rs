//! Flow control: the connection's write buffer with high and low water marks.
//!
//! pulsar's `FlowControl` mixin pauses writing when the transport's buffer passes its
//! high-water mark and resumes below the low one, and it pauses *reading* too, so a peer
//! that does not read back-pressures the peer that writes. It never capped the buffer, so
//! a client that never read made the server's memory grow without bound.
//!
//! [`WriteBuffer`] keeps the marks (asyncio's defaults: 64 KiB high, 16 KiB low) and
//! adds a hard cap (4x high by default): a write that would take the buffer past the cap
//! is refused with [`Error::is_write_buffer_full`](crate::Error::is_write_buffer_full)
//! and the connection is closed. Between the marks the buffer is *paused*: the connection
//! stops reading and feeding consumers until it drains below the low mark.
//!
//! # Examples
//!
//! ```
//! use quasar_net::flow_control::{WaterMarks, WriteBuffer};
//!
//! let marks = WaterMarks::new(4, 8).unwrap().with_cap(32).unwrap();
//! let mut buf = WriteBuffer::new(marks);
//! buf.extend(b"0123456789").unwrap();
//! assert!(buf.update_paused(), "above the high mark: pause");
//! buf.advance(5);
//! assert!(buf.update_paused(), "still above the low mark");
//! buf.advance(1);
//! assert!(!buf.update_paused(), "below the low mark: resume");
//! assert!(buf.extend(&[0; 40]).unwrap_err().is_write_buffer_full());
//! ```

use bytes::{Buf, BytesMut};

use crate::{Error, Result};

/// asyncio's default high-water mark.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// The write buffer's high and low water marks and its hard cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaterMarks {
    low: usize,
    high: usize,
    cap: usize,
}

impl WaterMarks {
    /// Marks with `low <= high`; the cap defaults to 4x `high`.
    ///
    /// # Errors
    ///
    /// A config error when `low > high` or `high == 0`.
    pub fn new(low: usize, high: usize) -> Result<WaterMarks> {
        if high == 0 || low > high {
            return Err(Error::config(format!(
                "water marks need 0 < high and low <= high (low {low}, high {high})"
            )));
        }
        Ok(WaterMarks {
            low,
            high,
            cap: high.saturating_mul(4),
        })
    }

    /// Sets the hard cap.
    ///
    /// # Errors
    ///
    /// A config error when `cap < high`.
    pub fn with_cap(self, cap: usize) -> Result<WaterMarks> {
        if cap < self.high {
            return Err(Error::config(format!(
                "write buffer cap {cap} is below the high mark {}",
                self.high
            )));
        }
        Ok(WaterMarks { cap, ..self })
    }

    /// The low-water mark.
    pub fn low(&self) -> usize {
        self.low
    }
    /// The high-water mark.
    pub fn high(&self) -> usize {
        self.high
    }
    /// The hard cap.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

impl Default for WaterMarks {
    /// asyncio's defaults: high 64 KiB, low high/4, cap 4x high.
    fn default() -> WaterMarks {
        WaterMarks {
            low: DEFAULT_HIGH_WATER / 4,
            high: DEFAULT_HIGH_WATER,
            cap: DEFAULT_HIGH_WATER * 4,
        }
    }
}

/// A byte buffer that knows its water marks and refuses to pass its cap.
#[derive(Debug)]
pub struct WriteBuffer {
    buf: BytesMut,
    marks: WaterMarks,
    paused: bool,
    peak: usize,
}

impl WriteBuffer {
    /// An empty buffer with the given marks.
    pub fn new(marks: WaterMarks) -> WriteBuffer {
        WriteBuffer {
            buf: BytesMut::new(),
            marks,
            paused: false,
            peak: 0,
        }
    }

    /// Appends `data`.
    ///
    /// # Errors
    ///
    /// [`Error::is_write_buffer_full`](crate::Error::is_write_buffer_full) when the buffer
    /// would pass its cap; nothing is appended then.
    pub fn extend(&mut self, data: &[u8]) -> Result<()> {
        let len = self.buf.len() + data.len();
        if len > self.marks.cap {
            return Err(Error::new_write_buffer_full(len, self.marks.cap));
        }
        self.buf.extend_from_slice(data);
        self.peak = self.peak.max(len);
        Ok(())
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes waiting to be written.
    pub fn chunk(&self) -> &[u8] {
        &self.buf
    }

    /// Drops `n` written bytes from the front.
    pub fn advance(&mut self, n: usize) {
        self.buf.advance(n);
    }

    /// Re-evaluates the marks and returns whether the buffer is now paused: it pauses at
    /// or above the high mark and resumes at or below the low mark (hysteresis).
    pub fn update_paused(&mut self) -> bool {
        let len = self.buf.len();
        if !self.paused && len >= self.marks.high {
            self.paused = true;
        } else if self.paused && len <= self.marks.low {
            self.paused = false;
        }
        self.paused
    }

    /// Whether writing is paused (the last [`update_paused`](Self::update_paused) result).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether the buffer holds at least the high mark (feeding consumers should stop).
    pub fn is_above_high(&self) -> bool {
        self.buf.len() >= self.marks.high
    }

    /// The largest number of bytes the buffer ever held.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The marks in force.
    pub fn marks(&self) -> WaterMarks {
        self.marks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_asyncio() {
        let m = WaterMarks::default();
        assert_eq!(
            (m.low(), m.high(), m.cap()),
            (16 * 1024, 64 * 1024, 256 * 1024)
        );
    }

    #[test]
    fn bad_marks_are_config_errors() {
        assert!(WaterMarks::new(10, 5).unwrap_err().is_config());
        assert!(WaterMarks::new(0, 0).unwrap_err().is_config());
        assert!(WaterMarks::new(1, 8)
            .unwrap()
            .with_cap(4)
            .unwrap_err()
            .is_config());
    }

    #[test]
    fn a_refused_write_appends_nothing() {
        let mut buf = WriteBuffer::new(WaterMarks::new(1, 2).unwrap().with_cap(4).unwrap());
        buf.extend(b"abc").unwrap();
        assert!(buf.extend(b"de").is_err());
        assert_eq!(buf.chunk(), b"abc");
        assert_eq!(buf.peak(), 3);
    }
}
