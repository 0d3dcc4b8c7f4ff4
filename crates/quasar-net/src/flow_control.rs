//! Flow control: the whole write-queue policy of a connection, in one place.
//!
//! pulsar's `FlowControl` mixin pauses writing when the transport's buffer passes its
//! high-water mark and resumes below the low one, and it pauses *reading* too, so a peer
//! that does not read back-pressures the peer that writes. It never capped the buffer, so
//! a client that never read made the server's memory grow without bound.
//!
//! [`WaterMarks`] holds the marks (asyncio's defaults: 64 KiB high, 16 KiB low) and
//! adds a hard cap (4x high by default). The connection applies them through one
//! policy type (crate-private, `FlowControl`), which every part of the connection asks:
//!
//! - **Pause and resume.** At the high mark the output pauses; it resumes only once the
//!   level drains to the low mark (hysteresis, so it does not flap around one threshold).
//!   The level counts queued bytes plus bytes parked behind unfinished responses.
//! - **Full.** Producers of output wait while the output is paused or at the high mark:
//!   consumers of a request/response exchange stop being fed (and the connection stops
//!   reading), [`Context::is_write_paused`](crate::Context::is_write_paused) says so,
//!   [`Connection::writable`](crate::Connection::writable) waits. A full-duplex exchange
//!   reads on, since what it reads does not become its own output.
//! - **Pulling.** A body stream is polled for its next chunk only below the high mark;
//!   finished results (a future's answer, bytes parked behind an earlier response) move
//!   into the queue as soon as they reach the front, since they are already in memory.
//! - **The cap.** A write that would take the output past the cap is refused with
//!   [`Error::is_write_buffer_full`](crate::Error::is_write_buffer_full) and the
//!   connection is closed; the same check guards
//!   [`Connection::write`](crate::Connection::write) from outside the connection, and a
//!   datagram server's outgoing queue ([`MAX_QUEUED_BYTES`]). Chunks the engine pulled
//!   itself (only ever below the high mark) are exempt, so a response of any size streams
//!   out to a peer that reads.
//!
//! Set the marks with
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

/// The cap of a datagram server's outgoing queue: the bytes one receive batch may queue
/// before they are sent. A consumer that queues more gets
/// [`Error::is_write_buffer_full`](crate::Error::is_write_buffer_full).
pub const MAX_QUEUED_BYTES: usize = 8 * 1024 * 1024;

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

/// Refuses a total of `total` bytes held for a peer when it passes `cap`.
///
/// The one cap check: the connection's own writes, [`Connection::write`](crate::Connection::write)
/// from outside it and a datagram server's queue all refuse through it.
pub(crate) fn check_cap(total: usize, cap: usize) -> Result<()> {
    if total > cap {
        return Err(Error::new_write_buffer_full(total, cap));
    }
    Ok(())
}

/// Whether a writer outside the connection may write now: the output is not paused and
/// `pending` (the driver's level plus what such writers queued and it has not taken yet)
/// is below the high mark.
pub(crate) fn external_writable(paused: bool, pending: usize, high: usize) -> bool {
    !paused && pending < high
}

/// The write-queue policy of one connection (see the [module docs](self)): the marks and
/// whether the output is paused between them. Every rule takes the output's *level*,
/// queued plus parked bytes, from the caller, which owns the bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowControl {
    marks: WaterMarks,
    paused: bool,
}

impl FlowControl {
    pub(crate) fn new(marks: WaterMarks) -> FlowControl {
        FlowControl {
            marks,
            paused: false,
        }
    }

    pub(crate) fn marks(&self) -> WaterMarks {
        self.marks
    }

    /// Whether the output is paused (it passed the high mark and has not yet drained to
    /// the low one), as of the last [`update`](Self::update).
    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Re-evaluates the pause at `level`: it pauses at the high mark and resumes at the
    /// low one. Returns whether the output is paused.
    pub(crate) fn update(&mut self, level: usize) -> bool {
        if !self.paused && level >= self.marks.high {
            self.paused = true;
        } else if self.paused && level <= self.marks.low {
            self.paused = false;
        }
        self.paused
    }

    /// Whether producers of output must wait at `level`: paused, or at the high mark
    /// already (a write since the last update may have reached it).
    pub(crate) fn is_full(&self, level: usize) -> bool {
        self.paused || level >= self.marks.high
    }

    /// Whether the front exchange may be fed input (and the connection read) at `level`:
    /// a request/response exchange waits while the output is full, so a peer that does
    /// not read its answers is held back; a full-duplex one takes input whatever its
    /// output does.
    pub(crate) fn takes_input(&self, full_duplex: bool, level: usize) -> bool {
        full_duplex || !self.is_full(level)
    }

    /// Whether the engine may move the front response's next output into the queue at
    /// `level`: a body stream's next chunk only below the high mark; a finished result
    /// (`finished`: already in memory) at any level.
    pub(crate) fn may_pull(&self, level: usize, finished: bool) -> bool {
        finished || level < self.marks.high
    }

    /// Refuses `extra` more bytes on top of `level` if that passes the cap.
    pub(crate) fn check_cap(&self, level: usize, extra: usize) -> Result<()> {
        check_cap(level.saturating_add(extra), self.marks.cap)
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

    fn small() -> FlowControl {
        FlowControl::new(WaterMarks::new(4, 8).unwrap().with_cap(16).unwrap())
    }

    #[test]
    fn pauses_at_the_high_mark_and_resumes_only_at_the_low_one() {
        let mut f = small();
        assert!(!f.update(7), "below the high mark");
        assert!(f.update(8), "at the high mark: pause");
        assert!(f.update(5), "between the marks: still paused (hysteresis)");
        assert!(f.is_paused());
        assert!(!f.update(4), "at the low mark: resume");
        assert!(!f.update(7), "between the marks again: still running");
    }

    #[test]
    fn full_means_paused_or_at_the_high_mark() {
        let mut f = small();
        assert!(!f.is_full(7));
        assert!(
            f.is_full(8),
            "a write reached the mark before the next update"
        );
        f.update(9);
        assert!(f.is_full(5), "paused until the low mark");
        f.update(4);
        assert!(!f.is_full(4));
    }

    #[test]
    fn a_full_output_holds_back_request_response_input_but_not_full_duplex() {
        let mut f = small();
        f.update(10);
        assert!(!f.takes_input(false, 10));
        assert!(f.takes_input(true, 10));
        f.update(0);
        assert!(f.takes_input(false, 0));
    }

    #[test]
    fn streams_are_pulled_below_the_high_mark_finished_results_always() {
        let mut f = small();
        assert!(f.may_pull(7, false));
        assert!(!f.may_pull(8, false));
        f.update(12);
        assert!(f.may_pull(12, true), "already in memory");
        assert!(
            f.may_pull(7, false),
            "below the high mark a stream is pulled even while paused"
        );
    }

    #[test]
    fn the_cap_refuses_what_would_pass_it() {
        let f = small();
        f.check_cap(10, 6).unwrap();
        assert!(f.check_cap(10, 7).unwrap_err().is_write_buffer_full());
        assert!(f.check_cap(usize::MAX, 1).is_err(), "no overflow");
        assert!(check_cap(MAX_QUEUED_BYTES + 1, MAX_QUEUED_BYTES).is_err());
    }

    #[test]
    fn outside_writers_wait_while_paused_or_at_the_high_mark() {
        assert!(external_writable(false, 7, 8));
        assert!(!external_writable(false, 8, 8));
        assert!(!external_writable(true, 0, 8));
    }
}
