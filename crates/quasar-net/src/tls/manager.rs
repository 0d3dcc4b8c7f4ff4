//! The pool manager of TLS client connections.
//!
//! A [`Client`](crate::Client) pools plain TCP connections by address and never opens
//! TLS; TLS connections are pooled by a [`Pool`](crate::Pool) over a [`TlsManager`],
//! whose identity (address, server name, roots, client certificate, ALPN) is fixed when
//! it is made. One pool per manager means a plaintext connection and a TLS one, or two
//! TLS connections with different settings, can never be handed out for each other.

use std::fmt;
use std::net::SocketAddr;

use super::TlsConnector;
use crate::connection::{ClientConnection, ClientConnectionBuilder};
use crate::consumer::{Req, Resp};
use crate::pool::Manager;
use crate::{ConsumerFactory, Error};

/// Opens TLS [`ClientConnection`]s to one address for a [`Pool`](crate::Pool).
///
/// # Examples
///
/// See the [module documentation](super).
pub struct TlsManager<F: ConsumerFactory> {
    addr: SocketAddr,
    connector: TlsConnector,
    builder: ClientConnectionBuilder<F>,
}

impl<F: ConsumerFactory> TlsManager<F> {
    /// A manager whose connections go to `addr` through `connector`, made by `builder`
    /// (its config, producer and push sink apply to every connection).
    pub fn new(
        addr: SocketAddr,
        connector: TlsConnector,
        builder: ClientConnectionBuilder<F>,
    ) -> Self {
        TlsManager {
            addr,
            connector,
            builder,
        }
    }

    /// The address this manager connects to.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The connector (server name, roots, ALPN) this manager uses.
    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }
}

impl<F: ConsumerFactory> Manager for TlsManager<F> {
    type Connection = ClientConnection<Req<F>, Resp<F>>;

    async fn connect(&self) -> Result<Self::Connection, Error> {
        // The pool applies its own connect timeout around this future.
        self.builder.connect_with(&self.connector, self.addr).await
    }

    fn is_closed(&self, conn: &Self::Connection) -> bool {
        conn.is_read_closed()
    }

    fn close(&self, conn: Self::Connection) {
        conn.abort();
    }
}

impl<F: ConsumerFactory> fmt::Debug for TlsManager<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsManager")
            .field("addr", &self.addr)
            .field("connector", &self.connector)
            .finish()
    }
}
