//! A connection's end as its server sees it: the server-wide signals a driver obeys
//! (drain, abort) and how the connection ended, for the close report.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::signal::Signal;

/// Server-wide signals, the same for TCP and datagram servers: `drain` asks idle
/// connections to close now and busy ones after their request (a datagram loop stops
/// reading, sends what is queued and lets spawned replies finish); `abort` closes
/// everything at once (drops the replies still running).
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    pub(crate) drain: Signal,
    pub(crate) abort: Signal,
    /// Connections that were idle when the drain reached them (TCP).
    pub(crate) drained_idle: Arc<AtomicU64>,
    /// Connections that had a request in flight when the drain reached them (TCP).
    pub(crate) drained_busy: Arc<AtomicU64>,
}

/// How the connection ended, as the server's shutdown accounting sees it.
#[derive(Debug)]
pub(crate) enum Ended {
    /// Closed by itself or by a graceful drain.
    Normally,
    /// Force-closed by the server's shutdown deadline.
    Forced,
    /// Handed over (`Context::detach`): the socket lives on with its new owner, and
    /// this resolves when the owner drops it.
    Detached(tokio::sync::oneshot::Receiver<()>),
}
