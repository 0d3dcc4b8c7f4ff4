//! Feeding consumers and ending exchanges: the heart of the engine's rules.

use std::sync::Arc;

use bytes::BytesMut;

use super::engine::{Engine, Role, FEED_BUDGET};
use super::exchange::{with_consumer, Current, End, Exchange, ReplyTo};
use super::state::{Lifecycle, Reading};
use crate::consumer::{DynFactory, Req, Resp};
use crate::{Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer, Result};

/// Where the next exchange's consumer comes from: a consumer kept from the last exchange,
/// else the upgrade's factory once there is one, else the connection's own factory.
pub(super) struct NextConsumer<F: ConsumerFactory> {
    /// A finished consumer that agreed to serve again (`ProtocolConsumer::recycle`).
    spare: Option<Current<F::Consumer>>,
    /// The factory an upgrade installed (`Context::upgrade`).
    upgraded: Option<Arc<dyn DynFactory<Req<F>, Resp<F>>>>,
}

impl<F: ConsumerFactory> NextConsumer<F> {
    pub(super) fn new() -> Self {
        NextConsumer {
            spare: None,
            upgraded: None,
        }
    }

    fn build(&mut self, factory: &F, conn: &Connection) -> Current<F::Consumer> {
        match (self.spare.take(), &self.upgraded) {
            (Some(spare), _) => spare,
            (None, Some(factory)) => Current::Upgraded(factory.build_boxed(conn)),
            (None, None) => Current::Static(factory.build(conn)),
        }
    }

    fn keep(&mut self, consumer: Current<F::Consumer>) {
        self.spare = Some(consumer);
    }

    fn upgrade(&mut self, factory: Arc<dyn DynFactory<Req<F>, Resp<F>>>) {
        // A kept consumer belongs to the factory being replaced.
        self.spare = None;
        self.upgraded = Some(factory);
    }
}

// ===== impl Engine: feeding and finishing =====

impl<F: ConsumerFactory> Engine<F> {
    /// Feeds buffered input to the front consumer until it needs more, output is full,
    /// reading is paused, or the connection is closing.
    pub(super) fn feed(&mut self) -> Result<()> {
        let mut force = std::mem::take(&mut self.state.refeed);
        if self.state.starved && !force {
            return Ok(());
        }
        let mut budget = FEED_BUDGET;
        while budget > 0 && (!self.rbuf.is_empty() || force) {
            if self.state.lifecycle == Lifecycle::Closing
                || self.state.reading == Reading::PausedByConsumer
                || !self.takes_input()
            {
                // Still owed a call once writing resumes.
                self.state.refeed |= force;
                break;
            }
            budget -= 1;
            if self.exchanges.is_empty() && (self.rbuf.is_empty() || !self.open_for_input()?) {
                break;
            }
            if !self.exchanges[0].started && matches!(self.exchanges[0].reply, ReplyTo::Server) {
                self.start_server_request()?;
            }
            force = false;
            let before = self.rbuf.len();
            let progress = self.call(
                0,
                |c, cx, buf| with_consumer!(c, c => c.data_received(cx, buf)),
            );
            self.exchanges[0].consumed += before.saturating_sub(self.rbuf.len());
            match progress {
                Err(err) => {
                    self.finish_front(Err(err.clone()));
                    return Err(err);
                }
                Ok(Progress::NeedMore) => {
                    self.state.starved = true;
                    if self.out.is_full() {
                        // It probably stopped because writing paused: the writable
                        // wake-up calls it again once the queue drains.
                        self.state.refeed = true;
                    }
                    self.apply_actions(false)?;
                    if self.rbuf.len() >= self.cfg.max_read_buffer {
                        let err = Error::new_read_buffer_full(self.cfg.max_read_buffer);
                        self.finish_front(Err(err.clone()));
                        return Err(err);
                    }
                    break;
                }
                Ok(Progress::Finished(resp)) => {
                    let ex = &self.exchanges[0];
                    let is_caller = matches!(ex.reply, ReplyTo::Caller(_));
                    if ex.consumed == 0 && !self.rbuf.is_empty() && !is_caller {
                        let err = Error::new_consumer_stalled();
                        self.finish_front(Err(err.clone()));
                        return Err(err);
                    }
                    // Pushes parsed before this reply reach the sink before the caller
                    // gets the reply: a RESP3 invalidation must not arrive after the
                    // read it invalidates (the caller could act on a stale value).
                    self.deliver_pushes();
                    self.finish_front(Ok(resp));
                    self.apply_actions(true)?;
                }
            }
        }
        self.report_requests();
        Ok(())
    }

    /// Input arrived with no exchange in flight: a server starts one; a client routes it
    /// to a push consumer or fails. Returns whether an exchange is there to feed.
    pub(super) fn open_for_input(&mut self) -> Result<bool> {
        match &self.role {
            Role::Server => {
                if self.state.lifecycle == Lifecycle::CloseAfterExchange
                    && self.counts.processed > 0
                {
                    // Draining: the exchange in flight ended; drop what follows.
                    self.begin_closing();
                    return Ok(false);
                }
                self.build_exchange(ReplyTo::Server)?;
            }
            Role::Client { push: Some(_) } => self.build_exchange(ReplyTo::Push)?,
            Role::Client { push: None } => {
                return Err(Error::protocol("data received with no request in flight"))
            }
        }
        Ok(true)
    }

    /// Builds the next consumer (from the upgrade's factory once there is one) and
    /// calls its `connection_made`.
    pub(super) fn build_exchange(&mut self, reply: ReplyTo<Resp<F>>) -> Result<()> {
        let consumer = self.next.build(&self.factory, &self.conn);
        self.exchanges
            .push_back(Exchange::new(consumer, reply, self.clock.now));
        let idx = self.exchanges.len() - 1;
        self.call(
            idx,
            |c, cx, _| with_consumer!(c, c => c.connection_made(cx)),
        );
        self.apply_actions(false)
    }

    /// Server side: the first bytes of a request arrived (pulsar's automatic `start()`).
    pub(super) fn start_server_request(&mut self) -> Result<()> {
        let ex = &mut self.exchanges[0];
        ex.started = true;
        // The read that brought these bytes is recent enough, and costs no clock read.
        ex.since = self.clock.last_activity;
        self.clock.busy_since = Some(self.clock.last_activity);
        self.counts.processed += 1;
        // Published at once (a relaxed store), not once per round: a consumer reads
        // `Connection::processed` to know its request's index on the connection (an HTTP
        // server marks the last response before `max_requests` with `Connection: close`),
        // and pipelined requests of one round would otherwise all see the same count.
        self.conn.shared().set_processed(self.counts.processed);
        if self.hooks.wants_requests() {
            let ev = self.request_event(None);
            if let Err(err) = self.hooks.fire_pre_request(&ev) {
                // The request's bytes cannot be skipped without parsing them: the
                // connection closes after `post_request` sees the abort.
                self.finish_front(Err(err.clone()));
                return Err(err);
            }
        }
        Ok(())
    }

    /// Calls the consumer of exchange `idx` with a context, then notes timer changes.
    pub(super) fn call<R>(
        &mut self,
        idx: usize,
        f: impl FnOnce(&mut Current<F::Consumer>, &mut Context<'_, Req<F>, Resp<F>>, &mut BytesMut) -> R,
    ) -> R {
        let ex = &mut self.exchanges[idx];
        let mut cx = Context::new(
            &self.conn,
            &mut self.out,
            &mut self.actions,
            &mut ex.lifetime,
        );
        let r = f(&mut ex.consumer, &mut cx, &mut self.rbuf);
        if std::mem::take(&mut self.actions.lifetime_changed) {
            ex.rearm_tick(self.clock.now);
            self.clock.timer_changed = true;
        }
        r
    }

    /// Ends the front exchange with `outcome`.
    pub(super) fn finish_front(&mut self, outcome: Result<Resp<F>>) {
        if let Some(mut ex) = self.exchanges.pop_front() {
            // (Dropping the exchange in place with `drain(..1)` instead of popping it
            // saves the consumer's copy but costs more than it saves: measured.)
            let recycled = outcome.is_ok() && with_consumer!(&mut ex.consumer, c => c.recycle());
            self.conclude(ex.take_end(), outcome);
            if recycled {
                self.next.keep(ex.consumer);
            }
            self.state.starved = false;
            if self.state.lifecycle == Lifecycle::CloseAfterExchange && self.counts.processed > 0 {
                self.begin_closing();
            }
        }
    }

    /// `post_request`, the caller's reply or the push sink, the request limit.
    pub(super) fn conclude(&mut self, end: End<Resp<F>>, outcome: Result<Resp<F>>) {
        if end.had_timers {
            self.clock.timer_changed = true;
        }
        // The consumer and what it buffered are gone (the next account sees it).
        self.actions.buffered = 0;
        if end.started {
            self.counts.finished += 1;
            if self.hooks.wants_requests() {
                let ev = self.request_event(outcome.as_ref().err());
                self.hooks.fire_post_request(&ev);
            }
        }
        match (end.reply, outcome) {
            // A dropped receiver: the caller gave up; the reply was read and is dropped.
            (ReplyTo::Caller(tx), outcome) => drop(tx.send(outcome)),
            (ReplyTo::Push, Ok(msg)) => self.push_message(msg),
            (_, Err(err)) => {
                tracing::debug!(session = self.conn.session(), error = %err, "request failed")
            }
            (ReplyTo::Server, Ok(_)) => {}
        }
        if self.cfg.max_requests > 0 && self.counts.finished >= self.cfg.max_requests {
            self.begin_closing();
        }
    }

    /// Applies what the consumer asked of the connection during its last call.
    #[inline]
    pub(super) fn apply_actions(&mut self, finished: bool) -> Result<()> {
        if self.actions.is_empty() {
            // The usual call asked for nothing (twice per exchange): decided here,
            // without a call.
            return Ok(());
        }
        self.apply_requested(finished)
    }

    /// [`apply_actions`](Self::apply_actions) when the consumer asked for something.
    #[inline(never)]
    fn apply_requested(&mut self, finished: bool) -> Result<()> {
        if std::mem::take(&mut self.actions.close) {
            self.begin_closing();
        }
        if std::mem::take(&mut self.actions.pause_reading) && self.state.reading == Reading::Open {
            self.state.reading = Reading::PausedByConsumer;
        }
        self.deliver_pushes();
        if finished {
            if let Some(to) = self.actions.detach.take() {
                self.detach(to);
            }
            if let Some(factory) = self.actions.upgrade.take() {
                self.next.upgrade(factory);
                // pulsar builds the upgraded consumer as soon as the request finishes,
                // even before more data arrives (a WebSocket consumer may write first).
                if !self.is_client() && self.state.lifecycle != Lifecycle::Closing {
                    self.build_exchange(ReplyTo::Server)?;
                }
            }
        }
        Ok(())
    }

    /// Hands the messages a consumer pushed during its last call to the push sink.
    pub(super) fn deliver_pushes(&mut self) {
        if !self.actions.pushed.is_empty() {
            for msg in std::mem::take(&mut self.actions.pushed) {
                self.push_message(msg);
            }
        }
    }

    /// The connection ended with the front request unfinished: its consumer decides
    /// whether the end completes it.
    pub(super) fn finish_lost(&mut self, error: Option<&Error>) {
        let Some(ex) = self.exchanges.front_mut() else {
            return;
        };
        let resp = with_consumer!(&mut ex.consumer, c => c.connection_lost(error));
        match resp {
            Some(resp) => self.finish_front(Ok(resp)),
            // A request that ran out of time failed for that reason, not because the
            // connection went away under it.
            None => match error {
                Some(err) if err.is_request_timeout() => self.finish_front(Err(err.clone())),
                _ => self.finish_front(Err(Error::connection_lost(error.cloned()))),
            },
        }
    }

    /// The connection is over: every exchange in flight ends, in order.
    pub(crate) fn fail_in_flight(&mut self, error: Option<&Error>) {
        while let Some(ex) = self.exchanges.front() {
            // A long-lived exchange hears of the end even before its first byte (a chat
            // member that never spoke still leaves its room).
            if ex.started || ex.lifetime.long_lived || matches!(ex.reply, ReplyTo::Caller(_)) {
                self.finish_lost(error);
            } else {
                self.exchanges.pop_front();
            }
        }
        self.report_requests();
    }
}
