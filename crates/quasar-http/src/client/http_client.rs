//! `HttpClient`: pooled HTTP/1.1 requests with redirects, timeouts and typed errors, through
//! proxies, with cookies, authentication, decompression and connection caps.
//!
//! pulsar's `HttpClient`: one [`Pool`](quasar_net::Pool) of [`HttpConsumer`](crate::client::HttpConsumer)
//! connections per route (a resolved address, a proxy, a tunnel through a proxy), and each
//! request checks a connection out exclusively (HTTP/1.1 answers one request at a time). A response that keeps the connection alive returns it to its pool;
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
//! Around each request the client adds what its settings ask for: `Authorization: Basic`
//! from the URL's user info ([`auth`](crate::client::RequestBuilderExt)), the jar's cookies
//! ([`Jar`](crate::client::Jar)), `Accept-Encoding: gzip, deflate` (decoding the answer,
//! [`HttpClientBuilder::decompress`]), `Expect: 100-continue` for large bodies
//! ([`HttpClientBuilder::expect_continue`]); it sends it directly or through a
//! [`Proxy`](crate::client::Proxy), and holds the connection caps
//! ([`HttpClientBuilder::max_per_host`], [`HttpClientBuilder::max_connections`]).
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

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, COOKIE, EXPECT, PROXY_AUTHORIZATION, WWW_AUTHENTICATE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use quasar_net::pool::Pool;
use quasar_net::Producer;

use crate::client::consumer::BodyWithheld;
use crate::client::cookies::Jar;
use crate::client::decompress;
use crate::client::digest::{self, Challenge, DigestCredentials};
use crate::client::pool::{evict_idle, is_retry, Conn, Dialer, Route, RouteManager};
use crate::client::proxy::Proxies;
use crate::client::target::{parse_url, Target};
use crate::client::{auth, redirect, ClientError, ClientRequest, HttpClientBuilder};
use crate::keep_alive;

/// A pooled HTTP/1.1 client; cloning shares the pools, the cookie jar and the caps.
#[derive(Clone)]
pub struct HttpClient {
    pub(super) inner: Arc<Inner>,
}

/// The shared state behind every clone of a client.
pub(super) struct Inner {
    pub(super) dialer: Arc<Dialer>,
    pub(super) producer: Producer,
    pub(super) pools: Mutex<HashMap<Route, Pool<RouteManager>>>,
    pub(super) closed: AtomicBool,
    pub(super) max_redirects: usize,
    pub(super) request_timeout: Option<Duration>,
    pub(super) per_host: usize,
    pub(super) max_idle_per_host: usize,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) pool_timeout: Option<Duration>,
    pub(super) proxies: Proxies,
    pub(super) jar: Option<Arc<Jar>>,
    pub(super) decompress: bool,
    pub(super) expect_continue: Option<u64>,
    pub(super) expect_timeout: Duration,
}

/// A response and, after a `101`, the connection it arrived on (kept until the hand-over).
type Exchange = (Response<Bytes>, Option<Conn>);

// ===== impl HttpClient =====

impl HttpClient {
    /// A client with default settings.
    pub fn new() -> HttpClient {
        HttpClient::builder()
            .build()
            // The default TLS settings read no file and always have roots (Mozilla's
            // when the platform has none).
            .unwrap_or_else(|_| unreachable!("the default caps are positive"))
    }

    /// A builder with default settings.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::new()
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
    /// server certificate not trusted or not for the host, [`ClientError::ProxyConnect`]
    /// when a proxy refuses the tunnel, [`ClientError::Http`] for a response that breaks
    /// HTTP/1.1 or the limits (a decoded body over [`Limits::max_body`](crate::Limits::max_body) included),
    /// [`ClientError::Decompress`] for a corrupt compressed body,
    /// [`ClientError::Timeout`], [`ClientError::PoolTimeout`],
    /// [`ClientError::ConnectionLost`], [`ClientError::TooManyRedirects`] and
    /// [`ClientError::Closed`] after [`close`](Self::close).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe for the pool: a connection checked out by a cancelled call is closed,
    /// not reused. The request may or may not have reached the server.
    pub async fn request(&self, mut req: Request<Bytes>) -> Result<Response<Bytes>, ClientError> {
        let mut redirects = 0;
        // Digest credentials stay with the origin they were given for.
        let digest = req
            .extensions()
            .get::<DigestCredentials>()
            .cloned()
            .zip(Target::of(req.uri()).ok());
        loop {
            let creds = digest.as_ref().and_then(|(creds, origin)| {
                let here = Target::of(req.uri()).ok()?;
                origin.same_origin(&here).then_some(creds)
            });
            let res = self.send_one(&req, creds).await?;
            if self.inner.max_redirects == 0 {
                return Ok(res);
            }
            match redirect::follow(&req, &res)? {
                None => return Ok(res),
                Some(_) if redirects == self.inner.max_redirects => {
                    return Err(ClientError::TooManyRedirects(self.inner.max_redirects))
                }
                Some(next) => {
                    tracing::debug!(status = %res.status(), uri = %next.uri(), "redirect");
                    redirects += 1;
                    req = next;
                }
            }
        }
    }

    /// One hop, answering a Digest challenge when the request has credentials for it.
    async fn send_one(
        &self,
        req: &Request<Bytes>,
        digest: Option<&DigestCredentials>,
    ) -> Result<Response<Bytes>, ClientError> {
        let res = self.send_dressed(req, None).await?;
        let Some(creds) = digest else { return Ok(res) };
        if res.status() != StatusCode::UNAUTHORIZED || req.headers().contains_key(AUTHORIZATION) {
            return Ok(res);
        }
        let challenges = res.headers().get_all(WWW_AUTHENTICATE).iter();
        let Some(challenge) = Challenge::pick(challenges.filter_map(|v| v.to_str().ok())) else {
            return Ok(res);
        };
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let answer = challenge.answer(creds, req.method().as_str(), target, &digest::cnonce());
        let mut value = HeaderValue::from_str(&answer).map_err(|_| {
            ClientError::InvalidRequest("Digest credentials are not visible ASCII".into())
        })?;
        value.set_sensitive(true);
        self.send_dressed(req, Some(value)).await
    }

    /// The request as the settings dress it (with `authorization` when given), again without
    /// `Expect` after a `417`, and the response's cookies stored.
    async fn send_dressed(
        &self,
        req: &Request<Bytes>,
        authorization: Option<HeaderValue>,
    ) -> Result<Response<Bytes>, ClientError> {
        let wire = self.prepare(req, true, authorization.clone());
        let expected = wire.expect_continue.is_some();
        let (mut res, _) = self.send(wire).await?;
        if expected && res.status() == StatusCode::EXPECTATION_FAILED {
            tracing::debug!(uri = %req.uri(), "417: sending again without Expect");
            res = self.send(self.prepare(req, false, authorization)).await?.0;
        }
        if let Some(jar) = &self.inner.jar {
            jar.store_from(req.uri(), res.headers());
        }
        Ok(res)
    }

    /// A copy of `req` with the headers the settings add (the caller's own win, but for an
    /// `authorization` answering a challenge).
    fn prepare(
        &self,
        req: &Request<Bytes>,
        allow_expect: bool,
        authorization: Option<HeaderValue>,
    ) -> ClientRequest {
        let mut wire = clone_request(req);
        if let Some(value) = authorization {
            wire.headers_mut().insert(AUTHORIZATION, value);
        }
        self.decorate(&mut wire);
        let headers = wire.headers_mut();
        let decode = self.inner.decompress && !headers.contains_key(ACCEPT_ENCODING);
        if decode {
            headers.insert(
                ACCEPT_ENCODING,
                HeaderValue::from_static(decompress::ACCEPT_ENCODING),
            );
        }
        let expect = allow_expect
            && !headers.contains_key(EXPECT)
            && self
                .inner
                .expect_continue
                .is_some_and(|limit| req.body().len() as u64 > limit);
        if expect {
            headers.insert(EXPECT, HeaderValue::from_static("100-continue"));
        }
        let mut wire = ClientRequest::from(wire);
        wire.decode = decode;
        wire.expect_continue = expect.then_some(self.inner.expect_timeout);
        wire
    }

    /// Adds `Authorization` from the URL's user info and the jar's cookies.
    pub(crate) fn decorate(&self, req: &mut Request<Bytes>) {
        if !req.headers().contains_key(AUTHORIZATION) {
            if let Some(value) = auth::from_userinfo(req.uri()) {
                req.headers_mut().insert(AUTHORIZATION, value);
            }
        }
        let Some(jar) = &self.inner.jar else { return };
        let Some(cookies) = jar.header_for(req.uri()) else {
            return;
        };
        let value = match req.headers().get(COOKIE) {
            Some(own) => {
                let mut joined = own.as_bytes().to_vec();
                joined.extend_from_slice(b"; ");
                joined.extend_from_slice(cookies.as_bytes());
                HeaderValue::from_bytes(&joined).unwrap_or(cookies)
            }
            None => cookies,
        };
        req.headers_mut().insert(COOKIE, value);
    }

    /// Stores the cookies a response to `uri` sets (the WebSocket handshake's too).
    pub(crate) fn store_cookies(&self, uri: &http::Uri, res: &Response<Bytes>) {
        if let Some(jar) = &self.inner.jar {
            jar.store_from(uri, res.headers());
        }
    }

    /// Sends one request on a pooled connection of its route (no redirects).
    pub(crate) async fn send(&self, mut req: ClientRequest) -> Result<Exchange, ClientError> {
        let target = Target::of(req.request().uri())?;
        // A WebSocket needs the socket itself after its `101`: through a proxy it always
        // takes a tunnel, even for an `http://` URL.
        let route = self.route(&target, req.is_websocket()).await?;
        if let Route::Forward { auth, .. } = &route {
            req.absolute_form = true;
            if let Some(auth) = auth {
                let headers = req.request.headers_mut();
                if !headers.contains_key(PROXY_AUTHORIZATION) {
                    headers.insert(PROXY_AUTHORIZATION, auth.clone());
                }
            }
        }
        self.within(self.exchange(route, req)).await
    }

    /// Where a request for `target` goes: direct, or through the proxy the settings pick.
    async fn route(&self, target: &Target, websocket: bool) -> Result<Route, ClientError> {
        let tls = target.is_tls().then(|| target.bare_host().to_owned());
        let Some(proxy) = self.inner.proxies.select(target) else {
            return Ok(Route::Direct {
                addr: target.resolve().await?,
                tls,
            });
        };
        let addr = proxy.resolve().await?;
        let auth = proxy.auth.clone();
        Ok(if target.scheme == "http" && !websocket {
            Route::Forward { proxy: addr, auth }
        } else {
            Route::Tunnel {
                proxy: addr,
                auth,
                target: format!("{}:{}", target.host, target.port),
                tls,
            }
        })
    }

    fn pool(&self, route: &Route) -> Result<Pool<RouteManager>, ClientError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        let mut pools = self.pools();
        if let Some(pool) = pools.get(route) {
            return Ok(pool.clone());
        }
        let manager = RouteManager::new(route.clone(), Arc::clone(&self.inner.dialer));
        let pool = Pool::builder(manager)
            .pool_size(self.inner.per_host)
            .idle_timeout(self.inner.idle_timeout)
            .build()?;
        pools.insert(route.clone(), pool.clone());
        Ok(pool)
    }

    fn pools(&self) -> std::sync::MutexGuard<'_, HashMap<Route, Pool<RouteManager>>> {
        self.inner
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the idle connections of the other routes, to make room under the total cap.
    fn make_room(&self, except: &Route) {
        let others: Vec<_> = self
            .pools()
            .iter()
            .filter(|(route, _)| *route != except)
            .map(|(_, pool)| pool.clone())
            .collect();
        others.iter().for_each(evict_idle);
    }

    async fn exchange(&self, route: Route, req: ClientRequest) -> Result<Exchange, ClientError> {
        let pool = self.pool(&route)?;
        let dialer = &self.inner.dialer;
        if dialer.is_full() && pool.available() == 0 {
            self.make_room(&route);
        }
        let checkout = async {
            loop {
                match pool.connect().await {
                    // A connection of this route came back while the connect waited for
                    // the total cap: check out again and take it.
                    Err(e) if is_retry(&e) => continue,
                    other => return other,
                }
            }
        };
        let mut conn = match self.inner.pool_timeout {
            None => checkout.await?,
            Some(limit) => tokio::time::timeout(limit, checkout)
                .await
                .map_err(|_| ClientError::PoolTimeout)??,
        };
        conn.start_request();
        let outcome = conn.request(req).await;
        conn.finish_request();
        match outcome {
            Ok(res) if res.status() == StatusCode::SWITCHING_PROTOCOLS => {
                // The driver is handing the socket over; keep the handle until it has.
                Ok((res, Some(conn.detach())))
            }
            Ok(mut res) => {
                let withheld = res.extensions_mut().remove::<BodyWithheld>().is_some();
                let pool = conn.pool().clone();
                let manager = pool.manager();
                let reusable = keep_alive(res.version(), res.headers())
                    && !conn.is_read_closed()
                    && !withheld
                    && pool.available() < self.inner.max_idle_per_host
                    // Another host waits for the total cap: this connection makes room.
                    && !(manager.others_wait() && pool.state().waiters == 0);
                conn.close(!reusable);
                if reusable {
                    manager.came_back();
                }
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
        match self.inner.request_timeout {
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
        self.inner.producer.sessions()
    }

    /// Requests sent so far, redirects and handshakes included.
    pub fn requests_processed(&self) -> u64 {
        self.inner.producer.requests_processed()
    }

    /// Connections open now: idle, in use, and WebSockets handed over.
    pub fn open_connections(&self) -> usize {
        self.inner.dialer.open_connections()
    }

    /// Idle pooled connections, all routes together.
    pub fn idle_connections(&self) -> usize {
        self.pools().values().map(Pool::available).sum()
    }

    /// Connections checked out by requests in flight, all routes together.
    pub fn connections_in_use(&self) -> usize {
        self.pools().values().map(Pool::in_use).sum()
    }

    /// How many pools (routes) the client has: one per address, TLS host, proxy and tunnel.
    pub fn pools_count(&self) -> usize {
        self.pools().len()
    }

    /// The cookie jar, if the client keeps cookies.
    pub fn cookie_jar(&self) -> Option<&Arc<Jar>> {
        self.inner.jar.as_ref()
    }

    /// Closes every pool and waits for their connections to end; later requests fail with
    /// [`ClientError::Closed`]. WebSockets already handed over are not affected.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pools close at the first poll; only the waiting stops.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let pools: Vec<_> = self.pools().drain().map(|(_, pool)| pool).collect();
        let closing: Vec<_> = pools.iter().map(Pool::close).collect();
        futures_util::future::join_all(closing).await;
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
            .field("open_connections", &self.open_connections())
            .field("max_redirects", &self.inner.max_redirects)
            .field("request_timeout", &self.inner.request_timeout)
            .field("proxies", &self.inner.proxies)
            .field("cookies", &self.inner.jar)
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
