//! pulsar's `Echo` client: a pooled client of one TCP echo server.
//!
//! # Examples
//!
//! ```
//! use quasar_echo::client::EchoClient;
//! use quasar_echo::tcp::{EchoConfig, EchoServerFactory};
//! use quasar_net::TcpServer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! let server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default())).start().await?;
//! let echo = EchoClient::new(server.address(), 2)?;
//! assert_eq!(echo.echo("ciao luca").await?, "ciao luca");
//! assert_eq!(echo.pool()?.available(), 1);
//! echo.close().await;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;

use bytes::Bytes;
use quasar_net::{Client, Pool, Result, TcpManager};

use crate::tcp::EchoClientFactory;

/// A client of one echo server with a pool of `pool_size` connections.
#[derive(Debug, Clone)]
pub struct EchoClient {
    addr: SocketAddr,
    client: Client<EchoClientFactory>,
}

impl EchoClient {
    /// A client of the echo server at `addr`, with at most `pool_size` connections.
    ///
    /// # Errors
    ///
    /// A config error when `pool_size` is zero.
    pub fn new(addr: SocketAddr, pool_size: usize) -> Result<EchoClient> {
        let client = Client::builder(EchoClientFactory::default())
            .name("echo-client")
            .pool_size(pool_size)
            .build()?;
        Ok(EchoClient::from_client(addr, client))
    }

    /// Wraps a configured [`Client`] (timeouts, hooks).
    pub fn from_client(addr: SocketAddr, client: Client<EchoClientFactory>) -> EchoClient {
        EchoClient { addr, client }
    }

    /// Sends `message` and returns its echo (separator stripped).
    ///
    /// # Errors
    ///
    /// As [`Client::request`]; a message containing the separator is a protocol error.
    ///
    /// # Cancel safety
    ///
    /// As [`Client::request`]: the connection of a cancelled call is discarded.
    pub async fn echo(&self, message: impl Into<Bytes>) -> Result<Bytes> {
        self.client.request(self.addr, message.into()).await
    }

    /// The pool of connections to the server.
    ///
    /// # Errors
    ///
    /// [`quasar_net::Error::is_closed`] after [`close`](Self::close).
    pub fn pool(&self) -> Result<Pool<TcpManager<EchoClientFactory>>> {
        self.client.pool(self.addr)
    }

    /// The underlying client.
    pub fn client(&self) -> &Client<EchoClientFactory> {
        &self.client
    }

    /// Connections opened so far.
    pub fn sessions(&self) -> u64 {
        self.client.sessions()
    }

    /// Requests sent so far.
    pub fn requests_processed(&self) -> u64 {
        self.client.requests_processed()
    }

    /// Closes the pool and waits for its connections to go.
    pub async fn close(&self) {
        self.client.close().await
    }
}
