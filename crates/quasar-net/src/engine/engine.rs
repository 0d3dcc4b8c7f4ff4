//! [`Engine`]: every consumer rule of one connection, with no socket and no runtime.
//!
//! The driver (or the test harness) moves bytes and time into the engine and asks it
//! what to do next; see the module docs of [`engine`](super) for the state table.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::calls::PushSink;
use super::exchange::{with_consumer, Exchange};
use super::feed::NextConsumer;
use super::output::Output;
use super::state::{Lifecycle, Reading, State, Writing};
use super::timers::Clock;
use crate::consumer::{Actions, Req, Resp};
use crate::hooks::{ConnectionEvent, DataEvent, RequestEvent};
use crate::{
    Connection, ConnectionConfig, ConsumerFactory, Error, Hooks, Producer, ProtocolConsumer, Result,
};

/// A far-away instant for a timer that is off (tokio caps sleeps at about two years).
pub(super) const FAR_FUTURE: Duration = Duration::from_secs(86400 * 365);

/// Most consumer calls in one feed round before the driver gets to write and read again.
/// Bounds the time one connection holds its worker thread on a huge pipelined batch.
pub(super) const FEED_BUDGET: usize = 1024;

/// The step in which a connection reports what it holds to the server's memory budget
/// (a power of two). Up to this much per connection goes unreported, which is small
/// next to the read chunk (16 KiB) the budget's bound already allows per connection.
pub(super) const BUDGET_GRAIN: usize = 4 * 1024;

/// Request counters of one connection.
#[derive(Debug, Default)]
pub(super) struct Counts {
    /// Requests started.
    pub(super) processed: u64,
    /// `processed` as last published to the connection and the producer.
    pub(super) reported: u64,
    /// Requests whose exchange ended.
    pub(super) finished: u64,
    /// The write-buffer peak last published.
    pub(super) peak_reported: usize,
    /// The output level `update_flow` last saw (`usize::MAX`: never ran).
    pub(super) flow_len: usize,
}

impl Counts {
    fn new() -> Counts {
        Counts {
            flow_len: usize::MAX,
            ..Counts::default()
        }
    }
}

/// Which side of the connection the engine plays.
pub(crate) enum Role<Resp> {
    /// Consumers are built when request bytes arrive.
    Server,
    /// Consumers are built per call; bytes with no call in flight go to the push sink.
    Client { push: Option<PushSink<Resp>> },
}

/// The sans-IO engine of one connection.
pub(crate) struct Engine<F: ConsumerFactory> {
    pub(super) conn: Connection,
    pub(super) factory: Arc<F>,
    /// Where the next exchange's consumer comes from (a kept one, the upgrade's factory).
    pub(super) next: NextConsumer<F>,
    /// Exchanges in flight, oldest first; the front one receives the input. A server has
    /// at most one; a client up to `max_in_flight`.
    pub(super) exchanges: VecDeque<Exchange<F::Consumer>>,
    pub(super) rbuf: BytesMut,
    pub(super) out: Output,
    pub(super) actions: Actions<Req<F>, Resp<F>>,
    pub(super) cfg: Arc<ConnectionConfig>,
    producer: Producer,
    pub(super) hooks: Arc<Hooks>,
    pub(super) role: Role<Resp<F>>,
    /// Where the connection is: reading, writing, lifecycle and the feeding flags.
    pub(super) state: State,
    /// Time and progress: the timers' inputs.
    pub(super) clock: Clock,
    /// Request counters and what was last published of them.
    pub(super) counts: Counts,
    /// What was last reported to the memory budget (a multiple of [`BUDGET_GRAIN`]);
    /// paused by its soft stage.
    held: crate::memory_budget::Holding,
    /// Where to hand the transport once the exchange that asked for it finished.
    detach_to: Option<tokio::sync::oneshot::Sender<crate::transport::Detached>>,
}

impl<F: ConsumerFactory> Drop for Engine<F> {
    fn drop(&mut self) {
        if let Some(budget) = self.cfg.memory_budget.as_deref() {
            self.held.release(budget);
        }
    }
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
            next: NextConsumer::new(),
            exchanges: VecDeque::new(),
            rbuf: BytesMut::new(),
            out: Output::new(cfg.marks),
            actions: Actions::default(),
            hooks,
            producer,
            role,
            state: State::default(),
            clock: Clock::new(now),
            counts: Counts::new(),
            held: Default::default(),
            detach_to: None,
            cfg,
        }
    }

    /// The connection starts. A server builds its first consumer now, before any byte
    /// arrives, and calls its `connection_made`: a protocol that speaks first (a banner,
    /// a greeting) or dials an upstream does it here, and a `pause_reading` there holds
    /// back every byte until `Connection::resume_reading`. Clients build a consumer per
    /// call instead.
    pub(crate) fn start(&mut self) -> Result<()> {
        if matches!(self.role, Role::Server) && self.exchanges.is_empty() {
            self.build_exchange(super::exchange::ReplyTo::Server)?;
        }
        Ok(())
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn producer(&self) -> &Producer {
        &self.producer
    }

    pub(crate) fn saw_eof(&self) -> bool {
        self.state.reading == Reading::Eof
    }

    pub(crate) fn config(&self) -> &ConnectionConfig {
        &self.cfg
    }

    pub(crate) fn is_client(&self) -> bool {
        matches!(self.role, Role::Client { .. })
    }

    // ----- input -----

    /// Whether the driver should read: open for reading, not closing, room for more
    /// input (see [`takes_input`](Self::takes_input)) and for more unparsed bytes, and
    /// not paused by the memory budget.
    pub(crate) fn wants_read(&self) -> bool {
        self.state.reading == Reading::Open
            && self.state.lifecycle != Lifecycle::Closing
            && self.takes_input()
            && self.rbuf.len() < self.cfg.max_read_buffer
            && !self.held.is_paused()
    }

    /// Whether input may be read and fed now. A request/response exchange waits while
    /// its output is above the high mark (so a peer that does not read its answers is
    /// held back); a full-duplex exchange reads on whatever its own output does, since
    /// what it reads does not turn into its own output (a relay, a chat member).
    pub(super) fn takes_input(&self) -> bool {
        let full_duplex = self
            .exchanges
            .front()
            .is_some_and(|ex| ex.lifetime.full_duplex);
        self.out.takes_input(full_duplex)
            && (full_duplex || self.out.responses.len() < self.cfg.max_pending_responses)
            && !self.push_blocked()
    }

    /// Whether more output may be produced now: flow control does not hold producers
    /// back, the unfinished responses are below their limit, and a client's push sink
    /// has room.
    pub(super) fn can_produce(&self) -> bool {
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
        self.clock.now = now;
        self.state.starved = false;
        self.clock.last_activity = now;
        self.clock.read_total += n as u64;
        self.conn.shared().set_bytes_read(self.clock.read_total);
        self.account()?;
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

    /// A consumer paused reading; `Connection::resume_reading` resumes it.
    pub(crate) fn resume_reading(&mut self) {
        if self.state.reading == Reading::PausedByConsumer {
            self.state.reading = Reading::Open;
            self.state.starved = false;
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

    /// The driver wrote `n` bytes from the front of the queue. Returns whether a
    /// [`round`](Self::round) of rules must follow; when not (the usual case: an answer
    /// went out whole and nothing waits on it), the bookkeeping a round would do after
    /// a write is done here and the driver goes on to read.
    pub(crate) fn on_written(&mut self, n: usize, now: Instant) -> bool {
        self.out.queue.advance(n);
        self.clock.written_total += n as u64;
        self.conn
            .shared()
            .set_bytes_written(self.clock.written_total);
        // Writing only frees memory: never a reason to shed.
        let _ = self.account();
        self.clock.now = now;
        self.clock.last_activity = now;
        self.clock.written_at = now;
        let was_paused = self.out.is_paused();
        self.update_flow();
        self.track_busy();
        // A round has work after a write only when: writing resumed (or is still
        // paused), a consumer is owed a call, input waits unfed (the feed budget ran
        // out), the connection is closing or draining, or timers changed.
        was_paused
            || self.out.is_paused()
            || self.state.refeed
            || (!self.state.starved && !self.rbuf.is_empty())
            || self.state.lifecycle != Lifecycle::Open
            || self.clock.timer_changed
    }

    /// Moves bytes written through `Connection::write` into the output, after what the
    /// consumers queued so far.
    pub(crate) fn take_external(&mut self, chunks: VecDeque<Bytes>) -> Result<()> {
        for chunk in chunks {
            self.out.write_bytes(chunk)?;
        }
        self.update_flow();
        if !self.out.is_paused() {
            // The writer's bytes moved in: let a waiting writer re-check the level.
            self.conn.shared().notify_writable();
        }
        Ok(())
    }

    // ----- rounds -----

    /// The driver's current time, before a round that no read, write or timer stamped
    /// (external writes, a resumed reading, a pulled response): output that starts
    /// waiting then is stamped with it.
    pub(crate) fn set_now(&mut self, now: Instant) {
        self.clock.now = now;
    }

    /// One round of rules after any event: flow control, feeding, flow control again,
    /// lifecycle transitions. Returns whether the connection is done (closing with
    /// nothing left to write).
    pub(crate) fn round(&mut self) -> Result<bool> {
        // A write may have drained the queue to the low mark: resume before feeding,
        // then pause if feeding filled it again.
        self.update_flow();
        self.feed()?;
        self.update_flow();
        self.settle_eof();
        if self.state.lifecycle == Lifecycle::CloseAfterExchange
            && self.counts.processed > 0
            && self.exchanges.is_empty()
        {
            // close-after-exchange -> closing: the last exchange ended.
            self.begin_closing();
        }
        self.track_busy();
        self.account()?;
        Ok(self.is_done())
    }

    /// Reports what this connection holds for its peer (unparsed input, queued output
    /// and what its consumer buffers) to the server's memory budget, whose soft stage
    /// may pause reading (see [`MemoryBudget`](crate::MemoryBudget)).
    ///
    /// # Errors
    ///
    /// [`Error::is_over_budget`] when the budget is exceeded and this connection holds
    /// more than its fair share: close it.
    ///
    /// Holdings are reported in whole [`BUDGET_GRAIN`] steps, rounded down: a connection
    /// whose holding stays within one step (a request or a batch of small responses in
    /// flight, the common case) touches none of the budget's shared counters, which
    /// every worker thread would otherwise write several times per request.
    #[inline]
    fn account(&mut self) -> Result<()> {
        // Lengths, not capacities: a connection's read buffer may be the thread's
        // scratch buffer, whose capacity another connection grew (counting it shed honest
        // small requests); the allocator's slack is outside the budget (docs/overload.md).
        let now =
            (self.rbuf.len() + self.out.queue.len() + self.actions.buffered) & !(BUDGET_GRAIN - 1);
        if now == 0 && self.held.held() == 0 {
            // Nothing to report, with or without a budget: the usual case, three times
            // per read, decided here without a call.
            return Ok(());
        }
        self.report_holding(now)
    }

    /// Whether the memory budget's soft stage paused this connection's reading.
    pub(super) fn paused_by_memory(&self) -> bool {
        self.held.is_paused()
    }

    /// While the memory budget keeps reading paused: asks it again, and returns when to
    /// ask next if the pause holds.
    pub(super) fn recheck_memory(&mut self, now: Instant) -> Result<Option<Instant>> {
        match self.cfg.memory_budget.as_deref() {
            Some(budget) if self.held.is_paused() && self.held.recheck(budget)? => {
                Ok(Some(now + crate::memory_budget::RECHECK))
            }
            _ => Ok(None),
        }
    }

    /// Hands the transport to `to` once the output is written: nothing more is read or
    /// parsed, the rest belongs to the new owner.
    pub(super) fn detach(&mut self, to: tokio::sync::oneshot::Sender<crate::transport::Detached>) {
        self.detach_to = Some(to);
        self.begin_closing();
    }

    /// [`account`](Self::account)'s report of a holding of `now` bytes (a whole number
    /// of grains), or of its drop to zero.
    #[inline(never)]
    fn report_holding(&mut self, now: usize) -> Result<()> {
        let Some(budget) = self.cfg.memory_budget.as_deref() else {
            return Ok(());
        };
        if self.held.report(budget, now)? {
            // Paused just now: arm the re-check timer.
            self.clock.timer_changed = true;
            let detail = format_args!("reading paused: holding {now} bytes over the soft mark");
            let abuse = self.producer.abuse();
            abuse.record(
                crate::AbuseKind::BudgetShed,
                1,
                Some(self.conn.address()),
                detail,
            );
        }
        Ok(())
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.lifecycle == Lifecycle::Closing
            && (self.out.is_idle() || self.state.writing == Writing::Shutdown)
    }

    /// Serve one exchange, then close (the session that reached the server's limit).
    pub(crate) fn close_after_exchange(&mut self) {
        if self.state.lifecycle == Lifecycle::Open {
            self.state.lifecycle = Lifecycle::CloseAfterExchange;
        }
    }

    /// A graceful close was asked for: stop reading, close once the output is written.
    pub(crate) fn close(&mut self) {
        self.begin_closing();
    }

    pub(super) fn begin_closing(&mut self) {
        if self.state.lifecycle != Lifecycle::Closing {
            tracing::trace!(session = self.conn.session(), from = ?self.state.lifecycle, "-> closing");
            self.state.lifecycle = Lifecycle::Closing;
        }
    }

    /// The server drains: idle connections close now, busy ones after their exchange;
    /// a long-lived exchange gets its shutdown notice. Returns whether it was busy.
    pub(crate) fn on_drain(&mut self) -> bool {
        // Busy: a request started, input waits unparsed, or output is owed. A connection
        // that never sent a byte is idle like one between exchanges: it closes now
        // rather than holding the close up to its deadline for a request that may never
        // come.
        let in_exchange = self.exchanges.iter().any(|e| e.started) || !self.rbuf.is_empty();
        let busy = in_exchange || !self.out.is_idle();
        if in_exchange {
            self.state.lifecycle = Lifecycle::CloseAfterExchange;
        } else {
            // Output owed with no exchange in flight (a greeting, a pushed event) is
            // written by the closing state, then the connection ends.
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

    /// Publishes the request counters, once per round rather than per request.
    pub(crate) fn report_requests(&mut self) {
        if self.counts.processed > self.counts.reported {
            self.conn.shared().set_processed(self.counts.processed);
            self.producer
                .add_requests(self.counts.processed - self.counts.reported);
            self.counts.reported = self.counts.processed;
        }
    }

    pub(crate) fn update_flow(&mut self) {
        let len = self.out.len();
        if len == self.counts.flow_len {
            // The level decides everything below (the pause state follows from it and
            // the previous state): an unchanged level changes nothing. Rounds call this
            // twice and most find it unchanged.
            return;
        }
        self.counts.flow_len = len;
        match (self.clock.waiting_since, len) {
            (Some(_), 0) => self.clock.waiting_since = None,
            (None, n) if n > 0 => self.clock.waiting_since = Some(self.clock.now),
            _ => {}
        }
        let marks = self.out.flow.marks();
        let shared = self.conn.shared();
        shared.set_buffered(len, marks.high(), marks.cap());
        let peak = self.out.queue.peak();
        if peak > self.counts.peak_reported {
            self.counts.peak_reported = peak;
            shared.set_write_buffer_peak(peak);
        }
        let was = self.out.is_paused();
        let now = self.out.update_flow();
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

    // ----- events -----

    pub(crate) fn conn_event(&self) -> ConnectionEvent {
        ConnectionEvent {
            session: self.conn.session(),
            peer: self.conn.address(),
        }
    }

    pub(super) fn request_event<'a>(&self, error: Option<&'a Error>) -> RequestEvent<'a> {
        RequestEvent {
            session: self.conn.session(),
            peer: self.conn.address(),
            request: self.counts.processed,
            error,
        }
    }

    /// Takes the unparsed input (the driver hands it on when the connection is handed
    /// over, or frees it).
    /// Frees the unparsed input of a closing connection (it will never be parsed) and
    /// reports the smaller holding to the memory budget.
    pub(crate) fn discard_input(&mut self) {
        self.rbuf = BytesMut::new();
        if let Some(budget) = self.cfg.memory_budget.as_deref() {
            let now = self.out.queue.len() + self.actions.buffered;
            // Only the count matters now: the connection closes whatever the pressure.
            let _ = self.held.report(budget, now);
        }
    }

    pub(crate) fn take_read_buf(&mut self) -> BytesMut {
        std::mem::take(&mut self.rbuf)
    }

    /// The queued output, for the harness.
    #[cfg(any(test, feature = "test-util"))]
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

    /// For the harness.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn unparsed(&self) -> &[u8] {
        &self.rbuf
    }

    /// For the harness.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn config_mut(&mut self) -> &mut ConnectionConfig {
        Arc::make_mut(&mut self.cfg)
    }

    /// For the harness.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn is_closing(&self) -> bool {
        self.state.lifecycle == Lifecycle::Closing
    }
}

impl<F: ConsumerFactory> std::fmt::Debug for Engine<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("session", &self.conn.session())
            .field("reading", &self.state.reading)
            .field("lifecycle", &self.state.lifecycle)
            .field("in_flight", &self.exchanges.len())
            .field("output", &self.out)
            .finish()
    }
}
