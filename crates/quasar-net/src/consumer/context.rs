//! [`Context`]: what a consumer can do to its connection while it handles bytes, and the
//! requests it makes of the engine (`Actions`, `Lifetime`), applied after each call.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

#[cfg(doc)]
use super::Progress;
use super::{ConsumerFactory, DynFactory, ProtocolConsumer};
use crate::connection::Connection;
use crate::engine::Output;
use crate::Result;

/// How an exchange lives: its kind and the timers it asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lifetime {
    /// Long-lived: no request timeout; idle policy from `idle_timeout`.
    pub(crate) long_lived: bool,
    /// Overrides the connection's idle timeout while the exchange lives (zero: none).
    pub(crate) idle_timeout: Option<Duration>,
    /// Calls `tick` this often (zero or `None`: never).
    pub(crate) tick: Option<Duration>,
    /// Full duplex: reading goes on while the connection's own output is paused.
    pub(crate) full_duplex: bool,
}

/// Requests a consumer makes of its connection, applied by the engine after the call.
pub(crate) struct Actions<Req, Resp> {
    pub(crate) upgrade: Option<Arc<dyn DynFactory<Req, Resp>>>,
    pub(crate) detach: Option<tokio::sync::oneshot::Sender<crate::transport::Detached>>,
    pub(crate) close: bool,
    pub(crate) pause_reading: bool,
    pub(crate) lifetime_changed: bool,
    /// Bytes the consumer holds outside the read buffer, as it last reported them.
    pub(crate) buffered: usize,
    /// Unsolicited messages for the client's push sink.
    pub(crate) pushed: Vec<Resp>,
}

impl<Req, Resp> Actions<Req, Resp> {
    /// Whether the consumer asked for nothing (`lifetime_changed` is the caller's).
    pub(crate) fn is_empty(&self) -> bool {
        !self.close
            && !self.pause_reading
            && self.pushed.is_empty()
            && self.upgrade.is_none()
            && self.detach.is_none()
    }
}

impl<Req, Resp> Default for Actions<Req, Resp> {
    fn default() -> Self {
        Actions {
            upgrade: None,
            detach: None,
            close: false,
            pause_reading: false,
            lifetime_changed: false,
            buffered: 0,
            pushed: Vec::new(),
        }
    }
}

/// What a consumer can do to its connection while it handles bytes.
///
/// `Req` and `Resp` are the consumer's request and response types (`()` on servers, so
/// server consumers write `Context<'_>`).
pub struct Context<'a, Req = (), Resp = ()> {
    conn: &'a Connection,
    out: &'a mut Output,
    actions: &'a mut Actions<Req, Resp>,
    lifetime: &'a mut Lifetime,
}

// ===== impl Context =====

impl<'a, Req, Resp> Context<'a, Req, Resp> {
    pub(crate) fn new(
        conn: &'a Connection,
        out: &'a mut Output,
        actions: &'a mut Actions<Req, Resp>,
        lifetime: &'a mut Lifetime,
    ) -> Self {
        Context {
            conn,
            out,
            actions,
            lifetime,
        }
    }

    /// The connection this consumer serves.
    pub fn connection(&self) -> &Connection {
        self.conn
    }

    /// Queues a copy of `data` for writing. Bytes queued while earlier responses are
    /// still being produced by [`spawn_response`](Self::spawn_response) or
    /// [`stream_response`](Self::stream_response) are sent after them.
    ///
    /// # Errors
    ///
    /// [`Error::is_write_buffer_full`](crate::Error::is_write_buffer_full) when the write queue would pass its hard cap (a
    /// consumer that ignores [`is_write_paused`](Self::is_write_paused)); the connection
    /// is then closed. Return the error with `?`.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out.write(data)
    }

    /// Queues an owned buffer for writing without copying it (a file's contents, a
    /// serialised body). Same order and errors as [`write`](Self::write).
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub fn write_bytes(&mut self, data: impl Into<Bytes>) -> Result<()> {
        self.out.write_bytes(data.into())
    }

    /// Queues a response produced by a future (a database call, an upstream request).
    ///
    /// Responses leave in request order: bytes the future yields are written after
    /// everything queued before this call, and bytes queued after it wait for it. The
    /// connection keeps reading and parsing while futures run, up to
    /// `max_pending_responses`, so pipelined requests are processed concurrently. The
    /// result is moved to the write queue when its turn comes, whatever its size: the hard
    /// cap is for writers that ignore back-pressure, not for responses the engine pulls.
    pub fn spawn_response<F>(&mut self, response: F)
    where
        F: Future<Output = Result<Bytes>> + Send + 'static,
    {
        self.out.spawn(Box::pin(response));
    }

    /// Queues a response body produced chunk by chunk. The stream is polled only when its
    /// turn comes and only while the write queue is below its high mark, so a peer that
    /// reads slowly pauses the producer and the connection holds at most the high mark
    /// plus one chunk. An error from the stream closes the connection after the bytes
    /// before it.
    pub fn stream_response<S>(&mut self, body: S)
    where
        S: Stream<Item = Result<Bytes>> + Send + 'static,
    {
        self.out.stream(Box::pin(body));
    }

    /// Whether the write queue is above its high-water mark (writing is paused). A
    /// consumer producing a long response can stop, return [`Progress::NeedMore`], and go
    /// on when it is called again after the queue drains.
    pub fn is_write_paused(&self) -> bool {
        self.out.is_full()
    }

    /// Upgrades the connection: once the current request finishes, the connection
    /// builds its next consumer from `factory` (pulsar's `Connection.upgrade`), at once,
    /// and hands it the bytes that arrived after the finished request. The new consumer
    /// has the same request and response types, checked at compile time (pulsar, and
    /// this crate before, found a mismatch only when the upgrade ran):
    ///
    /// ```compile_fail
    /// use bytes::BytesMut;
    /// use quasar_net::{Context, Progress, ProtocolConsumer, Result};
    ///
    /// struct Numbers;
    /// impl ProtocolConsumer for Numbers {
    ///     type Request = u8;
    ///     type Response = u8;
    ///     fn data_received(&mut self, _: &mut Context<'_, u8, u8>, _: &mut BytesMut) -> Result<Progress<u8>> {
    ///         Ok(Progress::NeedMore)
    ///     }
    /// }
    ///
    /// fn on_upgrade(cx: &mut Context<'_>) {
    ///     cx.upgrade(|| Numbers); // error: a `()` connection cannot run `u8` consumers
    /// }
    /// ```
    pub fn upgrade<F>(&mut self, factory: F)
    where
        F: ConsumerFactory,
        F::Consumer: ProtocolConsumer<Request = Req, Response = Resp>,
        Req: 'static,
        Resp: 'static,
    {
        self.actions.upgrade = Some(Arc::new(factory));
    }

    /// Hands the connection over to other code once the current exchange finishes and
    /// everything queued is written: the driver stops and sends the transport, the bytes
    /// read past the exchange, and the connection's addresses to `to`, as
    /// [`Detached`](crate::transport::Detached). This is the upgrade to a protocol of other
    /// request and response types (an HTTP client that got `101 Switching Protocols`
    /// runs a WebSocket client over the same socket: see
    /// [`ClientConnectionBuilder::resume`](crate::ClientConnectionBuilder::resume);
    /// hyper's `upgrade::on`). The frames that came with the `101` are in the read buffer.
    ///
    /// On a server, a consumer may hand its socket to a task of its own (a protocol
    /// written with tokio's `AsyncRead`/`AsyncWrite`, or `tokio::io::copy_bidirectional`
    /// to an upstream). The socket stays in its server's accounting until the task drops
    /// the transport: `TcpServer::connected`, `connections`, `max_connections`, and
    /// `TcpServer::close`, which waits for it up to its deadline. For a relay between
    /// two connections prefer [`relay`](crate::relay), which keeps both sides inside the
    /// engine's flow control and timeouts.
    pub fn detach(&mut self, to: tokio::sync::oneshot::Sender<crate::transport::Detached>) {
        self.actions.detach = Some(to);
    }

    /// Closes the connection once everything queued so far is written; bytes already
    /// read and not yet consumed are dropped.
    pub fn close(&mut self) {
        self.actions.close = true;
    }

    /// Declares this exchange long-lived (a WebSocket, a tunnel, a subscription): the
    /// connection's request timeout no longer applies to it, and on a graceful server
    /// close it gets a [`shutdown`](ProtocolConsumer::shutdown) notice instead of being
    /// waited for.
    pub fn set_long_lived(&mut self, long_lived: bool) {
        self.lifetime.long_lived = long_lived;
        self.actions.lifetime_changed = true;
    }

    /// Declares this exchange full duplex (a tunnel, a chat member, a subscription whose
    /// input does not wait on its output): the connection keeps reading while its own
    /// write queue is above the high-water mark. A request/response exchange stops
    /// reading then (the default), so a client that pipelines requests without reading
    /// the answers is held back; a full-duplex exchange bounds its input itself (it
    /// consumes what it reads, or [`pause_reading`](Self::pause_reading)s), within the
    /// connection's `max_read_buffer` and the server's memory budget. Two relays, each
    /// full duplex, can never wait on each other. Implies
    /// [`set_long_lived`](Self::set_long_lived).
    pub fn set_full_duplex(&mut self, full_duplex: bool) {
        self.lifetime.full_duplex = full_duplex;
        if full_duplex {
            self.lifetime.long_lived = true;
        }
        self.actions.lifetime_changed = true;
    }

    /// Replaces the connection's idle timeout while this exchange lives: the connection
    /// closes after `timeout` without a byte moving either way. Zero disables it (pulsar
    /// set `connection.timeout = 0` for WebSocket).
    pub fn set_idle_timeout(&mut self, timeout: Duration) {
        self.lifetime.idle_timeout = Some(timeout);
        self.actions.lifetime_changed = true;
    }

    /// Calls [`tick`](ProtocolConsumer::tick) every `every` while this exchange lives;
    /// zero stops it.
    pub fn set_tick(&mut self, every: Duration) {
        self.lifetime.tick = (!every.is_zero()).then_some(every);
        self.actions.lifetime_changed = true;
    }

    /// Stops reading: the consumer cannot take more input now (its body sink is full,
    /// its relay peer is busy, its upstream is still being dialled).
    ///
    /// From the end of this call no byte is read from the socket and no byte is fed to
    /// a consumer: bytes already read and not consumed stay in the read buffer (the
    /// consumer is not called again with them). [`Connection::resume_reading`] (from
    /// any task) feeds them, then reading goes on. Called from
    /// [`connection_made`](ProtocolConsumer::connection_made) on a server, it holds back
    /// the connection's very first byte.
    pub fn pause_reading(&mut self) {
        self.actions.pause_reading = true;
    }

    /// Tells the server's memory budget how many bytes this consumer holds for its peer
    /// outside the read buffer (a request body collected so far, a value being
    /// assembled): the total, not an increment. The budget then counts them with the
    /// connection's unparsed input and queued output, pausing or closing the largest
    /// holders under pressure (see [`MemoryBudget`](crate::MemoryBudget)). The report is cleared
    /// when the exchange ends; report 0 earlier if the bytes are handed on before.
    pub fn report_buffered(&mut self, bytes: usize) {
        self.actions.buffered = bytes;
    }

    /// Client side: delivers an unsolicited message (a RESP3 push, a pub/sub message)
    /// to the connection's push sink, without finishing the current request.
    pub fn push(&mut self, message: Resp) {
        self.actions.pushed.push(message);
    }
}

impl<Req, Resp> fmt::Debug for Context<'_, Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("connection", self.conn)
            .field("buffered", &self.out.len())
            .finish()
    }
}
