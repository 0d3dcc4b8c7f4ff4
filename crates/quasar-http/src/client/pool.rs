//! The client's connections: one pool per route, a total cap across them, and how each
//! route's transport is opened (TCP, TLS, a forward proxy, a `CONNECT` tunnel).
//!
//! A [`Route`] is where a connection goes: straight to an origin (TLS verified for a host or
//! not), to a forward proxy that takes absolute-form requests for any target, or through a
//! proxy's `CONNECT` tunnel to one target (TLS inside for `https`/`wss`). Each route has its
//! own [`Pool`] of at most `max_per_host` connections, so a connection is never handed out
//! for another route. Every connection also holds a permit of one semaphore of
//! `max_connections` for as long as its socket is open (a WebSocket handed over keeps it),
//! which makes the total a hard cap: a connect that finds no permit waits for one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response};
use quasar_net::pool::{Manager, Pool};
use quasar_net::tls::tokio_rustls;
use quasar_net::tls::TlsConnector;
use quasar_net::transport::{Connector, Transport, TransportInfo};
use quasar_net::{ClientConnection, ClientConnectionBuilder, Error};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::client::proxy::connect_tunnel;
use crate::client::{ClientRequest, HttpConsumerFactory};

/// How long a proxy's `CONNECT` answer and the TLS handshake inside the tunnel may take
/// together (the TLS connector's own default for a direct handshake).
const HANDSHAKE_TIMEOUT: Duration = quasar_net::tls::DEFAULT_CLIENT_HANDSHAKE_TIMEOUT;

/// A pooled HTTP client connection.
pub(crate) type Conn = ClientConnection<ClientRequest, Response<Bytes>>;

/// Where a connection goes; each route has a pool of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    /// Straight to the origin, over TLS verified for `tls` (the host name) when set.
    Direct {
        addr: SocketAddr,
        tls: Option<String>,
    },
    /// Plain HTTP to a forward proxy, which takes absolute-form requests for any target.
    Forward {
        proxy: SocketAddr,
        auth: Option<HeaderValue>,
    },
    /// A `CONNECT` tunnel through `proxy` to `target` (`host:port`), TLS inside for `tls`.
    Tunnel {
        proxy: SocketAddr,
        auth: Option<HeaderValue>,
        target: String,
        tls: Option<String>,
    },
}

/// What every route's manager shares: how to run a connection, TLS, the total cap.
pub(crate) struct Dialer {
    pub(crate) builder: ClientConnectionBuilder<HttpConsumerFactory>,
    pub(crate) tls: TlsConnector,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) total: Arc<Semaphore>,
    pub(crate) max_total: usize,
    /// Connects waiting for a permit of the total cap.
    waiting: AtomicUsize,
}

impl Dialer {
    pub(crate) fn new(
        builder: ClientConnectionBuilder<HttpConsumerFactory>,
        tls: TlsConnector,
        connect_timeout: Option<Duration>,
        max_total: usize,
    ) -> Dialer {
        Dialer {
            builder,
            tls,
            connect_timeout,
            total: Arc::new(Semaphore::new(max_total)),
            max_total,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Sockets open now (pooled, in use, or handed over to a WebSocket).
    pub(crate) fn open_connections(&self) -> usize {
        self.max_total - self.total.available_permits()
    }

    /// Whether the total cap is reached.
    pub(crate) fn is_full(&self) -> bool {
        self.total.available_permits() == 0
    }

    /// A permit of the total cap, waiting for one if need be; `route_waiting` counts the
    /// route's connects that wait.
    async fn permit(
        &self,
        route_waiting: &AtomicUsize,
    ) -> quasar_net::Result<OwnedSemaphorePermit> {
        if let Ok(permit) = Arc::clone(&self.total).try_acquire_owned() {
            return Ok(permit);
        }
        // Both decrement on drop too: the pool may cancel this connect.
        let _waiting = Waiting::new(&self.waiting);
        let _route = Waiting::new(route_waiting);
        Arc::clone(&self.total)
            .acquire_owned()
            .await
            .map_err(|_| Error::closed("http client"))
    }

    async fn open(&self, route: &Route) -> quasar_net::Result<Box<dyn Transport>> {
        match route {
            Route::Direct { addr, tls: None } => Ok(Box::new(tcp(*addr).await?)),
            Route::Direct {
                addr,
                tls: Some(host),
            } => {
                let connector = self.tls.with_server_name(host)?;
                Ok(Box::new(connector.connect(*addr).await?))
            }
            Route::Forward { proxy, .. } => Ok(Box::new(tcp(*proxy).await?)),
            Route::Tunnel {
                proxy,
                auth,
                target,
                tls,
            } => {
                let stream = tcp(*proxy).await?;
                // A proxy that takes the connection and never answers, or a target that
                // never finishes its TLS handshake, must not hold the connect forever.
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.tunnel(stream, auth, target, tls))
                    .await
                    .map_err(|_| Error::timeout(format!("CONNECT to {target} through {proxy}")))?
            }
        }
    }
}

impl Dialer {
    /// `CONNECT` on a proxy connection, then TLS inside the tunnel for `tls`.
    async fn tunnel(
        &self,
        mut stream: TcpStream,
        auth: &Option<HeaderValue>,
        target: &str,
        tls: &Option<String>,
    ) -> quasar_net::Result<Box<dyn Transport>> {
        connect_tunnel(&mut stream, target, auth.as_ref()).await?;
        let Some(host) = tls else {
            return Ok(Box::new(stream));
        };
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| Error::tls(format!("`{host}` is not a server name"), e))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(self.tls.config()))
            .connect(name, stream)
            .await
            .map_err(|e| tls_error(target, e))?;
        Ok(Box::new(tls))
    }
}

struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::AcqRel);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn tcp(addr: SocketAddr) -> quasar_net::Result<TcpStream> {
    TcpStream::connect(addr)
        .await
        .map_err(|e| Error::connect(addr, e))
}

/// A TLS handshake failure inside a tunnel, with the rustls error as its source when there
/// is one (so [`rustls_error`](quasar_net::tls::rustls_error) finds it).
fn tls_error(target: &str, err: io::Error) -> Error {
    let what = format!("TLS handshake with {target} through the proxy");
    if !err
        .get_ref()
        .is_some_and(|e| e.is::<tokio_rustls::rustls::Error>())
    {
        return Error::tls(what, err);
    }
    match err
        .into_inner()
        .map(|inner| inner.downcast::<tokio_rustls::rustls::Error>())
    {
        Some(Ok(cause)) => Error::tls(what, *cause),
        Some(Err(other)) => Error::tls(what, other),
        None => Error::tls(what, "handshake failed"),
    }
}

/// The error a connect waiting for the total cap gives up with when a connection of its
/// own route came back: the caller checks out again and takes that one.
const RETRY: &str = "a pooled connection came back";

/// Whether `err` is the connect that gave way to a returned connection.
pub(crate) fn is_retry(err: &Error) -> bool {
    err.is_aborted() && err.to_string().contains(RETRY)
}

/// Opens the connections of one route's pool.
pub(crate) struct RouteManager {
    route: Route,
    dialer: Arc<Dialer>,
    /// This route's connects waiting for the total cap.
    waiting: Arc<AtomicUsize>,
    /// Wakes one of them when a connection of this route goes back to the pool.
    returned: Arc<Notify>,
}

impl RouteManager {
    pub(crate) fn new(route: Route, dialer: Arc<Dialer>) -> RouteManager {
        RouteManager {
            route,
            dialer,
            waiting: Arc::new(AtomicUsize::new(0)),
            returned: Arc::new(Notify::new()),
        }
    }

    /// Whether connects of other routes wait for the total cap (a connection of this route
    /// coming back should then close to make room).
    pub(crate) fn others_wait(&self) -> bool {
        self.dialer.waiting.load(Ordering::Acquire) > self.waiting.load(Ordering::Acquire)
    }

    /// A connection of this route went back to the pool: a connect of this route waiting
    /// for the total cap gives up so that its caller takes that connection instead (the
    /// pool does not hand idle connections to callers that are connecting).
    pub(crate) fn came_back(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.returned.notify_one();
        }
    }
}

impl Manager for RouteManager {
    type Connection = Conn;

    fn connect(&self) -> impl Future<Output = quasar_net::Result<Conn>> + Send {
        let (route, dialer) = (self.route.clone(), Arc::clone(&self.dialer));
        let (waiting, returned) = (Arc::clone(&self.waiting), Arc::clone(&self.returned));
        async move {
            let permit = tokio::select! {
                permit = dialer.permit(&waiting) => permit?,
                () = returned.notified() => return Err(Error::aborted(RETRY)),
            };
            let open = dialer.open(&route);
            let io = match dialer.connect_timeout {
                None => open.await?,
                Some(limit) => tokio::time::timeout(limit, open)
                    .await
                    .map_err(|_| Error::timeout(format!("connect ({route:?})")))??,
            };
            let io = Permitted {
                io,
                _permit: permit,
            };
            Ok(dialer.builder.handshake(io).await)
        }
    }

    fn is_closed(&self, conn: &Conn) -> bool {
        conn.is_read_closed()
    }

    fn close(&self, conn: Conn) {
        conn.abort();
    }
}

/// Closes the idle connections of `pool` (one stays if nothing else is left: a pool's size
/// cannot be zero), keeping those in use.
pub(crate) fn evict_idle(pool: &Pool<RouteManager>) {
    let state = pool.state();
    if state.idle == 0 {
        return;
    }
    let size = state.pool_size;
    let keep = (state.in_use + state.connecting).max(1);
    if keep < size {
        // Shrinking closes idle connections over the new size at once; growing back right
        // after means no connection in use is closed when it returns.
        let _ = pool.resize(keep);
        let _ = pool.resize(size);
    }
}

/// A transport holding a permit of the client's total connection cap until it is dropped.
struct Permitted {
    io: Box<dyn Transport>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Permitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Permitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Transport for Permitted {
    fn tcp_stream(&self) -> Option<&TcpStream> {
        self.io.tcp_stream()
    }

    fn transport_info(&self) -> TransportInfo {
        self.io.transport_info()
    }
}
