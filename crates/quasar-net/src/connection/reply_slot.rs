//! Reply slots: where a client call's reply waits for its caller, reused from call to call
//! instead of a channel allocated per call.
//!
//! A slot has two owners, the caller and the connection (first the call queue, then the
//! engine's exchange), and is freed when both are done with it: the caller when it took
//! the reply or gave up, the connection when it delivered the reply or dropped the call.
//! Whichever is done last frees it, so a caller that drops its request after the hand-over
//! leaves its slot to the engine, which reads the reply and frees the slot then.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::{Error, Result};

/// One call's reply, on its way to its caller.
struct Slot<Resp> {
    /// The reply, once the connection delivered it.
    outcome: Option<Result<Resp>>,
    /// The caller's task, woken when the reply is delivered.
    waker: Option<Waker>,
    /// The caller still waits (its future is alive and has not taken the reply).
    caller: bool,
    /// The connection still holds the call (queued, or in flight in the engine).
    connection: bool,
}

/// The reply slots of one connection. Not locked by itself: it lives inside the call
/// queue's lock, so one lock covers both the hand-over and the slot.
pub(crate) struct Slots<Resp> {
    slab: Slab<Slot<Resp>>,
}

impl<Resp> Slots<Resp> {
    pub(crate) fn new() -> Self {
        Slots { slab: Slab::new() }
    }

    /// Slots in use (held by a caller, the connection, or both).
    #[cfg(feature = "test-util")]
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// A slot for a new call, held by its caller (whose task is `waker`) and by the
    /// connection.
    pub(crate) fn insert(&mut self, waker: &Waker) -> usize {
        self.slab.insert(Slot {
            outcome: None,
            waker: Some(waker.clone()),
            caller: true,
            connection: true,
        })
    }

    /// The caller's poll: its reply if delivered (the slot is then freed), else its waker
    /// is kept for the delivery.
    pub(crate) fn poll(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Result<Resp>> {
        let slot = &mut self.slab[key];
        if let Some(outcome) = slot.outcome.take() {
            // A delivered reply: the connection let go of the slot when it delivered.
            self.slab.remove(key);
            return Poll::Ready(outcome);
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The caller gave up. Returns a reply already delivered, for the caller to drop
    /// outside the lock.
    pub(crate) fn caller_gone(&mut self, key: usize) -> Option<Result<Resp>> {
        let slot = &mut self.slab[key];
        slot.caller = false;
        slot.waker = None;
        if slot.connection {
            return None;
        }
        self.slab.remove(key).outcome
    }

    /// Whether the caller still waits for this slot's reply.
    pub(crate) fn caller_waits(&self, key: usize) -> bool {
        self.slab.get(key).is_some_and(|s| s.caller)
    }

    /// The connection is done with the slot: delivers `outcome` to a waiting caller and
    /// returns the caller's waker to wake outside the lock, or hands `outcome` back when
    /// the caller is gone (the slot is then freed).
    pub(crate) fn deliver(
        &mut self,
        key: usize,
        outcome: Result<Resp>,
    ) -> std::result::Result<Option<Waker>, Result<Resp>> {
        let slot = &mut self.slab[key];
        slot.connection = false;
        if !slot.caller {
            self.slab.remove(key);
            return Err(outcome);
        }
        slot.outcome = Some(outcome);
        Ok(slot.waker.take())
    }
}

/// The owner of a connection's slots, as the engine sees it: the engine knows the reply
/// type, not the request type of the queue the slots live in.
pub(crate) trait SlotOwner<Resp>: Send + Sync {
    /// See [`Slots::deliver`]; wakes the caller.
    fn deliver(&self, key: usize, outcome: Result<Resp>) -> std::result::Result<(), Result<Resp>>;
    /// See [`Slots::caller_waits`].
    fn caller_waits(&self, key: usize) -> bool;
}

/// The engine's end of a call's reply slot: delivers the reply once. Dropped undelivered
/// (the connection ended with the call in flight), it fails the caller with
/// [`Error::is_connection_lost`], as a dropped channel sender would.
pub(crate) struct ReplySlot<Resp> {
    owner: Option<Arc<dyn SlotOwner<Resp>>>,
    key: usize,
}

impl<Resp> ReplySlot<Resp> {
    pub(crate) fn new(owner: Arc<dyn SlotOwner<Resp>>, key: usize) -> Self {
        ReplySlot {
            owner: Some(owner),
            key,
        }
    }

    /// A reply sent on a channel instead (the consumer harness's calls).
    #[cfg(feature = "test-util")]
    pub(crate) fn channel(tx: tokio::sync::oneshot::Sender<Result<Resp>>) -> Self
    where
        Resp: Send + 'static,
    {
        ReplySlot::new(Arc::new(Channel(std::sync::Mutex::new(Some(tx)))), 0)
    }

    /// A slot that reaches nobody: what an exchange keeps once its caller was answered
    /// early (an expired call), so that its late reply is read and dropped.
    pub(crate) fn detached() -> Self {
        ReplySlot {
            owner: None,
            key: 0,
        }
    }

    /// Delivers the reply; hands it back when nobody waits for it any more.
    pub(crate) fn send(mut self, outcome: Result<Resp>) -> std::result::Result<(), Result<Resp>> {
        match self.owner.take() {
            Some(owner) => owner.deliver(self.key, outcome),
            None => Err(outcome),
        }
    }

    /// Whether nobody waits for the reply: the caller gave up, or was answered already.
    pub(crate) fn is_closed(&self) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|owner| !owner.caller_waits(self.key))
    }
}

impl<Resp> Drop for ReplySlot<Resp> {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            let _ = owner.deliver(self.key, Err(Error::connection_lost(None)));
        }
    }
}

/// A reply slot that is a channel (see [`ReplySlot::channel`]).
#[cfg(feature = "test-util")]
struct Channel<Resp>(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Result<Resp>>>>);

#[cfg(feature = "test-util")]
impl<Resp: Send> SlotOwner<Resp> for Channel<Resp> {
    fn deliver(&self, _: usize, outcome: Result<Resp>) -> std::result::Result<(), Result<Resp>> {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(tx) => tx.send(outcome),
            None => Err(outcome),
        }
    }

    fn caller_waits(&self, _: usize) -> bool {
        let tx = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}
