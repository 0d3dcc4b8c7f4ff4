//! Driving a consumer without a socket, for unit tests, property tests and fuzzing.
//!
//! A [`ConsumerHarness`] drives the connection's own engine (the same code a socket
//! connection runs) for one consumer factory: it hands the consumers the bytes you
//! [`feed`](ConsumerHarness::feed) in whatever pieces you like, and collects what they
//! write and the responses they finish with. Every connection rule applies (a consumer
//! that finishes without consuming input is an error, unparsed input is capped,
//! `Context::close` stops parsing, upgrades take the leftover bytes, async responses
//! that are ready are written in order); only the socket and the clock are missing.
//! [`new`](ConsumerHarness::new) builds consumers as a client connection does for input with
//! no request in flight, so a client consumer's parser can be fed replies directly;
//! [`server`](ConsumerHarness::server) runs them as a server connection does (one exchange at a
//! time, `Context::batch_room` open, draining after `Context::close`).
//!
//! # Examples
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

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::task::noop_waker_ref;
use tokio::sync::mpsc;

use crate::connection::DEFAULT_MAX_READ_BUFFER;
use crate::consumer::Resp;
use crate::engine::{Engine, PushSink, Role};
use crate::flow_control::WaterMarks;
use crate::{Connection, ConnectionConfig, ConsumerFactory, Error, Producer, Result};

/// Responses buffered between two harness calls before the engine waits for room.
const RESPONSES: usize = 1024;

/// Runs the consumers of one factory over bytes fed by hand.
pub struct ConsumerHarness<F: ConsumerFactory> {
    engine: Engine<F>,
    responses: mpsc::Receiver<Resp<F>>,
    taken: Vec<Resp<F>>,
    finished: u64,
    closed: bool,
    server: bool,
}

impl<F: ConsumerFactory> ConsumerHarness<F> {
    /// A harness for `factory`; the write queue is unbounded in practice (the cap is
    /// `usize::MAX / 2`), so tests see everything consumers write.
    pub fn new(factory: F) -> Self {
        Self::build(factory, DEFAULT_MAX_READ_BUFFER, true)
    }

    /// A harness that runs the consumers as a server connection does: requests are
    /// answered one exchange at a time, a consumer may answer the pipelined requests behind
    /// its own (`Context::batch_room`), and responses are not collected
    /// ([`take_responses`](Self::take_responses) stays empty; [`finished`](Self::finished)
    /// is the connection's `processed` count: requests started, one still being read
    /// included).
    pub fn server(factory: F) -> Self {
        Self::build(factory, DEFAULT_MAX_READ_BUFFER, false)
    }

    fn build(factory: F, max_read_buffer: usize, client: bool) -> Self {
        // As a client, bytes with no request in flight build a consumer whose response
        // goes to the push sink: exactly "feed a parser, collect what it finishes with".
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let marks = WaterMarks::new(usize::MAX / 8, usize::MAX / 4)
            .and_then(|m| m.with_cap(usize::MAX / 2))
            .unwrap_or_default();
        let mut config = ConnectionConfig::default();
        config.water_marks(marks);
        config.max_read_buffer = max_read_buffer;
        let (tx, rx) = mpsc::channel(RESPONSES);
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
            Instant::now(),
        );
        let mut harness = ConsumerHarness {
            engine,
            responses: rx,
            taken: Vec::new(),
            finished: 0,
            closed: false,
            server: !client,
        };
        // A server's first consumer is built at accept, before any byte (as the driver
        // does); a consumer that fails there leaves the harness closed.
        if harness.engine.start().and_then(|()| harness.run()).is_err() {
            harness.closed = true;
        }
        harness
    }

    /// Caps unparsed input, as `ConnectionConfig::max_read_buffer` does.
    pub fn max_read_buffer(mut self, bytes: usize) -> Self {
        self.engine.config_mut().max_read_buffer = bytes.max(1);
        self
    }

    /// Appends `data` to the read buffer and runs consumers until they need more.
    ///
    /// # Errors
    ///
    /// The first error a consumer (or a connection rule) raised; the harness is then
    /// closed and later calls return a closed error.
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        if self.closed {
            return Err(Error::closed("harness"));
        }
        self.engine.read_buf().extend_from_slice(data);
        let res = self
            .engine
            .on_read(data.len(), Instant::now())
            .and_then(|()| self.run());
        if res.is_err() {
            self.closed = true;
        }
        res
    }

    fn run(&mut self) -> Result<()> {
        let mut cx = TaskContext::from_waker(noop_waker_ref());
        loop {
            self.engine.round()?;
            while let Ok(resp) = self.responses.try_recv() {
                self.taken.push(resp);
                self.finished += 1;
            }
            if self.engine.is_closing() {
                self.closed = true;
            }
            let pulled = matches!(self.engine.poll_pull(&mut cx), Poll::Ready(Ok(())));
            if let Poll::Ready(Err(err)) = self.engine.poll_pull(&mut cx) {
                return Err(err);
            }
            if !pulled && self.engine.poll_push(&mut cx).is_pending() {
                return Ok(());
            }
        }
    }

    /// Takes what the consumers wrote so far.
    pub fn take_output(&mut self) -> Bytes {
        let queue = self.engine.queue_mut();
        let mut out = BytesMut::with_capacity(queue.len());
        while !queue.is_empty() {
            let front = queue.front();
            let n = front.len();
            out.extend_from_slice(front);
            queue.advance(n);
        }
        out.freeze()
    }

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

    /// Whether a consumer closed the connection or an error ended it.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes read but not consumed yet.
    pub fn unparsed(&self) -> &[u8] {
        self.engine.unparsed()
    }
}

impl<F: ConsumerFactory> fmt::Debug for ConsumerHarness<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerHarness")
            .field("engine", &self.engine)
            .field("closed", &self.closed)
            .finish()
    }
}
