//! The pool manager of TCP client connections.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::{self, ClientConnection};
use crate::pool::Manager;
use crate::{ConnectionConfig, ConsumerFactory, Error, Producer, ProtocolConsumer};

type Req<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Request;
type Resp<F> = <<F as ConsumerFactory>::Consumer as ProtocolConsumer>::Response;

/// Opens [`ClientConnection`]s to one address for a [`Pool`](crate::Pool); every
/// connection counts as a session of the client's producer.
pub struct TcpManager<F> {
    addr: SocketAddr,
    factory: Arc<F>,
    config: Arc<ConnectionConfig>,
    producer: Producer,
}

impl<F> TcpManager<F> {
    pub(crate) fn new(
        addr: SocketAddr,
        factory: Arc<F>,
        config: Arc<ConnectionConfig>,
        producer: Producer,
    ) -> Self {
        TcpManager {
            addr,
            factory,
            config,
            producer,
        }
    }

    /// The address this manager connects to.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }
}

impl<F: ConsumerFactory> Manager for TcpManager<F> {
    type Connection = ClientConnection<Req<F>, Resp<F>>;

    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Error>> + Send {
        // The pool applies its own connect timeout around this future.
        connection::connect(
            self.addr,
            Arc::clone(&self.factory),
            Arc::clone(&self.config),
            self.producer.clone(),
            Duration::ZERO,
        )
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

impl<F> fmt::Debug for TcpManager<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpManager")
            .field("addr", &self.addr)
            .finish()
    }
}
