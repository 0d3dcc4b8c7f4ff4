//! The shared (multiplexed) checkout engine behind `Pool::connect_shared`.
//!
//! A shared checkout joins the least-loaded open member of the shared set, or moves a
//! connection into the set: an idle one, a new one when the pool has room, or one granted
//! through the exclusive FIFO queue when the pool is full and nothing is shared yet. The
//! pool keeps each member's original connection and hands every holder a clone.
//!
//! A member leaves the set when its last holder lets go; it is then returned exactly like
//! an exclusive connection (parked, handed to a waiter, or closed). Before that it may be
//! retired: discarded by a holder, found broken by a checkout, or over the size after a
//! shrink. A retired member takes no new holders; its current ones keep their clones.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Poll, Waker};

use super::engine::{bump, Shared};
use super::guards::{Checkout, ConnectGuard};
use super::state::{Live, Member, State};
use super::Manager;
use crate::{Error, Result};

/// A hold on a member: its id and the holder's clone of the connection.
pub(crate) struct Hold<C> {
    pub(crate) id: u64,
    pub(crate) conn: C,
    pub(crate) created: tokio::time::Instant,
}

/// What one decision under the lock came to.
enum Step<C> {
    /// Joined a member (or moved an idle connection into the set); the hold is counted.
    Joined(Hold<C>),
    /// A free slot, counted in `pending`: open a connection for the set.
    Connect,
    /// The pool is full and nothing is open to share: queue like an exclusive checkout.
    Wait,
}

// ===== impl Shared (shared checkout) =====

impl<M: Manager> Shared<M>
where
    M::Connection: Clone,
{
    /// Checks out a hold on a shared connection: the fast path (joining a member or
    /// taking an idle connection) locks once; the rest runs under the acquire timeout.
    pub(crate) async fn acquire_shared(&self) -> Result<Hold<M::Connection>> {
        // The guard owns the slot from here, so dropping this future before the slow
        // path first runs still frees it.
        let slot = match self.decide_shared()? {
            Step::Joined(hold) => return Ok(hold),
            Step::Connect => Some(ConnectGuard::adopt(self)),
            // Decided again in the slow path, with the wake-up registered first.
            Step::Wait => None,
        };
        let Some(limit) = self.config.acquire_timeout else {
            return self.acquire_shared_slow(slot).await;
        };
        match tokio::time::timeout(limit, self.acquire_shared_slow(slot)).await {
            Ok(res) => res,
            // The inner future is dropped by now: its guards have given back their slots.
            Err(_) => Err(self.acquire_timed_out(limit)),
        }
    }

    async fn acquire_shared_slow(
        &self,
        slot: Option<ConnectGuard<'_, M>>,
    ) -> Result<Hold<M::Connection>> {
        if let Some(slot) = slot {
            let live = slot.connect().await?;
            return Ok(self.admit(live));
        }
        loop {
            // Registered before deciding, so a member admitted after the decision still
            // wakes this caller.
            let mut joined = pin!(self.shared_joined.notified());
            joined.as_mut().enable();
            match self.decide_shared()? {
                Step::Joined(hold) => return Ok(hold),
                Step::Connect => {
                    let live = ConnectGuard::adopt(self).connect().await?;
                    return Ok(self.admit(live));
                }
                Step::Wait => {}
            }
            let mut checkout = Checkout::new(self);
            // Cancel safety: dropping `checkout` (here, on a wake-up, or with this
            // future) passes on anything it was granted.
            let got = poll_fn(|cx| {
                if joined.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Pin::new(&mut checkout).poll(cx).map(Some)
            })
            .await;
            let Some(got) = got else {
                // A member opened up: decide again, most likely joining it.
                continue;
            };
            // Granted a connection or a slot as an exclusive waiter: finish that
            // checkout (health check, connect) and share the result.
            let live = self.acquire_slow(checkout, Poll::Ready(got?)).await?;
            return Ok(self.admit(live));
        }
    }

    /// One decision under one lock: retire broken (or, after a shrink, excess) members,
    /// then take an idle connection, else open a new one if there is room, else join the
    /// least-loaded open member, else wait.
    fn decide_shared(&self) -> Result<Step<M::Connection>> {
        let mut doomed = Vec::new();
        let mut st = self.lock();
        if st.closed {
            return Err(Error::closed("pool"));
        }
        // `is_closed` under the lock, as `available()` does: the trait requires it cheap.
        for member in st.shared.iter_mut().filter(|m| m.open) {
            if self.is_broken(&member.live) {
                member.open = false;
            }
        }
        // After a shrink, retire the least-loaded members until the in-use excess can
        // drain; otherwise callers would keep joining them and they would never return.
        // Members already retired will leave too, so they count against the excess.
        let open = st.shared.iter().filter(|m| m.open).count();
        let retired = st.shared.len() - open;
        let excess = (st.total().saturating_sub(st.pool_size))
            .saturating_sub(retired)
            .min(open);
        for _ in 0..excess {
            if let Some(i) = least_loaded(&st.shared) {
                st.shared[i].open = false;
            }
        }
        // Connections parked in threads' caches are idle too. They are counted in
        // `in_use`, so when every connection in use is a shared member there are none,
        // and a pool running shared does not lock every thread's cache per checkout.
        if st.idle.is_empty() && st.in_use > st.shared.len() {
            self.drain_caches(&mut st);
        }
        let mut admitted = false;
        let step = loop {
            if let Some(idle) = st.idle.pop_back() {
                if self.is_broken(&idle.live) {
                    let reason = self.close_reason(&idle.live);
                    bump(&mut st.counters, reason);
                    doomed.push(idle.live.raw);
                    continue;
                }
                st.in_use += 1;
                st.counters.checkouts += 1;
                admitted = true;
                break Step::Joined(new_member(&mut st, idle.live));
            }
            if st.has_room() && st.waiters() == 0 {
                st.pending += 1;
                break Step::Connect;
            }
            if let Some(i) = least_loaded(&st.shared) {
                let member = &mut st.shared[i];
                member.holders += 1;
                // The manager's `Clone` runs under the lock (documented on
                // `connect_shared`): a cheap handle clone, as multiplexed clients have.
                let hold = Hold {
                    id: member.id,
                    conn: member.live.raw.clone(),
                    created: member.live.created,
                };
                st.counters.checkouts += 1;
                break Step::Joined(hold);
            }
            break Step::Wait;
        };
        let n = doomed.len();
        st.closing += n;
        let mut wakers = Vec::with_capacity(n);
        for _ in 0..n {
            wakers.extend(st.slot_freed());
        }
        drop(st);
        // Closed before the woken waiters can open their replacements, so no more than
        // `pool_size` connections are ever open at once.
        if n > 0 {
            for raw in doomed {
                self.manager.close(raw);
            }
            let mut st = self.lock();
            st.closing -= n;
            self.unlock(st);
        }
        wakers.into_iter().for_each(Waker::wake);
        if admitted {
            self.shared_joined.notify_waiters();
        }
        Ok(step)
    }

    /// Puts a connection already counted in `in_use` into the shared set with one
    /// holder, and wakes shared checkouts waiting for a member to join.
    fn admit(&self, live: Live<M::Connection>) -> Hold<M::Connection> {
        let hold = new_member(&mut self.lock(), live);
        self.shared_joined.notify_waiters();
        hold
    }
}

impl<M: Manager> Shared<M> {
    /// A handle lets go of its hold; with `discard`, the member is retired and closed
    /// once its last holder lets go. The last holder out returns the connection as an
    /// exclusive guard would (parked, handed on, or closed if discarded, broken or the
    /// pool closed).
    pub(crate) fn release_shared(&self, id: u64, discard: bool) {
        let mut st = self.lock();
        // Members leave only when their holders reach zero, so a live handle's member is
        // always found; a miss would be a bookkeeping bug and is ignored, not a panic.
        let Some(i) = st.shared.iter().position(|m| m.id == id) else {
            debug_assert!(false, "a held member is in the set");
            return;
        };
        let member = &mut st.shared[i];
        member.holders -= 1;
        if discard {
            member.discarded = true;
            member.open = false;
        }
        if member.holders > 0 {
            return;
        }
        let member = st.shared.swap_remove(i);
        drop(st);
        self.release(member.live, member.discarded);
    }

    /// Another hold on a member (a cloned handle).
    pub(crate) fn hold_again(&self, id: u64) {
        let mut st = self.lock();
        if let Some(member) = st.shared.iter_mut().find(|m| m.id == id) {
            member.holders += 1;
        }
    }
}

/// Adds a connection to the set with one holder and returns that holder's hold.
fn new_member<C: Clone>(st: &mut State<C>, live: Live<C>) -> Hold<C> {
    let id = st.next_member;
    st.next_member += 1;
    let hold = Hold {
        id,
        conn: live.raw.clone(),
        created: live.created,
    };
    st.shared.push(Member {
        id,
        live,
        holders: 1,
        open: true,
        discarded: false,
    });
    hold
}

/// The open member with the fewest holders (the first of equals).
fn least_loaded<C>(shared: &[Member<C>]) -> Option<usize> {
    shared
        .iter()
        .enumerate()
        .filter(|(_, m)| m.open)
        .min_by_key(|(_, m)| m.holders)
        .map(|(i, _)| i)
}
