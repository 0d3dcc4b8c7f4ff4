//! Client connections: an engine in client mode and the handle that sends it requests.
//!
//! A [`ClientConnection`] carries up to `max_in_flight` requests at once
//! ([`ConnectionConfig::max_in_flight`], default 1): each request gets a fresh consumer
//! whose `start_request` writes it; requests that queue together leave in one write;
//! replies are matched to callers in order (HTTP pipelining, RESP). A caller that drops
//! its request future does not hurt the connection: the reply is still read, by the
//! consumer built for it, and discarded. Bytes that arrive with no request in flight go
//! to the push sink ([`ClientConnectionBuilder::push_sink`]) when there is one (pub/sub,
//! RESP3 push), and are a protocol error otherwise.
//!
//! # Examples
//!
//! Ten requests in flight on one connection:
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quasar_net::connection::ClientConnectionBuilder;
//! use quasar_net::{ConnectionConfig, Context, Progress, ProtocolConsumer, Result, TcpServer};
//!
//! struct Line;
//! impl ProtocolConsumer for Line {
//!     type Request = Bytes;
//!     type Response = Bytes;
//!     fn start_request(&mut self, cx: &mut Context<'_, Bytes, Bytes>, line: Bytes) -> Result<()> {
//!         cx.write_bytes(line)?;
//!         cx.write(b"\n")
//!     }
//!     fn data_received(&mut self, _: &mut Context<'_, Bytes, Bytes>, buf: &mut BytesMut) -> Result<Progress<Bytes>> {
//!         let Some(end) = buf.iter().position(|&b| b == b'\n') else { return Ok(Progress::NeedMore) };
//!         Ok(Progress::Finished(buf.split_to(end + 1).freeze().slice(..end)))
//!     }
//! }
//! struct Echo;
//! impl ProtocolConsumer for Echo {
//!     type Request = ();
//!     type Response = ();
//!     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
//!         let Some(end) = buf.iter().position(|&b| b == b'\n') else { return Ok(Progress::NeedMore) };
//!         cx.write(&buf.split_to(end + 1))?;
//!         Ok(Progress::Finished(()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let server = TcpServer::builder(|| Echo).start().await?;
//! let mut config = ConnectionConfig::default();
//! config.max_in_flight(16);
//! let conn = ClientConnectionBuilder::new(|| Line).config(config).connect(server.address()).await?;
//! let replies = futures_util::future::join_all(
//!     (0..10).map(|i| conn.request(Bytes::from(format!("line {i}")))),
//! ).await;
//! assert_eq!(replies[7].as_ref().unwrap(), "line 7");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::call_queue::{call_queue, CallSender};
use super::clock::now;
use super::driver::Driver;
use super::serve::addresses;
use super::shutdown::Shutdown;
use super::{Connection, ConnectionConfig};
use crate::consumer::{Req, Resp};
use crate::engine::{Engine, PushSink, Role};
use crate::transport::{Connector, TcpConnector, Transport};
use crate::{ConsumerFactory, Error, Producer, Result};

/// The least room in a connection's call queue, so callers rarely wait to hand over.
const MIN_CALL_QUEUE: usize = 16;

/// A client connection: a [`Connection`] whose consumers start requests.
///
/// Cloning shares the connection; clones may send requests concurrently. It
/// dereferences to its [`Connection`].
pub struct ClientConnection<Req, Resp> {
    conn: Connection,
    calls: CallSender<Req, Resp>,
}

impl<Req: Send + 'static, Resp: Send + 'static> ClientConnection<Req, Resp> {
    /// Sends `request` through a fresh consumer and waits for its response: builds the
    /// consumer, fires `pre_request`, calls `start_request`, and resolves when the
    /// consumer finishes (pulsar's `start(request)` then `on_finished`). With
    /// `max_in_flight` above 1, other requests may be in flight around it.
    ///
    /// # Errors
    ///
    /// [`Error::is_connection_lost`] when the connection ends first;
    /// [`Error::is_request_timeout`] when the connection's request timeout passes first
    /// (the connection is then closed); the consumer's own error when it rejects the
    /// response; [`Error::is_aborted`] when a `pre_request` hook aborted it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe for the connection. A request dropped before the connection took it
    /// (while it waits for room, or queued behind a full connection) is not sent. One
    /// dropped after is still written (if it was not yet) and its reply is read and
    /// discarded, so the replies of later requests still reach their callers.
    pub async fn request(&self, request: Req) -> Result<Resp> {
        self.calls.call(request).await
    }

    /// Calls queued and reply slots in use: both 0 once every call was answered or
    /// dropped and every dropped call's reply was read.
    #[cfg(feature = "test-util")]
    #[doc(hidden)]
    pub fn outstanding_calls(&self) -> (usize, usize) {
        self.calls.outstanding()
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl<Req, Resp> Deref for ClientConnection<Req, Resp> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl<Req, Resp> Clone for ClientConnection<Req, Resp> {
    fn clone(&self) -> Self {
        ClientConnection {
            conn: self.conn.clone(),
            calls: self.calls.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for ClientConnection<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientConnection").field(&self.conn).finish()
    }
}

/// Opens [`ClientConnection`]s: over TCP, over a [`Connector`] (TLS), or over a
/// transport the caller already has. Reusable: every `connect` makes a new connection.
pub struct ClientConnectionBuilder<F: ConsumerFactory> {
    factory: Arc<F>,
    config: Arc<ConnectionConfig>,
    producer: Producer,
    push: Option<mpsc::Sender<Resp<F>>>,
    connect_timeout: Duration,
}

impl<F: ConsumerFactory> ClientConnectionBuilder<F> {
    /// A builder for connections whose consumers come from `factory`.
    pub fn new(factory: F) -> Self {
        Self::with_factory(Arc::new(factory))
    }

    /// As [`new`](Self::new), sharing a factory.
    pub fn with_factory(factory: Arc<F>) -> Self {
        ClientConnectionBuilder {
            factory,
            config: Arc::new(ConnectionConfig::default()),
            producer: Producer::new("client", Default::default()),
            push: None,
            connect_timeout: Duration::ZERO,
        }
    }

    /// Per-connection settings (`max_in_flight`, timeouts, water marks).
    pub fn config(mut self, config: ConnectionConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The producer whose sessions and requests these connections count, with its hooks.
    pub fn producer(mut self, producer: Producer) -> Self {
        self.producer = producer;
        self
    }

    /// Where responses to no request go: messages the server pushes (pub/sub, RESP3
    /// push), built by a fresh consumer from the bytes that arrive with no request in
    /// flight, or handed over with [`Context::push`](crate::Context::push). When the
    /// channel is full the connection stops reading until it has room.
    pub fn push_sink(mut self, sink: mpsc::Sender<Resp<F>>) -> Self {
        self.push = Some(sink);
        self
    }

    /// Time allowed to open the transport (zero: no limit).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Opens a TCP connection to `addr`.
    ///
    /// # Errors
    ///
    /// [`Error::is_connect`] naming the address and the cause, or [`Error::is_timeout`]
    /// when the connect timeout passes first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped call leaves nothing behind.
    pub async fn connect(&self, addr: SocketAddr) -> Result<ClientConnection<Req<F>, Resp<F>>> {
        self.connect_with(&TcpConnector, addr).await
    }

    /// Opens a connection to `addr` through `connector` (a TLS connector); the connect
    /// timeout covers the whole of it.
    ///
    /// # Errors
    ///
    /// The connector's error, or [`Error::is_timeout`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn connect_with<C: Connector>(
        &self,
        connector: &C,
        addr: SocketAddr,
    ) -> Result<ClientConnection<Req<F>, Resp<F>>> {
        let open = connector.connect(addr);
        let io = if self.connect_timeout.is_zero() {
            open.await?
        } else {
            tokio::time::timeout(self.connect_timeout, open)
                .await
                .map_err(|_| Error::timeout(format!("connect to {addr}")))??
        };
        let (_, local) = addresses(&io);
        Ok(self.spawn(io, addr, local).await)
    }

    /// Runs a client connection over a connection handed over by
    /// [`Context::detach`](crate::Context::detach) (the HTTP client's `101 Switching
    /// Protocols` becoming a WebSocket client): the bytes that came with the hand-over are
    /// parsed first, as unsolicited messages for the push sink.
    pub async fn resume(
        &self,
        detached: crate::transport::Detached,
    ) -> ClientConnection<Req<F>, Resp<F>> {
        let crate::transport::Detached {
            io,
            read_buf,
            peer,
            local,
        } = detached;
        self.spawn_with(io, peer, local, read_buf).await
    }

    /// Runs a client connection over a transport the caller opened.
    pub async fn handshake<T: Transport>(&self, io: T) -> ClientConnection<Req<F>, Resp<F>> {
        let (peer, local) = addresses(&io);
        self.spawn(io, peer, local).await
    }

    async fn spawn<T: Transport>(
        &self,
        io: T,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> ClientConnection<Req<F>, Resp<F>> {
        self.spawn_with(io, peer, local, bytes::BytesMut::new())
            .await
    }

    async fn spawn_with<T: Transport>(
        &self,
        io: T,
        peer: SocketAddr,
        local: SocketAddr,
        read_buf: bytes::BytesMut,
    ) -> ClientConnection<Req<F>, Resp<F>> {
        let conn = Connection::new(self.producer.next_session(), peer, local);
        let (tx, rx) = call_queue(self.config.max_in_flight.max(MIN_CALL_QUEUE));
        let role = Role::Client {
            push: self.push.clone().map(PushSink::new),
        };
        let mut engine = Engine::new(
            conn.clone(),
            Arc::clone(&self.factory),
            Arc::clone(&self.config),
            self.producer.clone(),
            role,
            now(),
        );
        engine.preload(read_buf);
        tokio::spawn(Driver::new(io, engine, Some(rx)).run(Shutdown::default()));
        // The driver fires `connection_made` first thing; it cannot fail.
        let _ = conn.connection_made().wait().await;
        ClientConnection { conn, calls: tx }
    }
}

impl<F: ConsumerFactory> fmt::Debug for ClientConnectionBuilder<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConnectionBuilder")
            .field("config", &self.config)
            .field("push_sink", &self.push.is_some())
            .finish()
    }
}

/// Opens a client connection to `addr` whose consumers come from `factory`, counts it
/// as a session of `producer`, and waits for `connection_made` (pulsar's
/// `create_connection`).
///
/// # Errors
///
/// [`Error::is_connect`] naming the address and the cause when the connection cannot be
/// opened, or [`Error::is_timeout`] when `connect_timeout` (if non-zero) passes first.
///
/// # Cancel safety
///
/// Cancel safe: a dropped call leaves nothing behind (the socket, if any, is closed).
pub async fn connect<F: ConsumerFactory>(
    addr: SocketAddr,
    factory: Arc<F>,
    cfg: Arc<ConnectionConfig>,
    producer: Producer,
    connect_timeout: Duration,
) -> Result<ClientConnection<Req<F>, Resp<F>>> {
    connect_via(&TcpConnector, addr, factory, cfg, producer, connect_timeout).await
}

/// As [`connect`], through `connector` (a client's TLS pools).
pub(crate) async fn connect_via<F: ConsumerFactory, C: Connector>(
    connector: &C,
    addr: SocketAddr,
    factory: Arc<F>,
    cfg: Arc<ConnectionConfig>,
    producer: Producer,
    connect_timeout: Duration,
) -> Result<ClientConnection<Req<F>, Resp<F>>> {
    let builder = ClientConnectionBuilder {
        factory,
        config: cfg,
        producer,
        push: None,
        connect_timeout,
    };
    builder.connect_with(connector, addr).await
}
