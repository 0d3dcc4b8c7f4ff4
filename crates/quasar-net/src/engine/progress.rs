//! Progress timeouts: a minimum transfer rate per direction and a write-stall limit,
//! decided lazily from the engine's timer checks (sans-IO: `now` is the caller's).
//!
//! A [`RateWindow`] watches one direction while it is *active* (a request being
//! received; output waiting for the peer). The first check that sees it active opens a
//! window; a check at or after the window's end compares the bytes moved since with
//! the minimum and fails, or opens the next window. A check that sees it inactive
//! forgets the window. Checks run at least once per window (the engine arms its timer
//! for it), so a peer below the rate is closed within two windows of starting.
//!
//! A [`Stall`] is the same idea with no rate: active and not one byte moved for the
//! whole timeout.

use std::time::{Duration, Instant};

/// The least progress a direction must make: `bytes` per `window`. A zero window or
/// zero bytes turns the check off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes that must move in each window.
    pub bytes: u64,
    /// The window.
    pub window: Duration,
}

impl MinRate {
    /// `bytes` per `window`.
    pub const fn new(bytes: u64, window: Duration) -> MinRate {
        MinRate { bytes, window }
    }

    /// No minimum.
    pub const OFF: MinRate = MinRate::new(0, Duration::ZERO);

    /// Whether the check is on.
    pub fn is_on(&self) -> bool {
        self.bytes > 0 && !self.window.is_zero()
    }
}

/// Why a progress check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooSlow {
    pub(crate) moved: u64,
    pub(crate) window: Duration,
}

impl TooSlow {
    /// What moved against what `rate` asked, for the error's message.
    pub(crate) fn describe(&self, rate: MinRate) -> String {
        format!(
            "{} bytes in {:?}, minimum {} per {:?}",
            self.moved, self.window, rate.bytes, rate.window
        )
    }
}

/// One direction's rate window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RateWindow {
    /// When the window opened and the direction's byte total then.
    open: Option<(Instant, u64)>,
}

impl RateWindow {
    /// Checks at `now`, the direction being `active` with `total` bytes moved so far;
    /// returns the next time to check, or the failure.
    pub(crate) fn check(
        &mut self,
        rate: MinRate,
        active: bool,
        total: u64,
        now: Instant,
    ) -> Result<Option<Instant>, TooSlow> {
        if !rate.is_on() {
            self.open = None;
            return Ok(None);
        }
        if !active {
            self.open = None;
            // Look again within a window, to catch a transfer starting meanwhile.
            return Ok(Some(now + rate.window));
        }
        match self.open {
            Some((since, base)) if now >= since + rate.window => {
                let moved = total.saturating_sub(base);
                if moved < rate.bytes {
                    return Err(TooSlow {
                        moved,
                        window: now - since,
                    });
                }
                self.open = Some((now, total));
                Ok(Some(now + rate.window))
            }
            Some((since, _)) => Ok(Some(since + rate.window)),
            None => {
                self.open = Some((now, total));
                Ok(Some(now + rate.window))
            }
        }
    }
}

/// The write-stall watch: output waiting and no byte taken for `timeout`.
///
/// Stateless: the engine knows exactly when output started waiting and when the peer
/// last took a byte, so the close comes `timeout` after the later of the two (not after
/// the first timer check that noticed them).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stall;

impl Stall {
    /// `stalled_since`: since when output has waited with no byte taken (`None`: no
    /// output waits). Fails with how long nothing moved; otherwise says when to look
    /// again (periodically while idle: output may start waiting without a timer change).
    pub(crate) fn check(
        &mut self,
        timeout: Duration,
        stalled_since: Option<Instant>,
        now: Instant,
    ) -> Result<Option<Instant>, Duration> {
        if timeout.is_zero() {
            return Ok(None);
        }
        match stalled_since {
            None => Ok(Some(now + timeout)),
            Some(since) if now >= since + timeout => Err(now - since),
            Some(since) => Ok(Some(since + timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const W: Duration = Duration::from_secs(10);
    const RATE: MinRate = MinRate::new(1000, W);

    #[test]
    fn slowloris_fails_after_one_full_window() {
        let t0 = Instant::now();
        let mut w = RateWindow::default();
        assert_eq!(w.check(RATE, true, 0, t0), Ok(Some(t0 + W)));
        // An early check (another timer) does not end the window.
        assert_eq!(w.check(RATE, true, 5, t0 + W / 2), Ok(Some(t0 + W)));
        let err = w.check(RATE, true, 10, t0 + W).unwrap_err();
        assert_eq!(err.moved, 10);
    }

    #[test]
    fn enough_bytes_open_the_next_window_and_inactivity_forgets() {
        let t0 = Instant::now();
        let mut w = RateWindow::default();
        w.check(RATE, true, 0, t0).unwrap();
        assert_eq!(w.check(RATE, true, 1000, t0 + W), Ok(Some(t0 + 2 * W)));
        // Idle: the window goes; a later slow start gets a full window again.
        w.check(RATE, false, 1000, t0 + 2 * W).unwrap();
        w.check(RATE, true, 1000, t0 + 3 * W).unwrap();
        assert!(w
            .check(RATE, true, 1001, t0 + 4 * W - Duration::from_millis(1))
            .is_ok());
        assert!(w.check(RATE, true, 1001, t0 + 4 * W).is_err());
    }

    #[test]
    fn off_never_fails_and_asks_for_no_timer() {
        let t0 = Instant::now();
        let mut w = RateWindow::default();
        for i in 0..10 {
            assert_eq!(w.check(MinRate::OFF, true, 0, t0 + W * i), Ok(None));
        }
        let mut s = Stall;
        assert_eq!(s.check(Duration::ZERO, Some(t0), t0), Ok(None));
    }

    #[test]
    fn a_stall_fails_only_when_nothing_moved_for_the_whole_timeout() {
        let t0 = Instant::now();
        let mut s = Stall;
        assert_eq!(s.check(W, Some(t0), t0), Ok(Some(t0 + W)));
        assert_eq!(
            s.check(W, Some(t0), t0 + W - Duration::from_secs(1)),
            Ok(Some(t0 + W))
        );
        assert_eq!(s.check(W, Some(t0), t0 + W), Err(W));
        // Nothing waits: look again a timeout later.
        assert_eq!(s.check(W, None, t0), Ok(Some(t0 + W)));
    }

    proptest! {
        /// Whatever the check times, a direction moving at least twice the rate, evenly,
        /// never fails; one moving nothing always fails within two windows of starting.
        #[test]
        fn fast_passes_and_stuck_fails(gaps in proptest::collection::vec(1u64..15_000, 1..60)) {
            let t0 = Instant::now();
            let (mut fast, mut stuck) = (RateWindow::default(), RateWindow::default());
            let mut t = Duration::ZERO;
            let mut failed_at = None;
            for g in gaps {
                t += Duration::from_millis(g);
                // 2000 bytes per 10 s = 200 bytes per second, to the millisecond.
                let total = t.as_millis() as u64 / 5;
                prop_assert!(fast.check(RATE, true, total, t0 + t).is_ok());
                if failed_at.is_none() && stuck.check(RATE, true, 0, t0 + t).is_err() {
                    failed_at = Some(t);
                }
            }
            if let Some(at) = failed_at {
                prop_assert!(at >= W);
            }
        }
    }
}
