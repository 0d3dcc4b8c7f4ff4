//! [`Pool`], the handle users clone and check connections out of.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::builder::PoolBuilder;
use super::connection::PoolConnection;
use super::inner::Shared;
use super::internals::State;
use super::stats::{PoolState, PoolStats};
use super::Manager;
use crate::{Error, Result};

/// A pool of connections opened by a [`Manager`].
///
/// Cloning is cheap and shares the pool. See the [module docs](super) for the behaviour
/// and an example.
pub struct Pool<M: Manager> {
    pub(crate) shared: Arc<Shared<M>>,
}

// ===== impl Pool =====

impl<M: Manager> Pool<M> {
    /// A pool of pulsar's default size, 10, with no timeouts and no reaper.
    ///
    /// Use [`Pool::builder`] for anything else.
    pub fn new(manager: M) -> Pool<M> {
        Pool::builder(manager)
            .build()
            .expect("the default configuration is valid and needs no runtime")
    }

    /// Starts configuring a pool around `manager`.
    pub fn builder(manager: M) -> PoolBuilder<M> {
        PoolBuilder::new(manager)
    }

    /// Checks a connection out of the pool.
    ///
    /// Takes the most recently returned idle connection that is not closed (closed ones
    /// are dropped and replaced on the spot); else opens a new one if the pool has room;
    /// else waits, in FIFO order, for a connection to come back or a slot to free.
    ///
    /// # Errors
    ///
    /// - [`Error::is_closed`]: the pool is closed, or closed while this call waited.
    /// - [`Error::is_pool_full`]: the waiter queue is at its cap (fails at once).
    /// - [`Error::is_timeout`]: the acquire timeout elapsed (its source is the last
    ///   connect error, if there was one), or this call's connect timed out.
    /// - Any error from [`Manager::connect`], such as [`Error::is_connect`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future while it waits leaves the queue (a connection
    /// already handed to it goes to the next waiter or back to the idle set); dropping it
    /// while it connects abandons the connect and frees the slot. No slot is lost.
    pub async fn connect(&self) -> Result<PoolConnection<M>> {
        let live = self.shared.acquire().await?;
        Ok(PoolConnection::new(self.clone(), live))
    }

    /// Opens connections until `min_idle` of them are idle (or the pool is full) and
    /// returns how many it opened.
    ///
    /// The pool does this in the background when built with `min_idle`; await this to
    /// start with a warm pool, or to learn at once that the peer is unreachable.
    ///
    /// # Errors
    ///
    /// The first error from [`Manager::connect`] (connections opened before it stay).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connect in progress is abandoned and its slot freed; connections
    /// already opened stay idle.
    pub async fn prewarm(&self) -> Result<usize> {
        self.shared.prewarm().await
    }

    /// The most connections the pool holds: idle, in use and being opened.
    pub fn pool_size(&self) -> usize {
        self.shared.lock().pool_size
    }

    /// Connections checked out.
    pub fn in_use(&self) -> usize {
        self.shared.lock().in_use
    }

    /// Idle connections not known to be closed.
    ///
    /// Unlike pulsar's count, a connection whose peer went away while it sat idle is not
    /// counted (it is dropped at the next checkout or reaper pass).
    pub fn available(&self) -> usize {
        self.count_available(&self.shared.lock())
    }

    fn count_available(&self, st: &State<M::Connection>) -> usize {
        let manager = &self.shared.manager;
        st.idle
            .iter()
            .filter(|idle| !manager.is_closed(&idle.live.raw))
            .count()
    }

    /// Connections opened since the pool was built (pulsar's `sessions`).
    pub fn sessions(&self) -> u64 {
        self.shared.lock().counters.sessions
    }

    /// Whether [`close`](Pool::close) has been called (pulsar's `closed`).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// A snapshot of the pool's gauges.
    pub fn state(&self) -> PoolState {
        let st = self.shared.lock();
        PoolState::new(&st, self.count_available(&st))
    }

    /// The pool's counters since it was built.
    pub fn stats(&self) -> PoolStats {
        let counters = self.shared.lock().counters;
        PoolStats::new(counters, self.shared.wait_time_us())
    }

    /// The manager that opens this pool's connections.
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }

    /// Changes the pool size.
    ///
    /// Growing lets waiters connect at once. Shrinking closes the least recently used
    /// idle connections over the new size at once, and in-use ones as they come back.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] if `pool_size` is zero.
    pub fn resize(&self, pool_size: usize) -> Result<()> {
        if pool_size == 0 {
            return Err(Error::config("pool_size must be at least 1"));
        }
        self.shared.resize(pool_size);
        Ok(())
    }

    /// Closes the pool.
    ///
    /// At the call, not at the first poll: idle connections are closed, waiters fail
    /// with [`Error::is_closed`], the reaper stops, and later checkouts fail. Connections
    /// in use are closed when their guard is dropped, and connects in progress when they
    /// finish. The returned future resolves once every connection is gone; every call
    /// returns an equivalent future.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pool is closed whether or not the future is awaited; dropping it
    /// only stops waiting for the drain.
    pub fn close(&self) -> impl Future<Output = ()> + Send + 'static {
        self.shared.close()
    }
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Pool")
            .field("pool_size", &st.pool_size)
            .field("in_use", &st.in_use)
            .field("idle", &st.idle.len())
            .field("waiters", &st.waiters())
            .field("closed", &st.closed)
            .finish()
    }
}
