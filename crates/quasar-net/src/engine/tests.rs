//! The state table of the module docs, row by row, and the timeout and close rules,
//! driven step by step through the harness in virtual time: no socket, no sleep.
//!
//! Every test runs one line protocol ([`Lines`]) whose behaviour a [`Plan`] picks, and
//! reads its [`Log`] of consumer calls.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::oneshot;

use super::state::{Lifecycle, Reading, Writing};
use crate::flow_control::WaterMarks;
use crate::harness::ConsumerHarness;
use crate::{
    ConnectionConfig, ConsumerFactory, Context, Error, MinRate, Progress, ProtocolConsumer, Result,
};

// ===== the test protocol =====

/// How [`Lines`] behaves. Each request is one line; its answer is the line and `!`.
#[derive(Clone, Copy, Default)]
struct Plan {
    /// Written from the first consumer's `connection_made` (speak first).
    greeting: Option<&'static str>,
    /// The first consumer pauses reading in `connection_made`.
    pause_at_accept: bool,
    /// Pause reading after each line.
    pause_after_each_line: bool,
    /// One exchange serves every line (a session).
    long_lived: bool,
    /// Long-lived, and reading on while its own output is paused.
    full_duplex: bool,
    /// Asks for a `tick` this often.
    tick: Option<Duration>,
    /// Answer with this many bytes instead (written before an async answer).
    reply_size: Option<usize>,
    /// Answer through `spawn_response` with a future the test completes
    /// ([`Fixture::answer`]).
    async_reply: bool,
    /// Answer through `stream_response` with chunks of these sizes.
    stream: Option<&'static [usize]>,
    /// This line closes the connection (after its answer).
    close_on: Option<&'static str>,
    /// On the peer's EOF, write this and stay open (the default closes).
    eof_reply: Option<&'static str>,
}

/// What the consumers were asked to do, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry.into());
    }

    fn entries(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn has(&self, entry: &str) -> bool {
        self.entries().iter().any(|e| e == entry)
    }

    fn count(&self, entry: &str) -> usize {
        self.entries().iter().filter(|e| *e == entry).count()
    }
}

/// The answers of `async_reply` still owed, in request order.
type Owed = Arc<Mutex<VecDeque<oneshot::Sender<Bytes>>>>;

#[derive(Clone, Default)]
struct Fixture {
    log: Log,
    owed: Owed,
}

impl Fixture {
    /// Completes the oldest async answer still owed.
    fn answer(&self, reply: &'static str) {
        let tx = self
            .owed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .expect("an async answer is owed");
        tx.send(Bytes::from_static(reply.as_bytes())).unwrap();
    }
}

struct Lines {
    plan: Plan,
    fx: Fixture,
}

fn kind(error: Option<&Error>) -> &'static str {
    match error {
        None => "none",
        Some(e) if e.is_request_timeout() => "request-timeout",
        Some(e) if e.is_idle_timeout() => "idle-timeout",
        Some(e) if e.is_receive_too_slow() => "receive-too-slow",
        Some(e) if e.is_send_too_slow() => "send-too-slow",
        Some(_) => "other",
    }
}

impl Lines {
    fn reply(&mut self, cx: &mut Context<'_>, line: &str) -> Result<()> {
        if let Some(n) = self.plan.reply_size {
            cx.write(&vec![b'r'; n])?;
        }
        if self.plan.async_reply {
            let (tx, rx) = oneshot::channel();
            self.fx
                .owed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(tx);
            cx.spawn_response(async move { rx.await.map_err(|_| Error::protocol("dropped")) });
        } else if let Some(sizes) = self.plan.stream {
            let chunks = sizes.iter().map(|&n| Ok(Bytes::from(vec![b's'; n])));
            cx.stream_response(futures_util::stream::iter(chunks.collect::<Vec<_>>()));
        } else if self.plan.reply_size.is_none() {
            cx.write(format!("{line}!\n").as_bytes())?;
        }
        Ok(())
    }
}

impl ProtocolConsumer for Lines {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.fx.log.push("made");
        let first = cx.connection().processed() == 0;
        if let (Some(greeting), true) = (self.plan.greeting, first) {
            cx.write(greeting.as_bytes()).unwrap();
        }
        if self.plan.full_duplex {
            cx.set_full_duplex(true);
        } else if self.plan.long_lived {
            cx.set_long_lived(true);
        }
        if let Some(every) = self.plan.tick {
            cx.set_tick(every);
        }
        if self.plan.pause_at_accept && first {
            cx.pause_reading();
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        loop {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                return Ok(Progress::NeedMore);
            };
            let line = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.advance(end + 1);
            self.fx.log.push(format!("line:{line}"));
            if self.plan.close_on == Some(line.as_str()) {
                cx.close();
            }
            self.reply(cx, &line)?;
            if self.plan.pause_after_each_line {
                cx.pause_reading();
            }
            if !(self.plan.long_lived || self.plan.full_duplex) {
                return Ok(Progress::Finished(()));
            }
            if self.plan.pause_after_each_line {
                return Ok(Progress::NeedMore);
            }
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) -> Result<()> {
        self.fx.log.push("eof");
        match self.plan.eof_reply {
            Some(reply) => cx.write(reply.as_bytes()),
            None => {
                cx.close();
                Ok(())
            }
        }
    }

    fn tick(&mut self, _cx: &mut Context<'_>) -> Result<()> {
        self.fx.log.push("tick");
        Ok(())
    }

    fn shutdown(&mut self, cx: &mut Context<'_>) {
        self.fx.log.push("shutdown");
        cx.close();
    }

    fn connection_lost(&mut self, error: Option<&Error>) -> Option<()> {
        self.fx.log.push(format!("lost:{}", kind(error)));
        None
    }
}

fn server(
    plan: Plan,
    config: ConnectionConfig,
) -> (
    ConsumerHarness<impl ConsumerFactory<Consumer = Lines>>,
    Fixture,
) {
    let fx = Fixture::default();
    let for_factory = fx.clone();
    let factory = move || Lines {
        plan,
        fx: for_factory.clone(),
    };
    (ConsumerHarness::server_with(factory, config), fx)
}

/// Every timeout off, so that a test turns on only the rule it is about.
fn no_timeouts() -> ConnectionConfig {
    let mut config = ConnectionConfig::default();
    config
        .min_receive_rate(MinRate::OFF)
        .min_send_rate(MinRate::OFF)
        .write_stall_timeout(Duration::ZERO);
    config
}

/// [`no_timeouts`] with small water marks.
fn marks(low: usize, high: usize) -> ConnectionConfig {
    let mut config = no_timeouts();
    config.water_marks(
        WaterMarks::new(low, high)
            .unwrap()
            .with_cap(1 << 20)
            .unwrap(),
    );
    config
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Jumps from deadline to deadline until the connection is over (at most `limit` of
/// virtual time); returns the error that ended it.
fn run_until_closed<F: ConsumerFactory>(h: &mut ConsumerHarness<F>, limit: Duration) -> Error {
    while h.elapsed() < limit {
        if let Err(err) = h.jump_to_next_deadline() {
            return err;
        }
        assert!(
            h.next_deadline().is_some(),
            "no timer armed at {:?}",
            h.elapsed()
        );
    }
    panic!("still open after {limit:?}: {h:?}");
}

// ===== Reading =====

#[test]
fn reading_is_open_from_accept_and_each_line_gets_its_answer_from_a_fresh_consumer() {
    let (mut h, fx) = server(Plan::default(), no_timeouts());
    assert_eq!(h.engine().state.reading, Reading::Open);
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Open);
    assert!(h.is_reading());
    h.feed(b"one\ntw").unwrap();
    assert_eq!(&h.take_output()[..], b"one!\n");
    h.feed(b"o\n").unwrap();
    assert_eq!(&h.take_output()[..], b"two!\n");
    assert_eq!(fx.log.entries(), ["made", "line:one", "made", "line:two"]);
    assert!(!h.is_closed());
}

#[test]
fn a_consumer_that_pauses_reading_is_not_fed_and_the_peers_bytes_wait_until_resume_reading() {
    let plan = Plan {
        pause_after_each_line: true,
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    h.feed(b"a\nb\n").unwrap();
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
    assert!(!h.is_reading());
    // Read with the first line, not fed; what the peer sends next is not even read.
    assert_eq!(h.unparsed(), b"b\n");
    h.feed(b"c\n").unwrap();
    assert_eq!(h.pending_input(), 2);
    assert_eq!(fx.log.entries(), ["made", "line:a"]);

    h.connection().resume_reading();
    h.step().unwrap();
    assert_eq!(fx.log.entries(), ["made", "line:a", "made", "line:b"]);
    assert_eq!(h.pending_input(), 2, "paused again after b");
    h.connection().resume_reading();
    h.step().unwrap();
    assert!(fx.log.has("line:c"));
    assert_eq!(&h.take_output()[..], b"a!\nb!\nc!\n");
}

#[test]
fn responses_are_still_pulled_while_a_consumer_paused_reading() {
    let plan = Plan {
        pause_after_each_line: true,
        async_reply: true,
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    h.feed(b"a\n").unwrap();
    assert!(h.take_output().is_empty());
    fx.answer("A\n");
    h.step().unwrap();
    assert_eq!(&h.take_output()[..], b"A\n");
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
}

#[test]
fn after_the_peers_eof_reading_never_resumes() {
    let (mut h, fx) = server(Plan::default(), no_timeouts());
    h.feed(b"a\n").unwrap();
    h.feed_eof().unwrap();
    assert_eq!(h.engine().state.reading, Reading::Eof);
    h.connection().resume_reading();
    h.step().unwrap();
    assert_eq!(h.engine().state.reading, Reading::Eof);
    assert!(!h.is_reading());
    assert!(h.connection().is_read_closed());
    // A request/response connection closes once its answers are out.
    assert!(h.is_closed() && !h.is_done());
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert_eq!(fx.log.entries(), ["made", "line:a"]);
}

// ===== Lifecycle =====

#[test]
fn a_drain_during_an_exchange_serves_it_then_closes_and_drops_what_follows() {
    let (mut h, fx) = server(Plan::default(), no_timeouts());
    h.feed(b"hal").unwrap();
    assert!(h.drain().unwrap(), "busy: a request started");
    assert_eq!(h.engine().state.lifecycle, Lifecycle::CloseAfterExchange);
    assert!(h.is_reading(), "the exchange in flight is still read");
    h.feed(b"f\nnext\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(!fx.log.has("line:next"));
    assert_eq!(&h.take_output()[..], b"half!\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
}

#[test]
fn the_servers_last_session_serves_one_exchange_then_closes() {
    let (mut h, fx) = server(Plan::default(), no_timeouts());
    h.engine_mut().close_after_exchange();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::CloseAfterExchange);
    h.feed(b"a\nb\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());
    assert!(!fx.log.has("line:b"));
}

#[test]
fn closing_stops_reading_and_feeding_but_still_pulls_and_writes_what_is_owed() {
    let plan = Plan {
        async_reply: true,
        close_on: Some("quit"),
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    h.feed(b"slow\nquit\nignored\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(h.is_closed() && !h.is_reading());
    assert!(!fx.log.has("line:ignored"));
    assert!(h.feed(b"more\n").unwrap_err().is_closed());
    fx.answer("SLOW\n");
    fx.answer("bye\n");
    h.step().unwrap();
    assert!(
        !h.is_done(),
        "the answers are owed until the peer takes them"
    );
    assert_eq!(&h.take_output()[..], b"SLOW\nbye\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
}

#[test]
fn a_close_asked_through_the_handle_waits_for_the_output_and_an_abort_does_not() {
    let (mut h, _) = server(Plan::default(), no_timeouts());
    h.feed(b"a\n").unwrap();
    h.connection().begin_close();
    h.step().unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(!h.is_done());
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());

    let (mut h, _) = server(Plan::default(), no_timeouts());
    h.feed(b"a\n").unwrap();
    h.connection().abort();
    assert!(h.step().unwrap_err().is_closed());
    assert!(h.is_done());
    assert!(h.close_reason().unwrap().is_closed());
}

#[test]
fn max_requests_closes_after_the_last_answer() {
    let mut config = no_timeouts();
    config.max_requests(2);
    let (mut h, fx) = server(Plan::default(), config);
    h.feed(b"a\nb\nc\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert_eq!(&h.take_output()[..], b"a!\nb!\n");
    assert!(h.is_done());
    assert!(!fx.log.has("line:c"));
}

// ===== The write queue =====

#[test]
fn a_full_write_queue_stops_reading_and_feeding_a_request_response_exchange_until_the_low_mark() {
    let plan = Plan {
        reply_size: Some(10),
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, marks(8, 16));
    h.feed(b"a\nb\nc\n").unwrap();
    // a: 10 queued; b: 20, at the high mark: paused before c.
    assert_eq!(h.queued_output(), 20);
    assert!(h.engine().out.is_paused());
    assert!(!h.is_reading());
    assert!(!fx.log.has("line:c"));
    assert_eq!(h.unparsed(), b"c\n");
    h.feed(b"d\n").unwrap();
    assert_eq!(h.pending_input(), 2, "not read while paused");

    // The peer reads slowly: 10 left is still above the low mark.
    assert_eq!(h.take_output_upto(10).len(), 10);
    assert!(h.engine().out.is_paused());
    assert!(!fx.log.has("line:c"));
    // 8 left: at the low mark, writing resumes and c is fed (and pauses again).
    h.take_output_upto(2);
    assert!(fx.log.has("line:c"));
    assert!(!fx.log.has("line:d"));
    assert_eq!(h.pending_input(), 2);
    h.take_output();
    assert!(fx.log.has("line:d"));
    assert_eq!(h.pending_input(), 0);
}

/// Writes a 64-byte body in 4-byte pieces, stopping whenever writing is paused.
struct Body {
    left: usize,
    calls: Arc<Mutex<usize>>,
}

impl ProtocolConsumer for Body {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        *self.calls.lock().unwrap() += 1;
        buf.clear();
        while self.left > 0 && !cx.is_write_paused() {
            cx.write(b"0123")?;
            self.left -= 4;
        }
        Ok(if self.left == 0 {
            Progress::Finished(())
        } else {
            Progress::NeedMore
        })
    }
}

#[test]
fn a_consumer_that_stopped_at_the_high_mark_is_called_again_when_the_queue_drains() {
    let calls = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&calls);
    let factory = move || Body {
        left: 64,
        calls: Arc::clone(&counted),
    };
    let mut h = ConsumerHarness::server_with(factory, marks(8, 16));
    h.feed(b"go\n").unwrap();
    assert_eq!(h.queued_output(), 16);
    let mut body = Vec::new();
    while body.len() < 64 {
        // The consumer stops at the first piece that reaches the high mark.
        assert!(h.queued_output() < 16 + 4, "{}", h.queued_output());
        // A slow reader: 5 bytes at a time, no new input.
        body.extend_from_slice(&h.take_output_upto(5));
    }
    assert_eq!(body, b"0123".repeat(16));
    assert_eq!(h.finished(), 1);
    assert!(*calls.lock().unwrap() > 1, "called again without input");
}

#[test]
fn a_full_duplex_exchange_keeps_reading_and_feeding_while_its_output_is_paused() {
    let plan = Plan {
        full_duplex: true,
        reply_size: Some(10),
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, marks(8, 16));
    h.feed(b"a\nb\nc\n").unwrap();
    assert_eq!(h.queued_output(), 30);
    assert!(h.engine().out.is_paused());
    assert!(h.is_reading());
    h.feed(b"d\n").unwrap();
    assert_eq!(h.pending_input(), 0);
    assert!(fx.log.has("line:d"));
    assert_eq!(h.queued_output(), 40);
}

#[test]
fn a_body_stream_is_pulled_only_below_the_high_mark_even_while_writing_is_still_paused() {
    let plan = Plan {
        stream: Some(&[10, 10, 10]),
        ..Plan::default()
    };
    let (mut h, _) = server(plan, marks(8, 16));
    h.feed(b"s\n").unwrap();
    // 10, then 20: at the high mark the third chunk is not pulled.
    assert_eq!(h.queued_output(), 20);
    assert!(h.engine().out.is_paused());
    // 14 left: below the high mark, above the low one. Still paused for consumers, but
    // the stream is pulled again.
    h.take_output_upto(6);
    assert!(h.engine().out.is_paused());
    assert_eq!(h.queued_output(), 24);
}

#[test]
fn a_finished_async_answer_moves_to_the_queue_even_above_the_high_mark() {
    let plan = Plan {
        reply_size: Some(20),
        async_reply: true,
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, marks(8, 16));
    h.feed(b"x\n").unwrap();
    assert_eq!(h.queued_output(), 20);
    fx.answer("done\n");
    h.step().unwrap();
    assert_eq!(h.queued_output(), 25);
}

// ===== Timeouts =====

#[test]
fn the_idle_timeout_fires_only_when_nothing_is_in_flight() {
    let mut config = no_timeouts();
    config.keep_alive(secs(10));
    let (mut h, fx) = server(Plan::default(), config);
    h.feed(b"hal").unwrap();
    // A request half-read is in flight: checks every 10 s, and nothing fires.
    while h.elapsed() < secs(30) {
        h.jump_to_next_deadline().unwrap();
    }
    h.feed(b"f\n").unwrap();
    // Its answer is owed until the peer takes it: still in flight.
    h.jump_to_next_deadline().unwrap();
    assert_eq!(h.elapsed(), secs(40));
    assert_eq!(&h.take_output()[..], b"half!\n");
    // Nothing in flight since 40 s: idle 10 s later.
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_idle_timeout(), "{err}");
    assert_eq!(h.elapsed(), secs(50));
    assert!(h.close_reason().unwrap().is_idle_timeout());
    assert_eq!(fx.log.entries(), ["made", "line:half"]);
}

#[test]
fn the_request_timeout_runs_from_the_first_byte_not_from_accept() {
    let mut config = no_timeouts();
    config.request_timeout(secs(30));
    let (mut h, fx) = server(Plan::default(), config);
    // An idle connection is not timed by the request timeout.
    h.advance(secs(20)).unwrap();
    h.feed(b"par").unwrap();
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_request_timeout(), "{err}");
    assert_eq!(h.elapsed(), secs(50));
    assert!(fx.log.has("lost:request-timeout"));
}

#[test]
fn the_request_timeout_covers_an_answer_the_peer_does_not_take() {
    let mut config = no_timeouts();
    config.request_timeout(secs(30));
    let (mut h, _) = server(Plan::default(), config);
    h.feed(b"a\n").unwrap();
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_request_timeout(), "{err}");
    assert_eq!(h.elapsed(), secs(30));
    // Closed gracefully: what was queued is still written.
    assert_eq!(&h.take_output()[..], b"a!\n");
}

#[test]
fn a_long_lived_exchange_is_exempt_from_the_request_timeout_and_gets_shutdown_on_a_drain() {
    let mut config = no_timeouts();
    config.request_timeout(secs(5));
    let plan = Plan {
        long_lived: true,
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, config);
    h.feed(b"a\n").unwrap();
    h.advance(secs(60)).unwrap();
    h.feed(b"b\n").unwrap();
    assert_eq!(&h.take_output()[..], b"a!\nb!\n");
    assert!(h.drain().unwrap(), "busy: its exchange started");
    assert_eq!(
        fx.log.entries(),
        ["made", "line:a", "line:b", "shutdown", "lost:none"]
    );
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
}

#[test]
fn ticks_fire_at_each_period_as_virtual_time_passes() {
    let plan = Plan {
        long_lived: true,
        tick: Some(secs(5)),
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    assert_eq!(h.next_deadline(), Some(secs(5)));
    h.advance(secs(16)).unwrap();
    assert_eq!(fx.log.count("tick"), 3);
    assert_eq!(h.next_deadline(), Some(secs(4)));
}

#[test]
fn a_connection_that_never_sent_a_byte_closes_at_once_on_a_drain() {
    let (mut h, fx) = server(Plan::default(), no_timeouts());
    assert!(!h.drain().unwrap(), "idle");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert_eq!(fx.log.entries(), ["made"]);
}

#[test]
fn a_connection_idle_between_exchanges_closes_at_once_on_a_drain() {
    let (mut h, _) = server(Plan::default(), no_timeouts());
    h.feed(b"a\n").unwrap();
    h.take_output();
    assert!(!h.drain().unwrap());
    assert!(h.is_done());
}

#[test]
fn a_greeted_connection_that_never_spoke_closes_once_its_greeting_is_written_after_a_drain() {
    let plan = Plan {
        greeting: Some("welcome\n"),
        ..Plan::default()
    };
    let (mut h, _) = server(plan, no_timeouts());
    h.drain().unwrap();
    assert_eq!(&h.take_output()[..], b"welcome\n");
    assert!(h.is_done(), "{h:?}");
}

#[test]
fn a_half_sent_line_is_closed_by_the_minimum_receive_rate_after_its_window() {
    // The defaults: 1 KiB per 10 s.
    let (mut h, fx) = server(Plan::default(), ConnectionConfig::default());
    h.advance(secs(1)).unwrap();
    h.feed(b"GET / HT").unwrap();
    // The check at 10 s opens a window on the request being received; at 20 s it has
    // moved 0 bytes of the 1024 due.
    h.jump_to_next_deadline().unwrap();
    assert_eq!(h.elapsed(), secs(10));
    let err = h.jump_to_next_deadline().unwrap_err();
    assert!(err.is_receive_too_slow(), "{err}");
    assert_eq!(h.elapsed(), secs(20));
    assert!(fx.log.has("lost:receive-too-slow"));
}

#[test]
fn a_slow_but_steady_sender_above_the_minimum_rate_stays_open() {
    let (mut h, _) = server(Plan::default(), ConnectionConfig::default());
    // 200 bytes a second of one long line: twice the minimum.
    for _ in 0..60 {
        h.feed(&[b'x'; 200]).unwrap();
        h.advance(secs(1)).unwrap();
    }
    assert!(!h.is_closed());
    // Then nothing: closed within two windows.
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_receive_too_slow(), "{err}");
    assert!(h.elapsed() <= secs(80), "{:?}", h.elapsed());
}

#[test]
fn a_peer_that_stops_reading_is_closed_after_the_write_stall_timeout() {
    let mut config = no_timeouts();
    config.write_stall_timeout(secs(20));
    let plan = Plan {
        reply_size: Some(100),
        ..Plan::default()
    };
    let (mut h, _) = server(plan, config);
    h.feed(b"a\n").unwrap();
    // The answer waits from 0 s and the peer takes none of it: closed at 20 s, not
    // before.
    h.advance(secs(19)).unwrap();
    assert!(!h.is_closed());
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_send_too_slow(), "{err}");
    assert_eq!(h.elapsed(), secs(20));
}

#[test]
fn a_stalled_peer_is_closed_within_the_write_stall_timeout_of_its_last_byte() {
    let mut config = no_timeouts();
    config.write_stall_timeout(secs(20));
    let plan = Plan {
        reply_size: Some(100),
        ..Plan::default()
    };
    let (mut h, _) = server(plan, config);
    h.feed(b"a\n").unwrap();
    h.advance(secs(15)).unwrap();
    // The peer takes a few bytes at 15 s, then nothing: closed 20 s after that byte.
    h.take_output_upto(10);
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_send_too_slow(), "{err}");
    assert_eq!(h.elapsed(), secs(35));
}

#[test]
fn a_dribbling_reader_is_closed_by_the_minimum_send_rate() {
    let mut config = no_timeouts();
    config.min_send_rate(MinRate::new(1000, secs(10)));
    let plan = Plan {
        reply_size: Some(10_000),
        ..Plan::default()
    };
    let (mut h, _) = server(plan, config);
    h.feed(b"a\n").unwrap();
    // 50 bytes a second: half the minimum, but never stalled.
    let mut err = None;
    for _ in 0..60 {
        h.take_output_upto(50);
        if let Err(e) = h.advance(secs(1)) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("closed");
    assert!(err.is_send_too_slow(), "{err}");
    assert!(h.elapsed() <= secs(30), "{:?}", h.elapsed());
}

// ===== Half-close =====

#[test]
fn a_long_lived_exchange_hears_the_peers_eof_and_writes_on_until_it_shuts_its_side() {
    let plan = Plan {
        long_lived: true,
        eof_reply: Some("bye\n"),
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    h.feed(b"a\n").unwrap();
    h.feed_eof().unwrap();
    assert_eq!(h.engine().state.reading, Reading::Eof);
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Open);
    // Another task writes on after the EOF.
    h.connection().write(&b"later\n"[..]).unwrap();
    h.step().unwrap();
    h.connection().shutdown_write();
    h.step().unwrap();
    assert_eq!(h.engine().state.writing, Writing::ShutdownPending);
    assert!(h.connection().write(&b"no\n"[..]).is_err());
    assert!(!h.is_write_shut(), "the FIN waits for the queue");
    assert_eq!(&h.take_output()[..], b"a!\nbye\nlater\n");
    // Both sides shut: nothing can move, the connection is over.
    assert!(h.is_write_shut());
    assert_eq!(h.engine().state.writing, Writing::Shutdown);
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert_eq!(
        fx.log.entries(),
        ["made", "line:a", "eof", "lost:none"],
        "told once of the end"
    );
}

#[test]
fn a_long_lived_exchange_closes_on_the_peers_eof_by_default() {
    let plan = Plan {
        long_lived: true,
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    h.feed(b"a\n").unwrap();
    h.feed_eof().unwrap();
    assert!(fx.log.has("eof"));
    assert!(h.is_closed());
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());
}

#[test]
fn a_complete_request_still_gets_its_answer_after_the_peers_eof() {
    let plan = Plan {
        async_reply: true,
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    h.feed(b"ping\n").unwrap();
    h.feed_eof().unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(!h.is_done(), "the answer is owed");
    fx.answer("pong\n");
    h.step().unwrap();
    assert_eq!(&h.take_output()[..], b"pong\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert!(!fx.log.has("eof"), "a short exchange is not asked");
}

#[test]
fn a_request_cut_short_by_the_peers_eof_goes_to_connection_lost() {
    let (mut h, fx) = server(Plan::default(), no_timeouts());
    h.feed(b"pi").unwrap();
    h.feed_eof().unwrap();
    assert!(h.is_done());
    assert_eq!(fx.log.entries(), ["made", "lost:none"]);
}

#[test]
fn every_pipelined_request_sent_before_the_peers_eof_gets_its_answer() {
    let (mut h, _) = server(Plan::default(), no_timeouts());
    h.feed(&b"a\n".repeat(3000)).unwrap();
    h.feed_eof().unwrap();
    let mut out = Vec::new();
    while !h.is_done() && out.len() < 9000 {
        out.extend_from_slice(&h.take_output());
    }
    assert_eq!(out.len(), 3 * 3000, "{} answers", out.len() / 3);
}

// ===== Speak first =====

#[test]
fn a_server_speaks_first_from_connection_made_before_any_input() {
    let plan = Plan {
        greeting: Some("welcome\n"),
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    assert_eq!(&h.take_output()[..], b"welcome\n");
    assert_eq!(fx.log.entries(), ["made"]);
    h.feed(b"hi\n").unwrap();
    assert_eq!(&h.take_output()[..], b"hi!\n");
}

#[test]
fn pause_reading_in_connection_made_holds_back_the_first_bytes_until_resume() {
    let plan = Plan {
        pause_at_accept: true,
        ..Plan::default()
    };
    let (mut h, fx) = server(plan, no_timeouts());
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
    h.feed(b"hello\n").unwrap();
    assert_eq!(h.pending_input(), 6, "not one byte read");
    assert!(h.unparsed().is_empty());
    assert_eq!(fx.log.entries(), ["made"]);
    h.connection().resume_reading();
    h.step().unwrap();
    assert_eq!(&h.take_output()[..], b"hello!\n");
    assert_eq!(fx.log.entries(), ["made", "line:hello"]);
}

// ===== Client calls =====

/// A line client: writes each request as a line and takes one line as its reply.
struct ClientLines {
    pause_after_reply: bool,
}

impl ProtocolConsumer for ClientLines {
    type Request = String;
    type Response = String;

    fn start_request(
        &mut self,
        cx: &mut Context<'_, String, String>,
        request: String,
    ) -> Result<()> {
        cx.write(format!("{request}\n").as_bytes())
    }

    fn data_received(
        &mut self,
        cx: &mut Context<'_, String, String>,
        buf: &mut BytesMut,
    ) -> Result<Progress<String>> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.advance(end + 1);
        if self.pause_after_reply {
            cx.pause_reading();
        }
        Ok(Progress::Finished(line))
    }
}

fn client(
    config: ConnectionConfig,
    pause_after_reply: bool,
) -> ConsumerHarness<impl ConsumerFactory<Consumer = ClientLines>> {
    ConsumerHarness::new_with(move || ClientLines { pause_after_reply }, config)
}

fn reply(rx: &mut oneshot::Receiver<Result<String>>) -> Option<Result<String>> {
    rx.try_recv().ok()
}

#[test]
fn client_calls_are_taken_up_to_max_in_flight_and_answered_in_order() {
    let mut config = no_timeouts();
    config.max_in_flight(2);
    let mut h = client(config, false);
    let mut a = h.call("a".into());
    let mut b = h.call("b".into());
    let mut c = h.call("c".into());
    assert_eq!(h.pending_calls(), 1);
    assert_eq!(&h.take_output()[..], b"a\nb\n");
    h.feed(b"A\nB\n").unwrap();
    assert_eq!(reply(&mut a).unwrap().unwrap(), "A");
    assert_eq!(reply(&mut b).unwrap().unwrap(), "B");
    assert_eq!(h.pending_calls(), 0);
    assert_eq!(&h.take_output()[..], b"c\n");
    assert!(reply(&mut c).is_none());
}

#[test]
fn client_calls_wait_while_the_write_queue_is_paused() {
    let mut config = marks(8, 16);
    config.max_in_flight(8);
    let mut h = client(config, false);
    for _ in 0..3 {
        h.call("123456789".into());
    }
    // 10 bytes, then 20: at the high mark the third call waits.
    assert_eq!(h.queued_output(), 20);
    assert_eq!(h.pending_calls(), 1);
    h.take_output_upto(12);
    assert_eq!(h.pending_calls(), 0);
    assert_eq!(h.queued_output(), 18);
}

#[test]
fn client_calls_are_still_taken_while_reading_is_paused() {
    let mut config = no_timeouts();
    config.max_in_flight(2);
    let mut h = client(config, true);
    let mut a = h.call("a".into());
    h.feed(b"A\n").unwrap();
    assert_eq!(reply(&mut a).unwrap().unwrap(), "A");
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
    h.call("b".into());
    assert_eq!(h.pending_calls(), 0);
    assert_eq!(&h.take_output()[..], b"a\nb\n");
}

#[test]
fn client_calls_are_not_taken_once_closing_and_fail_when_the_connection_ends() {
    let mut h = client(no_timeouts(), false);
    let mut a = h.call("a".into());
    h.connection().begin_close();
    h.step().unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    let mut b = h.call("b".into());
    assert_eq!(h.pending_calls(), 1);
    assert_eq!(&h.take_output()[..], b"a\n");
    assert!(h.is_done());
    assert!(reply(&mut a).unwrap().unwrap_err().is_connection_lost());
    assert!(reply(&mut b).unwrap().unwrap_err().is_connection_lost());
}
