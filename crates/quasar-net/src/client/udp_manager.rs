//! Pooling UDP endpoints: pulsar's echoudp client keeps a pool of connected endpoints,
//! exactly like TCP connections (pulsar's `AbstractUdpClient` over its `Pool`).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

use crate::pool::{Manager, Pool};
use crate::udp::{UdpClient, UdpEndpoint};
use crate::{Error, Result};

/// Opens [`UdpEndpoint`]s to one remote address for a [`Pool`]; each counts as a
/// session of the [`UdpClient`].
#[derive(Debug, Clone)]
pub struct UdpManager {
    client: UdpClient,
    remote: SocketAddr,
}

impl UdpManager {
    /// A manager of endpoints of `client` connected to `remote`.
    pub fn new(client: UdpClient, remote: SocketAddr) -> UdpManager {
        UdpManager { client, remote }
    }

    /// The remote address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The client whose counters and hooks the endpoints use.
    pub fn client(&self) -> &UdpClient {
        &self.client
    }
}

impl Manager for UdpManager {
    type Connection = UdpEndpoint;

    fn connect(&self) -> impl Future<Output = Result<UdpEndpoint, Error>> + Send {
        self.client.endpoint(self.remote)
    }

    fn is_closed(&self, endpoint: &UdpEndpoint) -> bool {
        // A refused datagram (ICMP port unreachable) closes the endpoint.
        endpoint.is_closed()
    }

    fn close(&self, endpoint: UdpEndpoint) {
        endpoint.close();
    }
}

impl UdpClient {
    /// A pool of at most `pool_size` endpoints connected to `remote`.
    ///
    /// # Errors
    ///
    /// A config error when `pool_size` is zero.
    pub fn pool(&self, remote: SocketAddr, pool_size: usize) -> Result<Pool<UdpManager>> {
        Pool::builder(UdpManager::new(self.clone(), remote))
            .pool_size(pool_size)
            .build()
    }
}

impl fmt::Display for UdpManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "udp {}", self.remote)
    }
}
