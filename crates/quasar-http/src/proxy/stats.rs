//! A proxy's counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quasar_net::relay::RelayStats;
use serde::Serialize;

/// Counters of a [`ForwardProxy`](super::ForwardProxy), shared by its clones and
/// connections.
#[derive(Debug, Clone, Default)]
pub struct ProxyStats {
    pub(crate) inner: Arc<Counters>,
    /// Client-to-upstream relays of tunnels.
    pub(crate) up: RelayStats,
    /// Upstream-to-client relays of tunnels (their `open` is the tunnels open: each is
    /// built as its upstream connection starts, and dropped as it ends).
    pub(crate) down: RelayStats,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) tunnels: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) body_bytes_up: AtomicU64,
    pub(crate) body_bytes_down: AtomicU64,
    pub(crate) connect_failed: AtomicU64,
    pub(crate) connect_timeout: AtomicU64,
    pub(crate) response_timeout: AtomicU64,
    pub(crate) bad_response: AtomicU64,
    pub(crate) reset: AtomicU64,
}

/// Upstream failures by kind.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamErrors {
    /// The TCP connection was refused or unreachable (`502`).
    pub connect_failed: u64,
    /// The TCP connection did not open in time (`504`).
    pub connect_timeout: u64,
    /// No response head in time (`504`).
    pub response_timeout: u64,
    /// A response that could not be parsed (`502`).
    pub bad_response: u64,
    /// The upstream closed or reset the connection mid-exchange (`502` before the head,
    /// the client's connection closed after it).
    pub reset: u64,
}

/// A snapshot of [`ProxyStats`].
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStatsSnapshot {
    /// Requests forwarded (absolute-form), whatever their outcome upstream.
    pub requests: u64,
    /// `CONNECT` tunnels established.
    pub tunnels: u64,
    /// Tunnels open now.
    pub tunnels_open: u64,
    /// Requests refused by the proxy's own rules (400, 403, 407, 508).
    pub refused: u64,
    /// Bytes relayed from clients to upstreams (tunnels and forwarded bodies).
    pub bytes_up: u64,
    /// Bytes relayed from upstreams to clients (tunnels and forwarded bodies).
    pub bytes_down: u64,
    /// Upstream failures by kind.
    pub upstream_errors: UpstreamErrors,
}

impl ProxyStats {
    /// The counters now.
    pub fn snapshot(&self) -> ProxyStatsSnapshot {
        let c = &self.inner;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (up, down) = (self.up.snapshot(), self.down.snapshot());
        ProxyStatsSnapshot {
            requests: n(&c.requests),
            tunnels: n(&c.tunnels),
            tunnels_open: down.open,
            refused: n(&c.refused),
            bytes_up: up.bytes_up + n(&c.body_bytes_up),
            bytes_down: down.bytes_up + n(&c.body_bytes_down),
            upstream_errors: UpstreamErrors {
                connect_failed: n(&c.connect_failed),
                connect_timeout: n(&c.connect_timeout),
                response_timeout: n(&c.response_timeout),
                bad_response: n(&c.bad_response),
                reset: n(&c.reset),
            },
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
