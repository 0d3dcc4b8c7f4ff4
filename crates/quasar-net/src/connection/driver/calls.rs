//! The driver's client side: taking calls from the call queue into the engine, batching
//! the calls of callers answered together, the call deadlines, and failing what is left
//! when the connection ends.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Instant;

use super::{Clock, Disposal, Driver, Event, Fail};
use crate::consumer::{Req, Resp};
use crate::transport::Transport;
use crate::{ConsumerFactory, Error};

impl<T: Transport, F: ConsumerFactory> Driver<T, F> {
    /// The next call, when the engine takes one: a client's part of the driver's wait.
    pub(super) fn poll_call(&mut self, cx: &mut Context<'_>) -> Poll<Event<Req<F>, Resp<F>>> {
        if !self.engine.wants_call() {
            return Poll::Pending;
        }
        let Some(calls) = self.calls.as_mut() else {
            return Poll::Pending;
        };
        calls.poll_take(cx).map(|call| match call {
            Some(call) => Event::Call(call),
            None => Event::CallsClosed,
        })
    }

    /// Starts `call` and the calls queued behind it, so that calls queued together leave
    /// in one write. Returns the latest moment the timer may fire for the call timeout.
    pub(super) async fn start_calls(
        &mut self,
        call: crate::engine::Call<Req<F>, Resp<F>>,
        clock: &mut Clock,
    ) -> Option<Instant> {
        let now = clock.now();
        self.engine.on_call(call, now);
        self.awaited = self.awaited.saturating_sub(1);
        self.gather_calls(now);
        if self.awaited > 0 {
            // Callers that just got their reply are likely queued on this worker behind
            // us, about to send their next call: let them run first (once), so their
            // calls leave in this same write.
            yield_to_queue().await;
            self.gather_calls(clock.now());
        }
        self.awaited = 0;
        // Lazy, like every timer here: the timer only has to fire no later than the
        // first deadline a call could have, so the caller moves it only when it is set
        // later than that (about once per call timeout on a busy connection, not once per
        // call); when it fires, the real deadlines are computed.
        let call_timeout = self.engine.config().call_timeout;
        now.checked_add(call_timeout)
            .filter(|_| !call_timeout.is_zero())
    }

    /// Takes the calls already queued, so that calls queued together leave in one write.
    fn gather_calls(&mut self, now: Instant) {
        while self.engine.wants_call() {
            let Some(call) = self.calls.as_mut().and_then(|c| c.try_take()) else {
                break;
            };
            self.engine.on_call(call, now);
            self.awaited = self.awaited.saturating_sub(1);
        }
    }

    /// For a client with a call timeout: fails the calls past their deadline and returns
    /// the next deadline.
    pub(super) fn call_deadline(&mut self, now: Instant) -> Result<Option<Instant>, Fail> {
        let call_timeout = self.engine.config().call_timeout;
        if self.calls.is_none() || call_timeout.is_zero() {
            return Ok(None);
        }
        self.engine
            .expire_calls(now, call_timeout)
            // The peer is taken for gone: nothing owed to it is worth a graceful close.
            .map_err(|e| (e, Disposal::Abort))
    }

    /// The connection ended: the calls still queued fail with `connection_lost`, and so
    /// do later ones.
    pub(super) fn close_calls(&mut self, cause: Option<&Error>) {
        if let Some(calls) = self.calls.as_mut() {
            calls.close(cause);
        }
    }
}

/// Puts this task at the back of its worker's run queue: woken by itself, it is polled
/// again after the tasks already queued there (unlike `tokio::task::yield_now`, which
/// waits until the worker has polled its I/O driver).
async fn yield_to_queue() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
