//! Driving a consumer without a socket and without a clock, for unit tests, property
//! tests and fuzzing.
//!
//! A [`ConsumerHarness`] drives the connection's own engine (the same code a socket
//! connection runs) for one consumer factory, playing the socket driver's part: the
//! bytes you [`feed`](ConsumerHarness::feed) are what the peer sent, in whatever pieces
//! you like, and the engine reads them when it wants to read (not while reading is
//! paused); [`take_output`](ConsumerHarness::take_output) is the peer reading what the
//! consumers wrote. Every connection rule applies (a consumer that finishes without
//! consuming input is an error, unparsed input is capped, `Context::close` stops parsing,
//! upgrades take the leftover bytes, async responses that are ready are written in
//! order, the write queue's water marks pause and resume the producers).
//! [`new`](ConsumerHarness::new) builds consumers as a client connection does for input
//! with no request in flight, so a client consumer's parser can be fed replies directly,
//! and takes [`call`](ConsumerHarness::call)s as a client connection does;
//! [`server`](ConsumerHarness::server) runs them as a server connection does (the first
//! consumer built at accept, one exchange at a time, draining after `Context::close`).
//!
//! # Virtual time
//!
//! The harness owns its clock: time stands still until you move it. The engine's timers
//! (idle and request timeouts, the progress timeouts, a consumer's `tick`) are checked
//! at each deadline that [`advance`](ConsumerHarness::advance) passes, in order, as the
//! socket driver's timer would; [`next_deadline`](ConsumerHarness::next_deadline) tells
//! when the engine next wants to be asked and
//! [`jump_to_next_deadline`](ConsumerHarness::jump_to_next_deadline) goes there. A
//! timeout that fires closes the harness with its typed error
//! ([`close_reason`](ConsumerHarness::close_reason)). Build the harness with a
//! [`ConnectionConfig`] to set the timeouts and water marks
//! ([`server_with`](ConsumerHarness::server_with)).
//!
//! # Examples
//!
//! A line protocol, fed in pieces:
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_net::harness::ConsumerHarness;
//! use quasar_net::{Context, Progress, ProtocolConsumer, Result};
//!
//! struct Lines;
//! impl ProtocolConsumer for Lines {
//!     type Request = ();
//!     type Response = ();
//!     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
//!         let Some(end) = buf.iter().position(|&b| b == b'\n') else { return Ok(Progress::NeedMore) };
//!         cx.write(&buf.split_to(end + 1))?;
//!         Ok(Progress::Finished(()))
//!     }
//! }
//!
//! let mut h = ConsumerHarness::new(|| Lines);
//! h.feed(b"on").unwrap();
//! h.feed(b"e\ntwo\nthr").unwrap();
//! assert_eq!(h.take_output(), &b"one\ntwo\n"[..]);
//! assert_eq!(h.finished(), 2);
//! ```
//!
//! The same protocol as a server with a 30 s request timeout: a request left half-sent
//! fails 30 s after its first byte, in virtual time.
//!
//! ```
//! # use bytes::BytesMut;
//! # use quasar_net::{Context, Progress, ProtocolConsumer, Result};
//! # struct Lines;
//! # impl ProtocolConsumer for Lines {
//! #     type Request = ();
//! #     type Response = ();
//! #     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
//! #         let Some(end) = buf.iter().position(|&b| b == b'\n') else { return Ok(Progress::NeedMore) };
//! #         cx.write(&buf.split_to(end + 1))?;
//! #         Ok(Progress::Finished(()))
//! #     }
//! # }
//! use std::time::Duration;
//! use quasar_net::harness::ConsumerHarness;
//! use quasar_net::{ConnectionConfig, MinRate};
//!
//! let mut config = ConnectionConfig::default();
//! config
//!     .request_timeout(Duration::from_secs(30))
//!     .min_receive_rate(MinRate::OFF);
//! let mut h = ConsumerHarness::server_with(|| Lines, config);
//! h.advance(Duration::from_secs(5)).unwrap();
//! h.feed(b"half a li").unwrap();
//! while h.jump_to_next_deadline().is_ok() {}
//! assert!(h.close_reason().unwrap().is_request_timeout());
//! assert_eq!(h.elapsed(), Duration::from_secs(35));
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::task::noop_waker_ref;
use tokio::sync::{mpsc, oneshot};

use crate::connection::{CloseRequest, DEFAULT_MAX_READ_BUFFER};
use crate::consumer::{Req, Resp};
use crate::engine::{Call, Engine, PushSink, Role};
use crate::flow_control::WaterMarks;
use crate::{Connection, ConnectionConfig, ConsumerFactory, Error, Producer, Result};

/// Responses buffered between two harness calls before the engine waits for room.
const RESPONSES: usize = 1024;

/// The engine answers "a year from now" when no timer is armed.
const NOTHING_ARMED: Duration = Duration::from_secs(86400 * 364);

/// Runs the consumers of one factory over bytes fed by hand, in virtual time.
pub struct ConsumerHarness<F: ConsumerFactory> {
    engine: Engine<F>,
    responses: mpsc::Receiver<Resp<F>>,
    taken: Vec<Resp<F>>,
    finished: u64,
    /// Closing, or over.
    closed: bool,
    /// The connection is over: a driver would have dropped the socket.
    over: bool,
    close_reason: Option<Error>,
    server: bool,
    start: Instant,
    now: Instant,
    /// When the engine next wants its timers checked.
    deadline: Instant,
    /// Bytes the peer sent that the engine has not read yet (the socket's receive
    /// buffer).
    inbox: BytesMut,
    /// The peer shut its sending side after `inbox`.
    peer_eof: bool,
    /// The engine read that EOF.
    eof_read: bool,
    /// The sending side was shut (the FIN "written").
    write_shut: bool,
    /// The handle's close request as the last turn applied it (it only grows).
    seen_close: CloseRequest,
    /// Client calls the engine has not taken yet (the driver's call channel).
    calls: VecDeque<Call<Req<F>, Resp<F>>>,
}

impl<F: ConsumerFactory> ConsumerHarness<F> {
    /// A harness for `factory`; the write queue is unbounded in practice (the cap is
    /// `usize::MAX / 2`), so tests see everything consumers write.
    pub fn new(factory: F) -> Self {
        Self::build(factory, Self::unbounded(), true)
    }

    /// A harness that runs the consumers as a server connection does: the first consumer
    /// is built at once (at accept: its `connection_made` may write before any input),
    /// requests are answered one exchange at a time, and responses are not collected
    /// ([`take_responses`](Self::take_responses) stays empty; [`finished`](Self::finished)
    /// is the connection's `processed` count: requests started, one still being read
    /// included). The write queue is unbounded in practice, as in [`new`](Self::new).
    pub fn server(factory: F) -> Self {
        Self::build(factory, Self::unbounded(), false)
    }

    /// A server harness (see [`server`](Self::server)) with `config`'s settings as they
    /// are: its water marks, idle and request timeouts, progress timeouts, request limit
    /// and read buffer limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # use bytes::BytesMut;
    /// # use quasar_net::{Context, Progress, ProtocolConsumer, Result};
    /// # struct Quiet;
    /// # impl ProtocolConsumer for Quiet {
    /// #     type Request = ();
    /// #     type Response = ();
    /// #     fn data_received(&mut self, _: &mut Context<'_>, _: &mut BytesMut) -> Result<Progress> {
    /// #         Ok(Progress::NeedMore)
    /// #     }
    /// # }
    /// use std::time::Duration;
    /// use quasar_net::harness::ConsumerHarness;
    /// use quasar_net::ConnectionConfig;
    ///
    /// let mut config = ConnectionConfig::default();
    /// config.keep_alive(Duration::from_secs(15));
    /// let mut h = ConsumerHarness::server_with(|| Quiet, config);
    /// assert_eq!(h.next_deadline(), Some(Duration::from_secs(10)), "the first progress check");
    /// h.advance(Duration::from_secs(15)).unwrap_err();
    /// assert!(h.close_reason().unwrap().is_idle_timeout());
    /// ```
    pub fn server_with(factory: F, config: ConnectionConfig) -> Self {
        Self::build(factory, config, false)
    }

    /// A client-style harness (see [`new`](Self::new)) with `config`'s settings as they
    /// are.
    pub fn new_with(factory: F, config: ConnectionConfig) -> Self {
        Self::build(factory, config, true)
    }

    fn unbounded() -> ConnectionConfig {
        let marks = WaterMarks::new(usize::MAX / 8, usize::MAX / 4)
            .and_then(|m| m.with_cap(usize::MAX / 2))
            .unwrap_or_default();
        let mut config = ConnectionConfig::default();
        config.water_marks(marks);
        config.max_read_buffer = DEFAULT_MAX_READ_BUFFER;
        config
    }

    fn build(factory: F, config: ConnectionConfig, client: bool) -> Self {
        // As a client, bytes with no request in flight build a consumer whose response
        // goes to the push sink: exactly "feed a parser, collect what it finishes with".
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let (tx, rx) = mpsc::channel(RESPONSES);
        let start = Instant::now();
        let engine = Engine::new(
            Connection::new(1, local, local),
            Arc::new(factory),
            Arc::new(config),
            Producer::new("harness", Default::default()),
            if client {
                Role::Client {
                    push: Some(PushSink::new(tx)),
                }
            } else {
                Role::Server
            },
            start,
        );
        let mut harness = ConsumerHarness {
            engine,
            responses: rx,
            taken: Vec::new(),
            finished: 0,
            closed: false,
            over: false,
            close_reason: None,
            server: !client,
            start,
            now: start,
            deadline: start,
            inbox: BytesMut::new(),
            peer_eof: false,
            eof_read: false,
            write_shut: false,
            seen_close: CloseRequest::None,
            calls: VecDeque::new(),
        };
        // As the driver: a server's first consumer is built at accept, before any byte,
        // then the timers are asked for their first deadline; a consumer that fails there
        // leaves the harness closed.
        let started = harness.engine.start().and_then(|()| {
            harness.deadline = harness.engine.check_timers(start)?;
            harness.turn(true)
        });
        // The error stays readable through `close_reason`.
        let _ = harness.settle(started);
        harness
    }

    /// Caps unparsed input, as `ConnectionConfig::max_read_buffer` does.
    pub fn max_read_buffer(mut self, bytes: usize) -> Self {
        self.engine.config_mut().max_read_buffer = bytes.max(1);
        self
    }

    // ----- the peer -----

    /// The peer sends `data`: the engine reads it (now, unless reading is paused) and
    /// runs consumers until they need more.
    ///
    /// # Errors
    ///
    /// The first error a consumer (or a connection rule) raised; the harness is then
    /// closed and later calls return a closed error. A closed error too when the
    /// connection was already closing (nothing more is read) or the peer shut its side.
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        if self.closed || self.peer_eof {
            return Err(Error::closed("harness"));
        }
        self.inbox.extend_from_slice(data);
        let res = self.turn(false);
        self.settle(res)
    }

    /// The peer shuts its sending side (a half-close: `shutdown(SHUT_WR)`, `nc -N`): the
    /// engine sees the EOF once it has read everything sent before it.
    ///
    /// # Errors
    ///
    /// As [`feed`](Self::feed).
    pub fn feed_eof(&mut self) -> Result<()> {
        if self.over {
            return Err(Error::closed("harness"));
        }
        self.peer_eof = true;
        let res = self.turn(false);
        self.settle(res)
    }

    /// The peer reads everything queued for it now (one read: what the engine produces
    /// in return, such as a paused producer resuming, stays queued for the next).
    pub fn take_output(&mut self) -> Bytes {
        self.take_output_upto(usize::MAX)
    }

    /// The peer reads at most `max` bytes of what is queued for it: a slow reader. The
    /// engine learns they were written (its water marks, the write-stall and send-rate
    /// rules) and runs a round if that changes anything, as after a socket write.
    pub fn take_output_upto(&mut self, max: usize) -> Bytes {
        let mut out = BytesMut::new();
        let mut round = false;
        while out.len() < max && !self.engine.output().queue.is_empty() {
            let front = self.engine.output().queue.front();
            let n = front.len().min(max - out.len());
            out.extend_from_slice(&front[..n]);
            if self.over {
                self.engine.queue_mut().advance(n);
            } else {
                round |= self.engine.on_written(n, self.now);
            }
        }
        if !out.is_empty() && !self.over {
            let more = !self.engine.output().queue.is_empty();
            let res = self.turn(round || more);
            let _ = self.settle(res);
        }
        out.freeze()
    }

    // ----- the server and other tasks -----

    /// The server drains (a graceful close reaching this connection): idle connections
    /// close at once, busy ones after their exchange; a long-lived exchange gets its
    /// `shutdown` notice. Returns whether the connection was busy, as the server counts it.
    ///
    /// # Errors
    ///
    /// A closed error when the connection is already over; otherwise the error that the
    /// round after the drain raised.
    pub fn drain(&mut self) -> Result<bool> {
        if self.over {
            return Err(Error::closed("harness"));
        }
        let busy = self.engine.on_drain();
        let res = self.turn(true);
        self.settle(res).map(|()| busy)
    }

    /// One turn of the driver with no new event from the peer or the clock: applies what
    /// other tasks asked through the [`Connection`] handle (`write`, `resume_reading`,
    /// `shutdown_write`, `close`), pulls async responses that are ready, reads what the
    /// peer sent if the engine wants it.
    ///
    /// # Errors
    ///
    /// As [`feed`](Self::feed).
    pub fn step(&mut self) -> Result<()> {
        if self.over {
            return Err(Error::closed("harness"));
        }
        let res = self.turn(true);
        self.settle(res)
    }

    /// A client call (a harness built by [`new`](Self::new) or [`new_with`](Self::new_with)):
    /// the engine takes it when it takes calls (below `max_in_flight`, output not paused,
    /// the connection open), builds its consumer and has it write the request; the
    /// consumer's result, once the reply is fed, arrives on the returned receiver
    /// (`try_recv`). Calls the connection never takes fail when it ends.
    pub fn call(&mut self, request: Req<F>) -> oneshot::Receiver<Result<Resp<F>>> {
        let (reply, rx) = oneshot::channel();
        if self.over {
            let _ = reply.send(Err(Error::connection_lost(self.close_reason.clone())));
            return rx;
        }
        if self.server {
            let _ = reply.send(Err(Error::new_not_client()));
            return rx;
        }
        let reply = crate::connection::reply_slot::ReplySlot::channel(reply);
        self.calls.push_back(Call { request, reply });
        let res = self.turn(false);
        let _ = self.settle(res);
        rx
    }

    /// Client calls made and not yet taken by the engine.
    pub fn pending_calls(&self) -> usize {
        self.calls.len()
    }

    // ----- virtual time -----

    /// Moves the clock on by `by`, checking the engine's timers at each deadline passed,
    /// in order (ticks fire, timeouts close).
    ///
    /// # Errors
    ///
    /// The error that closed the connection on the way (an idle, request or progress
    /// timeout, or a `tick`'s error); the clock then stops at that deadline. A closed
    /// error when the connection was already over.
    pub fn advance(&mut self, by: Duration) -> Result<()> {
        if self.over {
            return Err(Error::closed("harness"));
        }
        // What other tasks asked before the clock moves happens now, as the driver is
        // woken at once.
        let res = self.turn(false);
        self.settle(res)?;
        let target = self.now + by;
        while !self.over && self.deadline <= target {
            self.now = self.now.max(self.deadline);
            let res = self.check_timers().and_then(|()| self.turn(true));
            self.settle(res)?;
        }
        if self.over {
            // Closed on the way: the clock stays where it ended.
            return Err(self
                .close_reason
                .clone()
                .unwrap_or_else(|| Error::closed("harness")));
        }
        self.now = target;
        Ok(())
    }

    /// Moves the clock to [`next_deadline`](Self::next_deadline) and checks the timers
    /// there; does nothing when no timer is armed.
    ///
    /// # Errors
    ///
    /// As [`advance`](Self::advance).
    pub fn jump_to_next_deadline(&mut self) -> Result<()> {
        if self.over {
            return Err(Error::closed("harness"));
        }
        match self.next_deadline() {
            Some(wait) => self.advance(wait),
            None => Ok(()),
        }
    }

    /// How long from now the engine next wants its timers checked, or `None` when no
    /// timer is armed. Timers are lazy: this is "no later than", and the check there may
    /// only arm the next one.
    pub fn next_deadline(&self) -> Option<Duration> {
        let wait = self.deadline.saturating_duration_since(self.now);
        (!self.over && wait < NOTHING_ARMED).then_some(wait)
    }

    /// The virtual time since the harness was built.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    // ----- what the test sees -----

    /// Takes the responses of the finished requests, in order.
    pub fn take_responses(&mut self) -> Vec<Resp<F>> {
        std::mem::take(&mut self.taken)
    }

    /// Requests finished so far (as a server: the connection's `processed` count, which
    /// includes a request still being read).
    pub fn finished(&self) -> u64 {
        if self.server {
            self.engine.connection().processed()
        } else {
            self.finished
        }
    }

    /// Whether the connection is closing or over: a consumer closed it, a close was
    /// asked for, the peer's EOF ended a request/response exchange, or an error ended it.
    /// Output already queued can still be taken.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the connection is over: an error ended it, or it closed and the peer took
    /// everything written before the close (a driver would drop the socket now).
    pub fn is_done(&self) -> bool {
        self.over
    }

    /// The error that ended the connection (a timeout, a consumer's error, a broken
    /// rule), or `None` while it lives or when it closed cleanly.
    pub fn close_reason(&self) -> Option<&Error> {
        self.close_reason.as_ref()
    }

    /// Whether the engine would read from the socket now: reading not paused (by a
    /// consumer, by a full write queue, by the memory budget), the peer's side not shut,
    /// the connection not closing.
    pub fn is_reading(&self) -> bool {
        !self.over && self.engine.wants_read()
    }

    /// Bytes the peer sent that the engine has not read yet (reading is paused).
    pub fn pending_input(&self) -> usize {
        self.inbox.len()
    }

    /// Bytes queued for the peer and not taken yet.
    pub fn queued_output(&self) -> usize {
        self.engine.output().queue.len()
    }

    /// Whether the connection's sending side was shut (`Connection::shutdown_write`, once
    /// everything queued before it was taken).
    pub fn is_write_shut(&self) -> bool {
        self.write_shut
    }

    /// Bytes read but not consumed yet.
    pub fn unparsed(&self) -> &[u8] {
        self.engine.unparsed()
    }

    /// The connection's handle, as consumers and other tasks hold it: what they ask of it
    /// (`write`, `resume_reading`, `shutdown_write`, `begin_close`, `abort`) is applied on
    /// the harness's next turn ([`step`](Self::step), or any other call).
    pub fn connection(&self) -> &Connection {
        self.engine.connection()
    }

    #[cfg(test)]
    pub(crate) fn engine(&self) -> &Engine<F> {
        &self.engine
    }

    #[cfg(test)]
    pub(crate) fn engine_mut(&mut self) -> &mut Engine<F> {
        &mut self.engine
    }

    // ----- the driver's part -----

    /// Checks the timers at `now` and keeps their next deadline.
    fn check_timers(&mut self) -> Result<()> {
        let next = self.engine.check_timers(self.now)?;
        // Lazy timers never ask again at the same instant; if one did, a step of one
        // nanosecond keeps `advance` moving.
        self.deadline = next.max(self.now + Duration::from_nanos(1));
        Ok(())
    }

    /// One or more turns of the driver: what other tasks asked, a round of rules, then
    /// the events that need no one outside (pulled responses, room in the push sink,
    /// the FIN, reading what the peer sent), until nothing moves. `round` is whether the
    /// first turn starts with a round (a new event) or only looks for events (after a
    /// write that needed none).
    fn turn(&mut self, mut round: bool) -> Result<()> {
        let mut cx = TaskContext::from_waker(noop_waker_ref());
        loop {
            if self.over {
                return Ok(());
            }
            if round {
                self.apply_handle()?;
                let done = self.engine.round()?;
                while let Ok(resp) = self.responses.try_recv() {
                    self.taken.push(resp);
                    self.finished += 1;
                }
                if done {
                    self.end(None);
                    return Ok(());
                }
                if self.engine.is_closing() {
                    self.closed = true;
                }
                if self.engine.take_timer_changed() {
                    self.check_timers()?;
                }
            }
            round = true;
            let shared = self.engine.connection().shared();
            if shared.has_pending() || shared.close_requested() != self.seen_close {
                continue;
            }
            match self.engine.poll_pull(&mut cx) {
                Poll::Ready(res) => {
                    res?;
                    continue;
                }
                Poll::Pending => {}
            }
            if self.engine.poll_push(&mut cx).is_ready() {
                continue;
            }
            if !self.write_shut && self.engine.wants_shutdown() {
                self.write_shut = true;
                self.engine.on_shutdown_written();
                continue;
            }
            if self.engine.wants_read() {
                if !self.inbox.is_empty() {
                    let data = self.inbox.split();
                    self.engine.read_buf().extend_from_slice(&data);
                    self.engine.on_read(data.len(), self.now)?;
                    continue;
                }
                if self.peer_eof && !self.eof_read {
                    self.eof_read = true;
                    self.engine.on_eof()?;
                    continue;
                }
            }
            if self.engine.wants_call() {
                if let Some(call) = self.calls.pop_front() {
                    self.engine.on_call(call, self.now);
                    continue;
                }
            }
            return Ok(());
        }
    }

    /// What other tasks asked through the connection's handle, as the driver applies it
    /// at the top of each turn.
    fn apply_handle(&mut self) -> Result<()> {
        self.seen_close = self.engine.connection().shared().close_requested();
        match self.seen_close {
            CloseRequest::Abort => return Err(Error::closed("connection aborted")),
            CloseRequest::Graceful => self.engine.close(),
            CloseRequest::None => {}
        }
        let shared = self.engine.connection().shared();
        if let Some(chunks) = shared.take_external() {
            self.engine.take_external(chunks)?;
        }
        let shared = self.engine.connection().shared();
        if shared.take_resume_reading() {
            self.engine.resume_reading();
        }
        if self.engine.connection().shared().take_shutdown_write() {
            self.engine.shutdown_write();
        }
        Ok(())
    }

    /// Records how a call ended: an error ends the connection.
    fn settle(&mut self, res: Result<()>) -> Result<()> {
        if let Err(err) = &res {
            if !self.over {
                self.end(Some(err.clone()));
            }
        }
        res
    }

    /// The connection is over, as the driver ends it: every exchange in flight hears of
    /// it, in order.
    fn end(&mut self, error: Option<Error>) {
        self.over = true;
        self.closed = true;
        self.engine.connection().shared().mark_closed();
        self.engine.fail_in_flight(error.as_ref());
        for call in self.calls.drain(..) {
            let _ = call.reply.send(Err(Error::connection_lost(error.clone())));
        }
        while let Ok(resp) = self.responses.try_recv() {
            self.taken.push(resp);
            self.finished += 1;
        }
        self.close_reason = error;
    }
}

impl<F: ConsumerFactory> fmt::Debug for ConsumerHarness<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerHarness")
            .field("engine", &self.engine)
            .field("elapsed", &self.elapsed())
            .field("closed", &self.closed)
            .field("over", &self.over)
            .field("close_reason", &self.close_reason)
            .finish()
    }
}
