//! [`Engine`]: every consumer rule of one connection, with no socket and no runtime.
//!
//! The driver (or the test harness) moves bytes and time into the engine and asks it
//! what to do next; see the module docs of [`engine`](super) for the state table.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::exchange::{with_consumer, Call, Current, Exchange, ReplyTo};
use super::output::Output;
use super::state::{Lifecycle, Reading};
use crate::consumer::{Actions, DynFactory, Req, Resp};
use crate::hooks::{ConnectionEvent, DataEvent, RequestEvent};
use crate::{
    Connection, ConnectionConfig, ConsumerFactory, Context, Error, Hooks, Producer, Progress,
    ProtocolConsumer, Result,
};

/// A far-away instant for a timer that is off (tokio caps sleeps at about two years).
const FAR_FUTURE: Duration = Duration::from_secs(86400 * 365);

/// Most consumer calls in one feed round before the driver gets to write and read again.
/// Bounds the time one connection holds its worker thread on a huge pipelined batch.
const FEED_BUDGET: usize = 1024;

/// Which side of the connection the engine plays.
pub(crate) enum Role<Resp> {
    /// Consumers are built when request bytes arrive.
    Server,
    /// Consumers are built per call; bytes with no call in flight go to the push sink.
    Client { push: Option<PushSink<Resp>> },
}

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

/// The sans-IO engine of one connection.
pub(crate) struct Engine<F: ConsumerFactory> {
    conn: Connection,
    factory: Arc<F>,
    upgraded: Option<Arc<dyn DynFactory<Req<F>, Resp<F>>>>,
    /// Exchanges in flight, oldest first; the front one receives the input. A server has
    /// at most one; a client up to `max_in_flight`.
    exchanges: VecDeque<Exchange<F::Consumer>>,
    rbuf: BytesMut,
    out: Output,
    actions: Actions<Req<F>, Resp<F>>,
    cfg: Arc<ConnectionConfig>,
    producer: Producer,
    hooks: Arc<Hooks>,
    role: Role<Resp<F>>,
    reading: Reading,
    lifecycle: Lifecycle,
    /// The front consumer said `NeedMore` and no byte arrived since.
    starved: bool,
    /// The front consumer stopped while writing was paused: call it again on resume.
    refeed: bool,
    processed: u64,
    reported: u64,
    finished: u64,
    peak_reported: usize,
    now: Instant,
    last_activity: Instant,
    /// The request-timeout clock of output still owed after its exchange ended.
    busy_since: Option<Instant>,
    /// A consumer changed its timers: the driver must ask for the next deadline now.
    timer_changed: bool,
    /// Where to hand the transport once the exchange that asked for it finished.
    detach_to: Option<tokio::sync::oneshot::Sender<crate::transport::Detached>>,
}

// ===== impl Engine =====

impl<F: ConsumerFactory> Engine<F> {
    pub(crate) fn new(
        conn: Connection,
        factory: Arc<F>,
        cfg: Arc<ConnectionConfig>,
        producer: Producer,
        role: Role<Resp<F>>,
        now: Instant,
    ) -> Self {
        let hooks = Arc::clone(producer.hooks());
        Engine {
            conn,
            factory,
            upgraded: None,
            exchanges: VecDeque::new(),
            rbuf: BytesMut::new(),
            out: Output::new(cfg.marks),
            actions: Actions::default(),
            hooks,
            producer,
            role,
            reading: Reading::Open,
            lifecycle: Lifecycle::Open,
            starved: false,
            refeed: false,
            processed: 0,
            reported: 0,
            finished: 0,
            peak_reported: 0,
            now,
            last_activity: now,
            busy_since: None,
            timer_changed: false,
            detach_to: None,
            cfg,
        }
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn producer(&self) -> &Producer {
        &self.producer
    }

    pub(crate) fn saw_eof(&self) -> bool {
        self.reading == Reading::Eof
    }

    pub(crate) fn config(&self) -> &ConnectionConfig {
        &self.cfg
    }

    pub(crate) fn is_client(&self) -> bool {
        matches!(self.role, Role::Client { .. })
    }

    // ----- input -----

    /// Whether the driver should read: open for reading, not closing, output below its
    /// marks, room for more pending responses and for more unparsed input, and no push
    /// message waiting for room.
    pub(crate) fn wants_read(&self) -> bool {
        self.reading == Reading::Open
            && self.lifecycle != Lifecycle::Closing
            && self.can_produce()
            && self.rbuf.len() < self.cfg.max_read_buffer
    }

    fn can_produce(&self) -> bool {
        !self.out.is_full()
            && self.out.responses.len() < self.cfg.max_pending_responses
            && !self.push_blocked()
    }

    /// The read buffer, for the driver to read into.
    pub(crate) fn read_buf(&mut self) -> &mut BytesMut {
        &mut self.rbuf
    }

    /// `n` new bytes are at the end of the read buffer.
    pub(crate) fn on_read(&mut self, n: usize, now: Instant) -> Result<()> {
        self.now = now;
        self.starved = false;
        self.last_activity = now;
        self.conn.shared().add_io(n as u64, 0);
        if self.hooks.wants_data() {
            let start = self.rbuf.len() - n;
            self.hooks.fire_data_received(&DataEvent {
                session: self.conn.session(),
                data: &self.rbuf[start..],
            });
            // pulsar passes the batch to `data_processed` after the consumers ran, so
            // keep a copy; only paid for when such a hook exists.
            let batch = self.rbuf[start..].to_vec();
            let fed = self.feed();
            self.hooks.fire_data_processed(&DataEvent {
                session: self.conn.session(),
                data: &batch,
            });
            fed?;
        }
        Ok(())
    }

    /// The peer closed its side.
    pub(crate) fn on_eof(&mut self) -> Result<()> {
        self.reading = Reading::Eof;
        self.conn.shared().mark_closed();
        self.feed()?;
        // A partial request can never complete now; the consumer decides whether the
        // end completes it (an EOF-delimited body) or it fails.
        if self.exchanges.front().is_some_and(|ex| ex.started) {
            self.finish_lost(None);
        }
        self.begin_closing();
        Ok(())
    }

    /// A consumer paused reading; `Connection::resume_reading` resumes it.
    pub(crate) fn resume_reading(&mut self) {
        if self.reading == Reading::PausedByConsumer {
            self.reading = Reading::Open;
            self.starved = false;
        }
    }

    // ----- output -----

    pub(crate) fn output(&self) -> &Output {
        &self.out
    }

    /// Pulls async responses and body streams into the write queue.
    pub(crate) fn poll_pull(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<()>> {
        match self.out.poll_pull(cx) {
            Poll::Ready(Ok(true)) => Poll::Ready(Ok(())),
            Poll::Ready(Ok(false)) | Poll::Pending => Poll::Pending,
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
        }
    }

    /// The driver wrote `n` bytes from the front of the queue.
    pub(crate) fn on_written(&mut self, n: usize, now: Instant) {
        self.out.queue.advance(n);
        self.conn.shared().add_io(0, n as u64);
        self.now = now;
        self.last_activity = now;
    }

    /// Moves bytes written through `Connection::write` into the output, after what the
    /// consumers queued so far.
    pub(crate) fn take_external(&mut self, chunks: VecDeque<Bytes>) -> Result<()> {
        for chunk in chunks {
            self.out.write_bytes(chunk)?;
        }
        self.update_flow();
        if !self.out.queue.is_paused() {
            // The writer's bytes moved in: let a waiting writer re-check the level.
            self.conn.shared().notify_writable();
        }
        Ok(())
    }

    // ----- client calls -----

    /// Whether the driver should hand over the next call: below `max_in_flight`, output
    /// not paused, and the connection open.
    pub(crate) fn wants_call(&self) -> bool {
        self.is_client()
            && self.lifecycle == Lifecycle::Open
            && self.exchanges.len() < self.cfg.max_in_flight
            && self.can_produce()
    }

    /// Starts a client request: builds its consumer, fires `pre_request` and writes the
    /// request. The reply comes when its consumer finishes, in order.
    pub(crate) fn on_call(&mut self, call: Call<Req<F>, Resp<F>>, now: Instant) {
        self.now = now;
        if let Err(err) = self.build_exchange(ReplyTo::Caller(call.reply)) {
            self.fail_back(err);
            self.begin_closing();
            return;
        }
        let idx = self.exchanges.len() - 1;
        self.exchanges[idx].started = true;
        self.exchanges[idx].since = now;
        self.busy_since = Some(now);
        self.processed += 1;
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

    /// Fails the newest exchange (a call that could not start).
    fn fail_back(&mut self, err: Error) {
        if let Some(ex) = self.exchanges.pop_back() {
            let started = ex.started;
            self.conclude(ex, started, Err(err));
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
                self.starved = false;
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

    fn push_blocked(&self) -> bool {
        matches!(&self.role, Role::Client { push: Some(sink) } if !sink.overflow.is_empty())
    }

    fn push_message(&mut self, msg: Resp<F>) {
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

    // ----- rounds -----

    /// One round of rules after any event: flow control, feeding, flow control again,
    /// lifecycle transitions. Returns whether the connection is done (closing with
    /// nothing left to write).
    pub(crate) fn round(&mut self) -> Result<bool> {
        // A write may have drained the queue to the low mark: resume before feeding,
        // then pause if feeding filled it again.
        self.update_flow();
        self.feed()?;
        self.update_flow();
        if self.lifecycle == Lifecycle::CloseAfterExchange
            && self.processed > 0
            && self.exchanges.is_empty()
        {
            // close-after-exchange -> closing: the last exchange ended.
            self.begin_closing();
        }
        self.track_busy();
        Ok(self.is_done())
    }

    pub(crate) fn is_done(&self) -> bool {
        self.lifecycle == Lifecycle::Closing && self.out.is_idle()
    }

    /// A graceful close was asked for: stop reading, close once the output is written.
    pub(crate) fn close(&mut self) {
        self.begin_closing();
    }

    fn begin_closing(&mut self) {
        if self.lifecycle != Lifecycle::Closing {
            tracing::trace!(session = self.conn.session(), from = ?self.lifecycle, "-> closing");
            self.lifecycle = Lifecycle::Closing;
        }
    }

    /// The server drains: idle connections close now, busy ones after their exchange;
    /// a long-lived exchange gets its shutdown notice. Returns whether it was busy.
    pub(crate) fn on_drain(&mut self) -> bool {
        let fresh = !self.is_client() && self.processed == 0;
        let busy = fresh || self.exchanges.iter().any(|e| e.started) || !self.out.is_idle();
        if busy {
            // A connection that has not had its first request yet counts as busy: that
            // request is likely on its way, so it is served and the connection closes
            // after it (or the deadline forces it).
            self.lifecycle = Lifecycle::CloseAfterExchange;
        } else {
            self.begin_closing();
        }
        if self
            .exchanges
            .front()
            .is_some_and(|e| e.lifetime.long_lived)
        {
            self.call(0, |c, cx, _| with_consumer!(c, c => c.shutdown(cx)));
            if let Err(err) = self.apply_actions(false) {
                tracing::debug!(session = self.conn.session(), error = %err, "shutdown notice failed");
                self.begin_closing();
            }
        }
        busy
    }

    /// Feeds buffered input to the front consumer until it needs more, output is full,
    /// reading is paused, or the connection is closing.
    fn feed(&mut self) -> Result<()> {
        let mut force = std::mem::take(&mut self.refeed);
        if self.starved && !force {
            return Ok(());
        }
        let mut budget = FEED_BUDGET;
        while budget > 0 && (!self.rbuf.is_empty() || force) {
            if self.lifecycle == Lifecycle::Closing
                || self.reading == Reading::PausedByConsumer
                || !self.can_produce()
            {
                // Still owed a call once writing resumes.
                self.refeed |= force;
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
                    self.starved = true;
                    if self.out.is_full() {
                        // It probably stopped because writing paused: the writable
                        // wake-up calls it again once the queue drains.
                        self.refeed = true;
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
    fn open_for_input(&mut self) -> Result<bool> {
        match &self.role {
            Role::Server => {
                if self.lifecycle == Lifecycle::CloseAfterExchange && self.processed > 0 {
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
    fn build_exchange(&mut self, reply: ReplyTo<Resp<F>>) -> Result<()> {
        let consumer = match &self.upgraded {
            Some(factory) => Current::Upgraded(factory.build_boxed(&self.conn)),
            None => Current::Static(self.factory.build(&self.conn)),
        };
        self.exchanges
            .push_back(Exchange::new(consumer, reply, self.now));
        let idx = self.exchanges.len() - 1;
        self.call(
            idx,
            |c, cx, _| with_consumer!(c, c => c.connection_made(cx)),
        );
        self.apply_actions(false)
    }

    /// Server side: the first bytes of a request arrived (pulsar's automatic `start()`).
    fn start_server_request(&mut self) -> Result<()> {
        let ex = &mut self.exchanges[0];
        ex.started = true;
        // The read that brought these bytes is recent enough, and costs no clock read.
        ex.since = self.last_activity;
        self.busy_since = Some(self.last_activity);
        self.processed += 1;
        // Published at once (a relaxed store), not once per round: a consumer reads
        // `Connection::processed` to know its request's index on the connection (an HTTP
        // server marks the last response before `max_requests` with `Connection: close`),
        // and pipelined requests of one round would otherwise all see the same count.
        self.conn.shared().set_processed(self.processed);
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
    fn call<R>(
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
            ex.rearm_tick(self.now);
            self.timer_changed = true;
        }
        r
    }

    /// Ends the front exchange with `outcome`.
    fn finish_front(&mut self, outcome: Result<Resp<F>>) {
        if let Some(ex) = self.exchanges.pop_front() {
            let started = ex.started;
            self.conclude(ex, started, outcome);
            self.starved = false;
            if self.lifecycle == Lifecycle::CloseAfterExchange && self.processed > 0 {
                self.begin_closing();
            }
        }
    }

    /// `post_request`, the caller's reply or the push sink, the request limit.
    fn conclude(&mut self, ex: Exchange<F::Consumer>, started: bool, outcome: Result<Resp<F>>) {
        if ex.lifetime != Default::default() {
            self.timer_changed = true;
        }
        if started {
            self.finished += 1;
            if self.hooks.wants_requests() {
                let ev = self.request_event(outcome.as_ref().err());
                self.hooks.fire_post_request(&ev);
            }
        }
        match (ex.reply, outcome) {
            // A dropped receiver: the caller gave up; the reply was read and is dropped.
            (ReplyTo::Caller(tx), outcome) => drop(tx.send(outcome)),
            (ReplyTo::Push, Ok(msg)) => self.push_message(msg),
            (_, Err(err)) => {
                tracing::debug!(session = self.conn.session(), error = %err, "request failed")
            }
            (ReplyTo::Server, Ok(_)) => {}
        }
        if self.cfg.max_requests > 0 && self.finished >= self.cfg.max_requests {
            self.begin_closing();
        }
    }

    /// Applies what the consumer asked of the connection during its last call.
    fn apply_actions(&mut self, finished: bool) -> Result<()> {
        if std::mem::take(&mut self.actions.close) {
            self.begin_closing();
        }
        if std::mem::take(&mut self.actions.pause_reading) && self.reading == Reading::Open {
            self.reading = Reading::PausedByConsumer;
        }
        self.deliver_pushes();
        if finished {
            if let Some(to) = self.actions.detach.take() {
                // Nothing more is read or parsed: the rest belongs to the new owner.
                self.detach_to = Some(to);
                self.begin_closing();
            }
            if let Some(factory) = self.actions.upgrade.take() {
                self.upgraded = Some(factory);
                // pulsar builds the upgraded consumer as soon as the request finishes,
                // even before more data arrives (a WebSocket consumer may write first).
                if !self.is_client() && self.lifecycle != Lifecycle::Closing {
                    self.build_exchange(ReplyTo::Server)?;
                }
            }
        }
        Ok(())
    }

    /// Hands the messages a consumer pushed during its last call to the push sink.
    fn deliver_pushes(&mut self) {
        if !self.actions.pushed.is_empty() {
            for msg in std::mem::take(&mut self.actions.pushed) {
                self.push_message(msg);
            }
        }
    }

    /// The connection ended with the front request unfinished: its consumer decides
    /// whether the end completes it.
    fn finish_lost(&mut self, error: Option<&Error>) {
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
            if ex.started || matches!(ex.reply, ReplyTo::Caller(_)) {
                self.finish_lost(error);
            } else {
                self.exchanges.pop_front();
            }
        }
        self.report_requests();
    }

    /// Publishes the request counters, once per round rather than per request.
    pub(crate) fn report_requests(&mut self) {
        if self.processed > self.reported {
            self.conn.shared().set_processed(self.processed);
            self.producer.add_requests(self.processed - self.reported);
            self.reported = self.processed;
        }
    }

    pub(crate) fn update_flow(&mut self) {
        let marks = self.out.queue.marks();
        let shared = self.conn.shared();
        shared.set_buffered(self.out.len(), marks.high(), marks.cap());
        let peak = self.out.queue.peak();
        if peak > self.peak_reported {
            self.peak_reported = peak;
            shared.set_write_buffer_peak(peak);
        }
        let was = self.out.queue.is_paused();
        let now = self.out.queue.update_paused(self.out.responses.held());
        if was != now {
            shared.set_write_paused(now);
            tracing::trace!(session = self.conn.session(), paused = now, "flow control");
            if self.hooks.wants_flow() {
                let ev = self.conn_event();
                if now {
                    self.hooks.fire_pause_writing(&ev);
                } else {
                    self.hooks.fire_resume_writing(&ev);
                }
            }
        }
    }

    // ----- timers -----

    /// Whether a consumer changed its timers since the last call (the driver then asks
    /// [`check_timers`](Self::check_timers) for the next deadline at once).
    pub(crate) fn take_timer_changed(&mut self) -> bool {
        std::mem::take(&mut self.timer_changed)
    }

    /// Work the request timeout covers: a short exchange started, or output still owed.
    fn is_busy(&self) -> bool {
        self.exchanges.iter().any(Exchange::is_timed) || !self.out.is_idle()
    }

    fn track_busy(&mut self) {
        if !self.is_busy() {
            self.busy_since = None;
        } else if self.busy_since.is_none() {
            self.busy_since = Some(self.now);
        }
    }

    /// The idle timeout in force: the front exchange's override, or the connection's.
    fn idle_timeout(&self) -> Duration {
        self.exchanges
            .front()
            .and_then(|e| e.lifetime.idle_timeout)
            .unwrap_or(self.cfg.keep_alive)
    }

    /// When the request timeout clock started, if it runs.
    fn request_clock(&self) -> Option<Instant> {
        match self.exchanges.front() {
            Some(ex) if ex.lifetime.long_lived => None,
            Some(ex) if ex.is_timed() => Some(ex.since),
            _ if !self.out.is_idle() => self.busy_since,
            _ => None,
        }
    }

    /// Checks the idle and request timeouts and fires due ticks; returns when to look
    /// again. Timers are lazy: this answers "no earlier than", and is asked again then.
    ///
    /// # Errors
    ///
    /// [`Error::is_idle_timeout`] or [`Error::is_request_timeout`]: close the connection;
    /// or the error of a consumer's `tick`.
    pub(crate) fn check_timers(&mut self, now: Instant) -> Result<Instant> {
        self.now = now;
        let mut next = now + FAR_FUTURE;
        let ka = self.idle_timeout();
        let rt = self.cfg.request_timeout;
        let busy = self.is_busy();
        if !ka.is_zero() {
            if busy {
                next = next.min(now + ka);
            } else {
                if now >= self.last_activity + ka {
                    return Err(Error::new_idle_timeout());
                }
                next = next.min(self.last_activity + ka);
            }
        }
        if !rt.is_zero() {
            match self.request_clock() {
                Some(since) if now >= since + rt => return Err(Error::new_request_timeout()),
                Some(since) => next = next.min(since + rt),
                None => next = next.min(now + rt),
            }
        }
        for idx in 0..self.exchanges.len() {
            let Some(at) = self.exchanges[idx].next_tick else {
                continue;
            };
            if now >= at {
                self.exchanges[idx].rearm_tick(now);
                self.call(idx, |c, cx, _| with_consumer!(c, c => c.tick(cx)))?;
                self.apply_actions(false)?;
            }
            if let Some(at) = self.exchanges.get(idx).and_then(|e| e.next_tick) {
                next = next.min(at);
            }
        }
        self.timer_changed = false;
        Ok(next)
    }

    // ----- events -----

    pub(crate) fn conn_event(&self) -> ConnectionEvent {
        ConnectionEvent {
            session: self.conn.session(),
            peer: self.conn.address(),
        }
    }

    fn request_event<'a>(&self, error: Option<&'a Error>) -> RequestEvent<'a> {
        RequestEvent {
            session: self.conn.session(),
            peer: self.conn.address(),
            request: self.processed,
            error,
        }
    }

    /// Takes the unparsed input (the driver hands it on when the connection is handed
    /// over, or frees it).
    pub(crate) fn take_read_buf(&mut self) -> BytesMut {
        std::mem::take(&mut self.rbuf)
    }

    /// The queued output, for the harness.
    pub(crate) fn queue_mut(&mut self) -> &mut super::write_queue::WriteQueue {
        &mut self.out.queue
    }

    /// Starts with bytes another driver already read (a hand-over).
    pub(crate) fn preload(&mut self, read_buf: BytesMut) {
        debug_assert!(self.rbuf.is_empty());
        self.rbuf = read_buf;
    }

    /// Where the transport goes instead of being closed, once the engine is done.
    pub(crate) fn take_detach(
        &mut self,
    ) -> Option<tokio::sync::oneshot::Sender<crate::transport::Detached>> {
        self.detach_to.take()
    }

    pub(crate) fn unparsed(&self) -> &[u8] {
        &self.rbuf
    }

    pub(crate) fn config_mut(&mut self) -> &mut ConnectionConfig {
        Arc::make_mut(&mut self.cfg)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.lifecycle == Lifecycle::Closing
    }
}

impl<F: ConsumerFactory> std::fmt::Debug for Engine<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("session", &self.conn.session())
            .field("reading", &self.reading)
            .field("lifecycle", &self.lifecycle)
            .field("in_flight", &self.exchanges.len())
            .field("output", &self.out)
            .finish()
    }
}
