//! [`PoolState`] and [`PoolStats`], the pool's serialisable gauges and counters.

use serde::{Deserialize, Serialize};

use super::state::{Counters, State};

/// A snapshot of a pool's gauges, from [`Pool::state`](super::Pool::state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolState {
    /// The most connections the pool holds.
    pub pool_size: usize,
    /// Connections checked out, exclusively or shared (each shared one counted once).
    pub in_use: usize,
    /// Shared connections new shared checkouts may join (a subset of `in_use`).
    pub shared: usize,
    /// Idle connections, including any not yet found closed.
    pub idle: usize,
    /// Idle connections not known to be closed.
    pub available: usize,
    /// Connects in progress.
    pub connecting: usize,
    /// Callers waiting for a connection.
    pub waiters: usize,
    /// Whether the pool is closed.
    pub closed: bool,
}

impl PoolState {
    pub(crate) fn new<C>(st: &State<C>, available: usize) -> PoolState {
        PoolState {
            pool_size: st.pool_size,
            in_use: st.in_use,
            shared: st.shared.iter().filter(|m| m.open).count(),
            idle: st.idle.len(),
            available,
            connecting: st.pending,
            waiters: st.waiters(),
            closed: st.closed,
        }
    }
}

/// A pool's counters since it was built, from [`Pool::stats`](super::Pool::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections opened (pulsar's `sessions`).
    pub sessions: u64,
    /// Successful checkouts.
    pub checkouts: u64,
    /// Checkouts that had to queue.
    pub waits: u64,
    /// Total time spent queued, in microseconds; kept only when the pool was built with
    /// [`measure_wait_time`](super::PoolBuilder::measure_wait_time).
    pub wait_time_us: u64,
    /// Acquire and connect timeouts.
    pub timeouts: u64,
    /// Checkouts refused because the waiter queue was full.
    pub rejected: u64,
    /// Failed connects (timeouts included).
    pub connect_errors: u64,
    /// Connections closed as broken: found closed, discarded by the caller, or dropped
    /// mid-request.
    pub closed_broken: u64,
    /// Connections closed after the idle timeout.
    pub closed_idle: u64,
    /// Connections closed after their maximum lifetime.
    pub closed_lifetime: u64,
    /// Connections closed by [`Pool::close`](super::Pool::close) or a shrinking
    /// [`Pool::resize`](super::Pool::resize).
    pub closed_pool: u64,
    /// Connections detached by their caller.
    pub detached: u64,
}

impl PoolStats {
    pub(crate) fn new(c: Counters, wait_time_us: u64) -> PoolStats {
        PoolStats {
            sessions: c.sessions,
            checkouts: c.checkouts,
            waits: c.waits,
            wait_time_us,
            timeouts: c.timeouts,
            rejected: c.rejected,
            connect_errors: c.connect_errors,
            closed_broken: c.closed_broken,
            closed_idle: c.closed_idle,
            closed_lifetime: c.closed_lifetime,
            closed_pool: c.closed_pool,
            detached: c.detached,
        }
    }
}
