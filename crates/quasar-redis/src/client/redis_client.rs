//! [`RedisClient`]: a multiplexed, pooled Redis client on [`quasar_net::Client`].
//!
//! Commands from many tasks share up to `pool_size` connections (default 2), with up to
//! [`MAX_IN_FLIGHT`] commands pipelined on each: commands queued together leave in one write
//! and replies come back in order, as with the `redis` crate's `MultiplexedConnection`. Every
//! new connection runs the session handshake (`AUTH`/`HELLO`, `CLIENT SETNAME`, `SELECT`)
//! through [`quasar_net::ClientBuilder::on_connect`] before any command uses it, so a
//! connection the pool opens to replace a lost one is ready too. Work that needs a
//! connection to itself — `WATCH`/`MULTI`/`EXEC`, blocking pops — checks one out of a
//! second, exclusive pool ([`RedisClient::exclusive`]); a subscription opens its own.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quasar_net::connection::ClientConnectionBuilder;
use quasar_net::pool::{Pool, SharedConnection};
use quasar_net::tls::{PemSource, TlsConnector};
use quasar_net::{Client, ClientConnection, ConnectionConfig, Error, TcpManager};
use tokio::sync::OnceCell;

use super::cmd::{cmd, Cmd};
use super::error::{RedisError, RedisResult};
use super::exclusive::ExclusiveConnection;
use super::from_frame::FromFrame;
use super::pipeline::Pipeline;
use super::subscription::Subscription;
use super::url::RedisUrl;
use super::RedisConsumer;
use crate::Frame;

/// Most commands in flight on one pooled connection.
pub const MAX_IN_FLIGHT: usize = 256;
/// Connections per client in the multiplexed pool unless set otherwise.
pub const DEFAULT_POOL_SIZE: usize = 2;
/// How long a command may take unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages a subscription buffers before the connection stops reading.
const SUBSCRIPTION_BUFFER: usize = 1024;

/// The consumer factory of every client connection.
pub(crate) type Factory = fn() -> RedisConsumer;

/// A Redis client: cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct RedisClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: Arc<RedisUrl>,
    addr: OnceCell<SocketAddr>,
    /// The multiplexed pool, kept to skip the client's lookup by address per command.
    shared_pool: OnceCell<Pool<TcpManager<Factory>>>,
    shared: Client<Factory>,
    exclusive: Client<Factory>,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    /// For `rediss://`: every connection goes through it.
    tls: Option<TlsConnector>,
    /// Whether the multiplexed pool's every connection was last seen open and shared:
    /// then a checkout joins one without waiting.
    settled: AtomicBool,
}

/// Configures a [`RedisClient`].
#[derive(Debug)]
#[must_use = "builder does nothing itself; call `build()`"]
pub struct RedisClientBuilder {
    url: RedisUrl,
    pool_size: usize,
    exclusive_pool_size: usize,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    tls_ca: Option<std::path::PathBuf>,
    tls_connector: Option<TlsConnector>,
}

// ===== impl RedisClientBuilder =====

impl RedisClientBuilder {
    /// Connections in the multiplexed pool (default [`DEFAULT_POOL_SIZE`]).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// Connections in the exclusive pool used by transactions and blocking commands
    /// (default 8).
    pub fn exclusive_pool_size(mut self, n: usize) -> Self {
        self.exclusive_pool_size = n;
        self
    }

    /// How long a command may take before it fails with [`RedisError::Timeout`] (default
    /// [`DEFAULT_TIMEOUT`]; `None` waits forever). Blocking commands get their own block
    /// time on top.
    ///
    /// On the multiplexed pool the timeout is kept per connection, with one timer for
    /// every command on it: a command that expires fails in the order it was sent, the
    /// connection stays in use, and the reply that comes late is read and dropped (the
    /// next command still gets its own). A connection whose oldest command is still
    /// unanswered at twice the timeout is taken for dead: it is closed, its commands fail
    /// with [`RedisError::Timeout`], and the pool opens a new one for the next commands.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long opening a connection (handshake included) may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Names every connection with `CLIENT SETNAME`.
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.url.set_client_name(name);
        self
    }

    /// For `rediss://` URLs: trust the CA certificates in this PEM file as well as the
    /// platform's roots.
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls_ca = Some(path.into());
        self
    }

    /// For `rediss://` URLs: connect through this connector (its own roots, client
    /// certificate, server name) instead of one built from the URL's host and
    /// [`tls_ca_file`](Self::tls_ca_file).
    pub fn tls_connector(mut self, connector: TlsConnector) -> Self {
        self.tls_connector = Some(connector);
        self
    }

    /// Speaks RESP3 (`HELLO 3`) instead of RESP2.
    pub fn resp3(mut self, on: bool) -> Self {
        self.url.set_resp3(on);
        self
    }

    /// Builds the client; no connection is opened until the first command.
    ///
    /// # Errors
    ///
    /// [`RedisError::Net`] with a config error when a pool size is zero, or for a
    /// `rediss://` URL whose CA file cannot be read or whose host is not a valid TLS
    /// server name.
    pub fn build(self) -> RedisResult<RedisClient> {
        let tls = match (self.url.is_tls(), self.tls_connector) {
            (false, _) => None,
            (true, Some(connector)) => Some(connector),
            (true, None) => {
                let mut b = TlsConnector::builder().server_name(self.url.host());
                if let Some(ca) = &self.tls_ca {
                    b = b.ca(PemSource::file(ca));
                }
                Some(b.build()?)
            }
        };
        let url = Arc::new(self.url);
        let client = |max_in_flight: usize, pool_size: usize, call_timeout: Duration| {
            let url = Arc::clone(&url);
            Client::builder(RedisConsumer::new as Factory)
                .name("redis")
                .pool_size(pool_size)
                .max_in_flight(max_in_flight)
                .connect_timeout(self.connect_timeout)
                .connection_config(|c| {
                    c.call_timeout(call_timeout);
                })
                .on_connect(move |conn| handshake(conn, Arc::clone(&url)))
                .build()
        };
        // The multiplexed pool's commands all have the same timeout, so each connection
        // keeps one timer for all of them (`ConnectionConfig::call_timeout`). Exclusive
        // connections carry one command at a time, some of them with a server-side block
        // time added: they keep a timer per command.
        let call_timeout = self.timeout.unwrap_or(Duration::ZERO);
        Ok(RedisClient {
            inner: Arc::new(Inner {
                shared: client(MAX_IN_FLIGHT, self.pool_size, call_timeout)?,
                exclusive: client(1, self.exclusive_pool_size, Duration::ZERO)?,
                url,
                addr: OnceCell::new(),
                shared_pool: OnceCell::new(),
                timeout: self.timeout,
                connect_timeout: self.connect_timeout,
                tls,
                settled: AtomicBool::new(false),
            }),
        })
    }
}

// ===== impl RedisClient =====

impl RedisClient {
    /// A client for `url` (`redis://[user:pass@]host[:port][/db]`, or `rediss://` for
    /// TLS with the platform's roots) with default settings.
    ///
    /// # Errors
    ///
    /// [`RedisError::Url`] when the URL is not valid.
    pub fn new(url: &str) -> RedisResult<RedisClient> {
        RedisClient::builder(url)?.build()
    }

    /// A builder for a client of `url`.
    ///
    /// # Errors
    ///
    /// [`RedisError::Url`] when the URL is not valid.
    pub fn builder(url: &str) -> RedisResult<RedisClientBuilder> {
        Ok(RedisClientBuilder {
            url: RedisUrl::parse(url)?,
            pool_size: DEFAULT_POOL_SIZE,
            exclusive_pool_size: 8,
            timeout: Some(DEFAULT_TIMEOUT),
            connect_timeout: Duration::from_secs(5),
            tls_ca: None,
            tls_connector: None,
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &RedisUrl {
        &self.inner.url
    }

    /// Sends `cmd` and returns its reply; an error reply is an `Err`.
    ///
    /// # Errors
    ///
    /// [`RedisError::Server`] (or `Moved`/`Ask`) for an error reply,
    /// [`RedisError::Timeout`] past the command timeout, and [`RedisError::Net`] when the
    /// connection cannot be opened or is lost before the reply.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the connection stays in sync (a dropped command's reply is read and
    /// discarded). The command may or may not have reached the server.
    pub async fn send(&self, cmd: Cmd) -> RedisResult<Frame> {
        checked(self.send_raw(cmd, Duration::ZERO).await?)
    }

    /// Sends `cmd` and converts its reply to `T`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`RedisError::Type`] when the reply is not a `T`.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn query<T: FromFrame>(&self, cmd: Cmd) -> RedisResult<T> {
        // `send_raw` directly, not through `send`: each layer of `async fn` adds its own
        // state around the inner future, and moving it copies the whole.
        T::from_frame(checked(self.send_raw(cmd, Duration::ZERO).await?)?)
    }

    /// Sends `cmd` on the multiplexed pool and returns the reply frame as it came, error
    /// replies included; `extra` is added to the command timeout (a server-side block time).
    pub(crate) async fn send_raw(&self, cmd: Cmd, extra: Duration) -> RedisResult<Frame> {
        // The common checkout (joining an open connection) is ready at once and is done
        // by a plain function; the rest is boxed. Either way this future's state is only
        // the command, the hold and the request: a command's future is moved (copied)
        // several times on its way to the runtime, so its size is paid per command.
        let conn = match self.try_checkout() {
            Some(conn) => conn?,
            None => Box::pin(self.checkout_slow(extra)).await?,
        };
        // The command timeout is the connection's call timeout: one timer per connection,
        // none per command.
        conn.request(cmd).await.map_err(|e| {
            if e.is_request_timeout() {
                RedisError::Timeout
            } else {
                RedisError::from(e)
            }
        })
    }

    /// What `Client::request` does with max_in_flight > 1, a shared checkout, when it is
    /// ready without waiting; `None` when it would wait (or connect).
    ///
    /// Only once every connection of the pool is shared: until then a checkout may open a
    /// connection, and one dropped at its first `Pending` would waste it.
    #[inline(never)]
    fn try_checkout(&self) -> Option<Result<SharedConnection<TcpManager<Factory>>, Error>> {
        let pool = self.inner.shared_pool.get()?;
        if !self.inner.settled.load(Ordering::Relaxed) {
            return None;
        }
        // Built in place by `pin!`, in this function's frame: never in a future's state.
        try_now(std::pin::pin!(pool.connect_shared()))
    }

    /// The checkout that may wait, connect or open the pool, under the command timeout.
    #[cold]
    async fn checkout_slow(
        &self,
        extra: Duration,
    ) -> RedisResult<SharedConnection<TcpManager<Factory>>> {
        let pool = match self.inner.shared_pool.get() {
            Some(pool) => pool,
            None => self.init_shared_pool().await?,
        };
        let settled = &self.inner.settled;
        settled.store(false, Ordering::Relaxed);
        let conn = self.with_timeout(extra, pool.connect_shared()).await?;
        let st = pool.state();
        settled.store(st.shared >= st.pool_size, Ordering::Relaxed);
        Ok(conn)
    }

    #[cold]
    async fn init_shared_pool(&self) -> RedisResult<&Pool<TcpManager<Factory>>> {
        let addr = self.addr().await?;
        let pool = match &self.inner.tls {
            Some(tls) => self.inner.shared.pool_tls(addr, tls)?,
            None => self.inner.shared.pool(addr)?,
        };
        Ok(self.inner.shared_pool.get_or_init(|| async { pool }).await)
    }

    /// Runs `fut` under the command timeout plus `extra`.
    pub(crate) async fn with_timeout<T>(
        &self,
        extra: Duration,
        fut: impl std::future::Future<Output = Result<T, Error>>,
    ) -> RedisResult<T> {
        match self.inner.timeout {
            None => Ok(fut.await?),
            Some(limit) => match tokio::time::timeout(limit + extra, fut).await {
                Ok(outcome) => Ok(outcome?),
                Err(_) => Err(RedisError::Timeout),
            },
        }
    }

    /// An empty pipeline: commands sent together, all replies returned together.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new()
    }

    /// Checks a connection out of the exclusive pool, for `WATCH`/`MULTI`/`EXEC` and
    /// blocking commands that must not share their connection.
    ///
    /// # Errors
    ///
    /// [`RedisError::Net`] when no connection can be opened.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn exclusive(&self) -> RedisResult<ExclusiveConnection> {
        let addr = self.addr().await?;
        let conn = match &self.inner.tls {
            Some(tls) => self.inner.exclusive.connect_tls(addr, tls).await?,
            None => self.inner.exclusive.connect(addr).await?,
        };
        Ok(ExclusiveConnection::new(self.clone(), conn))
    }

    /// Subscribes to `channels` on a connection of its own (outside both pools) and
    /// returns the stream of their messages. With no channel, the connection opens
    /// subscribed to nothing, for [`Subscription::subscribe`] and friends to add to.
    ///
    /// # Errors
    ///
    /// [`RedisError::Net`] when the connection cannot be opened; a server error when the
    /// subscription is refused.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped call closes its connection.
    pub async fn subscribe<I>(&self, channels: I) -> RedisResult<Subscription>
    where
        I: IntoIterator,
        I::Item: super::cmd::ToArg,
    {
        let addr = self.addr().await?;
        let (tx, rx) = tokio::sync::mpsc::channel(SUBSCRIPTION_BUFFER);
        let builder = ClientConnectionBuilder::new(RedisConsumer::new as Factory)
            .config(ConnectionConfig::default())
            .push_sink(tx)
            .connect_timeout(self.inner.connect_timeout);
        let conn = match &self.inner.tls {
            Some(tls) => builder.connect_with(tls, addr).await?,
            None => builder.connect(addr).await?,
        };
        // Closes the connection if the handshake or the SUBSCRIBE is cancelled or fails.
        let guard = AbortGuard(Some(conn.clone()));
        handshake(conn.clone(), Arc::clone(&self.inner.url)).await?;
        let subscription = Subscription::new(self.clone(), conn, rx);
        subscription.subscribe_initial(channels).await?;
        guard.disarm();
        Ok(subscription)
    }

    /// Closes both pools and waits for their connections to go; later commands fail.
    /// An [`ExclusiveConnection`] still checked out is waited for: drop it first.
    /// Subscriptions have connections of their own and are not affected.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pools are closed at the first poll.
    pub async fn close(&self) {
        tokio::join!(self.inner.shared.close(), self.inner.exclusive.close());
    }

    /// The core client of the multiplexed pool (its pool, counters and hooks).
    pub fn shared_client(&self) -> &Client<Factory> {
        &self.inner.shared
    }

    /// The core client of the exclusive pool.
    pub fn exclusive_client(&self) -> &Client<Factory> {
        &self.inner.exclusive
    }

    /// The server's address, resolved on first use.
    ///
    /// # Errors
    ///
    /// [`RedisError::Net`] with a connect error when the host does not resolve.
    pub async fn addr(&self) -> RedisResult<SocketAddr> {
        let url = &self.inner.url;
        let addr = self
            .inner
            .addr
            .get_or_try_init(|| async {
                let target = (url.host(), url.port());
                let mut addrs = tokio::net::lookup_host(target)
                    .await
                    .map_err(|e| Error::connect(format!("{}:{}", url.host(), url.port()), e))?;
                addrs.next().ok_or_else(|| {
                    Error::connect(
                        format!("{}:{}", url.host(), url.port()),
                        "the host name resolves to no address",
                    )
                })
            })
            .await?;
        Ok(*addr)
    }
}

impl fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClient")
            .field("url", &self.inner.url)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

// ===== impl Cmd =====

impl Cmd {
    /// Sends this command with `client` and converts the reply to `T`: the `redis` crate's
    /// `cmd("GET").arg("k").query_async::<T>(&mut con)`.
    ///
    /// # Errors
    ///
    /// As [`RedisClient::query`].
    ///
    /// # Cancel safety
    ///
    /// As [`RedisClient::send`].
    pub async fn query<T: FromFrame>(self, client: &RedisClient) -> RedisResult<T> {
        client.query(self).await
    }
}

// ===== handshake =====

/// The session handshake of a new connection: `HELLO 3` (with `AUTH`/`SETNAME`) or `AUTH`
/// and `CLIENT SETNAME`, then `SELECT`, pipelined as one request.
pub(crate) async fn handshake(
    conn: ClientConnection<Cmd, Frame>,
    url: Arc<RedisUrl>,
) -> quasar_net::Result<()> {
    let mut steps = Cmd::default();
    if url.is_resp3() {
        let mut hello = cmd("HELLO").arg(3);
        if let Some(password) = url.password() {
            hello = hello
                .arg("AUTH")
                .arg(url.username().unwrap_or("default"))
                .arg(password);
        }
        if let Some(name) = url.client_name() {
            hello = hello.arg("SETNAME").arg(name);
        }
        steps.append(hello);
    } else {
        if let Some(password) = url.password() {
            let auth = match url.username() {
                Some(user) => cmd("AUTH").arg(user).arg(password),
                None => cmd("AUTH").arg(password),
            };
            steps.append(auth);
        }
        if let Some(name) = url.client_name() {
            steps.append(cmd("CLIENT").arg("SETNAME").arg(name));
        }
    }
    if url.db() != 0 {
        steps.append(cmd("SELECT").arg(url.db()));
    }
    if steps.is_empty() {
        return Ok(());
    }
    let count = steps.replies();
    let replies = match conn.request(steps).await? {
        Frame::Array(replies) if count > 1 => replies,
        one => vec![one],
    };
    match replies.iter().find(|r| r.is_error()) {
        Some(err) => Err(Error::user(RedisError::from_reply(err))),
        None => Ok(()),
    }
}

/// An error reply as an `Err`.
fn checked(frame: Frame) -> RedisResult<Frame> {
    if frame.is_error() {
        return Err(RedisError::from_reply(&frame));
    }
    Ok(frame)
}

/// Polls `fut` once; `None` when it is not ready at once (the caller then drops it: only
/// for cancel-safe futures).
fn try_now<F: std::future::Future>(fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
    match fut.poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// Aborts a connection unless disarmed.
struct AbortGuard(Option<ClientConnection<Cmd, Frame>>);

impl AbortGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.abort();
        }
    }
}
