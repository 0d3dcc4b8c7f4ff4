//! TCP servers: a producer of server connections.
//!
//! [`TcpServer`] is pulsar's `TcpServer`: it listens, numbers each accepted connection
//! (`sessions`), drives it with a fresh [`Connection`](crate::Connection) whose consumers
//! come from the factory, fires the server-wide [`Hooks`](crate::Hooks) on every
//! connection and request, and reports `info()`. It adds what pulsar lacked: a limit on
//! open connections enforced before `accept`, back-off on accept errors, a working
//! `max_requests`, `workers(n)` with one `SO_REUSEPORT` listener per
//! current-thread runtime, and a graceful [`close`](TcpServer::close) with a deadline.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use bytes::BytesMut;
//! use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! /// Echoes each line.
//! struct Lines;
//! impl ProtocolConsumer for Lines {
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
//! let server = TcpServer::builder(|| Lines)
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .keep_alive(Duration::from_secs(15))
//!     .start()
//!     .await?;
//! let mut sock = tokio::net::TcpStream::connect(server.address()).await?;
//! sock.write_all(b"one\ntwo\n").await?;
//! let mut reply = [0u8; 8];
//! sock.read_exact(&mut reply).await?;
//! assert_eq!(&reply, b"one\ntwo\n");
//! assert_eq!(server.info().clients.requests_processed, 2);
//! let report = server.close(Duration::from_secs(1)).await;
//! assert_eq!(report.closed_idle, 1);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::transport::Acceptor;
use crate::{ConsumerFactory, Error, Producer, Result};

mod accept;
mod builder;
pub(crate) mod handle;
mod info;
mod jitter;
pub(crate) mod settings;
pub mod shed;
mod tracker;
pub(crate) mod worker;

pub use builder::{TcpServerBuilder, DEFAULT_BACKLOG, DEFAULT_SHUTDOWN_TIMEOUT};
pub use info::{ClientsSection, CloseReport, ServerInfo, ServerSection};
pub use shed::{OverflowPolicy, DEFAULT_MAX_QUEUE_TIME};

use accept::{accept_loop, bind, AcceptCtx};
use handle::{CloseOutcome, ServerHandle};
use tracker::Tracker;

/// A running TCP server; cloning shares it.
#[derive(Clone)]
pub struct TcpServer {
    inner: Arc<Inner>,
}

struct Inner {
    handle: ServerHandle<CloseReport>,
    keep_alive: Duration,
    max_sessions: u64,
    overflow: OverflowPolicy,
    max_queue_time: Duration,
    memory_budget: Option<Arc<crate::MemoryBudget>>,
    shutdown_timeout: Duration,
    tracker: Arc<Tracker>,
    stop_accepting: CancellationToken,
}

impl CloseOutcome for CloseReport {
    fn forced(&self) -> u64 {
        self.forced
    }
}

// ===== impl TcpServer =====

impl TcpServer {
    /// A builder for a server whose connections build consumers with `factory`.
    ///
    /// Defaults: `127.0.0.1:0`, no keep-alive and no request timeout, no connection
    /// limit, and the progress rules on (a peer that sends a started request or takes
    /// waiting output slower than 1 KiB per 10 s, or takes none for 20 s, is closed; see
    /// [`ProgressRules`](crate::connection::ProgressRules) and
    /// [`TcpServerBuilder::progress_rules`]).
    pub fn builder<F: ConsumerFactory>(factory: F) -> TcpServerBuilder<F> {
        TcpServerBuilder::new(factory)
    }

    /// The open connection with session number `session` (pulsar's live set), if any:
    /// write to it, close it, read its counters.
    pub fn connection(&self, session: u64) -> Option<crate::Connection> {
        self.inner.tracker.connection(session)
    }

    async fn start<F: ConsumerFactory, A: Acceptor>(
        b: TcpServerBuilder<F, A>,
    ) -> Result<TcpServer> {
        let max_sessions = if b.jitter {
            jitter::lognormal_limit(b.settings.max_requests)
        } else {
            b.settings.max_requests
        };
        // Bind everything first, so every bind error reaches the caller (pulsar's
        // DatagramServer swallowed them).
        let mut listeners = Vec::new();
        if b.settings.workers == 0 {
            match b.listener {
                Some(l) => {
                    l.set_nonblocking(true).map_err(Error::from)?;
                    listeners.push(l)
                }
                None => listeners.push(bind(b.addr, b.backlog, false)?),
            }
        } else {
            // SO_REUSEPORT would let these listeners silently join another server's
            // on the same port (same user) and split its connections. A plain bind
            // first proves the address free, and resolves port 0.
            let port_addr = bind(b.addr, b.backlog, false)?
                .local_addr()
                .map_err(Error::from)?;
            for _ in 0..b.settings.workers {
                listeners.push(bind(port_addr, b.backlog, true)?);
            }
        }
        let addresses = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(Error::from)?;

        let producer = Producer::new(b.settings.name.clone(), b.hooks);
        let tracker = Arc::new(Tracker::default());
        let stop_accepting = CancellationToken::new();
        let on_limit = CancellationToken::new();
        let ctx = Arc::new(AcceptCtx {
            factory: Arc::new(b.factory),
            acceptor: Arc::new(b.acceptor),
            config: Arc::new(b.config.clone()),
            producer: producer.clone(),
            tracker: Arc::clone(&tracker),
            stop_accepting: stop_accepting.clone(),
            limit: (b.max_connections > 0).then(|| Arc::new(Semaphore::new(b.max_connections))),
            limit_max: b.max_connections,
            overflow: b.overflow,
            max_queue_time: b.max_queue_time,
            // Connections accepted and waiting for a slot: as many as there are slots.
            queue: (b.max_connections > 0
                && b.overflow == OverflowPolicy::Wait
                && !b.max_queue_time.is_zero())
            .then(|| Arc::new(Semaphore::new(b.max_connections))),
            rejecting: Arc::new(Semaphore::new(shed::MAX_REJECTING)),
            max_sessions,
            on_limit: on_limit.clone(),
            span_per_task: b.settings.workers == 0,
        });

        let mut worker_threads = Vec::new();
        if b.settings.workers == 0 {
            let listener = listeners.pop().expect("one listener bound above");
            let listener = TcpListener::from_std(listener).map_err(Error::from)?;
            tokio::spawn(accept_loop(listener, Arc::clone(&ctx)));
        } else {
            for (i, listener) in listeners.into_iter().enumerate() {
                let ctx = Arc::clone(&ctx);
                let handle = worker::spawn_worker(
                    format!("{}-worker-{i}", b.settings.name),
                    i,
                    move || async move {
                        let tracker = Arc::clone(&ctx.tracker);
                        match TcpListener::from_std(listener) {
                            Ok(l) => accept_loop(l, ctx).await,
                            Err(e) => tracing::error!(error = %e, "worker listener"),
                        }
                        // Stay until every connection of this worker has ended.
                        tracker.tasks.wait().await;
                    },
                )?;
                worker_threads.push(handle);
            }
        }

        let server = TcpServer {
            inner: Arc::new(Inner {
                handle: ServerHandle::new(
                    b.settings.name,
                    addresses,
                    producer,
                    b.settings.workers,
                    worker_threads,
                ),
                keep_alive: b.config.get_keep_alive(),
                max_sessions,
                overflow: b.overflow,
                max_queue_time: b.max_queue_time,
                memory_budget: b.config.memory_budget.clone(),
                shutdown_timeout: b.settings.shutdown_timeout,
                tracker,
                stop_accepting,
            }),
        };
        let h = &server.inner.handle;
        for (worker, addr) in h.addresses.iter().enumerate() {
            if h.workers == 0 {
                tracing::info!(name = %h.name, %addr, "serving");
            } else {
                tracing::info!(name = %h.name, %addr, worker, "serving");
            }
        }
        // Reaching the session limit drains the server in the background.
        let weak = Arc::downgrade(&server.inner);
        tokio::spawn(async move {
            on_limit.cancelled().await;
            if let Some(inner) = weak.upgrade() {
                let server = TcpServer { inner };
                let timeout = server.inner.shutdown_timeout;
                server.close(timeout).await;
            }
        });
        server.inner.handle.fire_started();
        Ok(server)
    }

    crate::server::handle::handle_accessors! {
        report: CloseReport;
        /// Connections accepted so far.
        sessions;
        /// Requests started on all connections.
        requests_processed;
        /// The one-time `start` event (fired once listening).
        started;
    }

    /// Connections open now.
    pub fn connected(&self) -> u64 {
        self.inner.tracker.connected()
    }

    /// Handles of the open connections, by session number (pulsar's live set): close
    /// one, read its counters.
    pub fn connections(&self) -> Vec<crate::Connection> {
        self.inner.tracker.connections()
    }

    /// Whether the server stopped accepting (closing or closed).
    pub fn is_closing(&self) -> bool {
        self.inner.stop_accepting.is_cancelled()
    }

    /// A snapshot of the server, as pulsar's `info()`.
    pub fn info(&self) -> ServerInfo {
        let i = &self.inner;
        let (bytes_read, bytes_written, write_paused_clients) = i.tracker.traffic();
        ServerInfo {
            server: ServerSection {
                name: i.handle.name.clone(),
                uptime_in_seconds: i.handle.uptime_in_seconds(),
                sockets: i.handle.addresses.clone(),
                max_requests: i.max_sessions,
                keep_alive: i.keep_alive.as_secs_f64(),
                workers: i.handle.workers,
                overflow_policy: i.overflow.as_str(),
                max_queue_time: i.max_queue_time.as_secs_f64(),
                memory_budget: i.memory_budget.as_ref().map_or(0, |b| b.limit()),
            },
            clients: ClientsSection {
                processed_clients: self.sessions(),
                connected_clients: self.connected(),
                requests_processed: self.requests_processed(),
                max_connections_waits: i.tracker.limit_waits.load(Ordering::Relaxed),
                accept_backoffs: i.tracker.accept_backoffs.load(Ordering::Relaxed),
                bytes_read,
                bytes_written,
                write_paused_clients,
                memory_held: i.memory_budget.as_ref().map_or(0, |b| b.used()),
            },
            abuse: i.handle.producer.abuse().section(),
        }
    }

    /// Closes the server gracefully: stops accepting, closes idle connections at once,
    /// lets requests in flight finish until `deadline`, then force-closes the rest.
    /// A connection accepted but still waiting for its first request counts as in
    /// flight: that request is served, then the connection closes. The deadline also
    /// bounds the wait for peers to acknowledge a close. Fires `stop` with the report.
    /// A second call waits for the first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe only before the close began; once begun, a dropped call leaves the
    /// drain running but nobody fires `stop` — keep the future alive.
    pub async fn close(&self, deadline: Duration) -> CloseReport {
        let inner = &self.inner;
        let tracker = &inner.tracker;
        let begin = || {
            inner.stop_accepting.cancel();
            let open = tracker.connected();
            if open > 0 {
                tracing::info!(name = %inner.handle.name, open, "closing connections");
            }
        };
        inner
            .handle
            .close(deadline, &tracker.shutdown, &tracker.tasks, begin, || {
                tracker.report()
            })
            .await
    }

    /// Serves until `signal` completes, then closes gracefully as [`close`](Self::close)
    /// does, with `deadline` for the requests in flight: graceful shutdown in one call.
    /// `signal`'s output is ignored (a failed `ctrl_c()` registration closes at once).
    /// Returns the report; if the server stopped first (its session limit drained it), the
    /// report of that stop, without waiting for `signal`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(server: quasar_net::TcpServer) {
    /// use std::time::Duration;
    ///
    /// // Serve until Ctrl-C, then give requests in flight 10 s to finish.
    /// let report = server
    ///     .close_on(tokio::signal::ctrl_c(), Duration::from_secs(10))
    ///     .await;
    /// println!("stopped; {} connections forced", report.forced);
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`close`](Self::close): cancel safe until `signal` completed.
    pub async fn close_on<F>(&self, signal: F, deadline: Duration) -> CloseReport
    where
        F: std::future::Future,
    {
        tokio::select! {
            _ = signal => self.close(deadline).await,
            report = self.wait() => report,
        }
    }
}

impl fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServer")
            .field("name", &self.inner.handle.name)
            .field("addresses", &self.inner.handle.addresses)
            .field("sessions", &self.sessions())
            .field("connected", &self.connected())
            .finish()
    }
}
