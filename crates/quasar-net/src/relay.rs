//! Relays: bytes moved between two connections with back-pressure both ways and the
//! half-close passed on (the core of pulsar's `StreamTunnel`).
//!
//! A [`Relay`] is the consumer of one side of a pair. What its connection reads goes to
//! the other side with [`Connection::write`] (no copy: the read buffer is split off and
//! frozen). While the other side's write queue is above its high-water mark the relay
//! stops reading its own connection, and resumes once that queue drains to the low mark;
//! its own output is independent (a relay is a *full-duplex* exchange, see
//! [`Context::set_full_duplex`]), so two relays never wait on each other. When its peer
//! shuts its sending side (a half-close), the relay shuts the other side's sending side
//! after the bytes already queued; when its connection ends, the other side closes too.
//!
//! [`Tunnel`] is a [`ConsumerFactory`] for a server that relays every accepted connection
//! to one upstream: it dials the upstream at accept, so a server-first upstream's banner
//! reaches the client before the client speaks.
//!
//! # Examples
//!
//! A TCP tunnel in front of an echo server:
//!
//! ```
//! use quasar_net::relay::Tunnel;
//! use quasar_net::TcpServer;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! # let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let upstream_addr = upstream.local_addr()?;
//! # tokio::spawn(async move {
//! #     let (mut s, _) = upstream.accept().await.unwrap();
//! #     let (mut r, mut w) = s.split();
//! #     tokio::io::copy(&mut r, &mut w).await.unwrap();
//! # });
//! let tunnel = Tunnel::new(upstream_addr.to_string());
//! let stats = tunnel.stats();
//! let server = TcpServer::builder(tunnel).start().await?;
//!
//! let mut client = tokio::net::TcpStream::connect(server.address()).await?;
//! client.write_all(b"ping").await?;
//! client.shutdown().await?; // the half-close travels through the tunnel
//! let mut reply = Vec::new();
//! client.read_to_end(&mut reply).await?;
//! assert_eq!(reply, b"ping");
//! assert_eq!(stats.snapshot().bytes_up, 4);
//! # server.close(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use serde::Serialize;

use crate::{
    serve_connection, Connection, ConnectionConfig, ConsumerFactory, Context, Error, Progress,
    ProtocolConsumer, Result,
};

/// How long [`Tunnel`] waits for the upstream's TCP handshake by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which way a relay's bytes go, for its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From the accepted client to the upstream.
    Up,
    /// From the upstream to the client.
    Down,
}

/// The consumer of one side of a relayed pair.
///
/// Build it with [`Relay::new`] when the other side's [`Connection`] is known (two
/// connections you accepted or opened yourself), or let [`Tunnel`] build both sides.
pub struct Relay {
    /// The other side, once known (a tunnel's client side waits for its dial).
    peer: Arc<OnceLock<Connection>>,
    stats: Arc<Counters>,
    direction: Direction,
    /// This side waits for the peer's write queue to drain (one waiter at a time).
    waiting: Arc<AtomicBool>,
    /// What to do at `connection_made` (a tunnel's client side dials there).
    dial: Option<Dial>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("peer", &self.peer.get().map(Connection::session))
            .field("direction", &self.direction)
            .finish()
    }
}

impl Relay {
    /// A relay that forwards what its connection reads to `peer`.
    pub fn new(peer: Connection) -> Relay {
        Relay::with_stats(peer, RelayStats::default())
    }

    /// As [`new`](Self::new), counting into `stats` (bytes from this side count as
    /// `bytes_up`).
    pub fn with_stats(peer: Connection, stats: RelayStats) -> Relay {
        let slot = Arc::new(OnceLock::new());
        let _ = slot.set(peer);
        Relay::side(slot, stats.counters, Direction::Up, None)
    }

    fn side(
        peer: Arc<OnceLock<Connection>>,
        stats: Arc<Counters>,
        direction: Direction,
        dial: Option<Dial>,
    ) -> Relay {
        Relay {
            peer,
            stats,
            direction,
            waiting: Arc::new(AtomicBool::new(false)),
            dial,
        }
    }

    /// Resumes reading `me` once `peer` can take more (or closes `me` if `peer` ends).
    fn resume_when_writable(&self, me: &Connection, peer: &Connection) {
        if self.waiting.swap(true, Ordering::AcqRel) {
            return;
        }
        let (me, peer, waiting) = (me.clone(), peer.clone(), Arc::clone(&self.waiting));
        tokio::spawn(async move {
            let writable = peer.writable().await;
            waiting.store(false, Ordering::Release);
            match writable {
                Ok(()) => me.resume_reading(),
                Err(_) => me.begin_close(),
            }
        });
    }
}

impl ProtocolConsumer for Relay {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_full_duplex(true);
        if let Some(dial) = self.dial.take() {
            // Nothing is read until the upstream is there to take it.
            cx.pause_reading();
            dial.start(cx.connection().clone(), Arc::clone(&self.peer));
        } else if self.peer.get().is_some_and(Connection::is_closed) {
            cx.close();
        }
        if self.direction == Direction::Up {
            self.stats.open.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(peer) = self.peer.get() else {
            cx.pause_reading();
            return Ok(Progress::NeedMore);
        };
        if buf.is_empty() {
            return Ok(Progress::NeedMore);
        }
        if !peer.is_writable() {
            // Back-pressure: the bytes wait in this side's read buffer (bounded by its
            // `max_read_buffer`) and this side stops reading until the peer drains.
            cx.pause_reading();
            self.resume_when_writable(cx.connection(), peer);
            return Ok(Progress::NeedMore);
        }
        let chunk = buf.split().freeze();
        let n = chunk.len() as u64;
        match peer.write(chunk) {
            Ok(()) => {
                let counter = match self.direction {
                    Direction::Up => &self.stats.bytes_up,
                    Direction::Down => &self.stats.bytes_down,
                };
                counter.fetch_add(n, Ordering::Relaxed);
            }
            // The other side is gone: nobody is left to relay to.
            Err(_) => cx.close(),
        }
        Ok(Progress::NeedMore)
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) -> Result<()> {
        match self.peer.get() {
            // The half-close goes on after the bytes already relayed; this side keeps
            // writing what the other side still sends.
            Some(peer) => peer.shutdown_write(),
            None => cx.close(),
        }
        Ok(())
    }

    fn connection_lost(&mut self, error: Option<&Error>) -> Option<()> {
        if let Some(err) = error {
            tracing::debug!(error = %err, "relay side ended with an error");
        }
        // A relay's exchange has no result: its end is the connection's end.
        Some(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The side's exchange ends only with its connection (however it ended): the
        // other side has nobody left to relay to.
        if let Some(peer) = self.peer.get() {
            peer.begin_close();
        }
        if self.direction == Direction::Up && self.dial.is_none() {
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Counters shared by every relay of a [`Tunnel`] (or given to [`Relay::with_stats`]).
#[derive(Debug, Clone, Default)]
pub struct RelayStats {
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    open: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    upstream_errors: AtomicU64,
}

/// A snapshot of [`RelayStats`], serialisable for `info()` endpoints.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStatsSnapshot {
    /// Relayed pairs open now.
    pub open: u64,
    /// Bytes relayed from clients to upstreams.
    pub bytes_up: u64,
    /// Bytes relayed from upstreams to clients.
    pub bytes_down: u64,
    /// Upstreams that could not be reached (refused, unreachable, timed out).
    pub upstream_errors: u64,
}

impl RelayStats {
    /// The counters now.
    pub fn snapshot(&self) -> RelayStatsSnapshot {
        let c = &self.counters;
        RelayStatsSnapshot {
            open: c.open.load(Ordering::Relaxed),
            bytes_up: c.bytes_up.load(Ordering::Relaxed),
            bytes_down: c.bytes_down.load(Ordering::Relaxed),
            upstream_errors: c.upstream_errors.load(Ordering::Relaxed),
        }
    }
}

/// A [`ConsumerFactory`] that relays every accepted connection to one upstream.
///
/// Each connection dials the upstream at accept (reading from the client waits until
/// the upstream answers), then the two sides relay with back-pressure and half-close
/// until either ends. An upstream that refuses, resets or does not answer within the
/// connect timeout closes the client's connection. The upstream side runs with its own
/// [`ConnectionConfig`] (by default the same progress timeouts as any server
/// connection), so a side that stops making progress is closed, and its pair with it.
/// See the [module docs](self) for an example.
#[derive(Debug, Clone)]
pub struct Tunnel {
    upstream: Arc<str>,
    connect_timeout: Duration,
    upstream_config: ConnectionConfig,
    stats: RelayStats,
}

impl Tunnel {
    /// A tunnel to `upstream` (`host:port`; names resolve at each dial).
    pub fn new(upstream: impl Into<String>) -> Tunnel {
        Tunnel {
            upstream: upstream.into().into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            upstream_config: ConnectionConfig::default(),
            stats: RelayStats::default(),
        }
    }

    /// How long to wait for the upstream's handshake ([`DEFAULT_CONNECT_TIMEOUT`]).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Tunnel {
        self.connect_timeout = timeout;
        self
    }

    /// The configuration of the upstream side of each pair (timeouts, water marks).
    #[must_use]
    pub fn upstream_config(mut self, config: ConnectionConfig) -> Tunnel {
        self.upstream_config = config;
        self
    }

    /// The tunnel's counters (shared by its clones).
    pub fn stats(&self) -> RelayStats {
        self.stats.clone()
    }

    /// The upstream address.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }
}

impl ConsumerFactory for Tunnel {
    type Consumer = Relay;

    fn build(&self, _conn: &Connection) -> Relay {
        let dial = Dial {
            upstream: Arc::clone(&self.upstream),
            timeout: self.connect_timeout,
            config: self.upstream_config.clone(),
            stats: Arc::clone(&self.stats.counters),
        };
        Relay::side(
            Arc::new(OnceLock::new()),
            Arc::clone(&self.stats.counters),
            Direction::Up,
            Some(dial),
        )
    }
}

/// A tunnel's dial, started from its client side's `connection_made`.
struct Dial {
    upstream: Arc<str>,
    timeout: Duration,
    config: ConnectionConfig,
    stats: Arc<Counters>,
}

impl Dial {
    fn start(self, client: Connection, slot: Arc<OnceLock<Connection>>) {
        tokio::spawn(async move {
            let dialed = tokio::time::timeout(
                self.timeout,
                tokio::net::TcpStream::connect(&*self.upstream),
            )
            .await;
            let stream = match dialed {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return self.failed(&client, &err.to_string()),
                Err(_) => return self.failed(&client, "connect timed out"),
            };
            let _ = stream.set_nodelay(true);
            let back = Arc::new(OnceLock::new());
            let _ = back.set(client.clone());
            let stats = Arc::clone(&self.stats);
            let factory =
                move || Relay::side(Arc::clone(&back), Arc::clone(&stats), Direction::Down, None);
            let (upstream, serving) = serve_connection(stream, factory, self.config);
            let _ = slot.set(upstream.clone());
            if client.is_closed() {
                // The client left while we dialed (its relay saw no peer to close).
                upstream.begin_close();
            }
            client.resume_reading();
            let _ = serving.await;
        });
    }

    fn failed(&self, client: &Connection, why: &str) {
        self.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
        tracing::info!(upstream = %self.upstream, session = client.session(), error = why, "tunnel: upstream unreachable; closing the client");
        client.begin_close();
    }
}
