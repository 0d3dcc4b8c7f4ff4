//! The task that owns a connection's socket and feeds its consumers.
//!
//! One driver runs per connection, on the runtime that accepted (or opened) it. Its loop:
//! read a batch, feed it to consumers until they need more input or the write buffer
//! passes its high mark, write everything the batch produced in one syscall, repeat. It
//! never awaits inside a consumer, so the request path has no future and no allocation.
//!
//! State, as flags (checked in this order at the top of every round):
//!
//! | flag            | set by                                             | effect                          |
//! |-----------------|----------------------------------------------------|---------------------------------|
//! | `closing`       | `cx.close()`, max requests, idle close, EOF, close | stop reading; close once flushed |
//! | `close_at_end`  | server drain while a request is in flight, or      | `closing` when that request ends |
//! |                 | before the first request arrived                   |                                  |
//! | `read_eof`      | the peer's EOF                                     | no more reads                    |
//!
//! Timers are lazy: one `Sleep` is armed at the earliest moment a timeout *could* fire
//! and, when it fires, the real deadlines are computed from timestamps and it is re-armed.
//! Reads never touch the timer.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use super::scratch;
use super::signal::Signal;
use super::{CloseRequest, Connection, ConnectionConfig, Output};
use crate::consumer::{Actions, BoxConsumer, Context, DynFactory};
use crate::hooks::{ConnectionEvent, DataEvent, LostEvent, RequestEvent};
use crate::{ConsumerFactory, Error, Hooks, Producer, Progress, ProtocolConsumer, Result};

type Req<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Request;
type Resp<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Response;
type UpgradeFactory<F> = Arc<dyn DynFactory<Req<F>, Resp<F>>>;

/// A far-away instant for a timer that is off (tokio caps sleeps at about two years).
const FAR_FUTURE: Duration = Duration::from_secs(86400 * 365);

/// Most consumer calls in one feed round before the driver yields to write and read.
/// Bounds the time one connection holds its worker thread on a huge pipelined batch.
const FEED_BUDGET: usize = 1024;

/// Server-wide signals: `drain` asks idle connections to close now and busy ones after
/// their request; `abort` closes everything at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    pub(crate) drain: Signal,
    pub(crate) abort: Signal,
    /// Connections that were idle when the drain reached them.
    pub(crate) drained_idle: Arc<AtomicU64>,
    /// Connections that had a request in flight when the drain reached them.
    pub(crate) drained_busy: Arc<AtomicU64>,
}

/// A client request travelling from a [`ClientConnection`](super::ClientConnection) to
/// its driver.
pub(crate) struct Call<Req, Resp> {
    pub(crate) request: Req,
    pub(crate) reply: oneshot::Sender<Result<Resp>>,
}

pub(crate) struct ClientSide<Req, Resp> {
    pub(crate) calls: mpsc::Receiver<Call<Req, Resp>>,
    waiting: Option<oneshot::Sender<Result<Resp>>>,
}

impl<Req, Resp> ClientSide<Req, Resp> {
    pub(crate) fn new(calls: mpsc::Receiver<Call<Req, Resp>>) -> Self {
        ClientSide {
            calls,
            waiting: None,
        }
    }
}

/// How the connection ended, as the server's shutdown accounting sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Closed by itself or by a graceful drain.
    Normally,
    /// Force-closed by the server's shutdown deadline.
    Forced,
}

/// How to dispose of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposal {
    /// Flush, write EOF, wait for the peer's EOF up to the close timeout.
    Graceful,
    /// Reset now (SO_LINGER 0), dropping buffered output.
    Abort,
    /// The socket is already dead (reset, I/O error): just drop it.
    Drop,
}

enum Current<C: ProtocolConsumer> {
    Static(C),
    Upgraded(BoxConsumer<C::Request, C::Response>),
}

macro_rules! with_consumer {
    ($cur:expr, $c:ident => $body:expr) => {
        match $cur {
            Current::Static($c) => $body,
            Current::Upgraded($c) => $body,
        }
    };
}

enum Event<Req, Resp> {
    Read(usize),
    Eof,
    Wrote(usize),
    Queued,
    Timer,
    CloseRequest,
    Drain,
    Abort,
    Call(Call<Req, Resp>),
    CallsClosed,
}

/// Owns the socket and the consumers of one connection.
pub(crate) struct Driver<F: ConsumerFactory> {
    io: TcpStream,
    conn: Connection,
    factory: Arc<F>,
    upgraded: Option<UpgradeFactory<F>>,
    current: Option<Current<F::Consumer>>,
    /// The current consumer's request has started (`pre_request` fired, counted).
    started: bool,
    /// Bytes the current consumer has consumed, to tell a stall from progress.
    consumed: usize,
    /// The consumer said `NeedMore` and no byte arrived since: feeding again is useless.
    starved: bool,
    rbuf: BytesMut,
    out: Output,
    actions: Actions,
    cfg: Arc<ConnectionConfig>,
    producer: Producer,
    hooks: Arc<Hooks>,
    processed: u64,
    reported: u64,
    finished: u64,
    /// The write buffer peak last published to the handle.
    peak_reported: usize,
    closing: bool,
    close_at_end: bool,
    read_eof: bool,
    draining: bool,
    last_activity: Instant,
    in_flight_since: Option<Instant>,
    client: Option<ClientSide<Req<F>, Resp<F>>>,
}

// ===== impl Driver =====

impl<F: ConsumerFactory> Driver<F> {
    pub(crate) fn new(
        io: TcpStream,
        conn: Connection,
        factory: Arc<F>,
        cfg: Arc<ConnectionConfig>,
        producer: Producer,
        client: Option<ClientSide<Req<F>, Resp<F>>>,
    ) -> Self {
        if cfg.nodelay {
            // Responses are coalesced per batch already; Nagle would only add latency.
            let _ = io.set_nodelay(true);
        }
        let hooks = Arc::clone(producer.hooks());
        Driver {
            io,
            conn,
            factory,
            upgraded: None,
            current: None,
            started: false,
            consumed: 0,
            starved: false,
            rbuf: BytesMut::new(),
            out: Output::new(cfg.marks),
            actions: Actions::default(),
            hooks,
            producer,
            processed: 0,
            reported: 0,
            finished: 0,
            peak_reported: 0,
            closing: false,
            close_at_end: false,
            read_eof: false,
            draining: false,
            last_activity: Instant::now(),
            in_flight_since: None,
            client,
            cfg,
        }
    }

    /// Runs the connection to its end and reports how it ended.
    pub(crate) async fn run(mut self, shutdown: Shutdown) -> Ended {
        let _ = self.conn.connection_made().fire(Ok(()));
        let ev = self.conn_event();
        self.hooks.fire_connection_made(&ev);
        tracing::debug!(session = ev.session, peer = %ev.peer, "connection made");

        let (error, disposal, ended) = match self.serve(&shutdown).await {
            Ok(Ended::Forced) => (
                Some(Error::closed(
                    "forced closed at the server's shutdown deadline",
                )),
                Disposal::Abort,
                Ended::Forced,
            ),
            Ok(Ended::Normally) => (None, Disposal::Graceful, Ended::Normally),
            Err((err, disposal)) => (Some(err), disposal, Ended::Normally),
        };
        self.report_requests();
        self.conn.shared().mark_closed();
        self.fail_in_flight(error.as_ref());
        match disposal {
            Disposal::Graceful => self.close_gracefully(&shutdown.abort).await,
            Disposal::Abort => self.abort_socket(),
            Disposal::Drop => {}
        }
        self.conn.shared().set_write_paused(false);
        match &error {
            Some(err) if err.is_idle_timeout() => {
                tracing::debug!(session = self.conn.session(), "closed idle connection")
            }
            Some(err) => {
                tracing::debug!(session = self.conn.session(), error = %err, "connection closed with error")
            }
            None => tracing::debug!(session = self.conn.session(), "connection closed"),
        }
        // An idle timeout is the normal end of a keep-alive connection, not a failure.
        let lost_error = error.filter(|e| !e.is_idle_timeout());
        let lost = LostEvent {
            session: self.conn.session(),
            peer: self.conn.address(),
            error: lost_error.as_ref(),
        };
        self.hooks.fire_connection_lost(&lost);
        let _ = self
            .conn
            .connection_lost()
            .fire(lost_error.map_or(Ok(()), Err));
        ended
    }

    async fn serve(&mut self, shutdown: &Shutdown) -> Result<Ended, (Error, Disposal)> {
        let conn = self.conn.clone();
        let timeouts_on = !self.cfg.keep_alive.is_zero() || !self.cfg.request_timeout.is_zero();
        let first = self.cfg.keep_alive.min_nonzero(self.cfg.request_timeout);
        let timer = sleep_until(Instant::now() + first.unwrap_or(FAR_FUTURE));
        tokio::pin!(timer);
        // Polled once each to register this task's waker; afterwards the hot loop only
        // reads the flags (see `Signal`).
        let drain = shutdown.drain.cancelled();
        let abort = shutdown.abort.cancelled();
        tokio::pin!(drain, abort);
        let mut registered = false;

        loop {
            let seen = conn.shared().close_requested();
            match seen {
                CloseRequest::Abort => {
                    return Err((Error::closed("connection aborted"), Disposal::Abort))
                }
                CloseRequest::Graceful => self.closing = true,
                CloseRequest::None => {}
            }

            loop {
                // A write may have drained the buffer to the low mark: resume before
                // feeding, then pause if feeding filled it again.
                self.update_flow();
                self.take_external().map_err(|e| (e, Disposal::Abort))?;
                self.feed().map_err(|e| (e, Disposal::Graceful))?;
                self.update_flow();
                if self.close_at_end
                    && self.processed > 0
                    && !self.started
                    && !self.out.has_queued()
                {
                    // close_at_end -> closing: a drained connection's last response
                    // (produced by a future) is complete.
                    self.closing = true;
                }
                self.track_in_flight();
                if self.closing && self.out.len() == 0 && !self.out.has_queued() {
                    return Ok(Ended::Normally);
                }

                let event = poll_fn(|cx| {
                    if !registered {
                        // Same task, same waker: one registration lasts the connection.
                        let _ = abort.as_mut().poll(cx);
                        let _ = drain.as_mut().poll(cx);
                        registered = true;
                    }
                    if shutdown.abort.is_cancelled() {
                        return Poll::Ready(Ok(Event::Abort));
                    }
                    // Register, then check: a request made after the check wakes us.
                    conn.shared().driver_waker().register(cx.waker());
                    if conn.shared().close_requested() != seen || conn.shared().has_external() {
                        return Poll::Ready(Ok(Event::CloseRequest));
                    }
                    if !self.draining && shutdown.drain.is_cancelled() {
                        return Poll::Ready(Ok(Event::Drain));
                    }
                    if self.out.has_queued() {
                        if let Poll::Ready(res) = self.out.poll_queued(cx) {
                            return Poll::Ready(
                                // Graceful: the responses before the failed one are
                                // whole and already in the buffer; flush them.
                                res.map(|()| Event::Queued)
                                    .map_err(|e| (e, Disposal::Graceful)),
                            );
                        }
                    }
                    if !self.out.chunk().is_empty() {
                        if let Poll::Ready(res) =
                            Pin::new(&mut self.io).poll_write(cx, self.out.chunk())
                        {
                            return Poll::Ready(match res {
                                Ok(0) => Err((Error::connection_lost(None), Disposal::Drop)),
                                Ok(n) => Ok(Event::Wrote(n)),
                                Err(e) => Err((Error::from(e), Disposal::Drop)),
                            });
                        }
                    }
                    if self.wants_read() {
                        if self.rbuf.is_empty() && self.rbuf.capacity() == 0 {
                            // Idle connections hold no buffer: borrow the thread's.
                            self.rbuf = scratch::borrow();
                        }
                        if self.rbuf.capacity() - self.rbuf.len() < self.cfg.read_chunk / 2 {
                            self.rbuf.reserve(self.cfg.read_chunk);
                        }
                        let before = self.rbuf.len();
                        match tokio_util::io::poll_read_buf(
                            Pin::new(&mut self.io),
                            cx,
                            &mut self.rbuf,
                        ) {
                            Poll::Ready(Ok(0)) if self.rbuf.len() == before => {
                                return Poll::Ready(Ok(Event::Eof))
                            }
                            Poll::Ready(Ok(n)) => return Poll::Ready(Ok(Event::Read(n))),
                            Poll::Ready(Err(e)) => {
                                return Poll::Ready(Err((Error::from(e), Disposal::Drop)))
                            }
                            Poll::Pending => {
                                if self.rbuf.is_empty() {
                                    // Nothing to parse while waiting: lend the buffer
                                    // back to the thread (see `scratch`).
                                    scratch::give_back(std::mem::take(&mut self.rbuf));
                                }
                            }
                        }
                    }
                    if self.wants_call() {
                        if let Some(client) = self.client.as_mut() {
                            match client.calls.poll_recv(cx) {
                                Poll::Ready(Some(call)) => {
                                    return Poll::Ready(Ok(Event::Call(call)))
                                }
                                Poll::Ready(None) => return Poll::Ready(Ok(Event::CallsClosed)),
                                Poll::Pending => {}
                            }
                        }
                    }
                    if timeouts_on && timer.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Ok(Event::Timer));
                    }
                    Poll::Pending
                })
                .await?;

                match event {
                    Event::Read(n) => self.on_read(n).map_err(|e| (e, Disposal::Graceful))?,
                    Event::Eof => self.on_eof().map_err(|e| (e, Disposal::Graceful))?,
                    Event::Wrote(n) => {
                        self.out.buffer().advance(n);
                        self.conn.shared().add_io(0, n as u64);
                        self.last_activity = Instant::now();
                    }
                    Event::Queued => {}
                    Event::Timer => {
                        let next = self.check_timeouts().map_err(|e| (e, Disposal::Graceful))?;
                        timer.as_mut().reset(next);
                    }
                    // A close request or bytes from `Connection::write`: re-read the
                    // close request, then take the bytes at the top of the loop.
                    Event::CloseRequest => break,
                    Event::Drain => {
                        self.draining = true;
                        // A connection that has not had its first request yet counts
                        // as busy: that request is likely on its way (it may be the
                        // very session that reached the server's limit), so it is
                        // served and the connection closes after it, or the deadline
                        // forces it.
                        let fresh = self.processed == 0;
                        if self.in_flight() || fresh {
                            shutdown.drained_busy.fetch_add(1, Ordering::Relaxed);
                        } else {
                            shutdown.drained_idle.fetch_add(1, Ordering::Relaxed);
                        }
                        if self.started || self.out.has_queued() || fresh {
                            self.close_at_end = true;
                        } else {
                            // idle, or only flushing a finished response -> closing
                            self.closing = true;
                        }
                    }
                    Event::Abort => return Ok(Ended::Forced),
                    Event::Call(call) => self.start_client_request(call),
                    Event::CallsClosed => self.closing = true,
                }
            }
        }
    }

    fn wants_read(&self) -> bool {
        !self.read_eof
            && !self.closing
            && !self.out.is_full()
            && self.out.queued_len() < self.cfg.max_pending_responses
            && self.rbuf.len() < self.cfg.max_read_buffer
    }

    fn wants_call(&self) -> bool {
        self.current.is_none() && !self.closing && !self.close_at_end
    }

    fn on_read(&mut self, n: usize) -> Result<()> {
        self.starved = false;
        self.last_activity = Instant::now();
        self.conn.shared().add_io(n as u64, 0);
        if self.hooks.wants_data() {
            let start = self.rbuf.len() - n;
            let ev = DataEvent {
                session: self.conn.session(),
                data: &self.rbuf[start..],
            };
            self.hooks.fire_data_received(&ev);
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

    fn on_eof(&mut self) -> Result<()> {
        self.read_eof = true;
        self.conn.shared().mark_closed();
        self.feed()?;
        // A partial request can never complete now; the consumer decides whether the
        // end completes it (an EOF-delimited body) or it fails.
        if self.started {
            self.finish_lost(None);
        }
        self.closing = true;
        Ok(())
    }

    /// Feeds buffered input to consumers until they need more, the write buffer is
    /// full (above its high mark, or paused and not yet drained to the low mark), or
    /// the connection is closing.
    fn feed(&mut self) -> Result<()> {
        if self.starved {
            return Ok(());
        }
        let mut budget = FEED_BUDGET;
        while !self.rbuf.is_empty() && budget > 0 {
            if self.closing
                || self.out.is_full()
                || self.out.queued_len() >= self.cfg.max_pending_responses
            {
                break;
            }
            budget -= 1;
            if self.current.is_none() {
                if self.client.is_some() {
                    return Err(Error::protocol("data received with no request in flight"));
                }
                if self.close_at_end && self.processed > 0 {
                    // Draining: the request in flight ended; drop what follows.
                    self.closing = true;
                    break;
                }
                self.build_consumer()?;
            }
            if !self.started {
                self.start_server_request()?;
            }
            let before = self.rbuf.len();
            let progress = {
                let mut cx = Context::new(&self.conn, &mut self.out, &mut self.actions);
                let current = self.current.as_mut().expect("consumer built above");
                with_consumer!(current, c => c.data_received(&mut cx, &mut self.rbuf))
            };
            self.consumed += before.saturating_sub(self.rbuf.len());
            let progress = match progress {
                Ok(p) => p,
                Err(err) => {
                    self.finish_request(Err(err.clone()));
                    return Err(err);
                }
            };
            match progress {
                Progress::NeedMore => {
                    self.starved = true;
                    self.apply_actions()?;
                    if self.rbuf.len() >= self.cfg.max_read_buffer {
                        let err = Error::new_read_buffer_full(self.cfg.max_read_buffer);
                        self.finish_request(Err(err.clone()));
                        return Err(err);
                    }
                    break;
                }
                Progress::Finished(resp) => {
                    if self.consumed == 0 && !self.rbuf.is_empty() && self.client.is_none() {
                        let err = Error::new_consumer_stalled();
                        self.finish_request(Err(err.clone()));
                        return Err(err);
                    }
                    self.finish_request(Ok(resp));
                    self.apply_actions()?;
                }
            }
        }
        self.report_requests();
        Ok(())
    }

    fn build_consumer(&mut self) -> Result<()> {
        let consumer = match &self.upgraded {
            Some(factory) => Current::Upgraded(factory.build_boxed(&self.conn)),
            None => Current::Static(self.factory.build(&self.conn)),
        };
        let current = self.current.insert(consumer);
        self.started = false;
        self.consumed = 0;
        let mut cx = Context::new(&self.conn, &mut self.out, &mut self.actions);
        with_consumer!(current, c => c.connection_made(&mut cx));
        self.apply_actions()
    }

    /// Server side: the first bytes of a request arrived (pulsar's automatic `start()`).
    fn start_server_request(&mut self) -> Result<()> {
        self.started = true;
        if !self.cfg.request_timeout.is_zero() {
            // Each request gets its own clock, or a connection that always has one
            // request in flight (pipelining, a steady stream) would time out. The read
            // that brought these bytes is recent enough, and costs no clock read.
            self.in_flight_since = Some(self.last_activity);
        }
        self.processed += 1;
        if self.hooks.wants_requests() {
            let ev = self.request_event(None);
            if let Err(err) = self.hooks.fire_pre_request(&ev) {
                // The request's bytes cannot be skipped without parsing them: the
                // connection closes after `post_request` sees the abort.
                self.finish_request(Err(err.clone()));
                return Err(err);
            }
        }
        Ok(())
    }

    /// Client side: builds a consumer, fires `pre_request`, writes the request.
    fn start_client_request(&mut self, call: Call<Req<F>, Resp<F>>) {
        if let Err(err) = self.build_consumer() {
            let _ = call.reply.send(Err(err));
            self.closing = true;
            return;
        }
        self.started = true;
        if !self.cfg.request_timeout.is_zero() {
            self.in_flight_since = Some(Instant::now());
        }
        self.processed += 1;
        if let Some(client) = self.client.as_mut() {
            client.waiting = Some(call.reply);
        }
        if self.hooks.wants_requests() {
            let ev = self.request_event(None);
            if let Err(err) = self.hooks.fire_pre_request(&ev) {
                // Nothing was written: the connection stays usable.
                self.finish_request(Err(err));
                self.report_requests();
                return;
            }
        }
        let res = {
            let mut cx = Context::new(&self.conn, &mut self.out, &mut self.actions);
            let current = self.current.as_mut().expect("consumer built above");
            with_consumer!(current, c => c.start_request(&mut cx, call.request))
        };
        if let Err(err) = res.and_then(|()| self.apply_actions()) {
            self.finish_request(Err(err));
            // A request that failed half-written leaves the stream in an unknown state.
            self.closing = true;
        }
        self.report_requests();
    }

    /// Ends the current request: `post_request`, the client's reply, a pending upgrade,
    /// the per-connection request limit and a pending drain.
    fn finish_request(&mut self, outcome: Result<Resp<F>>) {
        if self.current.take().is_none() {
            return;
        }
        let was_started = std::mem::replace(&mut self.started, false);
        self.consumed = 0;
        self.finished += 1;
        if was_started && !self.hooks.wants_requests() {
            // fast path: nothing to tell
        } else if was_started {
            let err = outcome.as_ref().err();
            let ev = self.request_event(err);
            self.hooks.fire_post_request(&ev);
        }
        if let Some(client) = self.client.as_mut() {
            if let Some(reply) = client.waiting.take() {
                let _ = reply.send(outcome);
            }
        } else if let Err(err) = &outcome {
            tracing::debug!(session = self.conn.session(), error = %err, "request failed");
        }
        if self.cfg.max_requests > 0 && self.finished >= self.cfg.max_requests {
            self.closing = true;
        }
        if self.close_at_end {
            self.closing = true;
        }
    }

    /// Applies what the consumer asked of the connection during its last call.
    fn apply_actions(&mut self) -> Result<()> {
        if self.actions.close {
            self.actions.close = false;
            self.closing = true;
        }
        if self.current.is_none() {
            if let Some(up) = self.actions.upgrade.take() {
                let factory = up.downcast::<UpgradeFactory<F>>().map_err(|_| {
                    Error::config(
                        "upgrade factory's Request/Response types differ from the connection's",
                    )
                })?;
                self.upgraded = Some(*factory);
                // pulsar builds the upgraded consumer as soon as the request finishes,
                // even before more data arrives (a WebSocket consumer may write first).
                if !self.closing {
                    self.build_consumer()?;
                }
            }
        }
        Ok(())
    }

    /// The connection ended with a request unfinished: the consumer decides whether the
    /// end completes it.
    fn finish_lost(&mut self, error: Option<&Error>) {
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let resp = with_consumer!(current, c => c.connection_lost(error));
        match resp {
            Some(resp) => self.finish_request(Ok(resp)),
            // A request that ran out of time failed for that reason, not because the
            // connection went away under it.
            None => match error {
                Some(err) if err.is_request_timeout() => self.finish_request(Err(err.clone())),
                _ => self.finish_request(Err(Error::connection_lost(error.cloned()))),
            },
        }
    }

    fn fail_in_flight(&mut self, error: Option<&Error>) {
        if self.started {
            self.finish_lost(error);
        }
        self.current = None;
        if let Some(client) = self.client.as_mut() {
            client.calls.close();
            while let Ok(call) = client.calls.try_recv() {
                let _ = call.reply.send(Err(Error::connection_lost(error.cloned())));
            }
        }
    }

    /// Publishes the request counters, once per feed round rather than per request.
    fn report_requests(&mut self) {
        if self.processed > self.reported {
            self.conn.shared().set_processed(self.processed);
            self.producer.add_requests(self.processed - self.reported);
            self.reported = self.processed;
        }
    }

    fn in_flight(&self) -> bool {
        self.started || self.out.has_queued() || self.out.len() > 0
    }

    fn track_in_flight(&mut self) {
        match (self.in_flight(), self.in_flight_since) {
            (true, None) if !self.cfg.request_timeout.is_zero() => {
                self.in_flight_since = Some(Instant::now())
            }
            (false, Some(_)) => self.in_flight_since = None,
            _ => {}
        }
    }

    /// Moves bytes written through `Connection::write` into the output, after what the
    /// consumers queued so far.
    fn take_external(&mut self) -> Result<()> {
        if let Some(chunks) = self.conn.shared().take_external() {
            for chunk in chunks {
                self.out.write(&chunk)?;
            }
            // The writer's bytes moved into the buffer: publish the new level and let a
            // waiting writer re-check it (a pause would otherwise be the only wake-up).
            self.update_flow();
            if !self.out.buffer().is_paused() {
                self.conn.shared().notify_writable();
            }
        }
        Ok(())
    }

    fn update_flow(&mut self) {
        let marks = self.out.buffer().marks();
        self.conn
            .shared()
            .set_buffered(self.out.len(), marks.high(), marks.cap());
        let peak = self.out.buffer().peak();
        if peak > self.peak_reported {
            self.peak_reported = peak;
            self.conn.shared().set_write_buffer_peak(peak);
        }
        let was = self.out.buffer().is_paused();
        let now = self.out.buffer().update_paused();
        if was != now {
            self.conn.shared().set_write_paused(now);
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

    /// Checks the idle and request timeouts; returns when to look again.
    fn check_timeouts(&mut self) -> Result<Instant> {
        let now = Instant::now();
        let ka = self.cfg.keep_alive;
        let rt = self.cfg.request_timeout;
        let mut next = now + FAR_FUTURE;
        if self.in_flight() {
            if !rt.is_zero() {
                let since = *self.in_flight_since.get_or_insert(now);
                if now >= since + rt {
                    return Err(Error::new_request_timeout());
                }
                next = next.min(since + rt);
            }
            if !ka.is_zero() {
                next = next.min(now + ka);
            }
        } else {
            if !ka.is_zero() {
                if now >= self.last_activity + ka {
                    return Err(Error::new_idle_timeout());
                }
                next = next.min(self.last_activity + ka);
            }
            if !rt.is_zero() {
                next = next.min(now + rt);
            }
        }
        Ok(next)
    }

    /// Flushes, writes EOF and waits for the peer's EOF, up to the close timeout; the
    /// server's shutdown deadline (`abort`) cuts it short.
    async fn close_gracefully(&mut self, abort: &Signal) {
        let finished = tokio::select! {
            () = self.flush_and_shutdown() => true,
            () = abort.cancelled() => false,
        };
        if !finished {
            self.abort_socket();
        }
    }

    async fn flush_and_shutdown(&mut self) {
        let deadline = Instant::now() + self.cfg.close_timeout;
        while !self.out.chunk().is_empty() {
            match tokio::time::timeout_at(deadline, self.io.write(self.out.chunk())).await {
                Ok(Ok(n)) if n > 0 => {
                    self.out.buffer().advance(n);
                    self.conn.shared().add_io(0, n as u64);
                }
                Ok(_) => return,
                Err(_) => return self.abort_socket(),
            }
        }
        if self.io.shutdown().await.is_err() {
            return;
        }
        if self.read_eof {
            return;
        }
        // Wait for the peer to close its side, discarding what it still sends, so the
        // close does not turn into a reset that could destroy our last response.
        self.rbuf.clear();
        loop {
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.rbuf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => self.rbuf.clear(),
                Err(_) => {
                    tracing::debug!(
                        session = self.conn.session(),
                        "peer did not close in time: abort"
                    );
                    return self.abort_socket();
                }
            }
        }
    }

    fn abort_socket(&mut self) {
        let _ = socket2::SockRef::from(&self.io).set_linger(Some(Duration::ZERO));
    }

    fn conn_event(&self) -> ConnectionEvent {
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
}

trait MinNonZero {
    fn min_nonzero(self, other: Duration) -> Option<Duration>;
}

impl MinNonZero for Duration {
    fn min_nonzero(self, other: Duration) -> Option<Duration> {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => None,
            (true, false) => Some(other),
            (false, true) => Some(self),
            (false, false) => Some(self.min(other)),
        }
    }
}
