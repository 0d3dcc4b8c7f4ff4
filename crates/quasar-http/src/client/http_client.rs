//! `HttpClient`: pooled HTTP/1.1 requests with redirects, timeouts and typed errors.
//!
//! pulsar's `HttpClient`: one [`quasar_net::Client`] of [`HttpConsumer`]s, so one pool per
//! resolved address, and each request checks a connection out exclusively (HTTP/1.1 answers
//! one request at a time). A response that keeps the connection alive returns it to its pool;
//! `Connection: close`, HTTP/1.0 without keep-alive, a close-delimited body, a `101` or any
//! error discards it. Redirects are followed up to [`HttpClientBuilder::max_redirects`] times
//! and reuse pooled connections like any other request.
//!
//! `https://` (and `wss://`) URLs go over TLS through [`quasar_net::tls`]: the server is
//! verified against the platform's roots plus any [`HttpClientBuilder::ca`], the host is
//! the name verified and sent with SNI, and ALPN offers `http/1.1`. TLS connections have
//! pools of their own, one per (address, host, TLS settings), so a plaintext connection is
//! never reused for `https` nor a connection verified for one host for another.
//!
//! # Examples
//!
//! ```
//! use quasar_http::client::HttpClient;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     let (mut sock, _) = listener.accept().await?;
//!     let mut buf = [0u8; 1024];
//!     for _ in 0..2 {
//!         let _ = sock.read(&mut buf).await?;
//!         sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await?;
//!     }
//!     Ok::<_, std::io::Error>(())
//! });
//!
//! let client = HttpClient::new();
//! let res = client.get(&format!("http://{addr}/")).await?;
//! assert_eq!((res.status().as_u16(), &res.body()[..]), (200, &b"ok"[..]));
//! client.post(&format!("http://{addr}/"), "data").await?;
//! assert_eq!(client.sessions(), 1); // the second request reused the connection
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use quasar_net::tls::{PemSource, TlsConnector, TlsConnectorBuilder};
use quasar_net::{Client, ClientConnection};

use crate::client::target::{parse_url, Target};
use crate::client::{redirect, ClientError, ClientRequest, HttpConsumerFactory};
use crate::{keep_alive, Limits};

/// Default [`HttpClientBuilder::max_redirects`]: 10, pulsar's `max_redirects`.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// A pooled HTTP/1.1 client; cloning shares the pools.
#[derive(Clone)]
pub struct HttpClient {
    net: Client<HttpConsumerFactory>,
    /// The TLS settings of `https`; each host gets a connector derived from this one.
    tls: TlsConnector,
    max_redirects: usize,
    request_timeout: Option<Duration>,
}

/// Configures an [`HttpClient`].
#[must_use = "builder does nothing itself; call `build()`"]
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    limits: Limits,
    pool_size: usize,
    max_redirects: usize,
    request_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    tls: TlsConnectorBuilder,
}

/// A response and, after a `101`, the connection it arrived on (kept until the hand-over).
type Exchange = (
    Response<Bytes>,
    Option<ClientConnection<ClientRequest, Response<Bytes>>>,
);

// ===== impl HttpClientBuilder =====

impl HttpClientBuilder {
    /// Most connections per address (default 10).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// Response limits; [`Limits::max_body`] caps response bodies (default 16 MiB).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Largest response body accepted ([`ClientError::Http`] with
    /// [`HttpError::BodyTooLarge`](crate::HttpError::BodyTooLarge) above it).
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.limits.max_body = bytes;
        self
    }

    /// Redirects followed per request (default [`DEFAULT_MAX_REDIRECTS`]; 0 returns
    /// redirect responses as they are).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }

    /// Time allowed for each request of a redirect chain, from pool checkout to the last
    /// body byte (default: none).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Time allowed to open a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Close pooled connections idle this long.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Trusts the CAs in `ca` for `https`, besides the platform's roots (a private CA,
    /// a self-signed test server).
    pub fn ca(mut self, ca: PemSource) -> Self {
        self.tls = self.tls.ca(ca);
        self
    }

    /// Accepts any `https` server certificate without verifying it: **no protection
    /// against a man in the middle**. For load tests against self-signed servers only.
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.tls = self.tls.danger_accept_invalid_certs(on);
        self
    }

    /// Replaces the TLS settings of `https` as a whole (client certificates, versions,
    /// trusting only a private CA); the server name is set per request from the URL's
    /// host. The default offers ALPN `http/1.1` and trusts the platform's roots.
    pub fn tls(mut self, settings: TlsConnectorBuilder) -> Self {
        self.tls = settings;
        self
    }

    /// Builds the client (no connection is opened yet).
    ///
    /// # Errors
    ///
    /// [`ClientError::Net`] with a config error when the pool size is zero;
    /// [`ClientError::TlsConfig`] naming a CA file that is missing or not PEM.
    pub fn build(self) -> Result<HttpClient, ClientError> {
        let tls = self.tls.build().map_err(ClientError::TlsConfig)?;
        let mut net = Client::builder(HttpConsumerFactory::new(self.limits))
            .name("http-client")
            .pool_size(self.pool_size);
        if let Some(t) = self.request_timeout {
            net = net.request_timeout(t);
        }
        if let Some(t) = self.connect_timeout {
            net = net.connect_timeout(t);
        }
        if let Some(t) = self.idle_timeout {
            net = net.idle_timeout(t);
        }
        Ok(HttpClient {
            net: net.build()?,
            tls,
            max_redirects: self.max_redirects,
            request_timeout: self.request_timeout,
        })
    }
}

// ===== impl HttpClient =====

impl HttpClient {
    /// A client with default settings.
    pub fn new() -> HttpClient {
        HttpClient::builder()
            .build()
            // The default TLS settings read no file and always have roots (Mozilla's
            // when the platform has none).
            .unwrap_or_else(|_| unreachable!("the default pool size is positive"))
    }

    /// A builder with default settings.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            limits: Limits::default(),
            pool_size: quasar_net::client::DEFAULT_POOL_SIZE,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            request_timeout: None,
            connect_timeout: None,
            idle_timeout: None,
            tls: TlsConnector::builder().alpn(["http/1.1"]),
        }
    }

    /// `GET url`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    ///
    /// # Cancel safety
    ///
    /// As [`request`](Self::request).
    pub async fn get(&self, url: &str) -> Result<Response<Bytes>, ClientError> {
        let uri = parse_url(url)?;
        let mut req = Request::new(Bytes::new());
        *req.uri_mut() = uri;
        self.request(req).await
    }

    /// `POST url` with `body` (sent with `Content-Length`).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    ///
    /// # Cancel safety
    ///
    /// As [`request`](Self::request).
    pub async fn post(
        &self,
        url: &str,
        body: impl Into<Bytes>,
    ) -> Result<Response<Bytes>, ClientError> {
        let uri = parse_url(url)?;
        let mut req = Request::new(body.into());
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri;
        self.request(req).await
    }

    /// Sends `req` (absolute `http://` or `https://` URI) and returns the final response, following
    /// redirects.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] / [`ClientError::UnsupportedScheme`] for the URI,
    /// [`ClientError::Resolve`], [`ClientError::Connect`], [`ClientError::Tls`] for a
    /// server certificate not trusted or not for the host, [`ClientError::Http`] for a
    /// response that breaks HTTP/1.1 or the limits, [`ClientError::Timeout`],
    /// [`ClientError::ConnectionLost`], [`ClientError::TooManyRedirects`] and
    /// [`ClientError::Closed`] after [`close`](Self::close).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe for the pool: a connection checked out by a cancelled call is closed,
    /// not reused. The request may or may not have reached the server.
    pub async fn request(&self, mut req: Request<Bytes>) -> Result<Response<Bytes>, ClientError> {
        let mut redirects = 0;
        loop {
            let next = if self.max_redirects > 0 {
                Some(clone_request(&req))
            } else {
                None
            };
            let (res, _) = self.send(ClientRequest::from(req)).await?;
            let Some(prev) = next else {
                return Ok(res);
            };
            match redirect::follow(&prev, &res)? {
                None => return Ok(res),
                Some(_) if redirects == self.max_redirects => {
                    return Err(ClientError::TooManyRedirects(self.max_redirects))
                }
                Some(next) => {
                    tracing::debug!(status = %res.status(), uri = %next.uri(), "redirect");
                    redirects += 1;
                    req = next;
                }
            }
        }
    }

    /// Sends one request on a pooled connection of its target (no redirects).
    pub(crate) async fn send(&self, req: ClientRequest) -> Result<Exchange, ClientError> {
        let target = Target::of(req.request().uri())?;
        let addr = target.resolve().await?;
        self.within(self.exchange(&target, addr, req)).await
    }

    async fn exchange(
        &self,
        target: &Target,
        addr: SocketAddr,
        req: ClientRequest,
    ) -> Result<Exchange, ClientError> {
        let mut conn = if target.is_tls() {
            let connector = self
                .tls
                .with_server_name(target.bare_host())
                .map_err(ClientError::TlsConfig)?;
            self.net.connect_tls(addr, &connector).await?
        } else {
            self.net.connect(addr).await?
        };
        conn.start_request();
        let outcome = conn.request(req).await;
        conn.finish_request();
        match outcome {
            Ok(res) if res.status() == StatusCode::SWITCHING_PROTOCOLS => {
                // The driver is handing the socket over; keep the handle until it has.
                Ok((res, Some(conn.detach())))
            }
            Ok(res) => {
                let reusable = keep_alive(res.version(), res.headers()) && !conn.is_read_closed();
                conn.close(!reusable);
                Ok((res, None))
            }
            Err(err) => {
                conn.close(true);
                Err(err.into())
            }
        }
    }

    /// Applies the request timeout to checkout, connect and exchange together.
    pub(crate) async fn within<T>(
        &self,
        fut: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        match self.request_timeout {
            None => fut.await,
            Some(t) => tokio::time::timeout(t, fut).await.unwrap_or_else(|_| {
                Err(ClientError::Timeout(quasar_net::Error::timeout(
                    "http request",
                )))
            }),
        }
    }

    /// Connections opened so far (pulsar's `sessions`).
    pub fn sessions(&self) -> u64 {
        self.net.sessions()
    }

    /// Requests sent so far, redirects and handshakes included.
    pub fn requests_processed(&self) -> u64 {
        self.net.requests_processed()
    }

    /// The underlying quasar-net client (its pools, hooks and counters).
    pub fn net(&self) -> &Client<HttpConsumerFactory> {
        &self.net
    }

    /// Closes every pool and waits for their connections to end; later requests fail with
    /// [`ClientError::Closed`]. WebSockets already handed over are not affected.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pools close at the first poll; only the waiting stops.
    pub async fn close(&self) {
        self.net.close().await;
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("sessions", &self.sessions())
            .field("max_redirects", &self.max_redirects)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// What a redirect needs of the request (an `http::Request` with extensions is not `Clone`).
fn clone_request(req: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}
