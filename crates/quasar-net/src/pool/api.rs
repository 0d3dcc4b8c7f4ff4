//! [`Pool`], the handle users clone and check connections out of.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::builder::PoolBuilder;
use super::connection::PoolConnection;
use super::engine::Shared;
use super::shared_connection::SharedConnection;
use super::state::State;
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

    /// Checks out a hold on a connection that other callers may use at the same time,
    /// for protocols that multiplex many requests over one connection.
    ///
    /// The pool keeps each shared connection and gives every holder a clone, so the
    /// connection type must be a cheap handle whose clones drive the same socket.
    /// `Clone::clone` is called under the pool's internal lock, like
    /// [`Manager::is_closed`]: it must be cheap and must not call back into the pool.
    ///
    /// Spreads callers over up to `pool_size` connections: takes an idle connection if
    /// there is one (dropping and replacing closed ones); else opens a new one if the
    /// pool has room; else joins the shared connection with the fewest holders; else (the
    /// pool is full of exclusive checkouts and connects) queues with exclusive callers,
    /// in FIFO order, and also wakes to join the first connection another caller shares.
    /// A shared connection the manager reports closed, or past `max_lifetime`, is never
    /// joined: it is retired and replaced.
    ///
    /// A connection is either idle, checked out exclusively, or shared, never two of
    /// them: [`in_use`](Pool::in_use) counts a shared connection once however many hold
    /// it, and [`connect`](Pool::connect) never takes a shared one; when its last holder
    /// lets go it goes back to the pool like an exclusive connection and either mode may
    /// take it next.
    ///
    /// # Errors
    ///
    /// As [`connect`](Pool::connect): [`Error::is_closed`], [`Error::is_pool_full`] (only
    /// when it has to queue), [`Error::is_timeout`], and connect errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Joining and taking an idle connection do not await; dropping the
    /// future while it connects frees the slot, and while it queues passes on whatever it
    /// was granted, as [`connect`](Pool::connect) does.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use quasar_net::{pool::{Manager, Pool}, Error};
    /// # struct M(AtomicU32);
    /// # impl Manager for M {
    /// #     type Connection = u32;
    /// #     async fn connect(&self) -> Result<u32, Error> { Ok(self.0.fetch_add(1, Ordering::Relaxed)) }
    /// #     fn is_closed(&self, _: &u32) -> bool { false }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let pool = Pool::builder(M(AtomicU32::new(0))).pool_size(2).build()?;
    /// let holds = [
    ///     pool.connect_shared().await?,
    ///     pool.connect_shared().await?,
    ///     pool.connect_shared().await?,
    /// ];
    /// let ids: Vec<u32> = holds.iter().map(|h| **h).collect();
    /// assert_eq!(ids, [0, 1, 0], "two connections, the third caller joins the first");
    /// assert_eq!(pool.in_use(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_shared(&self) -> Result<SharedConnection<M>>
    where
        M::Connection: Clone,
    {
        let hold = self.shared.acquire_shared().await?;
        Ok(SharedConnection::new(self.clone(), hold))
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

    /// Connections checked out: exclusive ones, and shared ones counted once each
    /// however many callers hold them.
    pub fn in_use(&self) -> usize {
        self.shared.books().in_use
    }

    /// Idle connections not known to be closed.
    ///
    /// Unlike pulsar's count, a connection whose peer went away while it sat idle is not
    /// counted (it is dropped at the next checkout or reaper pass).
    pub fn available(&self) -> usize {
        self.count_available(&self.shared.books())
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
        let st = self.shared.books();
        PoolState::new(&st, self.count_available(&st))
    }

    /// The pool's counters since it was built.
    pub fn stats(&self) -> PoolStats {
        let counters = self.shared.books().counters;
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
    /// in use are closed when their guard is dropped (a shared one when its last holder
    /// lets go; shared handles keep working until then), and connects in progress when
    /// they finish. The returned future resolves once every connection is gone; every call
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
        let st = self.shared.books();
        f.debug_struct("Pool")
            .field("pool_size", &st.pool_size)
            .field("in_use", &st.in_use)
            .field("shared", &st.shared.iter().filter(|m| m.open).count())
            .field("idle", &st.idle.len())
            .field("waiters", &st.waiters())
            .field("closed", &st.closed)
            .finish()
    }
}
