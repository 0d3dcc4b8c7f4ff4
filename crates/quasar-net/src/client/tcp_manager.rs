//! The pool manager of a [`Client`](crate::Client)'s connections: plain TCP, or TLS
//! through the connector the pool was made for.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::OnConnect;
use crate::connection::{self, ClientConnection};
use crate::pool::Manager;
use crate::{ConnectionConfig, ConsumerFactory, Error, Producer, ProtocolConsumer};

type Req<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Request;
type Resp<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Response;

/// Opens [`ClientConnection`]s to one address for a [`Pool`](crate::Pool); every
/// connection counts as a session of the client's producer. A manager made by
/// [`Client::pool_tls`](crate::Client::pool_tls) opens TLS connections only, through
/// its one connector.
pub struct TcpManager<F: ConsumerFactory> {
    addr: SocketAddr,
    factory: Arc<F>,
    config: Arc<ConnectionConfig>,
    producer: Producer,
    on_connect: Option<OnConnect<Req<F>, Resp<F>>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
}

impl<F: ConsumerFactory> TcpManager<F> {
    pub(crate) fn new(
        addr: SocketAddr,
        factory: Arc<F>,
        config: Arc<ConnectionConfig>,
        producer: Producer,
        on_connect: Option<OnConnect<Req<F>, Resp<F>>>,
    ) -> Self {
        TcpManager {
            addr,
            factory,
            config,
            producer,
            on_connect,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// This manager, opening its connections through `connector`.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(mut self, connector: crate::tls::TlsConnector) -> Self {
        self.tls = Some(connector);
        self
    }

    /// The TLS connector of a TLS pool's manager; `None` for plain TCP.
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::tls::TlsConnector> {
        self.tls.as_ref()
    }

    /// The address this manager connects to.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }
}

/// Runs the client's on-connect hook on a new connection; a failed hook closes it.
pub(crate) async fn run_on_connect<Req: Send + 'static, Resp: Send + 'static>(
    hook: Option<&OnConnect<Req, Resp>>,
    conn: ClientConnection<Req, Resp>,
) -> Result<ClientConnection<Req, Resp>, Error> {
    let Some(hook) = hook else { return Ok(conn) };
    // If this future is dropped mid-hook the clone inside it goes too, and the
    // half-initialised connection is aborted rather than pooled.
    let mut guard = AbortOnDrop(Some(conn.clone()));
    hook(conn.clone()).await?;
    guard.0 = None;
    Ok(conn)
}

struct AbortOnDrop<Req, Resp>(Option<ClientConnection<Req, Resp>>);

impl<Req, Resp> Drop for AbortOnDrop<Req, Resp> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.abort();
        }
    }
}

impl<F: ConsumerFactory> Manager for TcpManager<F> {
    type Connection = ClientConnection<Req<F>, Resp<F>>;

    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Error>> + Send {
        // The pool applies its own connect timeout around this future (hook included).
        let (addr, factory, config, producer) = (
            self.addr,
            Arc::clone(&self.factory),
            Arc::clone(&self.config),
            self.producer.clone(),
        );
        #[cfg(feature = "tls")]
        let tls = self.tls.clone();
        let hook = self.on_connect.clone();
        async move {
            #[cfg(feature = "tls")]
            if let Some(tls) = tls {
                let conn =
                    connection::connect_via(&tls, addr, factory, config, producer, Duration::ZERO)
                        .await?;
                return run_on_connect(hook.as_ref(), conn).await;
            }
            let conn = connection::connect(addr, factory, config, producer, Duration::ZERO).await?;
            run_on_connect(hook.as_ref(), conn).await
        }
    }

    fn is_closed(&self, conn: &Self::Connection) -> bool {
        // The driver reads continuously, so a peer's close on an idle connection is
        // already visible here: no socket polling (pulsar polled the socket on every checkout).
        conn.is_read_closed()
    }

    fn close(&self, conn: Self::Connection) {
        conn.abort();
    }
}

impl<F: ConsumerFactory> fmt::Debug for TcpManager<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpManager");
        d.field("addr", &self.addr);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.finish()
    }
}
