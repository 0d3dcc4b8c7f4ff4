//! Connection accounting for a server: how many are open, and how the drain went.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::task::TaskTracker;

use super::CloseReport;
use crate::connection::driver::Shutdown;

/// Live connections of one server, across all its workers.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: Shutdown,
    pub(crate) forced: AtomicU64,
}

impl Tracker {
    pub(crate) fn connected(&self) -> u64 {
        self.tasks.len() as u64
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
