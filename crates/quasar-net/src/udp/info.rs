//! Serialisable snapshots of a datagram server, and the counters behind them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of a [`DatagramServer`](super::DatagramServer), shaped like pulsar's
/// `DatagramServer.info()` plus the datagram counters pulsar lacked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatagramServerInfo {
    /// The server section.
    pub server: DatagramServerSection,
    /// The datagrams section.
    pub datagrams: DatagramsSection,
}

/// The `server` section of [`DatagramServerInfo`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatagramServerSection {
    /// The server's name.
    pub name: String,
    /// Seconds since the server started.
    pub uptime_in_seconds: f64,
    /// Every bound socket (one per address and worker).
    pub sockets: Vec<SocketAddr>,
    /// The datagram limit after which the server stops (0 = none).
    pub max_requests: u64,
    /// Number of worker runtimes (0 = the caller's runtime).
    pub workers: usize,
    /// Whether the batched `recvmmsg`/`sendmmsg` path is in use.
    pub batching: bool,
    /// Whether the batched path merges runs of replies to one peer into GSO sends.
    pub gso: bool,
    /// Largest datagram handed to the consumer; longer ones are dropped.
    pub max_datagram_size: usize,
}

/// The `datagrams` section of [`DatagramServerInfo`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DatagramsSection {
    /// Bound sockets (pulsar counts each datagram endpoint as a session).
    pub sessions: u64,
    /// Datagrams received, including dropped ones.
    pub received: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams dropped because they were longer than `max_datagram_size`.
    pub oversize: u64,
    /// Datagrams handed to the consumer (pulsar's `requests_processed`).
    pub requests_processed: u64,
    /// Consumer errors, failed spawned replies and failed sends or receives.
    pub errors: u64,
    /// Spawned replies still running.
    pub pending: u64,
    /// Reply datagrams dropped by the anti-amplification cap
    /// ([`max_replies_per_datagram`](super::DatagramServerBuilder::max_replies_per_datagram),
    /// [`max_reply_ratio`](super::DatagramServerBuilder::max_reply_ratio)).
    pub replies_dropped: u64,
}

/// What a graceful [`close`](super::DatagramServer::close) did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DatagramCloseReport {
    /// Spawned replies that were running when the close began and finished in time.
    pub finished_in_flight: u64,
    /// Spawned replies still running at the deadline, dropped.
    pub forced: u64,
}

/// Counters shared by every socket loop of a server. Loops add their local counts once
/// per receive batch, so the hot path touches no shared cache line per datagram.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) received: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) oversize: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) finished_in_flight: AtomicU64,
    pub(crate) forced: AtomicU64,
    pub(crate) replies_dropped: AtomicU64,
}

/// One loop's counts since its last [`Stats::add`].
#[derive(Debug, Default)]
pub(crate) struct LocalStats {
    pub(crate) received: u64,
    pub(crate) sent: u64,
    pub(crate) oversize: u64,
    pub(crate) errors: u64,
    pub(crate) replies_dropped: u64,
}

impl Stats {
    pub(crate) fn add(&self, local: &mut LocalStats) {
        fn bump(a: &AtomicU64, n: &mut u64) {
            if *n > 0 {
                a.fetch_add(std::mem::take(n), Ordering::Relaxed);
            }
        }
        bump(&self.received, &mut local.received);
        bump(&self.sent, &mut local.sent);
        bump(&self.oversize, &mut local.oversize);
        bump(&self.errors, &mut local.errors);
        bump(&self.replies_dropped, &mut local.replies_dropped);
    }

    pub(crate) fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
}
