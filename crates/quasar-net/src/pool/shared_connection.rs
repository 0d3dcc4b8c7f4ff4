//! [`SharedConnection`], the RAII guard of a hold on a shared (multiplexed) connection.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::api::Pool;
use super::multiplex::Hold;
use super::Manager;

/// A hold on a connection that other callers use at the same time, from
/// [`Pool::connect_shared`]; dereferences to this holder's clone of the connection.
///
/// Meant for protocols that carry many requests in flight on one connection, whose
/// connection type is a cheap handle that clones onto the same socket (a multiplexed
/// Redis connection, an HTTP/2 sender): the pool keeps the original and each holder gets
/// a clone, so `DerefMut` gives `&mut` access for clients whose methods want it.
///
/// Dropping the handle lets go of the hold. When the last holder of a connection lets
/// go, the connection goes back to the pool exactly as an exclusive
/// [`PoolConnection`](super::PoolConnection) would: parked idle, handed to a waiter, or
/// closed if broken, past its lifetime, or the pool is closed. Cloning the handle adds a
/// holder. A clone of the connection taken out of the handle is outside the pool's
/// accounting: keep the handle while you use it.
///
/// # Examples
///
/// ```
/// # use quasar_net::{pool::{Manager, Pool}, Error};
/// # struct M;
/// # impl Manager for M {
/// #     type Connection = u32;
/// #     async fn connect(&self) -> Result<u32, Error> { Ok(7) }
/// #     fn is_closed(&self, _: &u32) -> bool { false }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let pool = Pool::builder(M).pool_size(1).build()?;
/// let a = pool.connect_shared().await?;
/// let b = pool.connect_shared().await?; // the pool is full: b shares a's connection
/// assert_eq!((*a, *b), (7, 7));
/// assert_eq!((pool.in_use(), pool.state().shared), (1, 1));
/// drop((a, b)); // the last holder out parks it
/// assert_eq!((pool.in_use(), pool.available()), (0, 1));
/// # Ok(())
/// # }
/// ```
pub struct SharedConnection<M: Manager> {
    hold: Hold<M::Connection>,
    pool: Pool<M>,
    /// Cleared by `discard`, which releases the hold itself.
    armed: bool,
}

// ===== impl SharedConnection =====

impl<M: Manager> SharedConnection<M> {
    pub(crate) fn new(pool: Pool<M>, hold: Hold<M::Connection>) -> Self {
        SharedConnection {
            hold,
            pool,
            armed: true,
        }
    }

    /// How long ago the connection was opened.
    pub fn age(&self) -> Duration {
        self.hold.created.elapsed()
    }

    /// The pool this connection belongs to.
    pub fn pool(&self) -> &Pool<M> {
        &self.pool
    }

    /// Reports the connection broken: no new caller is given it, the other holders keep
    /// their clones, and when the last of them lets go the pool closes it and frees its
    /// slot.
    pub fn discard(mut self) {
        self.armed = false;
        self.pool.shared.release_shared(self.hold.id, true);
    }
}

impl<M: Manager> Deref for SharedConnection<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.hold.conn
    }
}

impl<M: Manager> DerefMut for SharedConnection<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.hold.conn
    }
}

impl<M: Manager> Clone for SharedConnection<M>
where
    M::Connection: Clone,
{
    fn clone(&self) -> Self {
        self.pool.shared.hold_again(self.hold.id);
        SharedConnection {
            hold: Hold {
                id: self.hold.id,
                conn: self.hold.conn.clone(),
                created: self.hold.created,
            },
            pool: self.pool.clone(),
            armed: true,
        }
    }
}

impl<M: Manager> Drop for SharedConnection<M> {
    fn drop(&mut self) {
        if self.armed {
            self.pool.shared.release_shared(self.hold.id, false);
        }
    }
}

impl<M: Manager> fmt::Debug for SharedConnection<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedConnection")
            .field("member", &self.hold.id)
            .finish_non_exhaustive()
    }
}
