//! [`PoolConnection`], the RAII guard of a checked-out connection.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::api::Pool;
use super::state::Live;
use super::Manager;

/// A connection checked out of a [`Pool`]; dereferences to it and goes back on drop.
///
/// Going back means: reused if healthy, closed if [`Manager::is_closed`] says so, if it
/// outlived the pool's `max_lifetime`, or if the guard is dropped while a request is in
/// progress (see [`start_request`](PoolConnection::start_request)).
///
/// # Examples
///
/// ```
/// # use quasar_net::{pool::{Manager, Pool}, Error};
/// # struct M;
/// # impl Manager for M {
/// #     type Connection = Vec<u8>;
/// #     async fn connect(&self) -> Result<Vec<u8>, Error> { Ok(Vec::new()) }
/// #     fn is_closed(&self, _: &Vec<u8>) -> bool { false }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let pool = Pool::new(M);
/// let mut conn = pool.connect().await?;
/// conn.start_request();
/// conn.push(1); // DerefMut to the connection
/// conn.finish_request();
/// drop(conn); // back to the pool
///
/// let conn = pool.connect().await?;
/// let raw: Vec<u8> = conn.detach(); // ours now; the slot is free
/// assert_eq!(raw, [1]);
/// assert_eq!((pool.in_use(), pool.available()), (0, 0));
/// # Ok(())
/// # }
/// ```
pub struct PoolConnection<M: Manager> {
    /// `Some` until the guard is closed, detached or dropped.
    live: Option<Live<M::Connection>>,
    pool: Pool<M>,
    in_request: bool,
}

// ===== impl PoolConnection =====

impl<M: Manager> PoolConnection<M> {
    pub(crate) fn new(pool: Pool<M>, live: Live<M::Connection>) -> PoolConnection<M> {
        PoolConnection {
            live: Some(live),
            pool,
            in_request: false,
        }
    }

    fn live(&self) -> &Live<M::Connection> {
        self.live
            .as_ref()
            .expect("present until the guard is consumed")
    }

    /// Marks a request as in progress: until [`finish_request`](Self::finish_request),
    /// dropping the guard (a cancelled future, a panic, an early `?`) closes the
    /// connection instead of returning it, since its stream may hold half an exchange.
    pub fn start_request(&mut self) {
        self.in_request = true;
    }

    /// Marks the request finished: the connection is clean and may be reused.
    pub fn finish_request(&mut self) {
        self.in_request = false;
    }

    /// Whether a request is in progress (see [`start_request`](Self::start_request)).
    pub fn is_in_request(&self) -> bool {
        self.in_request
    }

    /// How long ago the connection was opened.
    pub fn age(&self) -> Duration {
        self.live().created.elapsed()
    }

    /// The pool this connection belongs to.
    pub fn pool(&self) -> &Pool<M> {
        &self.pool
    }

    /// Returns the connection now; with `discard`, or while a request is in progress,
    /// closes it and frees its slot instead (pulsar's `close(discard)`).
    pub fn close(mut self, discard: bool) {
        if let Some(live) = self.live.take() {
            self.pool.shared.release(live, discard || self.in_request);
        }
    }

    /// Takes the connection out of the pool for good: its slot is freed and the pool
    /// will never close it (pulsar's `detach()`).
    pub fn detach(mut self) -> M::Connection {
        let live = self
            .live
            .take()
            .expect("present until the guard is consumed");
        self.pool.shared.detached();
        live.raw
    }
}

impl<M: Manager> Deref for PoolConnection<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.live().raw
    }
}

impl<M: Manager> DerefMut for PoolConnection<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self
            .live
            .as_mut()
            .expect("present until the guard is consumed")
            .raw
    }
}

impl<M: Manager> Drop for PoolConnection<M> {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            self.pool.shared.release(live, self.in_request);
        }
    }
}

impl<M: Manager> fmt::Debug for PoolConnection<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConnection")
            .field("in_request", &self.in_request)
            .finish_non_exhaustive()
    }
}
