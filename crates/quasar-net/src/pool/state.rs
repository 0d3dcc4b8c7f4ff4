//! The pool's bookkeeping: everything that lives behind its one `Mutex`.
//!
//! Nothing here awaits, calls user code or wakes a task. Methods that free a slot or hand
//! a connection on return the `Waker` to call, and the caller wakes it after unlocking,
//! so a woken waiter never finds the lock still held.
//!
//! Slot accounting (every slot counted in exactly one place):
//!
//! ```text
//!   idle.len()   connections parked in the pool
//!   in_use       connections handed to a caller (a guard, or granted to a waiter that
//!                has not picked it up yet), and every member of `shared` once, however
//!                many handles hold it
//!   pending      connects in progress, or slots granted to a waiter that will connect
//!   total = idle.len() + in_use + pending  <=  pool_size   (except just after a shrink)
//! ```
//!
//! `closing` counts connections taken out of the books but not yet passed to
//! `Manager::close`; it holds `close()` back, not new checkouts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use tokio::time::Instant;

use crate::Error;

/// A connection with the facts the pool keeps about it.
pub(crate) struct Live<C> {
    pub(crate) raw: C,
    pub(crate) created: Instant,
}

/// A connection parked in the idle set.
pub(crate) struct Idle<C> {
    pub(crate) live: Live<C>,
    /// When it was parked; only meaningful when an idle timeout is configured (the pool
    /// skips the clock read otherwise and stores `created`).
    pub(crate) since: Instant,
}

/// A connection checked out in shared mode. The pool keeps the original; each holder
/// has a clone.
pub(crate) struct Member<C> {
    /// Names the member to its handles (ids are never reused).
    pub(crate) id: u64,
    pub(crate) live: Live<C>,
    /// Handles on it; always at least one (the last one out takes it out of the set).
    pub(crate) holders: usize,
    /// Whether new holders may join; a retired member (broken, discarded, or over the
    /// size after a shrink) only waits for its holders to let go.
    pub(crate) open: bool,
    /// Set by `SharedConnection::discard`: the last holder closes it.
    pub(crate) discarded: bool,
}

/// What a waiter is handed when its turn comes.
pub(crate) enum Grant<C> {
    /// A returned connection, already counted in `in_use`.
    Conn(Live<C>),
    /// A free slot, already counted in `pending`: the waiter opens the connection itself.
    Slot,
    /// The pool closed while it waited.
    Err(Error),
}

/// One waiter's mailbox. The state lock decides *who* is granted (queue order) and
/// writes the grant here; the waiter picks it up under this node's own lock, so a
/// queued checkout takes the contended state lock twice (queue, return), not three
/// times. Nodes are reused (see `State::push_waiter`), so once the pool has seen its
/// peak number of waiters, waiting allocates nothing.
pub(crate) struct Node<C> {
    /// Set by the waiter once it is done with the node; cleared under the state lock
    /// when `push_waiter` claims the node again.
    free: AtomicBool,
    slot: Mutex<Slot<C>>,
}

struct Slot<C> {
    grant: Option<Grant<C>>,
    waker: Option<Waker>,
}

// ===== impl Node =====

impl<C> Node<C> {
    fn slot(&self) -> MutexGuard<'_, Slot<C>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The waiter's poll: takes its grant (freeing the node) or stores its waker.
    pub(crate) fn poll(&self, waker: &Waker) -> Option<Grant<C>> {
        let mut slot = self.slot();
        if let Some(grant) = slot.grant.take() {
            drop(slot);
            self.free.store(true, Ordering::Release);
            return Some(grant);
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(waker) => {}
            w => *w = Some(waker.clone()),
        }
        None
    }

    /// Frees the node of a waiter that gives up and returns any grant it had not
    /// picked up. Call with the state lock held, after `State::cancel_waiter`.
    fn cancel(&self) -> Option<Grant<C>> {
        let mut slot = self.slot();
        // Do not keep a cancelled task alive through its waker.
        slot.waker = None;
        let grant = slot.grant.take();
        drop(slot);
        self.free.store(true, Ordering::Release);
        grant
    }

    /// Delivers a grant (state lock held) and returns the waker to call after unlocking.
    fn fill(&self, grant: Grant<C>) -> Option<Waker> {
        let mut slot = self.slot();
        debug_assert!(slot.grant.is_none(), "a waiter is granted once");
        slot.grant = Some(grant);
        slot.waker.take()
    }
}

/// Plain counters behind the lock; `PoolStats` is a copy of them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) sessions: u64,
    pub(crate) checkouts: u64,
    pub(crate) waits: u64,
    pub(crate) timeouts: u64,
    pub(crate) rejected: u64,
    pub(crate) connect_errors: u64,
    pub(crate) closed_broken: u64,
    pub(crate) closed_idle: u64,
    pub(crate) closed_lifetime: u64,
    pub(crate) closed_pool: u64,
    pub(crate) detached: u64,
}

pub(crate) struct State<C> {
    /// Parked connections; checkout pops the back (most recently used), the reaper and
    /// `resize` trim the front (least recently used).
    pub(crate) idle: VecDeque<Idle<C>>,
    /// Connections checked out in shared mode, open or retired; at most `pool_size`
    /// (plus any retired after a shrink), so a scan is cheap.
    pub(crate) shared: Vec<Member<C>>,
    pub(crate) next_member: u64,
    /// Ids of waiting nodes in arrival order (FIFO).
    queue: VecDeque<usize>,
    nodes: Vec<Arc<Node<C>>>,
    /// Where `push_waiter` starts looking for a free node: nodes free up roughly in the
    /// order they were claimed, so the scan is short.
    cursor: usize,
    pub(crate) in_use: usize,
    pub(crate) pending: usize,
    /// Slots reserved by `prewarm`/the reaper, a subset of `pending`.
    pub(crate) warming: usize,
    pub(crate) closing: usize,
    pub(crate) pool_size: usize,
    pub(crate) closed: bool,
    pub(crate) last_connect_error: Option<Error>,
    pub(crate) counters: Counters,
}

// ===== impl State =====

impl<C> State<C> {
    pub(crate) fn new(pool_size: usize) -> State<C> {
        // Pre-size for the steady state so the hot path never grows a buffer.
        State {
            idle: VecDeque::with_capacity(pool_size),
            shared: Vec::new(),
            next_member: 0,
            queue: VecDeque::with_capacity(pool_size),
            nodes: Vec::with_capacity(pool_size),
            cursor: 0,
            in_use: 0,
            pending: 0,
            warming: 0,
            closing: 0,
            pool_size,
            closed: false,
            last_connect_error: None,
            counters: Counters::default(),
        }
    }

    /// Slots taken: idle, in use and being connected.
    pub(crate) fn total(&self) -> usize {
        self.idle.len() + self.in_use + self.pending
    }

    pub(crate) fn has_room(&self) -> bool {
        self.total() < self.pool_size
    }

    pub(crate) fn waiters(&self) -> usize {
        self.queue.len()
    }

    /// `close()` has been called and every connection is gone.
    pub(crate) fn is_drained(&self) -> bool {
        self.closed && self.total() == 0 && self.closing == 0
    }

    // ----- waiters -----

    /// Queues a new waiter with its waker; returns its node id and node.
    pub(crate) fn push_waiter(&mut self, waker: &Waker) -> (usize, Arc<Node<C>>) {
        let n = self.nodes.len();
        let found = (0..n)
            .map(|k| (self.cursor + k) % n)
            .find(|&i| self.nodes[i].free.load(Ordering::Acquire));
        let id = found.unwrap_or_else(|| {
            self.nodes.push(Arc::new(Node {
                free: AtomicBool::new(false),
                slot: Mutex::new(Slot {
                    grant: None,
                    waker: None,
                }),
            }));
            n
        });
        self.cursor = id + 1;
        let node = &self.nodes[id];
        node.free.store(false, Ordering::Relaxed);
        {
            let mut slot = node.slot();
            debug_assert!(slot.grant.is_none());
            match &mut slot.waker {
                Some(w) if w.will_wake(waker) => {}
                w => *w = Some(waker.clone()),
            }
        }
        self.queue.push_back(id);
        (id, Arc::clone(node))
    }

    /// A waiter gave up: takes it out of the queue, frees its node and returns any grant
    /// it had not picked up, which the caller must pass on.
    pub(crate) fn cancel_waiter(&mut self, id: usize, node: &Node<C>) -> Option<Grant<C>> {
        // O(waiters), and only on cancellation; the cap on waiters bounds it. A waiter
        // not in the queue was granted: grants are written under this lock, so it is in
        // the node by now.
        if let Some(pos) = self.queue.iter().position(|&q| q == id) {
            self.queue.remove(pos);
        }
        node.cancel()
    }

    fn grant(&mut self, id: usize, grant: Grant<C>) -> Option<Waker> {
        self.nodes[id].fill(grant)
    }

    // ----- transitions -----

    /// A slot was just freed (its counter already decremented): give it to the first
    /// waiter, who will connect. Returns the waker to call after unlocking.
    pub(crate) fn slot_freed(&mut self) -> Option<Waker> {
        if self.closed || !self.has_room() {
            return None;
        }
        let id = self.queue.pop_front()?;
        self.pending += 1;
        self.grant(id, Grant::Slot)
    }

    /// Grants free slots to waiters until the pool is full (after `resize` grows it).
    pub(crate) fn grant_slots(&mut self, wakers: &mut Vec<Waker>) {
        while !self.queue.is_empty() && self.has_room() {
            wakers.extend(self.slot_freed());
        }
    }

    /// A healthy connection counted in `in_use` comes back. Hands it straight to the
    /// first waiter (it stays in `in_use`), parks it, or, when the pool is closed or over
    /// its size after a shrink, moves it to `closing` and gives it back to be closed.
    pub(crate) fn put_back(&mut self, live: Live<C>, since: Instant) -> PutBack<C> {
        if self.closed || self.total() > self.pool_size {
            self.in_use -= 1;
            self.closing += 1;
            self.counters.closed_pool += 1;
            return PutBack::Close(live);
        }
        if let Some(id) = self.queue.pop_front() {
            // Counted here: the waiter picks it up without this lock.
            self.counters.checkouts += 1;
            return PutBack::Handed(self.grant(id, Grant::Conn(live)));
        }
        self.in_use -= 1;
        self.idle.push_back(Idle { live, since });
        PutBack::Parked
    }

    /// Closes the pool's books: takes every idle connection, fails every waiter, and
    /// revokes grants not yet picked up. Everything returned must be closed, then
    /// `closing` decremented by `conns.len()`.
    pub(crate) fn close(&mut self, conns: &mut Vec<C>, wakers: &mut Vec<Waker>) {
        debug_assert!(!self.closed);
        self.closed = true;
        conns.extend(self.idle.drain(..).map(|idle| idle.live.raw));
        let err = Error::closed("pool");
        for id in self.queue.drain(..) {
            wakers.extend(self.nodes[id].fill(Grant::Err(err.clone())));
        }
        // Revoke grants not picked up yet. A waiter racing us to its node either got its
        // grant first (and returns it to a closed pool) or finds the error.
        for node in &self.nodes {
            if node.free.load(Ordering::Acquire) {
                continue;
            }
            let mut slot = node.slot();
            match slot.grant.take() {
                Some(Grant::Conn(live)) => {
                    self.in_use -= 1;
                    self.counters.checkouts -= 1;
                    conns.push(live.raw);
                }
                Some(Grant::Slot) => self.pending -= 1,
                Some(Grant::Err(e)) => {
                    slot.grant = Some(Grant::Err(e));
                    continue;
                }
                None => continue,
            }
            slot.grant = Some(Grant::Err(err.clone()));
            wakers.extend(slot.waker.take());
        }
        self.counters.closed_pool += conns.len() as u64;
        self.closing += conns.len();
    }
}

/// The outcome of [`State::put_back`].
pub(crate) enum PutBack<C> {
    Parked,
    Handed(Option<Waker>),
    Close(Live<C>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(n: u32) -> Live<u32> {
        Live {
            raw: n,
            created: Instant::now(),
        }
    }

    #[test]
    fn returned_connection_goes_to_the_first_waiter() {
        let mut st = State::new(1);
        st.in_use = 1;
        let waker = futures_util::task::noop_waker();
        let (_, a) = st.push_waiter(&waker);
        let (_, b) = st.push_waiter(&waker);
        let now = Instant::now();
        assert!(matches!(st.put_back(live(7), now), PutBack::Handed(_)));
        assert!(matches!(a.poll(&waker), Some(Grant::Conn(l)) if l.raw == 7));
        assert!(b.poll(&waker).is_none());
        assert_eq!(st.in_use, 1);
        assert_eq!(st.waiters(), 1);
    }

    #[test]
    fn cancelled_waiter_returns_its_grant_and_its_node_is_reused() {
        let mut st = State::<u32>::new(1);
        st.in_use = 1;
        let waker = futures_util::task::noop_waker();
        let (a, node) = st.push_waiter(&waker);
        assert!(st.slot_freed().is_none(), "a full pool grants nothing");
        st.pool_size = 2;
        assert!(
            st.slot_freed().is_some(),
            "room: the waiter is granted a slot"
        );
        assert!(matches!(st.cancel_waiter(a, &node), Some(Grant::Slot)));
        let (again, node) = st.push_waiter(&waker);
        assert_eq!(again, a, "the node is reused");
        assert!(st.cancel_waiter(a, &node).is_none());
        assert_eq!(st.waiters(), 0);
        assert_eq!(st.nodes.len(), 1);
    }
}
