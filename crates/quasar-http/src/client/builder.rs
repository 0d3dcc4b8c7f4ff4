//! [`HttpClientBuilder`]: the settings of an [`HttpClient`] and their defaults.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quasar_net::tls::{PemSource, TlsConnector, TlsConnectorBuilder};
use quasar_net::{ClientConnectionBuilder, ConnectionConfig, Hooks, Producer};

use crate::client::cookies::Jar;
use crate::client::pool::Dialer;
use crate::client::proxy::{Proxies, Proxy};
use crate::client::{ClientError, HttpConsumerFactory};
use crate::Limits;

use super::http_client::{HttpClient, Inner};

/// Default [`HttpClientBuilder::max_redirects`]: 10, pulsar's `max_redirects`.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;
/// Default [`HttpClientBuilder::expect_continue`]: request bodies over 1 MiB wait for
/// `100 Continue` (curl's threshold).
pub const DEFAULT_EXPECT_CONTINUE: u64 = 1024 * 1024;
/// Default [`HttpClientBuilder::expect_timeout`]: 1 s (curl's), then the body goes anyway.
pub const DEFAULT_EXPECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default [`HttpClientBuilder::max_per_host`]: 10, pulsar's `pool_size`.
pub const DEFAULT_MAX_PER_HOST: usize = quasar_net::client::DEFAULT_POOL_SIZE;

/// Configures an [`HttpClient`].
#[must_use = "builder does nothing itself; call `build()`"]
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    limits: Limits,
    pool_size: usize,
    max_connections: Option<usize>,
    max_idle_per_host: usize,
    pool_timeout: Option<Duration>,
    max_redirects: usize,
    request_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    tls: TlsConnectorBuilder,
    proxies: Proxies,
    proxy_error: Option<String>,
    jar: Option<Arc<Jar>>,
    decompress: bool,
    expect_continue: Option<u64>,
    expect_timeout: Duration,
}

/// The most connections [`HttpClientBuilder::max_connections`] may allow (the semaphore's).
const MAX_TOTAL: usize = tokio::sync::Semaphore::MAX_PERMITS;

impl HttpClientBuilder {
    /// The defaults ([`HttpClient::builder`]).
    pub(super) fn new() -> Self {
        HttpClientBuilder {
            limits: Limits::default(),
            pool_size: DEFAULT_MAX_PER_HOST,
            max_connections: None,
            max_idle_per_host: usize::MAX,
            pool_timeout: None,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            request_timeout: None,
            connect_timeout: None,
            idle_timeout: None,
            tls: TlsConnector::builder().alpn(["http/1.1"]),
            proxies: Proxies::default(),
            proxy_error: None,
            jar: None,
            decompress: true,
            expect_continue: Some(DEFAULT_EXPECT_CONTINUE),
            expect_timeout: DEFAULT_EXPECT_TIMEOUT,
        }
    }

    /// Most connections per route (default [`DEFAULT_MAX_PER_HOST`]); the same as
    /// [`max_per_host`](Self::max_per_host).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// Hard cap on the connections open to one host (one resolved address; one TLS host on
    /// it; one tunnel target through a proxy; and one forward proxy, which carries plain
    /// `http://` requests for every host). Requests over it wait, first come first served,
    /// for a connection to come back (at most [`pool_timeout`](Self::pool_timeout)).
    pub fn max_per_host(self, n: usize) -> Self {
        self.pool_size(n)
    }

    /// Hard cap on the connections this client has open at once, all hosts together,
    /// WebSockets included until they close (default: none). A connect over it waits for a
    /// connection to close; an idle connection of another host is closed to make room.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Most idle connections kept per host (default: no cap below
    /// [`max_per_host`](Self::max_per_host)); more are closed when they come back.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// Time a request may wait for a connection of its host under the caps, opening one
    /// included ([`ClientError::PoolTimeout`] past it; default: no limit but the
    /// [`request_timeout`](Self::request_timeout)).
    pub fn pool_timeout(mut self, timeout: Duration) -> Self {
        self.pool_timeout = Some(timeout);
        self
    }

    /// Response limits; [`Limits::max_body`] caps response bodies (default 16 MiB).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Largest response body accepted, after decompression ([`ClientError::Http`] with
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

    /// Time allowed to open a connection (TCP, a proxy's `CONNECT`, TLS).
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

    /// Sends requests through `proxy` (see [`Proxy`]); proxies added first are tried first.
    /// No proxy is used by default, not even from the environment.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Uses the proxies the environment names: `http_proxy`, `https_proxy`, `all_proxy` and
    /// `no_proxy` (and their upper-case forms), with curl's rules; see [`Proxy`].
    /// A proxy URL that does not parse fails [`build`](Self::build).
    pub fn proxy_from_env(self) -> Self {
        self.proxy_env(std::env::vars())
    }

    /// As [`proxy_from_env`](Self::proxy_from_env), reading the variables from `vars`
    /// (name, value) instead of the process environment.
    pub fn proxy_env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        match self.proxies.extend_from_vars(vars) {
            Ok(()) => {}
            Err(ClientError::InvalidProxy(why)) => self.proxy_error = Some(why),
            Err(other) => self.proxy_error = Some(other.to_string()),
        }
        self
    }

    /// Keeps cookies in a jar of this client's own (default: off; see [`Jar`]).
    pub fn cookie_store(mut self, on: bool) -> Self {
        self.jar = on.then(|| Arc::new(Jar::default()));
        self
    }

    /// Keeps cookies in `jar`, which other clients (or the caller) may share.
    pub fn cookie_jar(mut self, jar: Arc<Jar>) -> Self {
        self.jar = Some(jar);
        self
    }

    /// Offers `gzip, deflate` and decodes such response bodies as they arrive (default: on),
    /// unless the request sets its own `Accept-Encoding`. [`max_body`](Self::max_body) caps
    /// the decoded size, so a compression bomb is an error, not an allocation.
    pub fn decompress(mut self, on: bool) -> Self {
        self.decompress = on;
        self
    }

    /// Request bodies larger than `threshold` bytes are sent with `Expect: 100-continue`
    /// and held back until the server answers `100 Continue` (default
    /// [`DEFAULT_EXPECT_CONTINUE`]; `None` never). A final status that comes first is the
    /// response and the body is not sent; a `417 Expectation Failed` makes the client send
    /// the request again without `Expect`.
    pub fn expect_continue(mut self, threshold: Option<u64>) -> Self {
        self.expect_continue = threshold;
        self
    }

    /// How long a held-back body waits for `100 Continue` before it is sent anyway
    /// (default [`DEFAULT_EXPECT_TIMEOUT`]; servers that predate `Expect` never answer).
    pub fn expect_timeout(mut self, timeout: Duration) -> Self {
        self.expect_timeout = timeout;
        self
    }

    /// Builds the client (no connection is opened yet).
    ///
    /// # Errors
    ///
    /// [`ClientError::Net`] with a config error when a cap is zero;
    /// [`ClientError::TlsConfig`] naming a CA file that is missing or not PEM;
    /// [`ClientError::InvalidProxy`] for a proxy variable of
    /// [`proxy_env`](Self::proxy_env) that does not parse.
    pub fn build(self) -> Result<HttpClient, ClientError> {
        if let Some(why) = self.proxy_error {
            return Err(ClientError::InvalidProxy(why));
        }
        let max_total = self.max_connections.unwrap_or(MAX_TOTAL).min(MAX_TOTAL);
        if self.pool_size == 0 || max_total == 0 || self.max_idle_per_host == 0 {
            return Err(ClientError::Net(quasar_net::Error::config(format!(
                "http client caps must be positive (max_per_host {}, max_connections {}, \
                 max_idle_per_host {})",
                self.pool_size, max_total, self.max_idle_per_host
            ))));
        }
        let tls = self.tls.build().map_err(ClientError::TlsConfig)?;
        let mut config = ConnectionConfig::default();
        if let Some(t) = self.request_timeout {
            config.request_timeout(t);
        }
        let producer = Producer::new("http-client", Hooks::default());
        let builder =
            ClientConnectionBuilder::with_factory(Arc::new(HttpConsumerFactory::new(self.limits)))
                .config(config)
                .producer(producer.clone());
        Ok(HttpClient {
            inner: Arc::new(Inner {
                dialer: Arc::new(Dialer::new(builder, tls, self.connect_timeout, max_total)),
                producer,
                pools: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
                max_redirects: self.max_redirects,
                request_timeout: self.request_timeout,
                per_host: self.pool_size,
                max_idle_per_host: self.max_idle_per_host,
                idle_timeout: self.idle_timeout,
                pool_timeout: self.pool_timeout,
                proxies: self.proxies,
                jar: self.jar,
                decompress: self.decompress,
                expect_continue: self.expect_continue,
                expect_timeout: self.expect_timeout,
            }),
        })
    }
}
