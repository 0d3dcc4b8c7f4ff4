//! Clients: a producer of pooled client connections (pulsar's `AbstractClient`).
//!
//! A [`Client`] owns one [`Pool`] per remote address, created on first use, whose
//! connections it opens with its consumer factory and counts as its `sessions`. TLS
//! connections ([`Client::connect_tls`], feature `tls`) get pools of their own, keyed by
//! the address *and* the connector's identity, so a plaintext connection and a TLS one to
//! the same address, or two TLS connections with different settings, are never handed
//! out for each other (pingora's peer-identity rule).
//! [`Client::request`] checks a connection out, starts a fresh consumer with the request
//! (`pre_request` hooks, then `start_request`), waits for it to finish and returns the
//! response — or a typed error: a connection lost mid-response is
//! [`Error::is_connection_lost`], where pulsar resolved `None`. A connection
//! whose request failed or was cancelled is discarded, never reused.
//!
//! # Examples
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quasar_net::{Client, Context, Progress, ProtocolConsumer, Result, TcpServer};
//!
//! /// Sends a line, resolves with the line that comes back.
//! struct LineClient;
//! impl ProtocolConsumer for LineClient {
//!     type Request = Bytes;
//!     type Response = Bytes;
//!     fn start_request(&mut self, cx: &mut Context<'_, Bytes, Bytes>, line: Bytes) -> Result<()> {
//!         cx.write(&line)?;
//!         cx.write(b"\n")
//!     }
//!     fn data_received(&mut self, _: &mut Context<'_, Bytes, Bytes>, buf: &mut BytesMut) -> Result<Progress<Bytes>> {
//!         let Some(end) = buf.iter().position(|&b| b == b'\n') else { return Ok(Progress::NeedMore) };
//!         let line = buf.split_to(end + 1).freeze().slice(..end);
//!         Ok(Progress::Finished(line))
//!     }
//! }
//!
//! /// The server side: echoes lines.
//! struct LineEcho;
//! impl ProtocolConsumer for LineEcho {
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
//! let server = TcpServer::builder(|| LineEcho).start().await?;
//! let client = Client::builder(|| LineClient).pool_size(2).build()?;
//! let reply = client.request(server.address(), Bytes::from("ping")).await?;
//! assert_eq!(reply, "ping");
//! assert_eq!((client.sessions(), client.requests_processed()), (1, 1));
//! client.close().await;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::connection::{self, ClientConnection};
use crate::hooks::RequestEvent;
use crate::pool::{Pool, PoolConnection};
use crate::{ConnectionConfig, ConsumerFactory, Error, Hooks, Producer, ProtocolConsumer, Result};

mod tcp_manager;
mod udp_manager;

pub use tcp_manager::TcpManager;
pub use udp_manager::UdpManager;

type Req<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Request;
type Resp<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Response;

/// A hook run on every new connection of a [`Client`] before it is used (see
/// [`ClientBuilder::on_connect`]).
pub type OnConnect<Req, Resp> = Arc<
    dyn Fn(ClientConnection<Req, Resp>) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>
        + Send
        + Sync,
>;

/// pulsar's default `pool_size`.
pub const DEFAULT_POOL_SIZE: usize = 10;

/// A producer of pooled client connections; cloning shares it.
pub struct Client<F: ConsumerFactory> {
    inner: Arc<Inner<F>>,
}

struct Inner<F: ConsumerFactory> {
    factory: Arc<F>,
    producer: Producer,
    config: Arc<ConnectionConfig>,
    pool: PoolSettings,
    pools: Mutex<HashMap<PoolKey, Pool<TcpManager<F>>>>,
    closed: AtomicBool,
    on_connect: Option<OnConnect<Req<F>, Resp<F>>>,
}

/// What a pool is for: an address and, for TLS, the identity of its connector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    addr: SocketAddr,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsIdentity>,
}

#[derive(Debug, Clone)]
struct PoolSettings {
    pool_size: usize,
    min_idle: usize,
    connect_timeout: Option<Duration>,
    acquire_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    max_waiters: Option<usize>,
}

/// Configures a [`Client`].
#[must_use = "builder does nothing itself; call `build()`"]
pub struct ClientBuilder<F: ConsumerFactory> {
    factory: F,
    on_connect: Option<OnConnect<Req<F>, Resp<F>>>,
    name: String,
    hooks: Hooks,
    config: ConnectionConfig,
    pool: PoolSettings,
}

// ===== impl ClientBuilder =====

impl<F: ConsumerFactory> ClientBuilder<F> {
    /// The name used in logs.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Most connections per address (default 10, pulsar's default).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool.pool_size = n;
        self
    }

    /// Idle connections each pool keeps open (opened in the background).
    pub fn min_idle(mut self, n: usize) -> Self {
        self.pool.min_idle = n;
        self
    }

    /// Time allowed to open one connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.pool.connect_timeout = Some(timeout);
        self
    }

    /// Time a request may wait for a free connection.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.pool.acquire_timeout = Some(timeout);
        self
    }

    /// Close pooled connections idle for this long (never below `min_idle`).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool.idle_timeout = Some(timeout);
        self
    }

    /// Close pooled connections older than this when they come back.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.pool.max_lifetime = Some(lifetime);
        self
    }

    /// Fail fast once this many requests wait for a connection of one pool.
    pub fn max_waiters(mut self, n: usize) -> Self {
        self.pool.max_waiters = Some(n);
        self
    }

    /// Multiplexes: up to `n` requests in flight on each connection (default 1, one at a
    /// time as in pulsar). Above 1, [`Client::request`] shares connections between callers
    /// through the pool's shared checkout ([`Pool::connect_shared`]), spreading them over
    /// up to `pool_size` connections; requests queued together leave in one write and
    /// replies are matched in order (the `redis` crate's multiplexed connection). Only
    /// for protocols whose server answers pipelined requests in order.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight(n);
        self
    }

    /// Fail a request whose response does not complete in time (closes its connection).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout(timeout);
        self
    }

    /// Edits the per-connection settings directly.
    pub fn connection_config(mut self, edit: impl FnOnce(&mut ConnectionConfig)) -> Self {
        edit(&mut self.config);
        self
    }

    /// Runs `hook` on every new connection, pooled or not, before any caller gets it: a
    /// session handshake such as Redis' `AUTH` and `SELECT`. An error fails the connect
    /// (the connection is closed and the caller that wanted it gets the error).
    pub fn on_connect<H, Fut>(mut self, hook: H) -> Self
    where
        H: Fn(ClientConnection<Req<F>, Resp<F>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_connect = Some(Arc::new(move |conn| Box::pin(hook(conn))));
        self
    }

    crate::hooks::builder_hooks! {
        /// Replaces the hooks fired for every connection and request of the client.
        hooks;
        /// Adds a `pre_request` hook; returning [`Error::aborted`] aborts the request before
        /// anything is written.
        on_pre_request(RequestEvent<'a>);
        /// Adds a `post_request` hook.
        on_post_request(RequestEvent<'a>);
    }

    /// Builds the client (no connection is opened yet).
    ///
    /// # Errors
    ///
    /// A config error when the pool size is zero or `min_idle` exceeds it.
    pub fn build(self) -> Result<Client<F>> {
        if self.pool.pool_size == 0 || self.pool.min_idle > self.pool.pool_size {
            return Err(Error::config(format!(
                "client pool_size must be positive and >= min_idle (pool_size {}, min_idle {})",
                self.pool.pool_size, self.pool.min_idle
            )));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                factory: Arc::new(self.factory),
                producer: Producer::new(self.name, self.hooks),
                config: Arc::new(self.config),
                pool: self.pool,
                pools: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
                on_connect: self.on_connect,
            }),
        })
    }
}

// ===== impl Client =====

impl<F: ConsumerFactory> Client<F> {
    /// A builder for a client whose consumers come from `factory`.
    pub fn builder(factory: F) -> ClientBuilder<F> {
        ClientBuilder {
            factory,
            on_connect: None,
            name: "client".into(),
            hooks: Hooks::default(),
            config: ConnectionConfig::default(),
            pool: PoolSettings {
                pool_size: DEFAULT_POOL_SIZE,
                min_idle: 0,
                connect_timeout: None,
                acquire_timeout: None,
                idle_timeout: None,
                max_lifetime: None,
                max_waiters: None,
            },
        }
    }

    /// Opens an unpooled connection to `addr` (pulsar's `create_connection`): counts a
    /// session and waits for `connection_made`.
    ///
    /// # Errors
    ///
    /// [`Error::is_connect`] naming the address and cause; [`Error::is_timeout`] past the
    /// connect timeout; [`Error::is_closed`] when the client is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn create_connection(
        &self,
        addr: SocketAddr,
    ) -> Result<ClientConnection<Req<F>, Resp<F>>> {
        self.check_open()?;
        let conn = connection::connect(
            addr,
            Arc::clone(&self.inner.factory),
            Arc::clone(&self.inner.config),
            self.inner.producer.clone(),
            self.inner.pool.connect_timeout.unwrap_or(Duration::ZERO),
        )
        .await?;
        tcp_manager::run_on_connect(self.inner.on_connect.as_ref(), conn).await
    }

    /// The pool of connections to `addr`, created on first use.
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] when the client is closed.
    pub fn pool(&self, addr: SocketAddr) -> Result<Pool<TcpManager<F>>> {
        let key = PoolKey {
            addr,
            #[cfg(feature = "tls")]
            tls: None,
        };
        self.pool_for(key, |m| m)
    }

    /// The pool of TLS connections to `addr` made through `connector`, created on first
    /// use. Connectors share a pool when one is a clone of the other, or both come from
    /// [`TlsConnector::from_config`](crate::tls::TlsConnector::from_config) over one
    /// configuration, with the same server name and handshake timeout; anything else
    /// (another CA, a client certificate, verification off) gets a pool of its own.
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] when the client is closed.
    #[cfg(feature = "tls")]
    pub fn pool_tls(
        &self,
        addr: SocketAddr,
        connector: &crate::tls::TlsConnector,
    ) -> Result<Pool<TcpManager<F>>> {
        let key = PoolKey {
            addr,
            tls: Some(connector.identity()),
        };
        self.pool_for(key, |m| m.with_tls(connector.clone()))
    }

    /// Checks a TLS connection to `addr` out of its pool (see [`pool_tls`](Self::pool_tls)).
    ///
    /// # Errors
    ///
    /// As [`Pool::connect`]; a failed handshake is [`Error::is_tls`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (see [`Pool::connect`]).
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        &self,
        addr: SocketAddr,
        connector: &crate::tls::TlsConnector,
    ) -> Result<PoolConnection<TcpManager<F>>> {
        self.pool_tls(addr, connector)?.connect().await
    }

    fn pool_for(
        &self,
        key: PoolKey,
        edit: impl FnOnce(TcpManager<F>) -> TcpManager<F>,
    ) -> Result<Pool<TcpManager<F>>> {
        self.check_open()?;
        let mut pools = self
            .inner
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let addr = key.addr;
        let s = &self.inner.pool;
        let manager = TcpManager::new(
            addr,
            Arc::clone(&self.inner.factory),
            Arc::clone(&self.inner.config),
            self.inner.producer.clone(),
            self.inner.on_connect.clone(),
        );
        let pool = Pool::builder(edit(manager))
            .pool_size(s.pool_size)
            .min_idle(s.min_idle)
            .connect_timeout(s.connect_timeout)
            .acquire_timeout(s.acquire_timeout)
            .idle_timeout(s.idle_timeout)
            .max_lifetime(s.max_lifetime)
            .max_waiters(s.max_waiters)
            .build()?;
        pools.insert(key, pool.clone());
        Ok(pool)
    }

    /// Checks a connection to `addr` out of its pool.
    ///
    /// # Errors
    ///
    /// As [`Pool::connect`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (see [`Pool::connect`]).
    pub async fn connect(&self, addr: SocketAddr) -> Result<PoolConnection<TcpManager<F>>> {
        self.pool(addr)?.connect().await
    }

    /// Sends `request` to `addr` on a pooled connection and returns the response.
    ///
    /// # Errors
    ///
    /// Pool errors (as [`Pool::connect`]), [`Error::is_connection_lost`] when the
    /// connection ends before the response, the consumer's own errors, and
    /// [`Error::is_aborted`] when a `pre_request` hook aborted the request. The
    /// connection of a failed request is discarded.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe for the pool. With exclusive checkout a cancelled request's connection
    /// is closed and its slot freed; multiplexed, the connection stays and the reply is
    /// read and dropped. The request itself may or may not have reached the server.
    pub async fn request(&self, addr: SocketAddr, request: Req<F>) -> Result<Resp<F>> {
        if self.inner.config.max_in_flight > 1 {
            // Multiplexed: many callers share each connection; a failed request does
            // not poison it (a broken stream closes the connection, which the pool sees).
            let conn = self.pool(addr)?.connect_shared().await?;
            return conn.request(request).await;
        }
        let mut conn = self.connect(addr).await?;
        conn.start_request();
        let outcome = conn.request(request).await;
        conn.finish_request();
        if outcome.is_err() {
            conn.close(true);
        }
        outcome
    }

    /// Connections opened so far (pulsar's `sessions`).
    pub fn sessions(&self) -> u64 {
        self.inner.producer.sessions()
    }

    /// Requests started so far (pulsar's `requests_processed`).
    pub fn requests_processed(&self) -> u64 {
        self.inner.producer.requests_processed()
    }

    /// The producer: counters and hooks.
    pub fn producer(&self) -> &Producer {
        &self.inner.producer
    }

    /// The addresses that have a pool (an address with a plaintext and a TLS pool, or
    /// TLS pools of different settings, is listed once per pool).
    pub fn pool_addresses(&self) -> Vec<SocketAddr> {
        let pools = self
            .inner
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        pools.keys().map(|k| k.addr).collect()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes every pool (idle connections at once, checked-out ones when they come back)
    /// and waits until all their connections are gone. Later requests fail with
    /// [`Error::is_closed`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pools are closed at the first poll; only the waiting stops.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let pools: Vec<_> = {
            let mut pools = self
                .inner
                .pools
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pools.drain().map(|(_, p)| p).collect()
        };
        let closing: Vec<_> = pools.iter().map(|p| p.close()).collect();
        futures_util::future::join_all(closing).await;
    }

    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed("client"));
        }
        Ok(())
    }
}

impl<F: ConsumerFactory> Clone for Client<F> {
    fn clone(&self) -> Self {
        Client {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: ConsumerFactory> fmt::Debug for Client<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.inner.producer.name())
            .field("sessions", &self.sessions())
            .field("requests_processed", &self.requests_processed())
            .field("pools", &self.pool_addresses())
            .finish()
    }
}

impl<F: ConsumerFactory> fmt::Debug for ClientBuilder<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("name", &self.name)
            .field("pool", &self.pool)
            .field("on_connect", &self.on_connect.is_some())
            .finish()
    }
}
