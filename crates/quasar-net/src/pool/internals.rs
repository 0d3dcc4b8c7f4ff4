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
//!                has not picked it up yet)
//!   pending      connects in progress, or slots granted to a waiter that will connect
//!   total = idle.len() + in_use + pending  <=  pool_size   (except just after a shrink)
//! ```
//!
//! `closing` counts connections taken out of the books but not yet passed to
//! `Manager::close`; it holds `close()` back, not new checkouts.

use std::collections::VecDeque;
use std::mem;
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

/// What a waiter is handed when its turn comes.
pub(crate) enum Grant<C> {
    /// A returned connection, already counted in `in_use`.
    Conn(Live<C>),
    /// A free slot, already counted in `pending`: the waiter opens the connection itself.
    Slot,
    /// The pool closed while it waited.
    Err(Error),
}

enum NodeState<C> {
    Free,
    Waiting,
    Granted(Grant<C>),
}

/// One waiter's mailbox. Nodes are reused through a free list, so once the pool has seen
/// its peak number of waiters, waiting allocates nothing.
struct Node<C> {
    state: NodeState<C>,
    waker: Option<Waker>,
}

/// Plain counters behind the lock; `PoolStats` is a copy of them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) sessions: u64,
    pub(crate) checkouts: u64,
    pub(crate) waits: u64,
    pub(crate) wait_time_us: u64,
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
    /// Ids of waiting nodes in arrival order (FIFO).
    queue: VecDeque<usize>,
    nodes: Vec<Node<C>>,
    free: Vec<usize>,
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
            queue: VecDeque::with_capacity(pool_size),
            nodes: Vec::with_capacity(pool_size),
            free: Vec::with_capacity(pool_size),
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

    /// Queues a new waiter and returns its node id.
    pub(crate) fn push_waiter(&mut self) -> usize {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.nodes.push(Node {
                    state: NodeState::Free,
                    waker: None,
                });
                self.nodes.len() - 1
            }
        };
        debug_assert!(matches!(self.nodes[id].state, NodeState::Free));
        self.nodes[id].state = NodeState::Waiting;
        self.queue.push_back(id);
        id
    }

    /// Takes the waiter's grant if it has one (freeing the node), else stores its waker.
    pub(crate) fn poll_waiter(&mut self, id: usize, waker: &Waker) -> Option<Grant<C>> {
        let node = &mut self.nodes[id];
        if let NodeState::Granted(_) = node.state {
            let NodeState::Granted(grant) = mem::replace(&mut node.state, NodeState::Free) else {
                unreachable!("checked above")
            };
            node.waker = None;
            self.free.push(id);
            return Some(grant);
        }
        debug_assert!(matches!(node.state, NodeState::Waiting));
        match &mut node.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        None
    }

    /// A waiter gave up: frees its node and returns any grant it had not picked up, which
    /// the caller must pass on.
    pub(crate) fn cancel_waiter(&mut self, id: usize) -> Option<Grant<C>> {
        let node = &mut self.nodes[id];
        node.waker = None;
        let grant = match mem::replace(&mut node.state, NodeState::Free) {
            NodeState::Waiting => {
                // O(waiters), and only on cancellation; the cap on waiters bounds it.
                if let Some(pos) = self.queue.iter().position(|&q| q == id) {
                    self.queue.remove(pos);
                }
                None
            }
            NodeState::Granted(grant) => Some(grant),
            NodeState::Free => unreachable!("waiter node freed twice"),
        };
        self.free.push(id);
        grant
    }

    fn grant(&mut self, id: usize, grant: Grant<C>) -> Option<Waker> {
        let node = &mut self.nodes[id];
        debug_assert!(matches!(node.state, NodeState::Waiting));
        node.state = NodeState::Granted(grant);
        node.waker.take()
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
        self.queue.clear();
        for node in &mut self.nodes {
            let revoked = match &node.state {
                NodeState::Free => continue,
                NodeState::Waiting => None,
                NodeState::Granted(Grant::Err(_)) => continue,
                NodeState::Granted(_) => match mem::replace(&mut node.state, NodeState::Waiting) {
                    NodeState::Granted(g) => Some(g),
                    _ => unreachable!("checked above"),
                },
            };
            match revoked {
                Some(Grant::Conn(live)) => {
                    self.in_use -= 1;
                    conns.push(live.raw);
                }
                Some(Grant::Slot) => self.pending -= 1,
                Some(Grant::Err(_)) | None => {}
            }
            node.state = NodeState::Granted(Grant::Err(Error::closed("pool")));
            wakers.extend(node.waker.take());
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
        let a = st.push_waiter();
        let b = st.push_waiter();
        let now = Instant::now();
        assert!(matches!(st.put_back(live(7), now), PutBack::Handed(_)));
        let waker = futures_util::task::noop_waker();
        assert!(matches!(st.poll_waiter(a, &waker), Some(Grant::Conn(l)) if l.raw == 7));
        assert!(st.poll_waiter(b, &waker).is_none());
        assert_eq!(st.in_use, 1);
        assert_eq!(st.waiters(), 1);
    }

    #[test]
    fn cancelled_waiter_returns_its_grant_and_its_node_is_reused() {
        let mut st = State::<u32>::new(1);
        let a = st.push_waiter();
        assert!(st.slot_freed().is_none(), "a full pool grants nothing");
        st.pool_size = 2;
        st.slot_freed();
        assert!(matches!(st.cancel_waiter(a), Some(Grant::Slot)));
        assert_eq!(st.push_waiter(), a, "the node is reused");
        assert!(st.cancel_waiter(a).is_none());
        assert_eq!(st.waiters(), 0);
    }
}
