//! The RAII guards of a checkout: a queued or deciding `Checkout` and a `ConnectGuard`
//! for a slot being connected.
//!
//! Each await point of `Pool::connect` is owned by one of them, so dropping the future
//! anywhere gives the slot or the connection back. They live apart from `engine.rs`
//! because they are the cancel-safety argument: read their `Drop` impls first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::engine::{wake, Shared};
use super::state::{Grant, Live, Node};
use super::Manager;
use crate::{Error, Result};

/// What a checkout attempt came to; each variant already holds its slot in the books.
pub(crate) enum Got<C> {
    /// Taken from the idle set (counted in `in_use`).
    Idle(Live<C>),
    /// Handed over by a caller returning it while this one queued (in `in_use`).
    Handed(Live<C>),
    /// A free slot to connect in (counted in `pending`).
    Slot,
}

// ===== impl Checkout =====

/// One checkout attempt, reusable after it resolves. The first poll decides under one
/// lock (idle connection, free slot, or queue with this task's waker); later polls pick
/// up the grant. Dropped while queued, it passes on whatever it was granted.
pub(crate) struct Checkout<'a, M: Manager> {
    shared: &'a Shared<M>,
    /// The waiter's id and mailbox while queued.
    queued: Option<(usize, Arc<Node<M::Connection>>)>,
    since: Option<std::time::Instant>,
}

impl<'a, M: Manager> Checkout<'a, M> {
    pub(crate) fn new(shared: &'a Shared<M>) -> Self {
        Checkout {
            shared,
            queued: None,
            since: None,
        }
    }

    fn begin(&mut self, cx: &mut Context<'_>) -> Poll<Result<Got<M::Connection>>> {
        let shared = self.shared;
        let mut st = shared.lock();
        if st.closed {
            return Poll::Ready(Err(Error::closed("pool")));
        }
        if st.idle.is_empty() {
            // Nothing idle in the books: take what other threads' caches hold. A
            // checkout that would queue raises their flag first, so that no connection
            // stays parked in a cache while it waits.
            if st.has_room() && st.waiters() == 0 {
                shared.drain_caches(&mut st);
            } else {
                shared.gather(&mut st);
            }
        }
        if let Some(idle) = st.idle.pop_back() {
            st.in_use += 1;
            st.counters.checkouts += 1;
            return Poll::Ready(Ok(Got::Idle(idle.live)));
        }
        if st.has_room() && st.waiters() == 0 {
            st.pending += 1;
            return Poll::Ready(Ok(Got::Slot));
        }
        if let Some(max) = shared.config.max_waiters {
            if st.waiters() >= max {
                st.counters.rejected += 1;
                return Poll::Ready(Err(Error::pool_full(st.waiters())));
            }
        }
        st.counters.waits += 1;
        self.queued = Some(st.push_waiter(cx.waker()));
        drop(st);
        if shared.config.measure_wait_time {
            self.since = Some(std::time::Instant::now());
        }
        Poll::Pending
    }
}

impl<M: Manager> Future for Checkout<'_, M> {
    type Output = Result<Got<M::Connection>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some((_, node)) = &self.queued else {
            return self.begin(cx);
        };
        // Only this waiter's mailbox: the state lock is not touched.
        let Some(grant) = node.poll(cx.waker()) else {
            return Poll::Pending;
        };
        self.queued = None;
        if let Some(since) = self.since.take() {
            self.shared.add_wait_time(since.elapsed());
        }
        Poll::Ready(match grant {
            Grant::Conn(live) => Ok(Got::Handed(live)),
            Grant::Slot => Ok(Got::Slot),
            Grant::Err(err) => Err(err),
        })
    }
}

impl<M: Manager> Drop for Checkout<'_, M> {
    fn drop(&mut self) {
        let Some((id, node)) = self.queued.take() else {
            return;
        };
        let shared = self.shared;
        let mut st = shared.lock();
        match st.cancel_waiter(id, &node) {
            None | Some(Grant::Err(_)) => drop(st),
            Some(Grant::Slot) => {
                st.pending -= 1;
                let waker = st.slot_freed();
                shared.unlock(st);
                wake(waker);
            }
            Some(Grant::Conn(live)) => {
                // Never used by this caller: pass it on as if it had been returned.
                st.counters.checkouts -= 1;
                drop(st);
                shared.release(live, false);
            }
        }
    }
}

// ===== impl ConnectGuard =====

/// A slot counted in `pending`. Dropped before its connect finishes, it gives the slot
/// back (to the first waiter), so a cancelled connect never leaks capacity.
pub(crate) struct ConnectGuard<'a, M: Manager> {
    shared: &'a Shared<M>,
    armed: bool,
    warming: bool,
}

impl<'a, M: Manager> ConnectGuard<'a, M> {
    /// Takes ownership of a slot the caller has already added to `pending`.
    pub(crate) fn adopt(shared: &'a Shared<M>) -> Self {
        ConnectGuard {
            shared,
            armed: true,
            warming: false,
        }
    }

    async fn open(&self) -> Result<M::Connection> {
        let connect = self.shared.manager.connect();
        match self.shared.config.connect_timeout {
            None => connect.await,
            Some(limit) => match tokio::time::timeout(limit, connect).await {
                Ok(res) => res,
                Err(_) => {
                    self.shared.lock().counters.timeouts += 1;
                    Err(Error::timeout(format!("pool connect after {limit:?}")))
                }
            },
        }
    }

    /// Takes ownership of a slot `prewarm` added to `pending` and `warming`.
    pub(crate) fn warming(shared: &'a Shared<M>) -> Self {
        ConnectGuard {
            shared,
            armed: true,
            warming: true,
        }
    }

    /// Opens a connection for the caller (counted in `in_use` on success).
    pub(crate) async fn connect(mut self) -> Result<Live<M::Connection>> {
        let res = self.open().await;
        self.armed = false;
        self.shared.connected(res, self.warming)
    }

    /// Opens a connection into the idle set (or straight to a waiter).
    pub(crate) async fn connect_idle(mut self) -> Result<()> {
        let res = self.open().await;
        self.armed = false;
        let shared = self.shared;
        let live = shared.connected(res, self.warming)?;
        shared.release(live, false);
        Ok(())
    }
}

impl<M: Manager> Shared<M> {
    /// Books a finished connect in one step: the slot moves from `pending` to `in_use`;
    /// on failure it is offered to the next waiter and the error remembered for acquire
    /// timeouts; on a pool closed meanwhile the new connection is closed.
    fn connected(&self, res: Result<M::Connection>, warming: bool) -> Result<Live<M::Connection>> {
        let mut st = self.lock();
        st.pending -= 1;
        if warming {
            st.warming -= 1;
        }
        match res {
            Ok(raw) if st.closed => {
                st.counters.sessions += 1;
                st.counters.closed_pool += 1;
                st.closing += 1;
                drop(st);
                self.manager.close(raw);
                self.closed_one();
                Err(Error::closed("pool"))
            }
            Ok(raw) => {
                st.counters.sessions += 1;
                // A warming connect parks its connection: not a checkout.
                st.counters.checkouts += u64::from(!warming);
                st.in_use += 1;
                st.last_connect_error = None;
                drop(st);
                Ok(Live {
                    raw,
                    created: Instant::now(),
                })
            }
            Err(err) => {
                st.counters.connect_errors += 1;
                st.last_connect_error = Some(err.clone());
                let waker = st.slot_freed();
                self.unlock(st);
                wake(waker);
                Err(err)
            }
        }
    }
}

impl<M: Manager> Drop for ConnectGuard<'_, M> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.shared.lock();
        st.pending -= 1;
        if self.warming {
            st.warming -= 1;
        }
        let waker = st.slot_freed();
        self.shared.unlock(st);
        wake(waker);
    }
}
