//! Per-thread idle caches in front of the state lock.
//!
//! When nobody waits, a returned connection is parked in a one-slot cache owned by the
//! returning thread, and the next checkout on that thread takes it from there. Neither
//! touches the state lock, so on a multi-threaded runtime a connection returned on one
//! core is checked out again on the same core and the state's cache lines stay put,
//! instead of moving between cores twice per checkout. Other threads lock a cache only
//! to empty it (a checkout that found nothing in the books, `close`, the reaper, a gauge).
//!
//! A cached connection stays counted in `State::in_use`; the books see it as idle only
//! once it is moved back into the idle set ([`Caches::drain`]). So the fast path changes
//! no shared counter, and the slot accounting never has to scan the caches.
//!
//! FIFO hand-off and `close` need every return to go through the books. The `attention`
//! flag says so: it is raised (under the state lock) by a checkout about to queue, by
//! `close` and by a shrinking `resize`, and lowered (under the state lock) once the pool
//! is back to no waiters, open, within its size and with an idle connection in the books
//! (so a pool running at its size does not flip it, and empty every cache, each time a
//! caller queues). While it is up, checkouts skip the
//! caches and returns go to the books. Whoever raises it then locks every cache to empty
//! it, and a return reads the flag under its cache's lock before parking: so either the
//! raiser locks that cache after the return (and finds the connection) or the return
//! sees the flag and goes to the books. A thread's first return, which creates its
//! cache, fences against the raiser's scan missing the new entry. No connection is left
//! in a cache while a waiter waits or after the pool closed.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use thread_local::ThreadLocal;

use super::state::{Idle, Live};

/// Aligns its content to two cache lines (adjacent-line prefetch pairs them on x86).
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

/// One thread's cache: the connection it returned last, if nobody took it since, and
/// the checkouts served from it since the books last counted them.
struct Cache<C> {
    idle: Option<Idle<C>>,
    checkouts: u64,
}

/// What [`Caches::take`] found in this thread's cache.
pub(crate) enum Cached<C> {
    /// Empty, or the books need every checkout (see the module docs).
    Miss,
    /// A healthy connection, now checked out (still counted in `in_use`).
    Hit(Live<C>),
    /// A connection that failed the health check; its slot must be freed.
    Broken(Live<C>),
}

pub(crate) struct Caches<C: Send> {
    /// Read on every checkout and return, written rarely: on its own cache lines.
    attention: CachePadded<AtomicBool>,
    /// Padded so that two threads' caches never share a cache line.
    slots: ThreadLocal<CachePadded<Mutex<Cache<C>>>>,
}

fn lock<C>(cache: &Mutex<Cache<C>>) -> MutexGuard<'_, Cache<C>> {
    // A cache holds plain data; nothing panics while it is locked except the manager's
    // `is_closed`, and the slot is consistent between statements.
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

// ===== impl Caches =====

impl<C: Send> Caches<C> {
    pub(crate) fn new() -> Caches<C> {
        Caches {
            attention: CachePadded(AtomicBool::new(false)),
            slots: ThreadLocal::new(),
        }
    }

    /// Checkout: takes this thread's cached connection, unless the flag is up.
    /// `healthy` runs under the cache's lock (the manager's cheap `is_closed`).
    pub(crate) fn take(&self, healthy: impl FnOnce(&Live<C>) -> bool) -> Cached<C> {
        if self.attention.0.load(Ordering::Relaxed) {
            return Cached::Miss;
        }
        let Some(cache) = self.slots.get() else {
            return Cached::Miss;
        };
        let mut cache = lock(&cache.0);
        let Some(idle) = cache.idle.take() else {
            return Cached::Miss;
        };
        if !healthy(&idle.live) {
            return Cached::Broken(idle.live);
        }
        cache.checkouts += 1;
        Cached::Hit(idle.live)
    }

    /// Return: parks the connection in this thread's cache when the flag is down and the
    /// cache is empty (`None`); otherwise hands it back, for the books (`Some`).
    pub(crate) fn put(&self, idle: Idle<C>) -> Option<Idle<C>> {
        if self.attention.0.load(Ordering::Relaxed) {
            return Some(idle);
        }
        let cache = match self.slots.get() {
            Some(cache) => cache,
            None => {
                let cache = self.slots.get_or(|| {
                    CachePadded(Mutex::new(Cache {
                        idle: None,
                        checkouts: 0,
                    }))
                });
                // A raiser's scan may have missed the new entry: pairs with the fence
                // in `raise`, so either the scan sees it or the load below sees the flag.
                fence(Ordering::SeqCst);
                cache
            }
        };
        let mut slot = lock(&cache.0);
        // Read under the cache's lock: a raiser stores the flag before it locks each
        // cache to empty it, so either it locks this cache after this return (and finds
        // the connection) or this load sees the flag.
        if slot.idle.is_some() || self.attention.0.load(Ordering::Relaxed) {
            return Some(idle);
        }
        slot.idle = Some(idle);
        None
    }

    /// Raises the flag (state lock held). Returns whether it was down, in which case
    /// the caller must [`drain`](Self::drain) the caches next: only connections parked
    /// before the raise can be there, and none can be parked for good after it.
    pub(crate) fn raise(&self) -> bool {
        if self.attention.0.load(Ordering::Relaxed) {
            return false;
        }
        self.attention.0.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        true
    }

    /// Lowers the flag when the pool is `calm` (state lock held): no waiters, open,
    /// within its size, and something idle in the books.
    pub(crate) fn settle(&self, calm: bool) {
        if calm && self.attention.0.load(Ordering::Relaxed) {
            self.attention.0.store(false, Ordering::Release);
        }
    }

    /// Empties every thread's cache into `park` (state lock held) and returns the
    /// checkouts they served since the last drain.
    pub(crate) fn drain(&self, mut park: impl FnMut(Idle<C>)) -> u64 {
        let mut checkouts = 0;
        for cache in self.slots.iter() {
            let mut cache = lock(&cache.0);
            checkouts += std::mem::take(&mut cache.checkouts);
            if let Some(idle) = cache.idle.take() {
                park(idle);
            }
        }
        checkouts
    }

    /// Every cached connection, for the pool's `Drop`.
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = Idle<C>> + '_ {
        self.slots.iter_mut().filter_map(|cache| {
            cache
                .0
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .idle
                .take()
        })
    }
}
