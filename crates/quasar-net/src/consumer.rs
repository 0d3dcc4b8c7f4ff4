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

use bytes::BytesMut;

use crate::connection::Connection;
use crate::{Error, Result};

mod context;

pub use context::Context;
pub(crate) use context::{Actions, Lifetime};

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
