//! [`UdpClient`] and its connected [`UdpEndpoint`]s (pulsar's `AbstractUdpClient`).
//!
//! An endpoint is a UDP socket connected to one remote address: the kernel then filters
//! datagrams from anyone else and reports ICMP "port unreachable" as `ECONNREFUSED`, which
//! marks the endpoint closed. [`UdpEndpoint::request`] sends one datagram and awaits one
//! reply with a timeout. Endpoints are cheap to make and to check
//! ([`UdpEndpoint::is_closed`] reads a flag), which is what a pool needs: a pool manager
//! connects with [`UdpClient::endpoint`] and discards closed endpoints.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;

use super::batch;
use super::builder::DEFAULT_MAX_DATAGRAM_SIZE;
use crate::hooks::RequestEvent;
use crate::{Error, Hooks, Producer, Result};

/// The default timeout of [`UdpClient`] requests.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The default timeout of opening an endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A UDP socket connected to one remote address.
pub struct UdpEndpoint {
    socket: UdpSocket,
    remote: SocketAddr,
    local: SocketAddr,
    session: u64,
    producer: Option<Producer>,
    closed: AtomicBool,
    requests: AtomicU64,
    /// Receive buffer, one byte longer than the largest reply accepted.
    buf: Vec<u8>,
    max_datagram_size: usize,
}

// ===== impl UdpEndpoint =====

impl UdpEndpoint {
    /// Opens an endpoint to `remote`: binds an ephemeral port on the unspecified address
    /// of `remote`'s family and connects the socket, within `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::is_connect`] naming `remote` when the socket cannot be bound or connected
    /// (no route, for example); [`Error::is_timeout`] when that takes longer than
    /// `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is kept from a dropped call.
    pub async fn connect(remote: SocketAddr, timeout: Duration) -> Result<UdpEndpoint> {
        Self::open(remote, timeout, 1, None, DEFAULT_MAX_DATAGRAM_SIZE).await
    }

    async fn open(
        remote: SocketAddr,
        timeout: Duration,
        session: u64,
        producer: Option<Producer>,
        max_datagram_size: usize,
    ) -> Result<UdpEndpoint> {
        let local_any: SocketAddr = match remote {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let open = async {
            let socket = UdpSocket::bind(local_any).await?;
            socket.connect(remote).await?;
            let local = socket.local_addr()?;
            io::Result::Ok((socket, local))
        };
        let (socket, local) = match tokio::time::timeout(timeout, open).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(Error::connect(remote, e)),
            Err(_) => return Err(Error::timeout(format!("udp connect to {remote}"))),
        };
        tracing::debug!(%remote, %local, session, "udp endpoint open");
        Ok(UdpEndpoint {
            socket,
            remote,
            local,
            session,
            producer,
            closed: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            buf: vec![0; max_datagram_size + 1],
            max_datagram_size,
        })
    }

    /// The remote address the endpoint is connected to.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The endpoint's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The client's session number of this endpoint (1 for a standalone endpoint).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Requests made on this endpoint.
    pub fn requests_processed(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Whether the endpoint is closed: [`close`](Self::close) was called or the remote
    /// refused a datagram (ICMP port unreachable). Reads a flag; no syscall.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Marks the endpoint closed; later calls fail with [`Error::is_closed`]. The socket
    /// itself is released on drop.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Sends one datagram to the remote.
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] on a closed endpoint; [`Error::is_connection_lost`] when the
    /// remote refused an earlier datagram (the endpoint is then closed); [`Error::is_io`]
    /// for other send failures (a datagram too large, for example).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the datagram was either sent whole or not at all.
    pub async fn send(&self, data: &[u8]) -> Result<()> {
        self.check_open()?;
        self.socket
            .send(data)
            .await
            .map(drop)
            .map_err(|e| self.io_error(e))
    }

    /// Waits for one datagram from the remote, for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::is_timeout`] when nothing arrived in time; [`Error::is_protocol`] for a
    /// datagram longer than the endpoint's maximum (it is dropped); otherwise as
    /// [`send`](Self::send).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram is either returned or left queued in the socket.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Bytes> {
        self.check_open()?;
        let n = match tokio::time::timeout(timeout, self.socket.recv(&mut self.buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(self.io_error(e)),
            Err(_) => return Err(Error::timeout(format!("udp reply from {}", self.remote))),
        };
        if n > self.max_datagram_size {
            return Err(Error::protocol(format!(
                "reply longer than {} bytes dropped",
                self.max_datagram_size
            )));
        }
        Ok(Bytes::copy_from_slice(&self.buf[..n]))
    }

    /// Sends `data` and waits for one reply, for at most `timeout` (pulsar's client
    /// call on a pooled endpoint).
    ///
    /// Datagrams already queued when the request starts are late replies to earlier
    /// requests (ones that timed out or were cancelled): they are discarded first, so a
    /// reply is never matched to the wrong request. The endpoint's client fires its
    /// `pre_request` and `post_request` hooks around the exchange.
    ///
    /// # Errors
    ///
    /// [`Error::is_timeout`] when no reply arrived in time (UDP gives no other sign of a
    /// silent peer); [`Error::is_aborted`] when a `pre_request` hook aborted (nothing was
    /// sent); otherwise as [`send`](Self::send) and [`recv`](Self::recv).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a reply that arrives after the future was dropped is discarded by the
    /// next request.
    pub async fn request(&mut self, data: &[u8], timeout: Duration) -> Result<Bytes> {
        self.check_open()?;
        let request = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let hooks = self
            .producer
            .as_ref()
            .map(|p| std::sync::Arc::clone(p.hooks()))
            .filter(|h| h.wants_requests());
        let ev = RequestEvent {
            session: self.session,
            peer: self.remote,
            request,
            error: None,
        };
        if let Some(p) = &self.producer {
            p.add_requests(1);
        }
        if let Some(h) = &hooks {
            if let Err(err) = h.fire_pre_request(&ev) {
                h.fire_post_request(&RequestEvent {
                    error: Some(&err),
                    ..ev
                });
                return Err(err);
            }
        }
        let result = self.exchange(data, timeout).await;
        if let Some(h) = &hooks {
            h.fire_post_request(&RequestEvent {
                error: result.as_ref().err(),
                ..ev
            });
        }
        result
    }

    async fn exchange(&mut self, data: &[u8], timeout: Duration) -> Result<Bytes> {
        let mut stale = 0u32;
        loop {
            match self.socket.try_recv(&mut self.buf) {
                Ok(_) => stale += 1,
                Err(e) if batch::is_would_block(&e) => break,
                Err(e) => return Err(self.io_error(e)),
            }
        }
        if stale > 0 {
            tracing::debug!(remote = %self.remote, stale, "discarded late udp replies");
        }
        self.send(data).await?;
        self.recv(timeout).await
    }

    /// Sends several datagrams to the remote, in order, with as few syscalls as the
    /// platform allows: on Linux one `sendmmsg`, with runs of equal-size datagrams
    /// merged into GSO sends. Returns once all were sent.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); datagrams before the failing one were sent.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a dropped call may have sent some of the datagrams.
    pub async fn send_batch(&self, datagrams: &[&[u8]]) -> Result<()> {
        self.check_open()?;
        let mut done = 0;
        while done < datagrams.len() {
            self.socket.writable().await.map_err(|e| self.io_error(e))?;
            match self.try_send_batch(&datagrams[done..]) {
                Ok(n) => done += n,
                Err(e) if batch::is_would_block(&e) => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        Ok(())
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn try_send_batch(&self, datagrams: &[&[u8]]) -> io::Result<usize> {
        use std::os::fd::AsFd;
        self.socket.try_io(tokio::io::Interest::WRITABLE, || {
            batch::send(self.socket.as_fd(), true, datagrams.len(), |i| {
                (datagrams[i], None)
            })
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn try_send_batch(&self, datagrams: &[&[u8]]) -> io::Result<usize> {
        self.socket.try_send(datagrams[0]).map(|_| 1)
    }

    /// Waits for datagrams from the remote and receives as many as are queued, up to
    /// `lens.len()`, with as few syscalls as the platform allows (`recvmmsg` on Linux).
    /// Datagram `i` lands in `buf[i * slot..][..lens[i]]`; a datagram longer than `slot`
    /// is truncated to it. Returns how many arrived (at least one).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), without the timeout: wrap the call in
    /// [`tokio::time::timeout`] if needed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: datagrams are either returned or left queued.
    ///
    /// # Panics
    ///
    /// When `buf` is shorter than `slot * lens.len()`.
    pub async fn recv_batch(
        &self,
        buf: &mut [u8],
        slot: usize,
        lens: &mut [usize],
    ) -> Result<usize> {
        assert!(
            buf.len() >= slot * lens.len(),
            "buf too short for lens.len() slots"
        );
        self.check_open()?;
        loop {
            self.socket.readable().await.map_err(|e| self.io_error(e))?;
            match self.try_recv_batch(buf, slot, lens) {
                Ok(n) => return Ok(n),
                Err(e) if batch::is_would_block(&e) => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn try_recv_batch(&self, buf: &mut [u8], slot: usize, lens: &mut [usize]) -> io::Result<usize> {
        use std::os::fd::AsFd;
        let mut metas = [batch::RecvMeta::default(); batch::BATCH_MAX];
        let want = lens.len().min(batch::BATCH_MAX);
        let n = self.socket.try_io(tokio::io::Interest::READABLE, || {
            batch::recv(self.socket.as_fd(), buf, slot, &mut metas[..want])
        })?;
        for (len, meta) in lens.iter_mut().zip(&metas[..n]) {
            *len = meta.len;
        }
        Ok(n)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn try_recv_batch(&self, buf: &mut [u8], slot: usize, lens: &mut [usize]) -> io::Result<usize> {
        let mut n = 0;
        while n < lens.len() {
            match self.socket.try_recv(&mut buf[n * slot..(n + 1) * slot]) {
                Ok(len) => {
                    lens[n] = len;
                    n += 1;
                }
                Err(e) if n > 0 && batch::is_would_block(&e) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed(format!("udp endpoint to {}", self.remote)));
        }
        Ok(())
    }

    /// Maps an I/O error; a refused datagram closes the endpoint.
    fn io_error(&self, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            self.close();
            tracing::debug!(remote = %self.remote, "udp remote refused; endpoint closed");
            return Error::connection_lost(Some(Error::from(e)));
        }
        Error::from(e)
    }
}

impl fmt::Debug for UdpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpEndpoint")
            .field("remote", &self.remote)
            .field("local", &self.local)
            .field("session", &self.session)
            .field("closed", &self.is_closed())
            .finish()
    }
}

// ===== UdpClient =====

/// A producer of [`UdpEndpoint`]s (pulsar's `AbstractUdpClient`): numbers them
/// (`sessions`), counts their requests, and fires its hooks on each request.
///
/// It keeps no endpoints itself: [`request`](Self::request) opens one per call, and a
/// pool keeps them for reuse by calling [`endpoint`](Self::endpoint) as its connect step
/// and [`UdpEndpoint::is_closed`] as its health check.
#[derive(Clone)]
pub struct UdpClient {
    producer: Producer,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_datagram_size: usize,
}

impl UdpClient {
    /// A client with default settings and no hooks.
    pub fn new() -> UdpClient {
        UdpClient::builder().build()
    }

    /// A builder for a client.
    pub fn builder() -> UdpClientBuilder {
        UdpClientBuilder {
            name: "udp-client".into(),
            hooks: Hooks::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
        }
    }

    /// Opens an endpoint to `remote` (pulsar's `create_datagram_endpoint`); counts a
    /// session. The returned future is `Send` and borrows nothing, so it fits a pool
    /// manager's `connect`.
    ///
    /// # Errors
    ///
    /// As [`UdpEndpoint::connect`], with the client's connect timeout.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; a dropped call may still have counted a session.
    pub fn endpoint(
        &self,
        remote: SocketAddr,
    ) -> impl std::future::Future<Output = Result<UdpEndpoint>> + Send + 'static {
        let session = self.producer.next_session();
        let (producer, timeout, max) = (
            self.producer.clone(),
            self.connect_timeout,
            self.max_datagram_size,
        );
        UdpEndpoint::open(remote, timeout, session, Some(producer), max)
    }

    /// Sends `data` to `remote` from a fresh endpoint and waits for one reply, with the
    /// client's request timeout.
    ///
    /// # Errors
    ///
    /// As [`endpoint`](Self::endpoint) and [`UdpEndpoint::request`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the endpoint is dropped with the future.
    pub async fn request(&self, remote: SocketAddr, data: &[u8]) -> Result<Bytes> {
        let mut ep = self.endpoint(remote).await?;
        ep.request(data, self.request_timeout).await
    }

    /// The client's request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The client's producer: session and request counters, hooks.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Endpoints opened so far.
    pub fn sessions(&self) -> u64 {
        self.producer.sessions()
    }

    /// Requests made on every endpoint of this client.
    pub fn requests_processed(&self) -> u64 {
        self.producer.requests_processed()
    }
}

impl Default for UdpClient {
    fn default() -> Self {
        UdpClient::new()
    }
}

impl fmt::Debug for UdpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpClient")
            .field("producer", &self.producer)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Configures a [`UdpClient`].
#[must_use = "builder does nothing itself; call `build()`"]
#[derive(Debug)]
pub struct UdpClientBuilder {
    name: String,
    hooks: Hooks,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_datagram_size: usize,
}

impl UdpClientBuilder {
    /// The name used in logs.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long opening an endpoint may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`UdpClient::request`] waits for a reply (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest reply accepted (default 64 KiB); each endpoint keeps a receive buffer
    /// one byte longer.
    pub fn max_datagram_size(mut self, n: usize) -> Self {
        self.max_datagram_size = n.max(1);
        self
    }

    crate::hooks::builder_hooks! {
        /// Replaces the hooks (`pre_request`/`post_request` fire around every request).
        hooks;
        /// Adds a `pre_request` hook; returning [`Error::aborted`] fails the request unsent.
        on_pre_request(RequestEvent<'a>);
        /// Adds a `post_request` hook, fired with the request's error, if any.
        on_post_request(RequestEvent<'a>);
    }

    /// Builds the client.
    pub fn build(self) -> UdpClient {
        UdpClient {
            producer: Producer::new(self.name, self.hooks),
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_datagram_size: self.max_datagram_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_futures_are_send_for_pool_managers() {
        fn assert_send<T: Send + 'static>(_: &T) {}
        let client = UdpClient::new();
        let fut = client.endpoint("127.0.0.1:9".parse().unwrap());
        assert_send(&fut);
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<UdpEndpoint>();
    }
}
