//! The pool engine: checkout, return, connect, close and the reaper.
//!
//! Every method takes the state lock for a few instructions and never across an
//! `.await`. User code (`Manager::connect`, `is_closed`, `close`) runs outside the lock,
//! except `is_closed` from `available()` and the reaper's scan, which the trait documents.
//! Each await point owns its slot through an RAII guard (`Checkout`, `ConnectGuard`, in
//! `guards.rs`), so a dropped future gives its slot or its connection back.

use std::future::{poll_fn, Future};
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::cache::{CachePadded, Cached, Caches};
use super::guards::{Checkout, ConnectGuard, Got};
use super::state::{Idle, Live, PutBack, State};
use super::Manager;
use crate::{Error, OneTime, Result};

/// Settings fixed at build time (`pool_size` lives in the state: `resize` changes it).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) min_idle: usize,
    pub(crate) acquire_timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) max_waiters: Option<usize>,
    pub(crate) reap_interval: Duration,
    /// Two clock reads per queued checkout: opt-in, because they are a noticeable share
    /// of a contended checkout.
    pub(crate) measure_wait_time: bool,
}

pub(crate) struct Shared<M: Manager> {
    pub(crate) manager: M,
    pub(crate) config: Config,
    /// On its own cache lines: every checkout also bumps the `Arc` count next to
    /// `manager`, and the two should not bounce between cores together.
    state: CachePadded<Mutex<State<M::Connection>>>,
    /// Per-thread idle caches in front of the state lock (see `cache.rs`).
    caches: Caches<M::Connection>,
    /// Fires once `close()` was called and every connection is gone.
    drained: OneTime<()>,
    /// Woken when a connection joins the shared set, for shared checkouts waiting on a
    /// full pool (see `multiplex.rs`).
    pub(crate) shared_joined: tokio::sync::Notify,
    /// Kept apart from the state: waiters add to it without taking the state lock.
    wait_time_us: AtomicU64,
    /// Dropping the sender (pool dropped or closed) stops the reaper at once.
    reaper_stop: Mutex<Option<oneshot::Sender<()>>>,
}

/// The state lock's guard. Unlocking lowers the caches' attention flag once the pool
/// is calm again (see `cache.rs`), so every path that empties the queue or shrinks the
/// books lets the caches back in without having to remember to. Calm includes an idle
/// connection in the books: a pool that runs at its size, its queue emptying and
/// filling, keeps the flag up rather than raising it (and emptying every cache) each
/// time a caller queues.
pub(crate) struct StateGuard<'a, C: Send> {
    st: MutexGuard<'a, State<C>>,
    caches: &'a Caches<C>,
}

impl<C: Send> Deref for StateGuard<'_, C> {
    type Target = State<C>;

    fn deref(&self) -> &State<C> {
        &self.st
    }
}

impl<C: Send> DerefMut for StateGuard<'_, C> {
    fn deref_mut(&mut self) -> &mut State<C> {
        &mut self.st
    }
}

impl<C: Send> Drop for StateGuard<'_, C> {
    fn drop(&mut self) {
        let st = &self.st;
        self.caches.settle(
            !st.closed && st.waiters() == 0 && st.total() <= st.pool_size && !st.idle.is_empty(),
        );
    }
}

// ===== impl Shared =====

impl<M: Manager> Shared<M> {
    pub(crate) fn new(manager: M, pool_size: usize, config: Config) -> Shared<M> {
        Shared {
            manager,
            config,
            state: CachePadded(Mutex::new(State::new(pool_size))),
            caches: Caches::new(),
            drained: OneTime::new(),
            shared_joined: tokio::sync::Notify::new(),
            wait_time_us: AtomicU64::new(0),
            reaper_stop: Mutex::new(None),
        }
    }

    pub(crate) fn lock(&self) -> StateGuard<'_, M::Connection> {
        // Nothing panics while holding the lock except `is_closed` in `available()`; the
        // books are consistent between statements, so a poisoned lock is still usable.
        StateGuard {
            st: self.state.0.lock().unwrap_or_else(PoisonError::into_inner),
            caches: &self.caches,
        }
    }

    /// The lock, with every thread's cached connection moved back into the idle set, so
    /// the gauges and the reaper see the whole pool.
    pub(crate) fn books(&self) -> StateGuard<'_, M::Connection> {
        let mut st = self.lock();
        self.drain_caches(&mut st);
        st
    }

    /// Moves every cached connection into the idle set (most recently used end).
    pub(crate) fn drain_caches(&self, st: &mut State<M::Connection>) {
        let mut moved = 0;
        let checkouts = self.caches.drain(|idle| {
            st.idle.push_back(idle);
            moved += 1;
        });
        st.in_use -= moved;
        st.counters.checkouts += checkouts;
    }

    /// Before a checkout queues (or a close or shrink acts): raises the caches'
    /// attention flag, so returns go through the books, and takes back what the caches
    /// held. After this, any idle connection is in `st.idle`.
    pub(crate) fn gather(&self, st: &mut State<M::Connection>) {
        if self.caches.raise() {
            self.drain_caches(st);
        }
    }

    pub(crate) fn add_wait_time(&self, waited: Duration) {
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.wait_time_us.fetch_add(us, Ordering::Relaxed);
    }

    pub(crate) fn wait_time_us(&self) -> u64 {
        self.wait_time_us.load(Ordering::Relaxed)
    }

    /// Unlocks, firing the drained event if this change emptied a closed pool.
    pub(crate) fn unlock(&self, st: StateGuard<'_, M::Connection>) {
        let drained = st.is_drained();
        drop(st);
        if drained {
            self.drained.fire(Ok(()));
        }
    }

    fn is_expired(&self, live: &Live<M::Connection>) -> bool {
        match self.config.max_lifetime {
            Some(max) => live.created.elapsed() >= max,
            None => false,
        }
    }

    /// When a connection parked now counts as idle from; the clock is read only when an
    /// idle timeout needs it.
    fn idle_since(&self, live: &Live<M::Connection>) -> Instant {
        match self.config.idle_timeout {
            Some(_) => Instant::now(),
            None => live.created,
        }
    }

    // ----- checkout -----

    /// Checks a connection out: the fast paths (this thread's cached connection, else a
    /// healthy idle one in the books) take one lock and never read the clock; everything
    /// slower runs under the acquire timeout.
    pub(crate) async fn acquire(&self) -> Result<Live<M::Connection>> {
        match self.caches.take(|live| !self.is_broken(live)) {
            Cached::Hit(live) => return Ok(live),
            Cached::Broken(live) => self.close_checked_out(live),
            Cached::Miss => {}
        }
        let mut checkout = Checkout::new(self);
        // One poll by hand: it registers this task's waker if it has to queue.
        let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut checkout).poll(cx))).await;
        let first = match first {
            Poll::Ready(Ok(Got::Idle(live))) => match self.check_health(live) {
                Some(live) => return Ok(live),
                None => Poll::Pending,
            },
            Poll::Ready(got) => Poll::Ready(got?),
            Poll::Pending => Poll::Pending,
        };
        let Some(limit) = self.config.acquire_timeout else {
            return self.acquire_slow(checkout, first).await;
        };
        match tokio::time::timeout(limit, self.acquire_slow(checkout, first)).await {
            Ok(res) => res,
            // The inner future is dropped by now: its guards have given back their slots.
            Err(_) => Err(self.acquire_timed_out(limit)),
        }
    }

    /// Finishes a checkout whose first attempt queued (`Pending`), found only broken
    /// idle connections (`Pending` too: try again), or must connect.
    pub(crate) async fn acquire_slow(
        &self,
        mut checkout: Checkout<'_, M>,
        first: Poll<Got<M::Connection>>,
    ) -> Result<Live<M::Connection>> {
        let mut got = match first {
            Poll::Ready(got) => got,
            Poll::Pending => (&mut checkout).await?,
        };
        loop {
            match got {
                Got::Idle(live) => {
                    if let Some(live) = self.check_health(live) {
                        return Ok(live);
                    }
                }
                Got::Slot => return ConnectGuard::adopt(self).connect().await,
                Got::Handed(live) if !self.is_broken(&live) => return Ok(live),
                Got::Handed(live) => {
                    // This caller was first in line: it keeps the slot and connects
                    // rather than queueing again.
                    let reason = self.close_reason(&live);
                    self.manager.close(live.raw);
                    {
                        let mut st = self.lock();
                        st.in_use -= 1;
                        st.pending += 1;
                        st.counters.checkouts -= 1;
                        bump(&mut st.counters, reason);
                    }
                    return ConnectGuard::adopt(self).connect().await;
                }
            }
            got = (&mut checkout).await?;
        }
    }

    pub(crate) fn is_broken(&self, live: &Live<M::Connection>) -> bool {
        self.manager.is_closed(&live.raw) || self.is_expired(live)
    }

    pub(crate) fn close_reason(&self, live: &Live<M::Connection>) -> Reason {
        if self.is_expired(live) && !self.manager.is_closed(&live.raw) {
            Reason::Lifetime
        } else {
            Reason::Broken
        }
    }

    /// Health check on checkout: a connection the peer closed while it sat idle (or one
    /// past its lifetime) is closed, its slot freed, and `None` returned.
    fn check_health(&self, live: Live<M::Connection>) -> Option<Live<M::Connection>> {
        if !self.is_broken(&live) {
            return Some(live);
        }
        self.lock().counters.checkouts -= 1;
        self.close_checked_out(live);
        None
    }

    /// Closes a broken connection taken for a checkout (counted in `in_use`) and frees
    /// its slot.
    fn close_checked_out(&self, live: Live<M::Connection>) {
        let reason = self.close_reason(&live);
        self.close_in_use(live, reason);
    }

    /// Closes a connection counted in `in_use`, counts why, and hands its slot to the
    /// oldest waiter (if any).
    fn close_in_use(&self, live: Live<M::Connection>, reason: Reason) {
        self.manager.close(live.raw);
        let mut st = self.lock();
        st.in_use -= 1;
        bump(&mut st.counters, reason);
        let waker = st.slot_freed();
        self.unlock(st);
        wake(waker);
    }

    pub(crate) fn acquire_timed_out(&self, limit: Duration) -> Error {
        let mut st = self.lock();
        st.counters.timeouts += 1;
        let what = format!("pool acquire after {limit:?}");
        match st.last_connect_error.clone() {
            Some(cause) => {
                Error::timeout_with(format!("{what} (last connect error: {cause})"), cause)
            }
            None => Error::timeout(what),
        }
    }

    // ----- return -----

    /// A checked-out connection comes back; `discard` closes it instead of reusing it.
    pub(crate) fn release(&self, live: Live<M::Connection>, discard: bool) {
        if discard || self.is_broken(&live) {
            let reason = if discard {
                Reason::Broken
            } else {
                self.close_reason(&live)
            };
            self.close_in_use(live, reason);
            return;
        }
        let since = self.idle_since(&live);
        // This thread's cache when nobody waits; the books otherwise.
        let Some(Idle { live, since }) = self.caches.put(Idle { live, since }) else {
            return;
        };
        let mut st = self.lock();
        match st.put_back(live, since) {
            PutBack::Parked => drop(st),
            PutBack::Handed(waker) => {
                drop(st);
                wake(waker);
            }
            PutBack::Close(live) => {
                drop(st);
                self.manager.close(live.raw);
                self.closed_one();
            }
        }
    }

    /// The caller took the connection out of the pool for good.
    pub(crate) fn detached(&self) {
        let mut st = self.lock();
        st.in_use -= 1;
        st.counters.detached += 1;
        let waker = st.slot_freed();
        self.unlock(st);
        wake(waker);
    }

    /// A connection moved to `closing` has been closed.
    pub(crate) fn closed_one(&self) {
        let mut st = self.lock();
        st.closing -= 1;
        self.unlock(st);
    }

    // ----- close and resize -----

    pub(crate) fn close(&self) -> impl Future<Output = ()> + Send + 'static {
        let drained = self.drained.clone();
        let mut st = self.lock();
        if !st.closed {
            self.gather(&mut st);
            let (mut conns, mut wakers) = (Vec::new(), Vec::new());
            st.close(&mut conns, &mut wakers);
            let n = conns.len();
            self.unlock(st);
            tracing::debug!(idle = n, "pool closed");
            drop(self.take_reaper_stop());
            wakers.into_iter().for_each(Waker::wake);
            for raw in conns {
                self.manager.close(raw);
            }
            let mut st = self.lock();
            st.closing -= n;
            self.unlock(st);
        } else {
            drop(st);
        }
        async move {
            // The event fires with `Ok` only.
            let _ = drained.wait().await;
        }
    }

    pub(crate) fn resize(&self, pool_size: usize) {
        let (mut conns, mut wakers) = (Vec::new(), Vec::new());
        let mut st = self.lock();
        self.gather(&mut st);
        st.pool_size = pool_size;
        st.grant_slots(&mut wakers);
        while st.total() > pool_size {
            // Trim the least recently used first; in-use excess closes on return.
            let Some(idle) = st.idle.pop_front() else {
                break;
            };
            conns.push(idle.live.raw);
        }
        st.closing += conns.len();
        st.counters.closed_pool += conns.len() as u64;
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
        let n = conns.len();
        for raw in conns {
            self.manager.close(raw);
        }
        if n > 0 {
            let mut st = self.lock();
            st.closing -= n;
            self.unlock(st);
        }
    }

    // ----- prewarm and reaping -----

    pub(crate) fn set_reaper_stop(&self, stop: oneshot::Sender<()>) {
        *self
            .reaper_stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(stop);
    }

    fn take_reaper_stop(&self) -> Option<oneshot::Sender<()>> {
        self.reaper_stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Opens connections until `min_idle` are idle (or the pool is full), one at a time.
    /// Returns how many it opened, or the first connect error.
    pub(crate) async fn prewarm(&self) -> Result<usize> {
        let mut opened = 0;
        loop {
            let guard = {
                let st = self.books();
                let target = self.config.min_idle.min(st.pool_size);
                if st.closed || st.idle.len() + st.warming >= target || !st.has_room() {
                    return Ok(opened);
                }
                let mut st = st;
                st.pending += 1;
                st.warming += 1;
                ConnectGuard::warming(self)
            };
            guard.connect_idle().await?;
            opened += 1;
        }
    }

    /// One reaper pass: closes idle connections known closed, past their lifetime, or
    /// idle too long (keeping `min_idle`), then refills to `min_idle`.
    async fn reap(&self) {
        if !self.reap_idle() {
            return;
        }
        // Bounded by one interval: a hanging connect must neither stall reaping nor keep
        // a dropped pool alive (this pass holds a strong reference). An abandoned
        // connect gives its slot back and the next pass tries again.
        match tokio::time::timeout(self.config.reap_interval, self.prewarm()).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::debug!(error = %err, "pool reaper could not refill min_idle"),
            Err(_) => tracing::debug!("pool reaper refill did not finish within one interval"),
        }
    }

    /// The synchronous half of a reaper pass; false when the pool is closed.
    fn reap_idle(&self) -> bool {
        let now = Instant::now();
        let mut doomed = Vec::new();
        let mut st = self.books();
        if st.closed {
            return false;
        }
        let min_idle = self.config.min_idle.min(st.pool_size);
        let (idle_timeout, max_lifetime) = (self.config.idle_timeout, self.config.max_lifetime);
        let mut i = 0;
        while i < st.idle.len() {
            let idle = &st.idle[i];
            let reason = if self.manager.is_closed(&idle.live.raw) {
                Some(Reason::Broken)
            } else if max_lifetime.is_some_and(|max| now >= idle.live.created + max) {
                Some(Reason::Lifetime)
            } else if st.idle.len() > min_idle
                && idle_timeout.is_some_and(|max| now >= idle.since + max)
            {
                Some(Reason::Idle)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    let idle = st.idle.remove(i).expect("index checked");
                    bump(&mut st.counters, reason);
                    doomed.push(idle.live.raw);
                }
                None => i += 1,
            }
        }
        st.closing += doomed.len();
        let mut wakers = Vec::new();
        for _ in 0..doomed.len() {
            wakers.extend(st.slot_freed());
        }
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
        let n = doomed.len();
        if n > 0 {
            tracing::debug!(closed = n, "pool reaper closed idle connections");
            for raw in doomed {
                self.manager.close(raw);
            }
            let mut st = self.lock();
            st.closing -= n;
            self.unlock(st);
        }
        true
    }
}

impl<M: Manager> Drop for Shared<M> {
    fn drop(&mut self) {
        // Every guard holds an `Arc`, so only idle connections can be left.
        let st = self
            .state
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for idle in st.idle.drain(..) {
            self.manager.close(idle.live.raw);
        }
        for idle in self.caches.take_all() {
            self.manager.close(idle.live.raw);
        }
    }
}

/// The background task: refills `min_idle` at once, then reaps every `reap_interval`.
/// It holds only a `Weak`, and stops when the pool is dropped or closed.
pub(crate) async fn reaper<M: Manager>(
    pool: Weak<Shared<M>>,
    mut stop: oneshot::Receiver<()>,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = ticks.tick() => {}
        }
        let Some(shared) = pool.upgrade() else {
            return;
        };
        shared.reap().await;
        // Dropped before sleeping, so the pool can go away between passes.
        drop(shared);
    }
}

pub(crate) fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Reason {
    Broken,
    Idle,
    Lifetime,
}

pub(crate) fn bump(counters: &mut super::state::Counters, reason: Reason) {
    match reason {
        Reason::Broken => counters.closed_broken += 1,
        Reason::Idle => counters.closed_idle += 1,
        Reason::Lifetime => counters.closed_lifetime += 1,
    }
}
