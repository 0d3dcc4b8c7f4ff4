//! The one-shot builder of a [`DatagramServer`].

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::amplification::{DEFAULT_MAX_REPLIES_PER_DATAGRAM, DEFAULT_MAX_REPLY_RATIO};
use super::batch;
use super::socket::BufferSizes;
use super::{DatagramConsumerFactory, DatagramServer};
use crate::hooks::{DataEvent, RequestEvent};
use crate::server::settings::ServerSettings;
use crate::{Error, Hooks, Result};

/// The default largest datagram handed to a consumer (64 KiB, above the largest UDP
/// payload, so by default nothing is dropped as oversize).
pub const DEFAULT_MAX_DATAGRAM_SIZE: usize = 64 * 1024;

/// The default number of datagrams received per batch (and per `recvmmsg`).
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// The default bound on spawned replies running at once, per socket.
pub const DEFAULT_MAX_PENDING: usize = 1024;

/// The most reply bytes one receive batch may queue before `reply`/`send_to` refuse (the
/// datagram side of [`flow_control`](crate::flow_control)).
pub use crate::flow_control::MAX_QUEUED_BYTES;

/// How long a server drains after reaching `max_requests`: the same for every server.
pub const DEFAULT_UDP_SHUTDOWN_TIMEOUT: Duration = crate::server::DEFAULT_SHUTDOWN_TIMEOUT;

/// Configures and starts a [`DatagramServer`].
#[must_use = "builder does nothing itself; call `start().await`"]
pub struct DatagramServerBuilder<F> {
    pub(crate) factory: F,
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) sockets: Vec<std::net::UdpSocket>,
    pub(crate) settings: ServerSettings,
    pub(crate) batching: bool,
    pub(crate) gso: bool,
    pub(crate) batch_size: usize,
    pub(crate) max_datagram_size: usize,
    pub(crate) max_pending: usize,
    pub(crate) max_replies_per_datagram: usize,
    pub(crate) max_reply_ratio: usize,
    pub(crate) buffers: BufferSizes,
    pub(crate) hooks: Hooks,
}

impl<F: DatagramConsumerFactory> DatagramServerBuilder<F> {
    pub(crate) fn new(factory: F) -> Self {
        DatagramServerBuilder {
            factory,
            addrs: Vec::new(),
            sockets: Vec::new(),
            settings: ServerSettings::new("udp"),
            batching: batch::AVAILABLE,
            gso: true,
            batch_size: DEFAULT_BATCH_SIZE,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
            max_pending: DEFAULT_MAX_PENDING,
            max_replies_per_datagram: DEFAULT_MAX_REPLIES_PER_DATAGRAM,
            max_reply_ratio: DEFAULT_MAX_REPLY_RATIO,
            buffers: BufferSizes::default(),
            hooks: Hooks::default(),
        }
    }

    /// Adds an address to bind; call it again to serve several. With none (and no
    /// [`socket`](Self::socket)), the server binds `127.0.0.1:0`. Port 0 picks a free
    /// port, which [`DatagramServer::addresses`] reports.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addrs.push(addr);
        self
    }

    /// Serves an already bound socket too (pulsar's `sockets=`), e.g. one inherited from
    /// a parent process. With `workers(n)` such sockets are shared out between workers.
    pub fn socket(mut self, socket: std::net::UdpSocket) -> Self {
        self.sockets.push(socket);
        self
    }

    crate::server::settings::server_settings!();

    /// Stops the server after `n` datagrams were handed to consumers, across all its
    /// sockets (0 = no limit). Datagrams past the limit are not handled; replies already
    /// queued or spawned are still sent, then the server closes and fires `stop`.
    pub fn max_requests(mut self, n: u64) -> Self {
        self.settings.max_requests = n;
        self
    }

    /// Uses the batched `recvmmsg`/`sendmmsg` path (default on Linux) or the portable
    /// `recv_from`/`send_to` one. Ignored (portable) where batching is unavailable.
    pub fn batching(mut self, on: bool) -> Self {
        self.batching = on && batch::AVAILABLE;
        self
    }

    /// On the batched path, sends runs of equal-size replies to one peer as one UDP GSO
    /// message (`UDP_SEGMENT`; default on). The kernel splits them back into datagrams,
    /// so peers see no difference; if the kernel or a device refuses GSO, the server
    /// falls back to plain datagrams by itself. Only datagrams up to 1232 bytes (fitting
    /// any IPv6 path) are merged.
    pub fn gso(mut self, on: bool) -> Self {
        self.gso = on;
        self
    }

    /// The most datagrams received before their replies are sent (default 32; at most
    /// 64). Larger batches mean fewer syscalls under load; a batch never waits to fill.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// The largest datagram handed to the consumer (default 64 KiB). Longer datagrams are
    /// counted (`info().datagrams.oversize`), logged and dropped. Each socket keeps
    /// `batch_size` receive slots one byte larger than this, to detect them.
    pub fn max_datagram_size(mut self, n: usize) -> Self {
        self.max_datagram_size = n;
        self
    }

    /// The most spawned replies running at once per socket (default 1024); at the bound
    /// the socket stops reading until one finishes.
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n;
        self
    }

    /// The most datagrams sent because of one received datagram, replies and
    /// `send_to`s together, spawned or not (default
    /// [`DEFAULT_MAX_REPLIES_PER_DATAGRAM`]). Replies past it are dropped and counted in
    /// `info().datagrams.replies_dropped`: a forged sender address cannot turn the server
    /// into a packet reflector. 0 turns the bound off (only for ports no untrusted peer
    /// can reach).
    pub fn max_replies_per_datagram(mut self, n: usize) -> Self {
        self.max_replies_per_datagram = n;
        self
    }

    /// The most bytes sent because of one received datagram, as a multiple of its size
    /// (default [`DEFAULT_MAX_REPLY_RATIO`], QUIC's anti-amplification factor). Both sides
    /// count [`UDP_WIRE_OVERHEAD`](super::UDP_WIRE_OVERHEAD) header bytes per datagram, so
    /// a 1-byte request may still get a 59-byte answer. Replies past it are dropped and
    /// counted like [`max_replies_per_datagram`](Self::max_replies_per_datagram)'s. 0
    /// turns the bound off.
    pub fn max_reply_ratio(mut self, ratio: usize) -> Self {
        self.max_reply_ratio = ratio;
        self
    }

    /// Asks the kernel for a receive buffer of `bytes` per socket (`SO_RCVBUF`; clamped
    /// by the system's maximum). Larger buffers absorb bursts instead of dropping them.
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.buffers.recv = Some(bytes);
        self
    }

    /// Asks the kernel for a send buffer of `bytes` per socket (`SO_SNDBUF`).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.buffers.send = Some(bytes);
        self
    }

    crate::hooks::builder_hooks! {
        /// Replaces the hooks. Datagram servers fire `pre_request`, `post_request`,
        /// `data_received` and `data_processed`; the connection hooks never fire.
        hooks;
        /// Adds a `pre_request` hook, fired for every datagram before the consumer sees it;
        /// returning [`Error::aborted`] drops the datagram (and fires `post_request` with it).
        on_pre_request(RequestEvent<'a>);
        /// Adds a `post_request` hook, fired for every datagram once handled (for a spawned
        /// reply, once it resolved), with the error if handling failed.
        on_post_request(RequestEvent<'a>);
        /// Adds a `data_received` hook, fired with every datagram before the consumer.
        on_data_received(DataEvent<'a>);
        /// Adds a `data_processed` hook, fired with every datagram after the consumer.
        on_data_processed(DataEvent<'a>);
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_datagram_size == 0 || self.max_datagram_size > 1 << 20 {
            return Err(Error::config("max_datagram_size must be in 1..=1 MiB"));
        }
        if self.max_pending == 0 {
            return Err(Error::config("max_pending must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size must be at least 1"));
        }
        Ok(())
    }

    /// Binds every socket and starts serving; fires the server's `start` event.
    ///
    /// # Errors
    ///
    /// [`Error::is_bind`] naming the address when a socket cannot be bound (pulsar's
    /// `DatagramServer` logged and swallowed this);
    /// [`Error::is_config`] for an invalid setting or when a worker runtime cannot be
    /// built; [`Error::is_io`] when a socket cannot be registered with the runtime.
    /// Nothing is left running on error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe before workers start; dropping the future while it waits for workers
    /// to register their sockets leaves those workers serving with no handle to close
    /// them. Keep the future alive.
    pub async fn start(self) -> Result<DatagramServer> {
        DatagramServer::start(self).await
    }
}

impl<F> fmt::Debug for DatagramServerBuilder<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServerBuilder")
            .field("addrs", &self.addrs)
            .field("sockets", &self.sockets.len())
            .field("settings", &self.settings)
            .field("batching", &self.batching)
            .field("gso", &self.gso)
            .field("batch_size", &self.batch_size)
            .field("max_datagram_size", &self.max_datagram_size)
            .field("max_replies_per_datagram", &self.max_replies_per_datagram)
            .field("max_reply_ratio", &self.max_reply_ratio)
            .finish()
    }
}
