//! A log gate that lets one line through per interval and counts what it held back.
//!
//! Under attack the same event happens thousands of times a second, and a line per
//! occurrence would cost the server more than the attack itself. A
//! [`RateLimitedLog`] decides, per event kind, whether this occurrence is logged: the
//! first one always is (so an operator sees an attack begin), then at most one per
//! `interval`, and each logged line carries how many occurrences were suppressed since
//! the previous one. It is sans-IO (`now` comes from the caller) and lock-free (two
//! atomics), so it can sit on a hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one log line through per interval; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    /// Where the clock of `last` starts (this gate's creation).
    base: Instant,
    interval_ns: u64,
    /// Nanoseconds after `base` of the last line let through, plus one (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    /// A gate letting one line through per `interval`.
    pub(crate) fn new(interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            base: Instant::now(),
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Records one occurrence at `now`: `Some(n)` when it should be logged, `n` being
    /// the occurrences suppressed since the last logged one; `None` when it is
    /// suppressed (and counted).
    #[cfg(test)]
    pub(crate) fn check(&self, now: Instant) -> Option<u64> {
        self.check_n(now, 1)
    }

    /// As [`check`](Self::check) for `n` occurrences at once (a batch); when the line
    /// is let through, the `n - 1` others of the batch count as suppressed.
    pub(crate) fn check_n(&self, now: Instant, n: u64) -> Option<u64> {
        if n == 0 {
            return None;
        }
        // +1 so that 0 can mean "never logged" even at `base` itself.
        let at = u64::try_from(now.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX - 1)
            + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || at.saturating_sub(last) >= self.interval_ns;
        if due
            && self
                .last
                .compare_exchange(last, at, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let held = self.suppressed.swap(0, Ordering::AcqRel);
            return Some(held + (n - 1));
        }
        self.suppressed.fetch_add(n, Ordering::Relaxed);
        None
    }

    /// Occurrences suppressed since the last line let through (a final summary can
    /// report them).
    #[cfg(test)]
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_first_is_logged_then_one_per_interval_with_the_count_held_back() {
        let log = RateLimitedLog::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(log.check(t0), Some(0), "the first occurrence is logged");
        assert_eq!(log.check(t0), None, "then held back");
        assert_eq!(log.check(t0 + Duration::from_millis(500)), None);
        // The interval passed: logged, with "2 more suppressed".
        assert_eq!(log.check(t0 + Duration::from_secs(1)), Some(2));
    }

    #[test]
    fn batches_count_all_but_the_logged_one() {
        let log = RateLimitedLog::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(log.check_n(t0, 5), Some(4));
        assert_eq!(log.check_n(t0, 3), None);
        assert_eq!(log.suppressed(), 3);
        assert_eq!(log.check_n(t0 + Duration::from_secs(2), 2), Some(4));
        assert_eq!(log.check_n(t0, 0), None);
    }

    #[test]
    fn threads_let_one_line_through_per_interval() {
        let log = std::sync::Arc::new(RateLimitedLog::new(Duration::from_secs(3600)));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let log = log.clone();
                std::thread::spawn(move || (0..10_000).filter(|_| log.check(t0).is_some()).count())
            })
            .collect();
        let logged: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(logged, 1);
        assert_eq!(log.suppressed(), 39_999);
    }

    proptest! {
        /// Over any sequence of event times, lines let through are spaced by at least the
        /// interval, and logged + reported suppressed + still held = events.
        #[test]
        fn spacing_and_accounting(steps in proptest::collection::vec(0u64..400, 1..300)) {
            let log = RateLimitedLog::new(Duration::from_millis(100));
            let t0 = Instant::now();
            let mut t = t0;
            let (mut lines, mut reported, mut last_line) = (0u64, 0u64, None::<Instant>);
            for ms in &steps {
                t += Duration::from_millis(*ms);
                if let Some(n) = log.check(t) {
                    if let Some(prev) = last_line {
                        prop_assert!(t - prev >= Duration::from_millis(100));
                    }
                    last_line = Some(t);
                    lines += 1;
                    reported += n;
                }
            }
            prop_assert_eq!(lines + reported + log.suppressed(), steps.len() as u64);
        }
    }
}
