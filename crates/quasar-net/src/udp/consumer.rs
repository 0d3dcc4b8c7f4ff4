//! The datagram consumer: what a [`DatagramServer`](super::DatagramServer) calls for every
//! datagram it receives.
//!
//! pulsar's `DatagramProtocol` leaves `datagram_received(data, addr)` to the user, who
//! replies with `transport.sendto`. [`DatagramConsumer`] is that method, with the
//! transport replaced by a [`DatagramContext`]: replies are *queued* and leave together
//! after the batch of datagrams that produced them (one `sendmmsg` on Linux). A consumer
//! that must await (an upstream lookup) hands a future to
//! [`DatagramContext::spawn_reply`]; the socket keeps serving other datagrams while it
//! runs and sends its [`Reply`] when it resolves.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;

use super::queue::OutQueue;
use crate::{Error, Result};

/// The future behind [`DatagramContext::spawn_reply`], boxed.
pub(crate) type BoxReply = Pin<Box<dyn Future<Output = Result<Reply>> + Send + 'static>>;

/// Handles the datagrams of one bound socket (pulsar's `DatagramProtocol`).
///
/// One consumer is built per socket (per worker with `workers(n)`), so `&mut self` state
/// is never shared between threads.
pub trait DatagramConsumer: Send + 'static {
    /// Handles one datagram from `peer`. Replies go through `cx` and leave after the
    /// current receive batch.
    ///
    /// # Errors
    ///
    /// An error is counted in [`DatagramServer::info`](super::DatagramServer::info)
    /// (`errors`), logged at debug level and passed to the `post_request` hooks; the
    /// socket keeps serving. Replies queued before the error are still sent.
    fn datagram_received(
        &mut self,
        cx: &mut DatagramContext<'_>,
        data: &[u8],
        peer: SocketAddr,
    ) -> Result<()>;
}

/// Builds the [`DatagramConsumer`] of each bound socket.
///
/// Implemented for every `Fn() -> C` closure; implement it on a type when the consumer
/// needs the socket's address or shared state.
pub trait DatagramConsumerFactory: Send + Sync + 'static {
    /// The consumer this factory builds.
    type Consumer: DatagramConsumer;

    /// Builds the consumer of `socket`.
    fn build(&self, socket: &SocketInfo) -> Self::Consumer;
}

impl<C, F> DatagramConsumerFactory for F
where
    F: Fn() -> C + Send + Sync + 'static,
    C: DatagramConsumer,
{
    type Consumer = C;

    fn build(&self, _socket: &SocketInfo) -> C {
        self()
    }
}

/// The bound socket a consumer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketInfo {
    pub(crate) session: u64,
    pub(crate) local_addr: SocketAddr,
    pub(crate) worker: usize,
}

impl SocketInfo {
    /// The producer's session number of the socket (1-based; pulsar numbers each
    /// datagram endpoint as a session).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The worker serving the socket (0 without `workers(n)`).
    pub fn worker(&self) -> usize {
        self.worker
    }
}

/// Datagrams a spawned future sends when it resolves (see
/// [`DatagramContext::spawn_reply`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reply {
    datagrams: Vec<(Bytes, Option<SocketAddr>)>,
}

// ===== impl Reply =====

impl Reply {
    /// A reply that sends nothing.
    pub fn empty() -> Reply {
        Reply::default()
    }

    /// A reply of one datagram to the sender of the datagram that spawned it.
    pub fn datagram(data: impl Into<Bytes>) -> Reply {
        Reply::empty().send(data)
    }

    /// Adds a datagram to the sender.
    pub fn send(mut self, data: impl Into<Bytes>) -> Reply {
        self.datagrams.push((data.into(), None));
        self
    }

    /// Adds a datagram to `peer`.
    pub fn send_to(mut self, data: impl Into<Bytes>, peer: SocketAddr) -> Reply {
        self.datagrams.push((data.into(), Some(peer)));
        self
    }

    /// Number of datagrams in the reply.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether the reply sends nothing.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    pub(crate) fn into_datagrams(self) -> Vec<(Bytes, Option<SocketAddr>)> {
        self.datagrams
    }
}

/// What a consumer can do while it handles a datagram.
pub struct DatagramContext<'a> {
    socket: &'a SocketInfo,
    peer: SocketAddr,
    request: u64,
    out: &'a mut OutQueue,
    spawned: &'a mut Option<BoxReply>,
}

// ===== impl DatagramContext =====

impl<'a> DatagramContext<'a> {
    pub(crate) fn new(
        socket: &'a SocketInfo,
        peer: SocketAddr,
        request: u64,
        out: &'a mut OutQueue,
        spawned: &'a mut Option<BoxReply>,
    ) -> Self {
        DatagramContext {
            socket,
            peer,
            request,
            out,
            spawned,
        }
    }

    /// The sender of the datagram being handled.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The socket the datagram arrived on.
    pub fn socket(&self) -> &SocketInfo {
        self.socket
    }

    /// The datagram's number on its socket, 1-based (the `request` of the hooks'
    /// [`RequestEvent`](crate::RequestEvent)).
    pub fn request(&self) -> u64 {
        self.request
    }

    /// Queues `data` as one datagram to the sender.
    ///
    /// # Errors
    ///
    /// [`Error::is_write_buffer_full`] when the replies queued during this receive batch
    /// would pass the queue's cap ([`MAX_QUEUED_BYTES`](super::MAX_QUEUED_BYTES)); the
    /// datagram is not queued.
    pub fn reply(&mut self, data: &[u8]) -> Result<()> {
        self.out.push(data, self.peer)
    }

    /// Queues `data` as one datagram to `peer`.
    ///
    /// # Errors
    ///
    /// As [`reply`](Self::reply).
    pub fn send_to(&mut self, data: &[u8], peer: SocketAddr) -> Result<()> {
        self.out.push(data, peer)
    }

    /// Hands the rest of this datagram's handling to a future; the socket keeps serving
    /// other datagrams meanwhile, and the [`Reply`] is sent when the future resolves.
    ///
    /// The request finishes when the future does: `post_request` fires then, with the
    /// future's error if it failed. Each socket keeps at most
    /// [`max_pending`](super::DatagramServerBuilder::max_pending) futures; at the bound it
    /// stops reading (the kernel buffers, then drops, further datagrams) until one
    /// resolves. On [`close`](super::DatagramServer::close) running futures get until the
    /// deadline, then are dropped and counted as forced.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] when a future was already spawned for this datagram (one per
    /// datagram; join your futures into one).
    pub fn spawn_reply<F>(&mut self, future: F) -> Result<()>
    where
        F: Future<Output = Result<Reply>> + Send + 'static,
    {
        if self.spawned.is_some() {
            return Err(Error::config("spawn_reply called twice for one datagram"));
        }
        *self.spawned = Some(Box::pin(future));
        Ok(())
    }
}

impl fmt::Debug for DatagramContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramContext")
            .field("socket", self.socket)
            .field("peer", &self.peer)
            .field("request", &self.request)
            .field("queued", &self.out.len())
            .finish()
    }
}
