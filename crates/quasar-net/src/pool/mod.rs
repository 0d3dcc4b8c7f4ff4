//! A generic connection pool: [`Pool`] hands out [`PoolConnection`] guards.
//!
//! The pool owns connections made by a [`Manager`], the one plug-in point: it knows how
//! to open a connection and how to tell, cheaply and without I/O, whether one is closed.
//! The pool knows nothing about sockets, so the same engine pools TCP connections, UDP
//! endpoints or anything else. It keeps pulsar's `Pool` contract (`pool_size`, `in_use`,
//! `available`, `sessions`, a guard that goes back on release) and fixes its known bugs:
//! `available` never counts a connection known to be closed, checkout on a closed pool is
//! a typed [`Error`], waits and connects can be bounded, and idle connections are reaped.
//!
//! - Waiters queue in FIFO order when the pool is full; a returned connection goes
//!   straight to the first of them. The queue can be capped ([`Error::is_pool_full`]).
//! - [`Pool::connect`] is cancel safe at every await point, and a [`PoolConnection`]
//!   dropped while [`PoolConnection::start_request`] is in effect is discarded, never
//!   reused half-way through an exchange.
//! - [`Pool::connect_shared`] hands out [`SharedConnection`] holds for protocols that
//!   multiplex requests over one connection: callers spread over up to `pool_size`
//!   connections and then share the least-loaded one.
//! - [`Pool::close`] closes idle connections at once and in-use ones as they come back,
//!   fails waiters with [`Error::is_closed`], and returns a future that resolves when
//!   every connection is gone.
//! - With `min_idle`, `idle_timeout` or `max_lifetime` set, a background task prewarms
//!   and reaps; it holds only a weak reference and stops with the pool.
//!
//! # Examples
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use quasar_net::pool::{Manager, Pool};
//! use quasar_net::Error;
//!
//! /// Connections are plain numbers here; a real manager opens sockets.
//! struct Numbers(AtomicUsize);
//!
//! impl Manager for Numbers {
//!     type Connection = usize;
//!
//!     async fn connect(&self) -> Result<usize, Error> {
//!         Ok(self.0.fetch_add(1, Ordering::Relaxed))
//!     }
//!
//!     fn is_closed(&self, _conn: &usize) -> bool {
//!         false
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let pool = Pool::builder(Numbers(AtomicUsize::new(0))).pool_size(2).build()?;
//! {
//!     let conn = pool.connect().await?;
//!     assert_eq!(*conn, 0);
//!     assert_eq!(pool.in_use(), 1);
//! } // the guard goes back to the pool here
//! let again = pool.connect().await?;
//! assert_eq!(*again, 0, "the idle connection is reused");
//! drop(again);
//! assert_eq!((pool.in_use(), pool.available(), pool.sessions()), (0, 1, 1));
//!
//! pool.close().await;
//! assert!(pool.connect().await.unwrap_err().is_closed());
//! # Ok(())
//! # }
//! ```
//!
//! [`Error`]: crate::Error
//! [`Error::is_pool_full`]: crate::Error::is_pool_full
//! [`Error::is_closed`]: crate::Error::is_closed

use std::future::Future;

use crate::Error;

mod api;
mod builder;
mod cache;
mod connection;
mod engine;
mod guards;
mod multiplex;
mod shared_connection;
mod state;
mod stats;

pub use api::Pool;
pub use builder::PoolBuilder;
pub use connection::PoolConnection;
pub use shared_connection::SharedConnection;
pub use stats::{PoolState, PoolStats};

/// Opens and checks the connections of a [`Pool`].
///
/// Two methods are required: [`connect`](Manager::connect) and
/// [`is_closed`](Manager::is_closed). Implement [`close`](Manager::close) when dropping a
/// connection is not enough to close it.
///
/// # Examples
///
/// A manager for TCP connections to one address (a real one would also watch each
/// socket for EOF to answer `is_closed`):
///
/// ```
/// use std::net::SocketAddr;
/// use quasar_net::{pool::Manager, Error};
/// use tokio::net::TcpStream;
///
/// struct Tcp(SocketAddr);
///
/// impl Manager for Tcp {
///     type Connection = TcpStream;
///
///     async fn connect(&self) -> Result<TcpStream, Error> {
///         TcpStream::connect(self.0).await.map_err(|e| Error::connect(self.0, e))
///     }
///
///     fn is_closed(&self, _conn: &TcpStream) -> bool {
///         false
///     }
/// }
/// ```
pub trait Manager: Send + Sync + 'static {
    /// The pooled connection.
    type Connection: Send + 'static;

    /// Opens a new connection.
    ///
    /// The pool bounds it with the connect timeout, if one is set, and remembers its
    /// last error so an acquire timeout can say why no connection came.
    ///
    /// # Errors
    ///
    /// Whatever stops the connection from opening; [`Error::connect`] with the address
    /// and the I/O error is the usual form.
    ///
    /// # Cancel safety
    ///
    /// The pool drops this future when the caller of [`Pool::connect`] is dropped or
    /// times out. It must leave nothing behind when dropped (a half-open socket closes
    /// on drop).
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Error>> + Send;

    /// Whether `conn` is known to be closed or broken, so it must not be handed out.
    ///
    /// Called on every checkout and return, by [`Pool::available`] and by the reaper, so
    /// it must be cheap and must not do I/O: read a flag that the connection's reader
    /// sets on EOF or error. [`Pool::available`], [`Pool::connect_shared`] and the reaper
    /// call it while holding the pool's internal lock: it must not call back into the
    /// pool.
    fn is_closed(&self, conn: &Self::Connection) -> bool;

    /// Closes a connection the pool gives up on (broken, discarded, reaped, or the pool
    /// closed). The default drops it.
    fn close(&self, conn: Self::Connection) {
        drop(conn)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_shared;
