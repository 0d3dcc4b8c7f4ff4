//! What the connections of one worker thread measured, and the errors they met.
//!
//! Each worker thread owns one [`WorkerStats`] shared by its connection tasks (they run on the
//! same current-thread runtime, so a `RefCell` is enough and no atomics sit on the hot path
//! besides the progress counters). The runner merges the workers' stats after the run.
//!
//! A `--requests` budget is the one thing the threads share while running: a [`Budget`] counts
//! the measured replies of every thread and says when the run is over.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Keep this many error messages for the report; the rest are only counted.
const MAX_ERROR_SAMPLES: usize = 8;

/// Highest latency the histograms track: 100 s, in nanoseconds.
const MAX_LATENCY_NS: u64 = 100_000_000_000;

/// When the run starts, when measuring starts and stops, and when waiting for replies ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Load starts.
    pub(crate) start: Instant,
    /// Warm-up ends and measuring starts.
    pub(crate) measure_start: Instant,
    /// No request is sent from here on.
    pub(crate) stop: Instant,
    /// Replies still missing here are errors.
    pub(crate) drain_deadline: Instant,
}

impl Schedule {
    /// Whether `t` falls in the measured window.
    pub(crate) fn in_window(&self, t: Instant) -> bool {
        t >= self.measure_start && t < self.stop
    }

    /// Length of the measured window.
    pub(crate) fn window(&self) -> Duration {
        self.stop - self.measure_start
    }
}

/// `--requests N`: the measured replies every connection of every thread may still count, and
/// when the last of them arrived.
///
/// A reply claims one of the `N` slots when it is verified inside the measured window; the
/// claim that takes the last slot ends the run: connections stop sending, sleeping tasks are
/// woken, the main thread samples the server's CPU, and the measured window closes at the
/// latest counted reply. Replies to requests already in flight then are still verified (a bad
/// one is an error) but not counted, so a run that ends by its budget counts exactly `N`.
/// Without a budget every method is a branch on `None` and nothing is shared.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: Option<u64>,
    /// The instant the arrival times below count from.
    base: Instant,
    /// Slots claimed so far (may pass `limit` by the claims that lost).
    claimed: AtomicU64,
    /// Latest arrival of a counted reply, in nanoseconds after `base`, plus one (0: none yet).
    last: AtomicU64,
    /// Set once the last slot is taken; checked on every turn of every connection loop.
    spent: AtomicBool,
    /// Wakes connection tasks waiting for a reply or a paced send when the budget is spent.
    wake_tasks: tokio::sync::Notify,
    /// Wakes the main thread (it is not a tokio task), paired with `spent_cv`.
    spent_lock: Mutex<bool>,
    spent_cv: Condvar,
}

impl Budget {
    /// A budget of `limit` measured replies (`None`: the run ends at `--duration` only);
    /// arrival times count from `base`.
    pub(crate) fn new(limit: Option<u64>, base: Instant) -> Budget {
        Budget {
            limit,
            base,
            claimed: AtomicU64::new(0),
            last: AtomicU64::new(0),
            spent: AtomicBool::new(false),
            wake_tasks: tokio::sync::Notify::new(),
            spent_lock: Mutex::new(false),
            spent_cv: Condvar::new(),
        }
    }

    /// The budget, if there is one.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Whether the budget is spent: no request may be sent any more.
    #[inline]
    pub(crate) fn is_spent(&self) -> bool {
        self.limit.is_some() && self.spent.load(Ordering::Acquire)
    }

    /// Claims a slot for a reply verified in the measured window at `now`; returns whether it
    /// counts. The claim that takes the last slot ends the run.
    #[inline]
    fn claim(&self, now: Instant) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let taken = self.claimed.fetch_add(1, Ordering::Relaxed);
        if taken >= limit {
            return false;
        }
        let nanos = u64::try_from(now.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX - 1);
        self.last.fetch_max(nanos + 1, Ordering::AcqRel);
        if taken + 1 == limit {
            self.spent.store(true, Ordering::Release);
            self.wake_tasks.notify_waiters();
            let mut spent = self.spent_lock.lock().unwrap_or_else(|e| e.into_inner());
            *spent = true;
            self.spent_cv.notify_all();
        }
        true
    }

    /// When the budget ran out (the latest counted reply), if it has.
    pub(crate) fn ended_at(&self) -> Option<Instant> {
        if !self.is_spent() {
            return None;
        }
        match self.last.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }

    /// A future that resolves when the budget is spent (never without a budget). It sees a
    /// spend that happens any time after this call, so create it *before* checking
    /// [`Budget::is_spent`] and a spend in between is not missed.
    pub(crate) fn spent_signal(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake_tasks.notified()
    }

    /// Blocks the calling (non-tokio) thread for up to `timeout` or until the budget is
    /// spent; returns whether it is.
    pub(crate) fn wait_spent(&self, timeout: Duration) -> bool {
        if self.limit.is_none() {
            std::thread::sleep(timeout);
            return false;
        }
        let spent = self.spent_lock.lock().unwrap_or_else(|e| e.into_inner());
        let (spent, _) = self
            .spent_cv
            .wait_timeout_while(spent, timeout, |spent| !*spent)
            .unwrap_or_else(|e| e.into_inner());
        *spent
    }
}

/// Kinds of failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The reply differs from the request (echo, udp) or is not the expected response.
    Mismatch,
    /// The server closed the connection with requests outstanding or before the run ended.
    Eof,
    /// A socket error.
    Io,
    /// No reply before the drain deadline (or, for udp, within `--timeout`).
    Timeout,
    /// A reply that answers no outstanding request.
    Unexpected,
    /// http: a status other than 200.
    Status,
    /// http: a response the client cannot parse.
    Parse,
    /// The connection could not be opened.
    Connect,
}

/// Counts of failed requests by kind.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct ErrorCounts {
    pub(crate) total: u64,
    pub(crate) mismatch: u64,
    pub(crate) eof: u64,
    pub(crate) io: u64,
    pub(crate) timeout: u64,
    pub(crate) unexpected: u64,
    pub(crate) status: u64,
    pub(crate) parse: u64,
    pub(crate) connect: u64,
}

impl ErrorCounts {
    /// Counts `n` errors of `kind`.
    pub(crate) fn add(&mut self, kind: ErrorKind, n: u64) {
        let slot = match kind {
            ErrorKind::Mismatch => &mut self.mismatch,
            ErrorKind::Eof => &mut self.eof,
            ErrorKind::Io => &mut self.io,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Unexpected => &mut self.unexpected,
            ErrorKind::Status => &mut self.status,
            ErrorKind::Parse => &mut self.parse,
            ErrorKind::Connect => &mut self.connect,
        };
        *slot += n;
        self.total += n;
    }

    fn merge(&mut self, other: &ErrorCounts) {
        self.total += other.total;
        self.mismatch += other.mismatch;
        self.eof += other.eof;
        self.io += other.io;
        self.timeout += other.timeout;
        self.unexpected += other.unexpected;
        self.status += other.status;
        self.parse += other.parse;
        self.connect += other.connect;
    }
}

/// Live counters the progress bar reads from another thread.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Replies verified so far (warm-up included).
    pub(crate) completed: AtomicU64,
    /// Errors so far.
    pub(crate) errors: AtomicU64,
}

/// Figures of one worker thread (or, merged, of the whole run).
#[derive(Debug)]
pub(crate) struct WorkerStats {
    /// From each request's intended send time to its reply (closed loop: the actual send time).
    pub(crate) latency: Histogram<u64>,
    /// From each request's actual send time to its reply (differs from `latency` in open loop).
    pub(crate) service: Histogram<u64>,
    /// Replies verified inside the measured window.
    pub(crate) completed: u64,
    /// Reply bytes verified inside the measured window.
    pub(crate) bytes: u64,
    pub(crate) errors: ErrorCounts,
    pub(crate) samples: Vec<String>,
}

// ===== impl WorkerStats =====

impl WorkerStats {
    pub(crate) fn new() -> WorkerStats {
        let histogram =
            || Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("static histogram bounds");
        WorkerStats {
            latency: histogram(),
            service: histogram(),
            completed: 0,
            bytes: 0,
            errors: ErrorCounts::default(),
            samples: Vec::new(),
        }
    }

    /// Records one verified reply that arrived at `now` for a request meant to leave at
    /// `intended` and sent at `sent`.
    ///
    /// Throughput counts replies that arrive in the window (and, with a budget, claim one of
    /// its slots); latency counts requests whose intended send time is in the window and before
    /// the budget ran out, whenever (before the drain deadline) their reply came.
    #[inline]
    pub(crate) fn record(
        &mut self,
        schedule: &Schedule,
        budget: &Budget,
        now: Instant,
        intended: Instant,
        sent: Instant,
        bytes: usize,
    ) {
        if schedule.in_window(now) && budget.claim(now) {
            self.completed += 1;
            self.bytes += bytes as u64;
        }
        let before_end = budget.ended_at().is_none_or(|end| intended <= end);
        if intended >= schedule.measure_start && intended < schedule.stop && before_end {
            let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
            self.latency
                .saturating_record(nanos(now.saturating_duration_since(intended)));
            self.service
                .saturating_record(nanos(now.saturating_duration_since(sent)));
        }
    }

    /// Counts `n` errors of `kind`, keeping the message of the first few.
    pub(crate) fn error(
        &mut self,
        progress: &Progress,
        kind: ErrorKind,
        n: u64,
        message: impl fmt::Display,
    ) {
        if n == 0 {
            return;
        }
        self.errors.add(kind, n);
        progress.errors.fetch_add(n, Ordering::Relaxed);
        if self.samples.len() < MAX_ERROR_SAMPLES {
            self.samples.push(message.to_string());
        }
    }

    /// Adds another worker's figures to these.
    pub(crate) fn merge(&mut self, other: &WorkerStats) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        self.completed += other.completed;
        self.bytes += other.bytes;
        self.errors.merge(&other.errors);
        for sample in &other.samples {
            if self.samples.len() < MAX_ERROR_SAMPLES {
                self.samples.push(sample.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    fn schedule(start: Instant) -> Schedule {
        Schedule {
            start,
            measure_start: start,
            stop: start + Duration::from_secs(60),
            drain_deadline: start + Duration::from_secs(62),
        }
    }

    #[test]
    fn a_budget_counts_exactly_its_limit_and_ends_at_the_last_counted_reply() {
        let start = Instant::now();
        let schedule = schedule(start);
        let budget = Budget::new(Some(3), start);
        let signal = budget.spent_signal();
        let mut stats = WorkerStats::new();
        let at = |ms| start + Duration::from_millis(ms);
        for ms in [1, 2] {
            stats.record(&schedule, &budget, at(ms), at(0), at(0), 10);
        }
        assert!(!budget.is_spent());
        assert_eq!(budget.ended_at(), None);
        assert!(!budget.wait_spent(Duration::ZERO));
        stats.record(&schedule, &budget, at(3), at(0), at(0), 10);
        assert!(budget.is_spent());
        assert_eq!(budget.ended_at(), Some(at(3)));
        // Created before the spend, so it resolves; the main thread's wait returns at once.
        assert_eq!(signal.now_or_never(), Some(()));
        assert!(budget.wait_spent(Duration::from_secs(60)));
        // A reply to a request in flight is not counted; its latency is, as it was sent
        // before the end; one sent after the end counts for neither.
        stats.record(&schedule, &budget, at(4), at(2), at(2), 10);
        stats.record(&schedule, &budget, at(6), at(5), at(5), 10);
        assert_eq!((stats.completed, stats.bytes), (3, 30));
        assert_eq!(stats.latency.len(), 4);
    }

    #[test]
    fn without_a_budget_every_reply_in_the_window_counts_and_nothing_ends_early() {
        let start = Instant::now();
        let schedule = schedule(start);
        let budget = Budget::new(None, start);
        let mut stats = WorkerStats::new();
        for ms in 1..=1000 {
            let t = start + Duration::from_millis(ms);
            stats.record(&schedule, &budget, t, t, t, 1);
        }
        assert_eq!(stats.completed, 1000);
        assert!(!budget.is_spent());
        assert_eq!(budget.ended_at(), None);
        assert_eq!(budget.spent_signal().now_or_never(), None);
    }
}
