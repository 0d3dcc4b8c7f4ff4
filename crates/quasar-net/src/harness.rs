//! Driving a consumer without a socket, for unit tests, property tests and fuzzing.
//!
//! A [`ConsumerHarness`] plays the connection's part for one consumer factory: it keeps
//! the read buffer, builds a consumer per request, hands it the bytes you
//! [`feed`](ConsumerHarness::feed) in whatever pieces you like, and collects what the
//! consumers write and the responses they finish with. It follows the connection's rules
//! (a consumer that finishes without consuming input is an error, unparsed input is
//! capped, `Context::close` stops parsing) but has no flow control, no hooks and no
//! upgrade: those need a real connection and are tested over sockets.
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

use bytes::{Bytes, BytesMut};

use crate::connection::{Output, DEFAULT_MAX_READ_BUFFER};
use crate::consumer::Actions;
use crate::flow_control::WaterMarks;
use crate::{Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer, Result};

type Resp<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Response;

/// Runs the consumers of one factory over bytes fed by hand.
pub struct ConsumerHarness<F: ConsumerFactory> {
    factory: F,
    conn: Connection,
    out: Output,
    actions: Actions,
    rbuf: BytesMut,
    current: Option<F::Consumer>,
    consumed: usize,
    responses: Vec<Resp<F>>,
    finished: u64,
    closed: bool,
    max_read_buffer: usize,
}

impl<F: ConsumerFactory> ConsumerHarness<F> {
    /// A harness for `factory`; the write buffer is unbounded in practice (the cap is
    /// `usize::MAX / 2`), so tests see everything consumers write.
    pub fn new(factory: F) -> Self {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let marks = WaterMarks::new(usize::MAX / 8, usize::MAX / 4)
            .and_then(|m| m.with_cap(usize::MAX / 2))
            .unwrap_or_default();
        ConsumerHarness {
            factory,
            conn: Connection::new(1, local, local),
            out: Output::new(marks),
            actions: Actions::default(),
            rbuf: BytesMut::new(),
            current: None,
            consumed: 0,
            responses: Vec::new(),
            finished: 0,
            closed: false,
            max_read_buffer: DEFAULT_MAX_READ_BUFFER,
        }
    }

    /// Caps unparsed input, as `ConnectionConfig::max_read_buffer` does.
    pub fn max_read_buffer(mut self, bytes: usize) -> Self {
        self.max_read_buffer = bytes.max(1);
        self
    }

    /// Appends `data` to the read buffer and runs consumers until they need more.
    ///
    /// # Errors
    ///
    /// The first error a consumer (or the harness's rules) raised; the harness is then
    /// closed and later calls return a closed error.
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        if self.closed {
            return Err(Error::closed("harness"));
        }
        self.rbuf.extend_from_slice(data);
        let res = self.run();
        if res.is_err() {
            self.closed = true;
        }
        res
    }

    fn run(&mut self) -> Result<()> {
        while !self.rbuf.is_empty() && !self.closed {
            let before = self.rbuf.len();
            let current = self
                .current
                .get_or_insert_with(|| self.factory.build(&self.conn));
            let progress = {
                let mut cx = Context::new(&self.conn, &mut self.out, &mut self.actions);
                current.data_received(&mut cx, &mut self.rbuf)?
            };
            self.consumed += before - self.rbuf.len();
            if std::mem::take(&mut self.actions.close) {
                self.closed = true;
            }
            match progress {
                Progress::NeedMore if self.rbuf.len() >= self.max_read_buffer => {
                    return Err(Error::new_read_buffer_full(self.max_read_buffer));
                }
                Progress::NeedMore => return Ok(()),
                Progress::Finished(resp) => {
                    if self.consumed == 0 && !self.rbuf.is_empty() {
                        return Err(Error::new_consumer_stalled());
                    }
                    self.current = None;
                    self.consumed = 0;
                    self.finished += 1;
                    self.responses.push(resp);
                }
            }
        }
        Ok(())
    }

    /// Takes what the consumers wrote so far.
    pub fn take_output(&mut self) -> Bytes {
        let n = self.out.buffer().len();
        let bytes = Bytes::copy_from_slice(&self.out.chunk()[..n]);
        self.out.buffer().advance(n);
        bytes
    }

    /// Takes the responses of the finished requests, in order.
    pub fn take_responses(&mut self) -> Vec<Resp<F>> {
        std::mem::take(&mut self.responses)
    }

    /// Requests finished so far.
    pub fn finished(&self) -> u64 {
        self.finished
    }

    /// Whether a consumer closed the connection or an error ended it.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes read but not consumed yet.
    pub fn unparsed(&self) -> &[u8] {
        &self.rbuf
    }
}

impl<F: ConsumerFactory> fmt::Debug for ConsumerHarness<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerHarness")
            .field("finished", &self.finished)
            .field("unparsed", &self.rbuf.len())
            .field("closed", &self.closed)
            .finish()
    }
}
