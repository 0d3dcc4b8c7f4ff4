//! Flow control: the high and low water marks of a connection's write queue.
//!
//! pulsar's `FlowControl` mixin pauses writing when the transport's buffer passes its
//! high-water mark and resumes below the low one, and it pauses *reading* too, so a peer
//! that does not read back-pressures the peer that writes. It never capped the buffer, so
//! a client that never read made the server's memory grow without bound.
//!
//! [`WaterMarks`] holds the marks (asyncio's defaults: 64 KiB high, 16 KiB low) and
//! adds a hard cap (4x high by default). The connection's write queue applies them: at
//! the high mark the connection stops reading and feeding consumers until the queue
//! drains to the low mark (hysteresis, so it does not flap around one threshold), and
//! a write that would take the queue past the cap is refused with
//! [`Error::is_write_buffer_full`](crate::Error::is_write_buffer_full) and the
//! connection is closed. Set them with
//! [`TcpServerBuilder::water_marks`](crate::TcpServerBuilder::water_marks) or
//! [`ConnectionConfig::water_marks`](crate::ConnectionConfig::water_marks).
//!
//! # Examples
//!
//! ```
//! use quasar_net::flow_control::WaterMarks;
//!
//! let marks = WaterMarks::new(4, 8).unwrap().with_cap(32).unwrap();
//! assert_eq!((marks.low(), marks.high(), marks.cap()), (4, 8, 32));
//! assert!(WaterMarks::new(8, 4).unwrap_err().is_config(), "low above high");
//! assert_eq!(WaterMarks::default().high(), 64 * 1024);
//! ```

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
}
