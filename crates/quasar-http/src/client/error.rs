//! The HTTP and WebSocket client's error type.
//!
//! Every failure of [`HttpClient`](crate::client::HttpClient) and
//! [`WebSocket`](crate::client::WebSocket) is a [`ClientError`]: callers match on the variant
//! (a bad URL, a response that broke HTTP/1.1 or a limit, a timeout, a lost connection, too
//! many redirects, a refused WebSocket handshake) instead of reading strings. Engine errors
//! are sorted into these variants by [`ClientError::from`], which also digs the protocol
//! layer's [`HttpError`] / [`HandshakeError`] out of the error's source chain.
//!
//! # Examples
//!
//! ```
//! use quasar_http::client::ClientError;
//! use quasar_http::HttpError;
//!
//! let err = ClientError::from(quasar_net::Error::protocol_with(
//!     "invalid response",
//!     HttpError::BodyTooLarge,
//! ));
//! assert!(matches!(err, ClientError::Http(HttpError::BodyTooLarge)));
//! assert!(ClientError::from(quasar_net::Error::timeout("request")).is_timeout());
//! ```

use std::fmt;
use std::io;

use crate::ws::{HandshakeError, WsError};
use crate::HttpError;

/// Why a client request or WebSocket operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not an absolute `http://`, `https://`, `ws://` or `wss://` URL with a host.
    InvalidUrl(String),
    /// The URL's scheme is not one of those.
    UnsupportedScheme(String),
    /// The request cannot be written (no host, a header the request line cannot carry).
    InvalidRequest(String),
    /// The host name did not resolve.
    Resolve {
        /// The host that was looked up.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The connection could not be opened.
    Connect(quasar_net::Error),
    /// The TLS handshake failed: the server's certificate was not trusted, expired or for
    /// another host, or the server refused us. The cause is
    /// [`quasar_net::tls::rustls_error`] of the error.
    Tls(quasar_net::Error),
    /// The TLS settings are unusable (a CA file missing or not PEM, a host that is not a
    /// valid server name).
    TlsConfig(quasar_net::Error),
    /// The response broke HTTP/1.1 or a [`Limits`](crate::Limits) cap
    /// ([`HttpError::BodyTooLarge`] for a body over the limit).
    Http(HttpError),
    /// The request (or a connect or pool checkout) did not finish in time.
    Timeout(quasar_net::Error),
    /// The connection ended before a whole response arrived (a reset, or a close in the
    /// middle of a length-delimited or chunked body).
    ConnectionLost(quasar_net::Error),
    /// More redirects than the client follows; the count is the limit.
    TooManyRedirects(usize),
    /// The server refused or botched the WebSocket opening handshake.
    Handshake(HandshakeError),
    /// The server broke RFC 6455; the connection was failed with the error's close code.
    WebSocket(WsError),
    /// The client or the WebSocket is closed.
    Closed,
    /// A proxy URL (given or from the environment) is unusable.
    InvalidProxy(String),
    /// The proxy answered `CONNECT` with this non-2xx status (`407` without or with wrong
    /// credentials, `403` for a port it does not tunnel to, `502` when it could not reach
    /// the target).
    ProxyConnect(http::StatusCode),
    /// A cookie the jar refused (see [`Jar::add_cookie_str`](crate::client::Jar::add_cookie_str)).
    InvalidCookie(String),
    /// A `gzip`/`deflate` response body is corrupt or truncated.
    Decompress(String),
    /// No connection became free within the pool timeout: the per-host or the total
    /// connection cap stayed reached.
    PoolTimeout,
    /// Any other engine error.
    Net(quasar_net::Error),
}

impl ClientError {
    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout(_))
    }

    /// The variants carried inside engine errors, copied out (`None` for the others).
    fn copy(&self) -> Option<ClientError> {
        Some(match self {
            ClientError::InvalidRequest(why) => ClientError::InvalidRequest(why.clone()),
            ClientError::ProxyConnect(status) => ClientError::ProxyConnect(*status),
            ClientError::Decompress(why) => ClientError::Decompress(why.clone()),
            ClientError::PoolTimeout => ClientError::PoolTimeout,
            _ => return None,
        })
    }

    /// Whether the connection ended before the response did.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, ClientError::ConnectionLost(_))
    }
}

impl From<quasar_net::Error> for ClientError {
    fn from(err: quasar_net::Error) -> Self {
        // The consumer wraps the protocol layer's errors as the engine error's source.
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            if let Some(e) = cause.downcast_ref::<HttpError>() {
                return ClientError::Http(e.clone());
            }
            if let Some(e) = cause.downcast_ref::<HandshakeError>() {
                return ClientError::Handshake(*e);
            }
            if let Some(e) = cause
                .downcast_ref::<ClientError>()
                .and_then(ClientError::copy)
            {
                return e;
            }
            source = cause.source();
        }
        if err.is_tls() {
            ClientError::Tls(err)
        } else if err.is_timeout() {
            ClientError::Timeout(err)
        } else if err.is_connection_lost() {
            ClientError::ConnectionLost(err)
        } else if err.is_connect() {
            ClientError::Connect(err)
        } else if err.is_closed() {
            ClientError::Closed
        } else {
            ClientError::Net(err)
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl(url) => write!(f, "invalid URL `{url}`"),
            ClientError::UnsupportedScheme(s) => write!(f, "unsupported URL scheme `{s}`"),
            ClientError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            ClientError::Resolve { host, .. } => write!(f, "cannot resolve `{host}`"),
            ClientError::Connect(e) => write!(f, "connect failed: {e}"),
            ClientError::Tls(e) => write!(f, "TLS failed: {e}"),
            ClientError::TlsConfig(e) => write!(f, "bad TLS settings: {e}"),
            ClientError::Http(e) => write!(f, "invalid response: {e}"),
            ClientError::Timeout(e) => write!(f, "timed out: {e}"),
            ClientError::ConnectionLost(e) => write!(f, "connection lost: {e}"),
            ClientError::TooManyRedirects(n) => write!(f, "more than {n} redirects"),
            ClientError::Handshake(e) => write!(f, "websocket handshake failed: {e}"),
            ClientError::WebSocket(e) => write!(f, "websocket protocol error: {e}"),
            ClientError::Closed => f.write_str("closed"),
            ClientError::InvalidProxy(why) => write!(f, "invalid proxy {why}"),
            ClientError::ProxyConnect(status) => write!(f, "proxy refused CONNECT: {status}"),
            ClientError::InvalidCookie(why) => write!(f, "cookie refused: {why}"),
            ClientError::Decompress(why) => write!(f, "cannot decode the response body: {why}"),
            ClientError::PoolTimeout => f.write_str("timed out waiting for a free connection"),
            ClientError::Net(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Resolve { source, .. } => Some(source),
            ClientError::Connect(e)
            | ClientError::Tls(e)
            | ClientError::TlsConfig(e)
            | ClientError::Timeout(e)
            | ClientError::ConnectionLost(e)
            | ClientError::Net(e) => Some(e),
            ClientError::Http(e) => Some(e),
            ClientError::Handshake(e) => Some(e),
            ClientError::WebSocket(e) => Some(e),
            _ => None,
        }
    }
}
