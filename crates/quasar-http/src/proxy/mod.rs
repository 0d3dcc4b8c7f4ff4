//! A forward HTTP proxy (pulsar's `examples/proxyserver`) on the quasar-net engine.
//!
//! [`ForwardProxy`] is a [`ConsumerFactory`]: serve it with a [`TcpServer`](quasar_net::TcpServer)
//! and point clients at it (`curl -x http://127.0.0.1:8080`, `https_proxy=...`).
//!
//! - **Absolute-form requests** (`GET http://host:port/path HTTP/1.1`) are forwarded over
//!   pooled keep-alive upstream connections. Hop-by-hop headers (`Connection`,
//!   `Proxy-Connection`, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
//!   `Proxy-Authorization`, `Proxy-Authenticate` and every header the `Connection` header
//!   names) are removed both ways; `X-Forwarded-For` and `Via` are added. Bodies stream
//!   both ways: the upstream is read only as fast as the client takes the response, and
//!   the client only as fast as the upstream takes the request.
//! - **`CONNECT host:port`** is answered `200 Connection established` once the upstream
//!   accepted the TCP connection; both connections then run a
//!   [`Relay`](quasar_net::relay::Relay) (back-pressure and half-close both ways).
//! - **Safety, as squid does it**: `CONNECT` only to [`PortRule`] ports (default `443`),
//!   destinations only matching the [`ForwardProxyBuilder::allow`] patterns (default: any),
//!   optional Basic credentials (`407` + `Proxy-Authenticate`), `400` for a request to the
//!   proxy itself (origin-form) and for malformed targets, `502` when the upstream cannot
//!   be reached or answers garbage, `504` when it does not answer in time.
//! - **Counters**: [`ForwardProxy::stats`].
//!
//! # Examples
//!
//! ```
//! use quasar_http::proxy::{ForwardProxy, PortRule};
//! use quasar_net::TcpServer;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An origin server that answers one request.
//! let origin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let origin_addr = origin.local_addr()?;
//! tokio::spawn(async move {
//!     let (mut sock, _) = origin.accept().await?;
//!     let mut buf = [0u8; 1024];
//!     let _ = sock.read(&mut buf).await?;
//!     sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await
//! });
//!
//! let proxy = ForwardProxy::builder()
//!     .connect_ports(PortRule::Any)
//!     .auth("alice", "secret")
//!     .build();
//! let stats = proxy.stats();
//! let server = TcpServer::builder(proxy).bind("127.0.0.1:0".parse()?).start().await?;
//!
//! let mut client = tokio::net::TcpStream::connect(server.address()).await?;
//! let request = format!(
//!     "GET http://{origin_addr}/ HTTP/1.1\r\nHost: {origin_addr}\r\n\
//!      Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\nConnection: close\r\n\r\n"
//! );
//! client.write_all(request.as_bytes()).await?;
//! let mut answer = String::new();
//! client.read_to_string(&mut answer).await?;
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.ends_with("hello"));
//! assert_eq!(stats.snapshot().requests, 1);
//! server.close(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

mod consumer;
mod forward;
mod rules;
mod stats;
mod upstream;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use quasar_net::{Connection, ConnectionConfig, ConsumerFactory};

use crate::server::{HttpFactory, ServerConfig};
use crate::Limits;

pub use consumer::ProxyConsumer;
pub use rules::{HostPattern, PortRule};
pub use stats::{ProxyStats, ProxyStatsSnapshot, UpstreamErrors};

/// Default [`ForwardProxyBuilder::connect_timeout`]: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ForwardProxyBuilder::response_timeout`]: 60 s.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ForwardProxyBuilder::idle_per_host`]: 64 idle upstream connections per host.
pub const DEFAULT_IDLE_PER_HOST: usize = 64;
/// Default [`ForwardProxyBuilder::idle_timeout`]: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A forward HTTP proxy: a [`ConsumerFactory`] for a `TcpServer`; cloning shares its
/// upstream pool and counters. See the [module docs](self).
#[derive(Clone)]
pub struct ForwardProxy {
    shared: Arc<Shared>,
    http: HttpFactory,
}

/// What every connection of a proxy shares.
pub(crate) struct Shared {
    pub(crate) ports: PortRule,
    pub(crate) allow: Vec<HostPattern>,
    /// The expected `Proxy-Authorization` value (`Basic <base64>`), if any.
    pub(crate) auth: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) tunnel_config: ConnectionConfig,
    /// The `Via` value this proxy adds (`1.1 <pseudonym>`); also how it sees a loop.
    pub(crate) via: http::HeaderValue,
    pub(crate) via_token: String,
    pub(crate) limits: Limits,
    pub(crate) header_timeout: Duration,
    pub(crate) stats: ProxyStats,
    pub(crate) pool: upstream::Pool,
}

/// Configures a [`ForwardProxy`].
#[must_use = "builder does nothing itself; call `build()`"]
#[derive(Debug, Clone)]
pub struct ForwardProxyBuilder {
    ports: PortRule,
    allow: Vec<HostPattern>,
    auth: Option<(String, String)>,
    connect_timeout: Duration,
    response_timeout: Duration,
    idle_per_host: usize,
    idle_timeout: Duration,
    tunnel_config: Option<ConnectionConfig>,
    pseudonym: Option<String>,
    server: ServerConfig,
}

impl Default for ForwardProxyBuilder {
    fn default() -> Self {
        // A proxy carries bodies of any size: they stream, nothing buffers them whole.
        let limits = Limits {
            max_body: u64::MAX,
            ..Limits::default()
        };
        ForwardProxyBuilder {
            ports: PortRule::default(),
            allow: Vec::new(),
            auth: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            idle_per_host: DEFAULT_IDLE_PER_HOST,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            tunnel_config: None,
            pseudonym: None,
            server: ServerConfig {
                limits,
                server_name: None,
                ..ServerConfig::default()
            },
        }
    }
}

impl ForwardProxyBuilder {
    /// The ports `CONNECT` may reach (default [`PortRule::default`]: `443` only).
    pub fn connect_ports(mut self, ports: PortRule) -> Self {
        self.ports = ports;
        self
    }

    /// Destination hosts allowed, for both forwarded requests and tunnels (default: any).
    /// Each call adds patterns; a destination matching none gets `403`.
    pub fn allow<I, P>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<HostPattern>,
    {
        self.allow.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Requires Basic proxy credentials: a request without them (or with others) gets
    /// `407 Proxy Authentication Required` with `Proxy-Authenticate: Basic`.
    pub fn auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// Time allowed to open an upstream TCP connection (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]); past it the client gets `504`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed from the end of a forwarded request to the upstream's response head
    /// (default [`DEFAULT_RESPONSE_TIMEOUT`]); past it the client gets `504`.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Idle keep-alive upstream connections kept per `host:port` (default
    /// [`DEFAULT_IDLE_PER_HOST`]; 0 keeps none).
    pub fn idle_per_host(mut self, n: usize) -> Self {
        self.idle_per_host = n;
        self
    }

    /// How long an idle upstream connection is kept (default [`DEFAULT_IDLE_TIMEOUT`]).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The configuration of the upstream side of each `CONNECT` tunnel (timeouts, water
    /// marks). The default keeps an idle tunnel 300 s.
    pub fn tunnel_config(mut self, config: ConnectionConfig) -> Self {
        self.tunnel_config = Some(config);
        self
    }

    /// The name this proxy gives itself in `Via` (default `quasar-<random hex>`). A
    /// request that already carries it has looped back and gets `508 Loop Detected`.
    pub fn pseudonym(mut self, name: impl Into<String>) -> Self {
        self.pseudonym = Some(name.into());
        self
    }

    /// The settings of the client-facing HTTP/1.1 server (header timeout, body channel,
    /// limits). The default allows bodies of any size, since they stream.
    pub fn server_config(mut self, config: ServerConfig) -> Self {
        self.server = config;
        self
    }

    /// Builds the proxy.
    pub fn build(self) -> ForwardProxy {
        use base64::Engine as _;
        let auth = self.auth.map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        let pseudonym = self
            .pseudonym
            .unwrap_or_else(|| format!("quasar-{:08x}", rand::random::<u32>()));
        let via = format!("1.1 {pseudonym}");
        let via = http::HeaderValue::from_str(&via)
            .unwrap_or_else(|_| http::HeaderValue::from_static("1.1 quasar"));
        let tunnel_config = self.tunnel_config.unwrap_or_else(|| {
            let mut c = ConnectionConfig::default();
            c.keep_alive(Duration::from_secs(300));
            c
        });
        let stats = ProxyStats::default();
        let shared = Arc::new(Shared {
            ports: self.ports,
            allow: self.allow,
            auth,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            tunnel_config,
            via_token: pseudonym.to_ascii_lowercase(),
            via,
            limits: self.server.limits,
            header_timeout: self.server.header_timeout,
            pool: upstream::Pool::new(self.idle_per_host, self.idle_timeout),
            stats,
        });
        let handler = forward::ForwardHandler::new(Arc::clone(&shared));
        ForwardProxy {
            http: HttpFactory::new(handler, self.server),
            shared,
        }
    }
}

impl ForwardProxy {
    /// A builder with the defaults: `CONNECT` to port 443 only, any destination, no
    /// credentials.
    pub fn builder() -> ForwardProxyBuilder {
        ForwardProxyBuilder::default()
    }

    /// The proxy's counters (shared by its clones).
    pub fn stats(&self) -> ProxyStats {
        self.shared.stats.clone()
    }
}

impl Default for ForwardProxy {
    fn default() -> Self {
        ForwardProxy::builder().build()
    }
}

impl fmt::Debug for ForwardProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardProxy")
            .field("ports", &self.shared.ports)
            .field("allow", &self.shared.allow)
            .field("auth", &self.shared.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl ConsumerFactory for ForwardProxy {
    type Consumer = ProxyConsumer;

    fn busy_reply(&self) -> Option<bytes::Bytes> {
        self.http.busy_reply()
    }

    fn build(&self, conn: &Connection) -> ProxyConsumer {
        ProxyConsumer::new(Arc::clone(&self.shared), self.http.build(conn))
    }
}
