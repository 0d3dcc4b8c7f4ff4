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
//! pulsar looped forever when a consumer returned leftover bytes without finishing
//! (SPEC §19.6); here a consumer that finishes without consuming anything while input is
//! waiting is an error ([`Error::is_consumer_stalled`]) and the connection is closed.
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

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::connection::{Connection, Output};
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
/// [`start_request`](Self::start_request), which writes the request.
pub trait ProtocolConsumer: Send + 'static {
    /// What a client passes to [`start_request`](Self::start_request); `()` on servers.
    type Request: Send + 'static;
    /// What a finished exchange yields to a client; `()` on servers.
    type Response: Send + 'static;

    /// Parses what it can of `buf`, writes through `cx`, and says whether the request is
    /// finished.
    ///
    /// # Errors
    ///
    /// An error (typically [`Error::protocol`]) fails the request, fires `post_request`
    /// with it, and closes the connection.
    fn data_received(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Self::Response>>;

    /// Called when the connection starts using this consumer, before any data.
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let _ = cx;
    }

    /// Client side: writes `request` to the connection. Called by the connection after
    /// the `pre_request` hooks, never directly.
    ///
    /// # Errors
    ///
    /// The default refuses: a server-only consumer cannot start requests.
    fn start_request(&mut self, cx: &mut Context<'_>, request: Self::Request) -> Result<()> {
        let _ = (cx, request);
        Err(Error::new_not_client())
    }

    /// Called when the connection ends while this consumer's request is unfinished.
    ///
    /// Return `Some(response)` when the end of the stream completes the response (an
    /// HTTP/1.0 body read until close); the default returns `None`, and the request fails
    /// with [`Error::is_connection_lost`] (pulsar resolved it to `None`: SPEC §19.2).
    fn connection_lost(&mut self, error: Option<&Error>) -> Option<Self::Response> {
        let _ = error;
        None
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

impl<F: ConsumerFactory>
    DynFactory<
        <F::Consumer as ProtocolConsumer>::Request,
        <F::Consumer as ProtocolConsumer>::Response,
    > for F
{
    fn build_boxed(
        &self,
        conn: &Connection,
    ) -> BoxConsumer<
        <F::Consumer as ProtocolConsumer>::Request,
        <F::Consumer as ProtocolConsumer>::Response,
    > {
        Box::new(self.build(conn))
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> ProtocolConsumer for BoxConsumer<Req, Resp> {
    type Request = Req;
    type Response = Resp;

    fn data_received(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Resp>> {
        (**self).data_received(cx, buf)
    }
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        (**self).connection_made(cx)
    }
    fn start_request(&mut self, cx: &mut Context<'_>, request: Req) -> Result<()> {
        (**self).start_request(cx, request)
    }
    fn connection_lost(&mut self, error: Option<&Error>) -> Option<Resp> {
        (**self).connection_lost(error)
    }
}

/// Requests a consumer makes of its connection, applied by the connection after the call.
#[derive(Default)]
pub(crate) struct Actions {
    /// `Arc<dyn DynFactory<Req, Resp>>` behind `Any`: the connection downcasts it with its
    /// own request and response types.
    pub(crate) upgrade: Option<Box<dyn Any + Send>>,
    pub(crate) close: bool,
}

/// What a consumer can do to its connection while it handles bytes.
pub struct Context<'a> {
    conn: &'a Connection,
    out: &'a mut Output,
    actions: &'a mut Actions,
}

// ===== impl Context =====

impl<'a> Context<'a> {
    pub(crate) fn new(conn: &'a Connection, out: &'a mut Output, actions: &'a mut Actions) -> Self {
        Context { conn, out, actions }
    }

    /// The connection this consumer serves.
    pub fn connection(&self) -> &Connection {
        self.conn
    }

    /// Queues `data` for writing. Bytes queued while earlier responses are still being
    /// produced by [`spawn_response`](Self::spawn_response) are sent after them.
    ///
    /// # Errors
    ///
    /// [`Error::is_write_buffer_full`] when the write buffer would pass its hard cap; the
    /// connection is then closed. Return the error with `?`.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out.write(data)
    }

    /// Queues a response produced by a future (a database call, an upstream request).
    ///
    /// Responses leave in request order: bytes the future yields are written after
    /// everything queued before this call, and bytes queued after it wait for it. The
    /// connection keeps reading and parsing while futures run, up to a bound, so
    /// pipelined requests are processed concurrently and answered in order.
    pub fn spawn_response<F>(&mut self, response: F)
    where
        F: Future<Output = Result<Bytes>> + Send + 'static,
    {
        self.out.spawn(Box::pin(response));
    }

    /// Whether the write buffer is above its high-water mark (writing is paused). A
    /// consumer producing a long response can stop early and finish later.
    pub fn is_write_paused(&self) -> bool {
        self.out.is_above_high()
    }

    /// Upgrades the connection: once the current request finishes, the connection
    /// builds its next consumer from `factory` (pulsar's `Connection.upgrade`), at once,
    /// and hands it the bytes that arrived after the finished request.
    ///
    /// The new consumer must have the same `Request` and `Response` types as the current
    /// one; a mismatch closes the connection with a config error.
    pub fn upgrade<F>(&mut self, factory: F)
    where
        F: ConsumerFactory,
    {
        let erased: Arc<
            dyn DynFactory<
                <F::Consumer as ProtocolConsumer>::Request,
                <F::Consumer as ProtocolConsumer>::Response,
            >,
        > = Arc::new(factory);
        self.actions.upgrade = Some(Box::new(erased));
    }

    /// Closes the connection once everything queued so far is written; bytes already
    /// read and not yet consumed are dropped.
    pub fn close(&mut self) {
        self.actions.close = true;
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("connection", self.conn)
            .field("buffered", &self.out.len())
            .finish()
    }
}
