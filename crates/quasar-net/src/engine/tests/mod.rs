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
#[derive(Clone, Copy)]
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

/// The plain line protocol: one answer per line, short exchanges, nothing else. A test
/// changes what its row is about: `Plan { long_lived: true, ..LINES }`.
const LINES: Plan = Plan {
    greeting: None,
    pause_at_accept: false,
    pause_after_each_line: false,
    long_lived: false,
    full_duplex: false,
    tick: None,
    reply_size: None,
    async_reply: false,
    stream: None,
    close_on: None,
    eof_reply: None,
};

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

/// `config` with one setting changed: `with(no_timeouts(), |c| c.keep_alive(secs(10)))`.
fn with(
    mut config: ConnectionConfig,
    edit: impl FnOnce(&mut ConnectionConfig) -> &mut ConnectionConfig,
) -> ConnectionConfig {
    edit(&mut config);
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

mod calls;
mod half_close;
mod lifecycle;
mod reading;
mod timeouts;
mod writing;
