//! The pool manager of TCP client connections.

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
/// connection counts as a session of the client's producer.
pub struct TcpManager<F: ConsumerFactory> {
    addr: SocketAddr,
    factory: Arc<F>,
    config: Arc<ConnectionConfig>,
    producer: Producer,
    on_connect: Option<OnConnect<Req<F>, Resp<F>>>,
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
        }
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
        let opening = connection::connect(
            self.addr,
            Arc::clone(&self.factory),
            Arc::clone(&self.config),
            self.producer.clone(),
            Duration::ZERO,
        );
        let hook = self.on_connect.clone();
        async move { run_on_connect(hook.as_ref(), opening.await?).await }
    }

    fn is_closed(&self, conn: &Self::Connection) -> bool {
        // The driver reads continuously, so a peer's close on an idle connection is
        // already visible here: no socket polling (pulsar polled the socket on every checkout).
        conn.is_closed()
    }

    fn close(&self, conn: Self::Connection) {
        conn.abort();
    }
}

impl<F: ConsumerFactory> fmt::Debug for TcpManager<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpManager")
            .field("addr", &self.addr)
            .finish()
    }
}
