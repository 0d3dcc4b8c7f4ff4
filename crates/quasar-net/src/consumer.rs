//! The protocol consumer: one request/response exchange, parsed incrementally.
//!
//! A [`ProtocolConsumer`] is pulsar's `ProtocolConsumer`: the connection hands it the
//! bytes it reads and it parses what it can, writes its response through the
//! [`Context`], and says whether its request is finished. When it is, the connection
//! forgets it and the next bytes (pipelined requests, or what arrived with them) go to a
//! fresh consumer built by the [`ConsumerFactory`]. The hot path is synchronous: no
//! future, no allocation per request unless the consumer makes one.
//!
//! The read buffer belongs to the connection. A consumer takes the bytes it understands
//! (`buf.split_to(n)`, `buf.advance(n)`) and leaves the rest:
//!
//! - [`Progress::NeedMore`]: what is left is an incomplete part of *my* request; call me
//!   again when more bytes arrive.
//! - [`Progress::Finished`]: my request is done; what is left belongs to the next one.
//!
//! pulsar looped forever when a consumer returned leftover bytes without finishing; here a consumer that finishes without consuming anything while input is
//! waiting is an error ([`Error::is_consumer_stalled`]) and the connection is closed.
//!
//! Exchanges are short (a request and its response, under the connection's request
//! timeout) or *long-lived* (a WebSocket, a tunnel, a subscription: see
//! [`Context::set_long_lived`]), which own their idle policy, may ask for a periodic
//! [`tick`](ProtocolConsumer::tick), and get a [`shutdown`](ProtocolConsumer::shutdown)
//! notice when the server closes gracefully.
//!
//! # Examples
//!
//! A line echo consumer:
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_net::{Context, Progress, ProtocolConsumer, Result};
//!
//! struct LineEcho;
//!
//! impl ProtocolConsumer for LineEcho {
//!     type Request = ();
//!     type Response = ();
//!
//!     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
//!         match buf.iter().position(|&b| b == b'\n') {
//!             Some(end) => {
//!                 let line = buf.split_to(end + 1);
//!                 cx.write(&line)?;
//!                 Ok(Progress::Finished(()))
//!             }
//!             None => Ok(Progress::NeedMore),
//!         }
//!     }
//! }
//! # let _ = LineEcho;
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use crate::connection::Connection;
use crate::engine::Output;
use crate::{Error, Result};

/// What a consumer says after looking at the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<R = ()> {
    /// The bytes left in the buffer are an incomplete part of this request.
    NeedMore,
    /// The request is finished, with its response (the client side's result; `()` for
    /// servers). Bytes left in the buffer go to the next consumer.
    Finished(R),
}

/// One request/response exchange on a connection: an incremental parser and writer.
///
/// Servers implement [`data_received`](Self::data_received) only. Clients also implement
/// [`start_request`](Self::start_request), which writes the request. The [`Context`]
/// carries the consumer's request and response types, so an [`upgrade`](Context::upgrade)
/// to a consumer of other types does not compile.
pub trait ProtocolConsumer: Send + 'static {
    /// What a client passes to [`start_request`](Self::start_request); `()` on servers.
    type Request: Send + 'static;
    /// What a finished exchange yields to a client; `()` on servers.
    type Response: Send + 'static;

    /// Parses what it can of `buf`, writes through `cx`, and says whether the request is
    /// finished.
    ///
    /// A consumer that returns [`Progress::NeedMore`] while writing is paused
    /// ([`Context::is_write_paused`]) is called again, with whatever input there is
    /// (possibly none), once the write queue drains to its low mark: a consumer writing
    /// a long response in pieces simply stops when paused and goes on when called.
    ///
    /// # Errors
    ///
    /// An error (typically [`Error::protocol`]) fails the request, fires `post_request`
    /// with it, and closes the connection.
    fn data_received(
        &mut self,
        cx: &mut Context<'_, Self::Request, Self::Response>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Self::Response>>;

    /// Called when the connection starts using this consumer, before it is fed.
    ///
    /// On a server, the connection's first consumer is built at accept and this runs
    /// before the peer sends a byte: a protocol that speaks first writes its banner or
    /// greeting here, registers [`cx.connection()`](Context::connection) (a chat room's
    /// member list), or dials an upstream. A
    /// [`pause_reading`](Context::pause_reading) here holds back every byte until
    /// [`Connection::resume_reading`]. Later consumers of the same connection (one per
    /// exchange, or an upgrade's) are built, and this called, when the previous exchange
    /// has finished (the next request's first bytes, or at once after an upgrade). On a
    /// client it runs when the request is handed to the consumer, before
    /// [`start_request`](Self::start_request).
    fn connection_made(&mut self, cx: &mut Context<'_, Self::Request, Self::Response>) {
        let _ = cx;
    }

    /// The peer shut its sending side (a half-close: `shutdown(SHUT_WR)`, `nc -N`),
    /// pulsar's `eof_received`, while this long-lived exchange is open.
    ///
    /// Called after the last bytes were fed. The connection's write side stays open:
    /// the consumer (or another task, through [`Connection::write`]) may go on writing,
    /// and the connection closes when the consumer [`close`](Context::close)s it, when
    /// its own write side is shut down too ([`Connection::shutdown_write`]), or when a
    /// timeout ends it. The default closes once the output queued so far is written,
    /// as a short exchange does. A short (request/response) exchange is not asked: a
    /// request still incomplete at the peer's EOF goes to
    /// [`connection_lost`](Self::connection_lost), and responses to complete requests
    /// are still written.
    ///
    /// # Errors
    ///
    /// An error fails the exchange and closes the connection.
    fn eof_received(&mut self, cx: &mut Context<'_, Self::Request, Self::Response>) -> Result<()> {
        cx.close();
        Ok(())
    }

    /// Called when this consumer's exchange has finished well: return `true` to serve the
    /// connection's next exchange too, instead of a consumer newly built by the factory.
    ///
    /// A consumer that says yes must first reset itself to what its factory would build
    /// (the engine calls [`connection_made`](Self::connection_made) on it again, as on a
    /// new one). It saves building and dropping a consumer per request, which is worth
    /// it when the consumer is boxed (after an [`upgrade`](Context::upgrade)) or costly
    /// to build. The default, `false`, keeps pulsar's fresh consumer per request. An
    /// upgrade drops a recycled consumer: the next one comes from the new factory.
    fn recycle(&mut self) -> bool {
        false
    }

    /// Client side: writes `request` to the connection. Called by the connection after
    /// the `pre_request` hooks, never directly.
    ///
    /// # Errors
    ///
    /// The default refuses: a server-only consumer cannot start requests.
    fn start_request(
        &mut self,
        cx: &mut Context<'_, Self::Request, Self::Response>,
        request: Self::Request,
    ) -> Result<()> {
        let _ = (cx, request);
        Err(Error::new_not_client())
    }

    /// Called when the connection ends while this consumer's request is unfinished.
    ///
    /// Return `Some(response)` when the end of the stream completes the response (an
    /// HTTP/1.0 body read until close); the default returns `None`, and the request fails
    /// with [`Error::is_connection_lost`] (pulsar resolved it to `None`, losing the error).
    fn connection_lost(&mut self, error: Option<&Error>) -> Option<Self::Response> {
        let _ = error;
        None
    }

    /// Called every [`Context::set_tick`] interval while the exchange lives (a WebSocket
    /// ping, a keep-alive frame).
    ///
    /// # Errors
    ///
    /// An error fails the exchange and closes the connection.
    fn tick(&mut self, cx: &mut Context<'_, Self::Request, Self::Response>) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// The server is closing gracefully while this long-lived exchange is open. The
    /// consumer may write a goodbye (a WebSocket close frame 1001) and finish or
    /// [`close`](Context::close) when its peer answers; the server force-closes at its
    /// shutdown deadline. The default closes the connection once its output is written.
    fn shutdown(&mut self, cx: &mut Context<'_, Self::Request, Self::Response>) {
        cx.close();
    }
}

/// Builds the consumers of a connection (pulsar's `consumer_factory`).
///
/// Implemented for every `Fn() -> C` closure; implement it on a type when the consumer
/// needs the connection or shared state.
pub trait ConsumerFactory: Send + Sync + 'static {
    /// The consumer this factory builds.
    type Consumer: ProtocolConsumer;

    /// Builds a consumer for `conn`.
    fn build(&self, conn: &Connection) -> Self::Consumer;

    /// The bytes a server sends to a connection it refuses because `max_connections`
    /// are open (see [`OverflowPolicy`](crate::server::OverflowPolicy)), before closing
    /// it: an HTTP `503` with `Retry-After`, a RESP `-ERR max number of clients reached`.
    /// `None` (the default) closes without a word.
    fn busy_reply(&self) -> Option<bytes::Bytes> {
        None
    }
}

impl<C, F> ConsumerFactory for F
where
    F: Fn() -> C + Send + Sync + 'static,
    C: ProtocolConsumer,
{
    type Consumer = C;

    fn build(&self, _conn: &Connection) -> C {
        self()
    }
}

/// A boxed consumer with the given request and response types.
pub type BoxConsumer<Req, Resp> = Box<dyn ProtocolConsumer<Request = Req, Response = Resp>>;

/// A type-erased consumer factory, the target of [`Context::upgrade`].
pub(crate) trait DynFactory<Req, Resp>: Send + Sync {
    fn build_boxed(&self, conn: &Connection) -> BoxConsumer<Req, Resp>;
}

impl<F: ConsumerFactory> DynFactory<Req<F>, Resp<F>> for F {
    fn build_boxed(&self, conn: &Connection) -> BoxConsumer<Req<F>, Resp<F>> {
        Box::new(self.build(conn))
    }
}

pub(crate) type Req<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Request;
pub(crate) type Resp<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Response;

impl<Req: Send + 'static, Resp: Send + 'static> ProtocolConsumer for BoxConsumer<Req, Resp> {
    type Request = Req;
    type Response = Resp;

    fn data_received(
        &mut self,
        cx: &mut Context<'_, Req, Resp>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Resp>> {
        (**self).data_received(cx, buf)
    }
    fn connection_made(&mut self, cx: &mut Context<'_, Req, Resp>) {
        (**self).connection_made(cx)
    }
    fn start_request(&mut self, cx: &mut Context<'_, Req, Resp>, request: Req) -> Result<()> {
        (**self).start_request(cx, request)
    }
    fn connection_lost(&mut self, error: Option<&Error>) -> Option<Resp> {
        (**self).connection_lost(error)
    }
    fn tick(&mut self, cx: &mut Context<'_, Req, Resp>) -> Result<()> {
        (**self).tick(cx)
    }
    fn shutdown(&mut self, cx: &mut Context<'_, Req, Resp>) {
        (**self).shutdown(cx)
    }
    fn eof_received(&mut self, cx: &mut Context<'_, Req, Resp>) -> Result<()> {
        (**self).eof_received(cx)
    }
    fn recycle(&mut self) -> bool {
        (**self).recycle()
    }
}

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
    /// Further whole requests the consumer may finish within this call (see
    /// [`Context::batch_room`]); set by the engine around a server's `data_received`.
    pub(crate) batch_room: u32,
    /// Requests the consumer finished within this call beyond its own.
    pub(crate) batched: u32,
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
            batch_room: 0,
            batched: 0,
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
    /// [`Error::is_write_buffer_full`] when the write queue would pass its hard cap (a
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

    /// Server side: how many more whole requests this consumer may answer within this
    /// call, after its own. A consumer that finds several complete requests in the read
    /// buffer (pipelining) may answer them all in one call, calling
    /// [`finish_batched`](Self::finish_batched) for each one beyond its own, instead of
    /// returning [`Progress::Finished`] and being built again per request.
    ///
    /// Zero whenever the connection needs each request as an exchange of its own: request
    /// hooks are installed (they see every request), the server is draining or closing,
    /// the connection's request limit leaves no room, writing is paused, or this is not a
    /// server's `data_received`. A batch is only for requests answered at once, in order,
    /// with nothing asked of the connection (no upgrade, detach, close, pause, timer).
    pub fn batch_room(&self) -> u32 {
        if self.out.is_full() {
            return 0;
        }
        self.actions.batch_room
    }

    /// Counts one more whole request that this call read and answered (see
    /// [`batch_room`](Self::batch_room)): the connection counts it as started and
    /// finished, and [`Connection::processed`] moves on, as if a consumer of its own had
    /// handled it. Call it after the request's response is written and its bytes taken
    /// from the buffer; the consumer then returns [`Progress::Finished`]. Returns `false`,
    /// counting nothing, when there is no room.
    pub fn finish_batched(&mut self) -> bool {
        if self.actions.batch_room == 0 {
            return false;
        }
        self.actions.batch_room -= 1;
        self.actions.batched += 1;
        // Published at once, as the engine does for each request it starts: the next
        // request of the batch reads its index from it (`max_requests`).
        let shared = self.conn.shared();
        shared.set_processed(self.conn.processed() + 1);
        true
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
    /// holders under pressure (see [`crate::memory_budget`]). The report is cleared
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
