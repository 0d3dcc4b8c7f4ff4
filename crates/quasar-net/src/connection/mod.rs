//! The connection: a socket bridged to a stream of protocol consumers.
//!
//! pulsar's `Connection` owns the transport, routes every byte it reads to its *current*
//! consumer, builds a new consumer when the last one finished, counts the requests it
//! processed, and can be `upgrade`d to another consumer factory mid-stream. In
//! quasar-net the socket lives in a task (the *driver*, `driver.rs`) and
//! [`Connection`] is the cheap, cloneable handle everyone else holds: session number,
//! addresses, counters, the one-time `connection_made`/`connection_lost` events, and
//! [`close`](Connection::close).
//!
//! Consumers reach their connection through [`Context::connection`](crate::Context::connection);
//! hooks get its session number and peer address.
//!
//! # Examples
//!
//! ```
//! use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};
//! use bytes::BytesMut;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! struct Hello;
//! impl ProtocolConsumer for Hello {
//!     type Request = ();
//!     type Response = ();
//!     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
//!         let n = buf.len();
//!         let _ = buf.split_to(n);
//!         let session = cx.connection().session();
//!         cx.write(format!("hello {session}\n").as_bytes())?;
//!         Ok(Progress::Finished(()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! let server = TcpServer::builder(|| Hello).bind("127.0.0.1:0".parse().unwrap()).start().await?;
//! let mut sock = tokio::net::TcpStream::connect(server.address()).await?;
//! sock.write_all(b"hi").await?;
//! let mut reply = [0u8; 8];
//! sock.read_exact(&mut reply).await?;
//! assert_eq!(&reply, b"hello 1\n");
//! server.close(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use serde::Serialize;
use tokio::sync::Notify;

use crate::transport::TransportInfo;
use crate::{Error, OneTime};

mod call_queue;
mod client_connection;
pub(crate) mod clock;
mod config;
pub(crate) mod driver;
pub(crate) mod reply_slot;
mod scratch;
mod serve;
pub(crate) mod shutdown;
pub(crate) mod signal;

#[cfg(feature = "tls")]
pub(crate) use client_connection::connect_via;
pub use client_connection::{connect, ClientConnection, ClientConnectionBuilder};
pub use config::{
    ConnectionConfig, MinRate, ProgressRules, DEFAULT_CLOSE_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_MAX_READ_BUFFER, DEFAULT_MIN_RECEIVE_RATE, DEFAULT_MIN_SEND_RATE,
    DEFAULT_WRITE_STALL_TIMEOUT,
};
pub use serve::serve_connection;

/// No close requested.
const CLOSE_NONE: u8 = 0;
/// Close after flushing, writing EOF and waiting for the peer.
const CLOSE_GRACEFUL: u8 = 1;
/// Close now, dropping buffered output.
const CLOSE_ABORT: u8 = 2;

/// A handle to one connection; cloning shares it.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    session: u64,
    peer: SocketAddr,
    local: SocketAddr,
    processed: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    write_pauses: AtomicU64,
    write_paused: AtomicBool,
    write_buffer_peak: AtomicU64,
    /// Set once the connection is over (the socket is gone or being closed).
    closed: AtomicBool,
    /// Set when the peer's EOF (a half-close) is seen.
    read_closed: AtomicBool,
    /// Set by [`Connection::shutdown_write`]: no more writes are taken.
    write_closed: AtomicBool,
    /// A write-side shutdown waits for the driver.
    shutdown_write: AtomicBool,
    close_request: AtomicU8,
    /// Wakes the driver: a close request or bytes written from outside it. The driver
    /// registers before it checks the flags, so no wake-up is lost, and registering
    /// is a few atomic operations (a `Notify` would take a mutex on every poll).
    wake: AtomicWaker,
    /// Bytes written through [`Connection::write`], waiting for the driver.
    external: Mutex<External>,
    has_external: AtomicBool,
    /// Set by [`Connection::resume_reading`], taken by the driver.
    resume_reading: AtomicBool,
    /// The driver's buffered output, published once per round for `write`'s cap check.
    buffered: AtomicUsize,
    cap: AtomicUsize,
    high: AtomicUsize,
    writable: Notify,
    made: OneTime<()>,
    lost: OneTime<()>,
    /// Set once by the driver from its transport, before `connection_made`.
    transport: OnceLock<TransportInfo>,
}

/// A snapshot of a connection's state, serialisable for `info()` endpoints.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The producer's session number.
    pub session: u64,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
    /// Requests started on this connection (pulsar's `_processed`).
    pub processed: u64,
    /// Bytes read from the socket.
    pub bytes_read: u64,
    /// Bytes written to the socket.
    pub bytes_written: u64,
    /// How many times writing paused at the high-water mark.
    pub write_pauses: u64,
    /// Whether writing is paused now.
    pub write_paused: bool,
    /// The most bytes the write buffer ever held (stays below the cap; near the
    /// high-water mark while flow control works).
    pub write_buffer_peak: u64,
    /// Whether the connection is closed.
    pub closed: bool,
    /// Whether the peer shut its sending side (half-close) or the connection is closed.
    pub read_closed: bool,
}

// ===== impl Connection =====

impl Connection {
    pub(crate) fn new(session: u64, peer: SocketAddr, local: SocketAddr) -> Connection {
        Connection {
            shared: Arc::new(Shared {
                session,
                peer,
                local,
                processed: AtomicU64::new(0),
                bytes_read: AtomicU64::new(0),
                bytes_written: AtomicU64::new(0),
                write_pauses: AtomicU64::new(0),
                write_paused: AtomicBool::new(false),
                write_buffer_peak: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                read_closed: AtomicBool::new(false),
                write_closed: AtomicBool::new(false),
                shutdown_write: AtomicBool::new(false),
                close_request: AtomicU8::new(CLOSE_NONE),
                wake: AtomicWaker::new(),
                external: Mutex::new(External::default()),
                has_external: AtomicBool::new(false),
                resume_reading: AtomicBool::new(false),
                buffered: AtomicUsize::new(0),
                cap: AtomicUsize::new(usize::MAX),
                high: AtomicUsize::new(usize::MAX),
                writable: Notify::new(),
                made: OneTime::new(),
                lost: OneTime::new(),
                transport: OnceLock::new(),
            }),
        }
    }

    /// The session number: the producer's connection count when it made this one.
    pub fn session(&self) -> u64 {
        self.shared.session
    }

    /// The peer's address (pulsar's `address`).
    pub fn address(&self) -> SocketAddr {
        self.shared.peer
    }

    /// The local address of the socket.
    pub fn local_address(&self) -> SocketAddr {
        self.shared.local
    }

    /// Requests started on this connection (pulsar's `_processed`).
    pub fn processed(&self) -> u64 {
        self.shared.processed.load(Ordering::Relaxed)
    }

    /// What the transport negotiated before the protocol started: the TLS ALPN
    /// protocol and SNI name (empty for plain TCP, and before the handshake ends).
    pub fn transport_info(&self) -> &TransportInfo {
        self.shared.transport.get().unwrap_or(&TransportInfo::EMPTY)
    }

    /// Whether the connection is closed. A peer's half-close does not close it (see
    /// [`is_read_closed`](Self::is_read_closed)): writing goes on.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Whether writing is paused at the high-water mark (a request/response exchange
    /// stops reading too; a full-duplex one reads on).
    pub fn is_write_paused(&self) -> bool {
        self.shared.write_paused.load(Ordering::Relaxed)
    }

    /// The one-time `connection_made` event, fired when the driver starts.
    pub fn connection_made(&self) -> &OneTime<()> {
        &self.shared.made
    }

    /// The one-time `connection_lost` event: `Ok(())` after a clean close, or the error
    /// that ended the connection.
    pub fn connection_lost(&self) -> &OneTime<()> {
        &self.shared.lost
    }

    /// Closes the connection: flushes what is queued, writes EOF, waits for the peer to
    /// close (up to the close timeout) and then aborts. Resolves with the
    /// `connection_lost` outcome.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the close goes on without the caller.
    pub async fn close(&self) -> Result<(), Error> {
        self.request_close(CLOSE_GRACEFUL);
        self.shared.lost.wait().await
    }

    /// Queues `data` for writing from outside the connection's consumers (another
    /// connection's consumer relaying to this one, a background task pushing events):
    /// pulsar's `connection.write`. The driver writes it after what its consumers queued
    /// so far.
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] when the connection is closed; [`Error::is_write_buffer_full`]
    /// when the bytes would take the connection past its hard cap (nothing is queued then).
    /// A writer that wants back-pressure rather than errors awaits
    /// [`writable`](Self::writable) between writes.
    pub fn write(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        let data = data.into();
        let s = &self.shared;
        if self.is_closed() {
            return Err(Error::closed("connection"));
        }
        if s.write_closed.load(Ordering::Acquire) {
            return Err(Error::closed("connection's write side (shut down)"));
        }
        {
            let mut ext = s.external.lock().unwrap_or_else(PoisonError::into_inner);
            let cap = s.cap.load(Ordering::Relaxed);
            let total = s.buffered.load(Ordering::Relaxed) + ext.bytes + data.len();
            crate::flow_control::check_cap(total, cap)?;
            ext.bytes += data.len();
            ext.chunks.push_back(data);
        }
        s.has_external.store(true, Ordering::Release);
        s.wake.wake();
        Ok(())
    }

    /// Waits until the connection can take more output: its write buffer is below the
    /// high-water mark, or has drained to the low one after passing it (pulsar's write
    /// waiter, resolved by `resume_writing`).
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] once the connection is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn writable(&self) -> Result<(), Error> {
        let s = &self.shared;
        loop {
            let notified = s.writable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() || s.write_closed.load(Ordering::Acquire) {
                return Err(Error::closed("connection"));
            }
            if self.is_writable() {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Whether the connection can take more output now, without waiting: what
    /// [`writable`](Self::writable) would resolve at once with (`false` once closed).
    pub fn is_writable(&self) -> bool {
        let s = &self.shared;
        if self.is_closed() || s.write_closed.load(Ordering::Acquire) {
            return false;
        }
        // Bytes queued by `write` and not yet taken by the driver count too, or a fast
        // writer would outrun it to the cap.
        let queued = s
            .external
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes;
        let pending = queued + s.buffered.load(Ordering::Relaxed);
        crate::flow_control::external_writable(
            self.is_write_paused(),
            pending,
            s.high.load(Ordering::Relaxed),
        )
    }

    /// Shuts the connection's sending side once everything queued so far is written (a
    /// TCP FIN, a TLS `close_notify`), and goes on reading: the half-close a relay
    /// passes on from one side to the other. Later [`write`](Self::write)s fail. The
    /// connection ends when the peer has shut its side too (or a timeout, or a close).
    pub fn shutdown_write(&self) {
        let s = &self.shared;
        s.write_closed.store(true, Ordering::Release);
        s.shutdown_write.store(true, Ordering::Release);
        s.wake.wake();
    }

    /// Whether the peer shut its sending side (a half-close, pulsar's
    /// `eof_received`), or the connection is closed.
    pub fn is_read_closed(&self) -> bool {
        self.shared.read_closed.load(Ordering::Acquire) || self.is_closed()
    }

    /// Asks for a graceful close without waiting for it: what [`close`](Self::close)
    /// starts (for a consumer or a callback that cannot await).
    pub fn begin_close(&self) {
        self.request_close(CLOSE_GRACEFUL);
    }

    /// Resumes reading after a consumer paused it with
    /// [`Context::pause_reading`](crate::Context::pause_reading) (its body sink has room
    /// again): the bytes already read are fed to it, then reading goes on.
    pub fn resume_reading(&self) {
        self.shared.resume_reading.store(true, Ordering::Release);
        self.shared.wake.wake();
    }

    /// Closes the connection at once, dropping buffered output (pulsar's `abort`).
    pub fn abort(&self) {
        self.request_close(CLOSE_ABORT);
    }

    fn request_close(&self, how: u8) {
        // A stronger request wins; a weaker one after it changes nothing.
        self.shared.close_request.fetch_max(how, Ordering::AcqRel);
        self.shared.wake.wake();
    }

    /// A snapshot of the connection's counters.
    pub fn info(&self) -> ConnectionInfo {
        let s = &self.shared;
        ConnectionInfo {
            session: s.session,
            peer: s.peer,
            local: s.local,
            processed: self.processed(),
            bytes_read: s.bytes_read.load(Ordering::Relaxed),
            bytes_written: s.bytes_written.load(Ordering::Relaxed),
            write_pauses: s.write_pauses.load(Ordering::Relaxed),
            write_paused: self.is_write_paused(),
            write_buffer_peak: s.write_buffer_peak.load(Ordering::Relaxed),
            closed: self.is_closed(),
            read_closed: self.is_read_closed(),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Shared {
    pub(crate) fn set_transport_info(&self, info: TransportInfo) {
        if info != TransportInfo::EMPTY {
            let _ = self.transport.set(info);
        }
    }
    pub(crate) fn set_processed(&self, n: u64) {
        self.processed.store(n, Ordering::Relaxed);
    }
    /// Publishes the byte totals. The driver is the only writer, so a plain store of
    /// its own running total does it (no locked read-modify-write per read and write).
    pub(crate) fn set_bytes_read(&self, total: u64) {
        self.bytes_read.store(total, Ordering::Relaxed);
    }
    pub(crate) fn set_bytes_written(&self, total: u64) {
        self.bytes_written.store(total, Ordering::Relaxed);
    }
    pub(crate) fn set_write_paused(&self, paused: bool) {
        self.write_paused.store(paused, Ordering::Relaxed);
        if paused {
            self.write_pauses.fetch_add(1, Ordering::Relaxed);
        } else {
            self.writable.notify_waiters();
        }
    }
    pub(crate) fn set_buffered(&self, bytes: usize, high: usize, cap: usize) {
        self.buffered.store(bytes, Ordering::Relaxed);
        self.high.store(high, Ordering::Relaxed);
        self.cap.store(cap, Ordering::Relaxed);
    }
    /// Wakes `writable()` waiters, which re-check the buffer themselves.
    pub(crate) fn notify_writable(&self) {
        self.writable.notify_waiters();
    }
    /// Takes the bytes written from outside the driver, if any (one atomic load when
    /// there are none).
    pub(crate) fn take_external(&self) -> Option<VecDeque<Bytes>> {
        if !self.has_external.load(Ordering::Acquire)
            || !self.has_external.swap(false, Ordering::AcqRel)
        {
            return None;
        }
        let mut ext = self.external.lock().unwrap_or_else(PoisonError::into_inner);
        ext.bytes = 0;
        Some(std::mem::take(&mut ext.chunks))
    }
    /// Whether the handle left work for the driver: external bytes or a resume.
    pub(crate) fn has_pending(&self) -> bool {
        self.has_external.load(Ordering::Acquire)
            || self.resume_reading.load(Ordering::Acquire)
            || self.shutdown_write.load(Ordering::Acquire)
    }
    pub(crate) fn take_shutdown_write(&self) -> bool {
        self.shutdown_write.load(Ordering::Acquire)
            && self.shutdown_write.swap(false, Ordering::AcqRel)
    }
    pub(crate) fn mark_read_closed(&self) {
        self.read_closed.store(true, Ordering::Release);
    }
    pub(crate) fn take_resume_reading(&self) -> bool {
        // A load first: the swap is a locked instruction, and this runs every round.
        self.resume_reading.load(Ordering::Acquire)
            && self.resume_reading.swap(false, Ordering::AcqRel)
    }
    pub(crate) fn set_write_buffer_peak(&self, peak: usize) {
        self.write_buffer_peak.store(peak as u64, Ordering::Relaxed);
    }
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
        self.writable.notify_waiters();
    }
    pub(crate) fn close_requested(&self) -> CloseRequest {
        match self.close_request.load(Ordering::Acquire) {
            CLOSE_NONE => CloseRequest::None,
            CLOSE_GRACEFUL => CloseRequest::Graceful,
            _ => CloseRequest::Abort,
        }
    }
    pub(crate) fn driver_waker(&self) -> &AtomicWaker {
        &self.wake
    }
}

/// Bytes queued by [`Connection::write`].
#[derive(Default)]
struct External {
    chunks: VecDeque<Bytes>,
    bytes: usize,
}

/// What the handle asked the driver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseRequest {
    None,
    Graceful,
    Abort,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("session", &self.shared.session)
            .field("peer", &self.shared.peer)
            .field("processed", &self.processed())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl fmt::Display for Connection {
    /// pulsar's repr: `"<host:port> session N"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} session {}", self.shared.peer, self.shared.session)
    }
}
