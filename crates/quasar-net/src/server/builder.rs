//! The one-shot builder of a [`TcpServer`].

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::settings::ServerSettings;
use super::TcpServer;
use crate::flow_control::WaterMarks;
use crate::hooks::{ConnectionEvent, DataEvent, LostEvent, RequestEvent};
use crate::transport::{Acceptor, PlainAcceptor};
use crate::{ConnectionConfig, ConsumerFactory, Hooks, Result};

/// pulsar's default `backlog` setting for socket servers.
pub const DEFAULT_BACKLOG: u32 = 2048;

/// How long a server drains after reaching its session limit or on a signal.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures and starts a [`TcpServer`].
#[must_use = "builder does nothing itself; call `start().await`"]
pub struct TcpServerBuilder<F, A = PlainAcceptor> {
    pub(crate) factory: F,
    pub(crate) acceptor: A,
    pub(crate) addr: SocketAddr,
    pub(crate) listener: Option<std::net::TcpListener>,
    pub(crate) settings: ServerSettings,
    pub(crate) backlog: u32,
    pub(crate) config: ConnectionConfig,
    pub(crate) max_connections: usize,
    pub(crate) overflow: super::OverflowPolicy,
    pub(crate) max_queue_time: Duration,
    pub(crate) jitter: bool,
    pub(crate) hooks: Hooks,
}

impl<F: ConsumerFactory> TcpServerBuilder<F> {
    pub(crate) fn new(factory: F) -> Self {
        TcpServerBuilder {
            factory,
            acceptor: PlainAcceptor,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            listener: None,
            settings: ServerSettings::new("tcp"),
            backlog: DEFAULT_BACKLOG,
            config: {
                let mut c = ConnectionConfig::default();
                c.memory_budget(Some(std::sync::Arc::new(crate::MemoryBudget::new(
                    crate::DEFAULT_MEMORY_BUDGET,
                ))));
                c
            },
            max_connections: 0,
            overflow: super::OverflowPolicy::Wait,
            max_queue_time: super::DEFAULT_MAX_QUEUE_TIME,
            jitter: false,
            hooks: Hooks::default(),
        }
    }
}

impl<F: ConsumerFactory, A: Acceptor> TcpServerBuilder<F, A> {
    /// Turns each accepted socket into the connection's transport (a TLS handshake)
    /// inside the connection's own task, so a slow handshake never blocks `accept`. The
    /// handshake is bounded by [`handshake_timeout`](Self::handshake_timeout).
    pub fn acceptor<B: Acceptor>(self, acceptor: B) -> TcpServerBuilder<F, B> {
        TcpServerBuilder {
            factory: self.factory,
            acceptor,
            addr: self.addr,
            listener: self.listener,
            settings: self.settings,
            backlog: self.backlog,
            config: self.config,
            max_connections: self.max_connections,
            overflow: self.overflow,
            max_queue_time: self.max_queue_time,
            jitter: self.jitter,
            hooks: self.hooks,
        }
    }

    /// How long an acceptor's handshake may take (default 10 s; zero: no limit). A
    /// client that connects and sends nothing is closed then.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout(timeout);
        self
    }

    /// The address to listen on (default `127.0.0.1:0`; port 0 picks a free port, which
    /// [`TcpServer::address`] reports).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Serve on an already bound listener (pulsar's `sockets=`), e.g. one inherited from a
    /// parent process. Ignored with `workers(n)`, which binds one listener per worker.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    super::settings::server_settings!();

    /// The listen backlog (default 2048).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Idle timeout of connections (pulsar's `keep_alive`; zero disables it).
    pub fn keep_alive(mut self, timeout: Duration) -> Self {
        self.config.keep_alive(timeout);
        self
    }

    /// Timeout of a request in flight (zero disables it).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout(timeout);
        self
    }

    /// The progress rules of every connection, in one call: minimum receive and send
    /// rates and the write stall, on by default (see
    /// [`ProgressRules`](crate::connection::ProgressRules) for the defaults and what
    /// they close); [`ProgressRules::OFF`](crate::connection::ProgressRules::OFF)
    /// turns them off.
    pub fn progress_rules(mut self, rules: crate::connection::ProgressRules) -> Self {
        self.config.progress_rules(rules);
        self
    }

    /// Close each connection after it served `n` requests (0 = no limit).
    pub fn max_requests_per_connection(mut self, n: u64) -> Self {
        self.config.max_requests(n);
        self
    }

    /// Stop accepting after `n` sessions and drain (pulsar's `max_requests`, which counts
    /// connections; 0 = no limit). See [`max_requests_jitter`](Self::max_requests_jitter).
    pub fn max_requests(mut self, n: u64) -> Self {
        self.settings.max_requests = n;
        self
    }

    /// Draw the session limit from a log-normal around `max_requests` (sigma 0.2), as
    /// pulsar's workers do, so servers started together do not recycle together.
    pub fn max_requests_jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// At most `n` connections open at once (0 = no limit). Enforced before `accept`:
    /// extra connections wait in the kernel backlog.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// The server-wide memory budget in bytes (default
    /// [`DEFAULT_MEMORY_BUDGET`](crate::DEFAULT_MEMORY_BUDGET), 512 MiB) for what
    /// connections hold for peers; see [`MemoryBudget`](crate::MemoryBudget). 0 turns
    /// it off.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.config.memory_budget(
            (bytes > 0).then(|| std::sync::Arc::new(crate::MemoryBudget::new(bytes))),
        );
        self
    }

    /// What to do with a connection when `max_connections` are open (default
    /// [`OverflowPolicy::Wait`](super::OverflowPolicy::Wait)); see
    /// [`server::shed`](super::shed) and the factory's
    /// [`busy_reply`](crate::ConsumerFactory::busy_reply).
    pub fn overflow_policy(mut self, policy: super::OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// Under [`OverflowPolicy::Wait`](super::OverflowPolicy::Wait), the longest a
    /// connection waits for a slot before it is refused with the busy reply (default
    /// [`DEFAULT_MAX_QUEUE_TIME`](super::DEFAULT_MAX_QUEUE_TIME)). Zero: wait in the
    /// kernel's backlog without limit, as before.
    pub fn max_queue_time(mut self, limit: Duration) -> Self {
        self.max_queue_time = limit;
        self
    }

    /// Write buffer water marks (defaults: 16 KiB low, 64 KiB high, cap 4x high).
    pub fn water_marks(mut self, marks: WaterMarks) -> Self {
        self.config.water_marks(marks);
        self
    }

    /// Edits the per-connection settings directly.
    pub fn connection_config(mut self, edit: impl FnOnce(&mut ConnectionConfig)) -> Self {
        edit(&mut self.config);
        self
    }

    crate::hooks::builder_hooks! {
        /// Replaces the hooks.
        hooks;
        /// Adds a `connection_made` hook.
        on_connection_made(ConnectionEvent);
        /// Adds a `pre_request` hook; returning [`Error::aborted`](crate::Error::aborted)
        /// aborts the request.
        on_pre_request(RequestEvent<'a>);
        /// Adds a `post_request` hook.
        on_post_request(RequestEvent<'a>);
        /// Adds a `data_received` hook.
        on_data_received(DataEvent<'a>);
        /// Adds a `data_processed` hook.
        on_data_processed(DataEvent<'a>);
        /// Adds a `connection_lost` hook.
        on_connection_lost(LostEvent<'a>);
        /// Adds a `pause_writing` hook (the write buffer passed its high-water mark).
        on_pause_writing(ConnectionEvent);
        /// Adds a `resume_writing` hook (the write buffer drained to its low-water mark).
        on_resume_writing(ConnectionEvent);
    }

    /// Binds and starts serving; fires the server's `start` event.
    ///
    /// # Errors
    ///
    /// [`Error::is_bind`](crate::Error::is_bind) naming the address when a listener
    /// cannot be bound; [`Error::is_config`](crate::Error::is_config) when a worker
    /// runtime cannot be built.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe in a useful sense: dropping the future after binding drops the
    /// listeners, which is a clean (if pointless) outcome.
    pub async fn start(self) -> Result<TcpServer> {
        TcpServer::start(self).await
    }
}

impl<F, A> fmt::Debug for TcpServerBuilder<F, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServerBuilder")
            .field("addr", &self.addr)
            .field("settings", &self.settings)
            .field("config", &self.config)
            .finish()
    }
}
