//! Transports: the byte streams a connection runs over, and the plug-ins that make them.
//!
//! A connection's driver runs over any [`Transport`]: a `TcpStream`, a TLS stream, an
//! in-memory `tokio::io::DuplexStream` in tests, a boxed `dyn Transport`. Servers turn
//! each accepted `TcpStream` into their transport with an [`Acceptor`], and clients open
//! theirs with a [`Connector`]. Both run inside the connection's own task, under the
//! connection's handshake timeout, so a slow handshake never blocks `accept` and a peer
//! that connects and says nothing cannot hold a slot past the timeout.
//!
//! Socket options (`TCP_NODELAY`, `SO_LINGER` on abort) apply whenever the transport
//! exposes its TCP socket through [`Transport::tcp_stream`].
//!
//! # Examples
//!
//! An acceptor that greets every connection before the protocol starts (a TLS acceptor
//! has the same shape: it takes the `TcpStream`, shakes hands, returns the stream):
//!
//! ```
//! use quasar_net::transport::Acceptor;
//! use tokio::io::AsyncWriteExt;
//! use tokio::net::TcpStream;
//!
//! struct Greeter;
//!
//! impl Acceptor for Greeter {
//!     type Io = TcpStream;
//!
//!     async fn accept(&self, mut stream: TcpStream) -> quasar_net::Result<TcpStream> {
//!         stream.write_all(b"welcome\n").await?;
//!         Ok(stream)
//!     }
//! }
//! # let _ = Greeter;
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

use bytes::BytesMut;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::TcpStream;

use crate::{Error, Result};

/// A byte stream a connection can run over.
///
/// Implement it for your stream type (one line when it wraps no TCP socket); override
/// [`tcp_stream`](Self::tcp_stream) when it does, so socket options still apply.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket underneath, if any.
    fn tcp_stream(&self) -> Option<&TcpStream> {
        None
    }

    /// What the transport negotiated (TLS's ALPN protocol and SNI name); nothing by
    /// default. The driver reads it once, when the connection starts, and publishes it
    /// as [`Connection::transport_info`](crate::Connection::transport_info).
    fn transport_info(&self) -> TransportInfo {
        TransportInfo::default()
    }
}

/// What a connection's transport negotiated before the protocol started: an HTTP server
/// branches on [`alpn`](Self::alpn), a virtual-host server on [`sni`](Self::sni).
///
/// Empty for plain TCP. Non-exhaustive: build one with [`TransportInfo::default`] and
/// the `with_*` methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportInfo {
    /// The application protocol agreed by ALPN (`b"h2"`, `b"http/1.1"`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The server name the client asked for with SNI (server side only), if any.
    pub sni: Option<String>,
}

impl TransportInfo {
    /// Nothing negotiated (a `const` for the connections whose transport says nothing).
    pub(crate) const EMPTY: TransportInfo = TransportInfo {
        alpn: None,
        sni: None,
    };

    /// Sets the negotiated ALPN protocol.
    pub fn with_alpn(mut self, alpn: Option<Vec<u8>>) -> Self {
        self.alpn = alpn;
        self
    }

    /// Sets the SNI server name.
    pub fn with_sni(mut self, sni: Option<String>) -> Self {
        self.sni = sni;
        self
    }
}

impl Transport for TcpStream {
    fn tcp_stream(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl Transport for DuplexStream {}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn tcp_stream(&self) -> Option<&TcpStream> {
        (**self).tcp_stream()
    }
    fn transport_info(&self) -> TransportInfo {
        (**self).transport_info()
    }
}

/// Turns an accepted TCP connection into the server's transport (a TLS handshake, a
/// PROXY-protocol header); runs in the connection's task.
pub trait Acceptor: Send + Sync + 'static {
    /// The transport the connection runs over.
    type Io: Transport;

    /// Takes the accepted socket and returns the transport.
    ///
    /// # Errors
    ///
    /// A failed handshake: the connection is dropped, logged at debug level, and the
    /// server goes on.
    fn accept(&self, stream: TcpStream) -> impl Future<Output = Result<Self::Io>> + Send;
}

/// The plain-TCP acceptor: the accepted socket is the transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainAcceptor;

impl Acceptor for PlainAcceptor {
    type Io = TcpStream;

    async fn accept(&self, stream: TcpStream) -> Result<TcpStream> {
        Ok(stream)
    }
}

/// Opens a client's transport to an address (TCP, then TLS for a TLS connector).
pub trait Connector: Send + Sync + 'static {
    /// The transport the connection runs over.
    type Io: Transport;

    /// Opens a transport to `addr`.
    ///
    /// # Errors
    ///
    /// [`Error::is_connect`] naming the address when it cannot be reached, or the
    /// handshake's error.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = Result<Self::Io>> + Send;
}

/// The plain-TCP connector.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    type Io = TcpStream;

    async fn connect(&self, addr: SocketAddr) -> Result<TcpStream> {
        TcpStream::connect(addr)
            .await
            .map_err(|e| Error::connect(addr, e))
    }
}

/// A connection handed over by [`Context::detach`](crate::Context::detach): its
/// transport and the bytes read past the last exchange, for a protocol of other types.
#[non_exhaustive]
pub struct Detached {
    /// The transport, still open.
    pub io: Box<dyn Transport>,
    /// Bytes read and not consumed (the frames that arrived with a `101`).
    pub read_buf: BytesMut,
    /// The peer's address (unspecified for a transport without a TCP socket).
    pub peer: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
}

/// A detached transport that keeps its server's count: the server sees the connection
/// open (and its close waits for it, up to its deadline) until the new owner drops it.
pub(crate) struct Counted {
    pub(crate) io: Box<dyn Transport>,
    /// Dropped with the transport: tells the server the socket is gone.
    pub(crate) _held: tokio::sync::oneshot::Sender<()>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Transport for Counted {
    fn tcp_stream(&self) -> Option<&TcpStream> {
        self.io.tcp_stream()
    }
    fn transport_info(&self) -> TransportInfo {
        self.io.transport_info()
    }
}

impl fmt::Debug for Detached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detached")
            .field("read_buf", &self.read_buf.len())
            .field("peer", &self.peer)
            .finish()
    }
}
