//! The client side of the engine: the calls in flight and the push sink that takes what
//! arrives with no call.

use std::collections::VecDeque;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::engine::{Engine, Role};
use super::exchange::{with_consumer, Call, ReplyTo};
use super::state::Lifecycle;
use crate::connection::reply_slot::ReplySlot;
use crate::consumer::{Req, Resp};
use crate::{ConsumerFactory, Error, ProtocolConsumer};

/// Where a client's unsolicited messages go: a bounded channel. When it is full the
/// engine keeps the messages, stops reading, and the driver waits for room.
pub(crate) struct PushSink<Resp> {
    tx: PollSender<Resp>,
    /// Messages that did not fit, oldest first. Feeding stops while any waits, so this
    /// holds at most what one consumer call pushed (one call may push several: a single
    /// `Option` here lost all but the last of them).
    overflow: VecDeque<Resp>,
}

impl<Resp: Send + 'static> PushSink<Resp> {
    pub(crate) fn new(tx: mpsc::Sender<Resp>) -> Self {
        PushSink {
            tx: PollSender::new(tx),
            overflow: VecDeque::new(),
        }
    }
}

// ===== impl Engine: client side =====

impl<F: ConsumerFactory> Engine<F> {
    // ----- client calls -----

    /// Whether the driver should hand over the next call: below `max_in_flight`, output
    /// not paused, and the connection open.
    pub(crate) fn wants_call(&self) -> bool {
        self.is_client()
            && self.state.lifecycle == Lifecycle::Open
            && self.exchanges.len() < self.cfg.max_in_flight
            && self.can_produce()
    }

    /// Exchanges in flight (client: requests whose replies have not all come back).
    pub(crate) fn in_flight(&self) -> usize {
        self.exchanges.len()
    }

    /// Starts a client request: builds its consumer, fires `pre_request` and writes the
    /// request. The reply comes when its consumer finishes, in order.
    pub(crate) fn on_call(&mut self, call: Call<Req<F>, Resp<F>>, now: Instant) {
        self.clock.now = now;
        if let Err(err) = self.build_exchange(ReplyTo::Caller(call.reply)) {
            self.fail_back(err);
            self.begin_closing();
            return;
        }
        let idx = self.exchanges.len() - 1;
        self.exchanges[idx].started = true;
        self.exchanges[idx].since = now;
        self.clock.busy_since = Some(now);
        self.counts.processed += 1;
        if self.hooks.wants_requests() {
            let ev = self.request_event(None);
            if let Err(err) = self.hooks.fire_pre_request(&ev) {
                // Nothing was written: the connection stays usable.
                self.fail_back(err);
                self.report_requests();
                return;
            }
        }
        let res = self.call(
            idx,
            |c, cx, _| with_consumer!(c, c => c.start_request(cx, call.request)),
        );
        if let Err(err) = res.and_then(|()| self.apply_actions(false)) {
            self.fail_back(err);
            // A request that failed half-written leaves the stream in an unknown state.
            self.begin_closing();
        }
        self.report_requests();
    }

    /// The call timeout ([`ConnectionConfig::call_timeout`]): fails, oldest first, the
    /// callers whose call has waited `timeout` for its reply, and returns when to look
    /// again. Their exchanges stay in flight with nobody to reply to, so each late reply
    /// is still read by its own consumer and dropped, and the replies after it reach
    /// their callers.
    ///
    /// # Errors
    ///
    /// [`Error::is_request_timeout`] when the oldest call has waited twice `timeout`:
    /// the peer is taken for gone and the driver closes the connection.
    ///
    /// [`ConnectionConfig::call_timeout`]: crate::ConnectionConfig::call_timeout
    pub(crate) fn expire_calls(
        &mut self,
        now: Instant,
        timeout: Duration,
    ) -> Result<Option<Instant>, Error> {
        // Calls start in order and their clocks are stamped in order, so the first
        // caller still waiting has the earliest deadline: no heap, one timer.
        let mut oldest: Option<Option<Instant>> = None;
        for ex in self.exchanges.iter_mut() {
            if matches!(ex.reply, ReplyTo::Push) || !ex.started {
                continue;
            }
            // (A timeout too large to add to an instant never expires.)
            let Some(give_up) =
                *oldest.get_or_insert(ex.since.checked_add(timeout.saturating_mul(2)))
            else {
                return Ok(None);
            };
            if now >= give_up {
                return Err(Error::new_request_timeout());
            }
            // Nobody waits: the call expired already, or its caller gave up.
            let ReplyTo::Caller(tx) = &mut ex.reply else {
                continue;
            };
            if tx.is_closed() {
                continue;
            }
            let due = ex.since + timeout;
            if now < due {
                return Ok(Some(due.min(give_up)));
            }
            // The exchange keeps a caller whose receiver is gone, exactly as when the
            // caller drops its request: the reply is read and dropped.
            let tx = std::mem::replace(tx, ReplySlot::detached());
            let _ = tx.send(Err(Error::new_request_timeout()));
        }
        Ok(oldest.flatten())
    }

    /// Fails the newest exchange (a call that could not start).
    pub(super) fn fail_back(&mut self, err: Error) {
        if let Some(mut ex) = self.exchanges.pop_back() {
            self.conclude(ex.take_end(), Err(err));
        }
    }

    /// Waits for room in the push sink for a message that did not fit.
    pub(crate) fn poll_push(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        let Role::Client {
            push: Some(sink), ..
        } = &mut self.role
        else {
            return Poll::Pending;
        };
        if sink.overflow.is_empty() {
            return Poll::Pending;
        }
        match sink.tx.poll_reserve(cx) {
            Poll::Ready(Ok(())) => {
                if let Some(msg) = sink.overflow.pop_front() {
                    let _ = sink.tx.send_item(msg);
                }
                self.state.starved = false;
                Poll::Ready(())
            }
            Poll::Ready(Err(_)) => {
                // The receiver is gone: nobody wants pushes any more.
                sink.overflow.clear();
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    pub(super) fn push_blocked(&self) -> bool {
        matches!(&self.role, Role::Client { push: Some(sink) } if !sink.overflow.is_empty())
    }

    pub(super) fn push_message(&mut self, msg: Resp<F>) {
        let Role::Client {
            push: Some(sink), ..
        } = &mut self.role
        else {
            tracing::debug!(
                session = self.conn.session(),
                "unsolicited message dropped: no push sink"
            );
            return;
        };
        if !sink.overflow.is_empty() {
            // Behind older messages still waiting: keep the order.
            sink.overflow.push_back(msg);
            return;
        }
        let Some(tx) = sink.tx.get_ref() else {
            return;
        };
        match tx.try_send(msg) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            // Reading stops until the waiting messages fit.
            Err(mpsc::error::TrySendError::Full(msg)) => sink.overflow.push_back(msg),
        }
    }
}
