//! Connection accounting for a server: how many are open, and how the drain went.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::task::TaskTracker;

use super::CloseReport;
use crate::connection::shutdown::Shutdown;
use crate::Connection;

/// Live connections of one server, across all its workers.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: Shutdown,
    pub(crate) forced: AtomicU64,
    /// Times the accept loop found every `max_connections` permit taken and waited.
    pub(crate) limit_waits: AtomicU64,
    /// Accept errors that made the loop back off (EMFILE, ENOBUFS, ...).
    pub(crate) accept_backoffs: AtomicU64,
    /// Bytes read and written by connections that have ended; the live ones are added
    /// when a snapshot is taken, so the totals only grow (Prometheus counters).
    pub(crate) closed_bytes_read: AtomicU64,
    pub(crate) closed_bytes_written: AtomicU64,
    /// Handles of the open connections, by session (pulsar's live set).
    live: Mutex<HashMap<u64, Connection>>,
    /// When the last "max_connections reached" warning was logged.
    limit_warned: Mutex<Option<Instant>>,
}

impl Tracker {
    pub(crate) fn connected(&self) -> u64 {
        // The live set, not the task count: tasks also hold connections waiting for a
        // slot or being refused (see `shed`), which are not connected clients.
        self.live_set().len() as u64
    }

    pub(crate) fn enter(&self, conn: &Connection) {
        self.live_set().insert(conn.session(), conn.clone());
    }

    pub(crate) fn leave(&self, conn: &Connection) {
        // Remove first, then add: a snapshot in between misses these bytes for a
        // moment instead of counting them twice (a counter must never go down).
        self.live_set().remove(&conn.session());
        let info = conn.info();
        self.closed_bytes_read
            .fetch_add(info.bytes_read, Ordering::Relaxed);
        self.closed_bytes_written
            .fetch_add(info.bytes_written, Ordering::Relaxed);
    }

    /// Whether a "max_connections reached" warning may be logged now (at most one per
    /// `interval`); a `true` answer starts the next interval.
    pub(crate) fn limit_warning_due(&self, interval: Duration) -> bool {
        let mut last = self
            .limit_warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Byte totals (ended connections plus the live ones) and how many live
    /// connections have their writes paused now.
    pub(crate) fn traffic(&self) -> (u64, u64, u64) {
        let (mut read, mut written, mut paused) = (0u64, 0u64, 0u64);
        for c in self.live_set().values() {
            let i = c.info();
            read = read.saturating_add(i.bytes_read);
            written = written.saturating_add(i.bytes_written);
            paused += u64::from(i.write_paused);
        }
        (
            read.saturating_add(self.closed_bytes_read.load(Ordering::Relaxed)),
            written.saturating_add(self.closed_bytes_written.load(Ordering::Relaxed)),
            paused,
        )
    }

    pub(crate) fn connections(&self) -> Vec<Connection> {
        let mut v: Vec<_> = self.live_set().values().cloned().collect();
        v.sort_by_key(Connection::session);
        v
    }

    pub(crate) fn connection(&self, session: u64) -> Option<Connection> {
        self.live_set().get(&session).cloned()
    }

    fn live_set(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Connection>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn report(&self) -> CloseReport {
        let forced = self.forced.load(Ordering::Relaxed);
        let busy = self.shutdown.drained_busy.load(Ordering::Relaxed);
        CloseReport {
            closed_idle: self.shutdown.drained_idle.load(Ordering::Relaxed),
            // A busy connection that was then forced is counted as forced only.
            finished_in_flight: busy.saturating_sub(forced),
            forced,
        }
    }
}
