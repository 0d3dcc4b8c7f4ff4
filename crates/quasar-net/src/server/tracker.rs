//! Connection accounting for a server: how many are open, and how the drain went.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio_util::task::TaskTracker;

use super::CloseReport;
use crate::connection::driver::Shutdown;
use crate::Connection;

/// Live connections of one server, across all its workers.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: Shutdown,
    pub(crate) forced: AtomicU64,
    /// Handles of the open connections, by session (pulsar's live set).
    live: Mutex<HashMap<u64, Connection>>,
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
        self.live_set().remove(&conn.session());
    }

    pub(crate) fn connections(&self) -> Vec<Connection> {
        let mut v: Vec<_> = self.live_set().values().cloned().collect();
        v.sort_by_key(Connection::session);
        v
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
