//! The call queue: how a client call enters its connection.
//!
//! Callers push their request onto a queue shared with the connection's driver, under one
//! lock that also covers the reply slots (see [`reply_slot`](super::reply_slot)): a call
//! costs one short lock to hand over and one to take its reply, with no channel and no
//! allocation once the queue and the slab have grown to the connection's concurrency.
//!
//! The queue is bounded: a caller that finds it full waits for room (back-pressure), and
//! its request is not queued until then. A caller dropped while its call is still queued
//! is skipped by the driver (nothing is sent); one dropped after the driver took the call
//! leaves its slot to the engine, which still writes the request and reads and drops the
//! reply, so later replies reach their callers. When the connection ends, queued calls and
//! callers waiting for room fail with [`Error::is_connection_lost`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::reply_slot::{ReplySlot, SlotOwner, Slots};
use crate::engine::Call;
use crate::{Error, Result};

/// A connection's call queue and reply slots, shared by its handles and its driver.
pub(crate) struct CallQueue<Req, Resp> {
    inner: Mutex<Inner<Req, Resp>>,
    /// Whether calls are queued: written under the lock, read without it by a driver
    /// whose registered waker is current, so that looking at an empty queue takes no lock.
    queued: AtomicBool,
    /// Live handles (clones of the connection). The last one gone, with nothing queued,
    /// tells the driver to close; it wakes the driver under the lock.
    senders: AtomicUsize,
}

struct Inner<Req, Resp> {
    /// Calls not yet taken by the driver, oldest first, each with its reply slot.
    queue: VecDeque<(Req, usize)>,
    /// Calls the queue holds before callers wait.
    cap: usize,
    slots: Slots<Resp>,
    /// Callers waiting for room: woken all at once when the driver makes room.
    waiters: Slab<Option<Waker>>,
    /// The driver's task, woken when a call arrives in an empty queue.
    driver: Option<Waker>,
    /// The driver is gone: no call can enter.
    closed: bool,
}

impl<Req, Resp> CallQueue<Req, Resp> {
    fn lock(&self) -> MutexGuard<'_, Inner<Req, Resp>> {
        // A panic while holding this lock leaves no half-made change behind (every change
        // under it is a push, a pop or a flag), so a poisoned lock is still sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> SlotOwner<Resp> for CallQueue<Req, Resp> {
    fn deliver(&self, key: usize, outcome: Result<Resp>) -> std::result::Result<(), Result<Resp>> {
        let delivered = self.lock().slots.deliver(key, outcome);
        match delivered {
            Ok(waker) => {
                if let Some(waker) = waker {
                    waker.wake();
                }
                Ok(())
            }
            Err(outcome) => Err(outcome),
        }
    }

    fn caller_waits(&self, key: usize) -> bool {
        self.lock().slots.caller_waits(key)
    }
}

/// A new call queue holding up to `cap` calls: the handles' end and the driver's end.
pub(crate) fn call_queue<Req, Resp>(
    cap: usize,
) -> (CallSender<Req, Resp>, CallReceiver<Req, Resp>) {
    let queue = Arc::new(CallQueue {
        inner: Mutex::new(Inner {
            queue: VecDeque::new(),
            cap: cap.max(1),
            slots: Slots::new(),
            waiters: Slab::new(),
            driver: None,
            closed: false,
        }),
        queued: AtomicBool::new(false),
        senders: AtomicUsize::new(1),
    });
    (
        CallSender {
            queue: Arc::clone(&queue),
        },
        CallReceiver {
            queue,
            registered: None,
        },
    )
}

// ===== the handles' end =====

/// The handles' end of a call queue; one per `ClientConnection` clone.
pub(crate) struct CallSender<Req, Resp> {
    queue: Arc<CallQueue<Req, Resp>>,
}

impl<Req, Resp> CallSender<Req, Resp> {
    /// Sends `request` and resolves with its reply (see the module's rules).
    pub(crate) fn call(&self, request: Req) -> CallFuture<'_, Req, Resp> {
        CallFuture {
            queue: &self.queue,
            request: Some(request),
            state: State::Start,
        }
    }

    /// Calls queued and reply slots in use (both 0 on an idle connection).
    #[cfg(feature = "test-util")]
    pub(crate) fn outstanding(&self) -> (usize, usize) {
        let inner = self.queue.lock();
        (inner.queue.len(), inner.slots.len())
    }
}

impl<Req, Resp> Clone for CallSender<Req, Resp> {
    fn clone(&self) -> Self {
        // (Relaxed, as `Arc`'s count: a clone is made from a live handle.)
        self.queue.senders.fetch_add(1, Ordering::Relaxed);
        CallSender {
            queue: Arc::clone(&self.queue),
        }
    }
}

impl<Req, Resp> Drop for CallSender<Req, Resp> {
    fn drop(&mut self) {
        if self.queue.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Under the lock: a driver that saw a live handle has registered its waker.
            if let Some(driver) = self.queue.lock().driver.take() {
                driver.wake();
            }
        }
    }
}

enum State {
    /// Not queued yet.
    Start,
    /// Waiting for room, registered under this key of the waiters.
    Waiting(usize),
    /// Queued or in flight, with its reply slot.
    Sent(usize),
    Done,
}

/// One call: queues the request on its first poll (or once there is room), then waits for
/// the reply in its slot.
pub(crate) struct CallFuture<'a, Req, Resp> {
    queue: &'a CallQueue<Req, Resp>,
    request: Option<Req>,
    state: State,
}

// The request is moved into the queue, never pinned: the future can move freely.
impl<Req, Resp> Unpin for CallFuture<'_, Req, Resp> {}

impl<Req, Resp> Future for CallFuture<'_, Req, Resp> {
    type Output = Result<Resp>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Resp>> {
        let this = self.get_mut();
        let mut inner = this.queue.lock();
        let inner = &mut *inner;
        match this.state {
            State::Sent(key) => {
                let polled = inner.slots.poll(key, cx);
                if polled.is_ready() {
                    this.state = State::Done;
                }
                return polled;
            }
            State::Done => panic!("call polled after it completed"),
            State::Start | State::Waiting(_) => {}
        }
        if inner.closed {
            if let State::Waiting(w) = this.state {
                inner.waiters.remove(w);
            }
            this.state = State::Done;
            return Poll::Ready(Err(Error::connection_lost(None)));
        }
        if inner.queue.len() >= inner.cap {
            match this.state {
                State::Waiting(w) => inner.waiters[w] = Some(cx.waker().clone()),
                _ => this.state = State::Waiting(inner.waiters.insert(Some(cx.waker().clone()))),
            }
            return Poll::Pending;
        }
        if let State::Waiting(w) = this.state {
            inner.waiters.remove(w);
        }
        let Some(request) = this.request.take() else {
            unreachable!("a call not yet queued holds its request")
        };
        let key = inner.slots.insert(cx.waker());
        let was_empty = inner.queue.is_empty();
        inner.queue.push_back((request, key));
        this.queue.queued.store(true, Ordering::Release);
        // A driver that found the queue empty waits to be woken; one that did not will
        // look at the queue again before it waits. Woken only once the call and the flag
        // are in place: a driver on another thread may run at once, and it reads the flag
        // without the lock.
        if was_empty {
            if let Some(driver) = &inner.driver {
                driver.wake_by_ref();
            }
        }
        this.state = State::Sent(key);
        Poll::Pending
    }
}

impl<Req, Resp> Drop for CallFuture<'_, Req, Resp> {
    fn drop(&mut self) {
        let late = match self.state {
            State::Waiting(w) => {
                self.queue.lock().waiters.remove(w);
                None
            }
            State::Sent(key) => self.queue.lock().slots.caller_gone(key),
            State::Start | State::Done => None,
        };
        // (Dropped after the lock is released: a reply is the user's type.)
        drop(late);
    }
}

// ===== the driver's end =====

/// The driver's end of a call queue.
pub(crate) struct CallReceiver<Req, Resp> {
    queue: Arc<CallQueue<Req, Resp>>,
    /// The waker last registered in the queue (callers only wake it by reference, so it
    /// stays registered until the driver registers another).
    registered: Option<Waker>,
}

impl<Req: Send + 'static, Resp: Send + 'static> CallReceiver<Req, Resp> {
    /// The next call whose caller still waits; `None` once every handle is gone and the
    /// queue is empty. Registers the driver's task to be woken by the next call.
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Option<Call<Req, Resp>>> {
        let current = matches!(&self.registered, Some(w) if w.will_wake(cx.waker()));
        // With a current registration, an empty queue needs no lock: a caller queues under
        // the lock, then wakes the registered waker.
        if current
            && !self.queue.queued.load(Ordering::Acquire)
            && self.queue.senders.load(Ordering::Acquire) > 0
        {
            return Poll::Pending;
        }
        let mut inner = self.queue.lock();
        if let Some(call) = self.pop(&mut inner) {
            return Poll::Ready(Some(call));
        }
        if self.queue.senders.load(Ordering::Acquire) == 0 {
            return Poll::Ready(None);
        }
        if !current || inner.driver.is_none() {
            let waker = cx.waker().clone();
            inner.driver = Some(waker.clone());
            self.registered = Some(waker);
        }
        Poll::Pending
    }

    /// The next call already queued, if any.
    pub(crate) fn try_take(&mut self) -> Option<Call<Req, Resp>> {
        if !self.queue.queued.load(Ordering::Acquire) {
            return None;
        }
        let mut inner = self.queue.lock();
        self.pop(&mut inner)
    }

    fn pop(&self, inner: &mut Inner<Req, Resp>) -> Option<Call<Req, Resp>> {
        let full = inner.queue.len() >= inner.cap;
        let mut taken = None;
        while let Some((request, key)) = inner.queue.pop_front() {
            if inner.slots.caller_waits(key) {
                taken = Some((request, key));
                break;
            }
            // Its caller gave up before the hand-over: nothing is sent.
            let _ = inner.slots.deliver(key, Err(Error::connection_lost(None)));
        }
        if inner.queue.is_empty() {
            self.queue.queued.store(false, Ordering::Release);
        }
        if full && inner.queue.len() < inner.cap {
            wake_waiters(inner);
        }
        let (request, key) = taken?;
        let owner: Arc<dyn SlotOwner<Resp>> = self.queue.clone();
        Some(Call {
            request,
            reply: ReplySlot::new(owner, key),
        })
    }

    /// Closes the queue: the queued calls fail with [`Error::is_connection_lost`]
    /// (carrying `cause`), and so do later calls and the callers waiting for room.
    pub(crate) fn close(&mut self, cause: Option<&Error>) {
        self.queue.close(cause);
    }
}

impl<Req, Resp> Drop for CallReceiver<Req, Resp> {
    fn drop(&mut self) {
        // The driver ended without `close` (a hand-over, a runtime shutting down).
        self.queue.close(None);
    }
}

impl<Req, Resp> CallQueue<Req, Resp> {
    fn close(&self, cause: Option<&Error>) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        inner.closed = true;
        inner.driver = None;
        let queued = std::mem::take(&mut inner.queue);
        self.queued.store(false, Ordering::Release);
        let mut wake = Vec::with_capacity(queued.len());
        for (_, key) in &queued {
            let lost = Err(Error::connection_lost(cause.cloned()));
            if let Ok(Some(waker)) = inner.slots.deliver(*key, lost) {
                wake.push(waker);
            }
        }
        wake_waiters(&mut inner);
        drop(inner);
        // Requests and wakers are the user's: dropped and woken outside the lock.
        drop(queued);
        wake.into_iter().for_each(Waker::wake);
    }
}

/// Wakes every caller waiting for room; each looks again, and those that find none wait
/// again.
fn wake_waiters<Req, Resp>(inner: &mut Inner<Req, Resp>) {
    for (_, waker) in inner.waiters.iter_mut() {
        if let Some(waker) = waker.take() {
            waker.wake();
        }
    }
}
