//! Serving one connection over any transport, outside a `TcpServer`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use super::clock::now;
use super::driver::Driver;
use super::shutdown::Shutdown;
use super::{Connection, ConnectionConfig};
use crate::engine::{Engine, Role};
use crate::transport::Transport;
use crate::{ConsumerFactory, Producer, Result};

/// Serves one connection over `io` with consumers from `factory`, as a `TcpServer` serves
/// each accepted socket: the same engine, timeouts, flow control and hooks (hyper's
/// `serve_connection`). Returns the connection's handle and the future that runs it;
/// the future resolves with the `connection_lost` outcome when the connection ends.
///
/// `io` can be any [`Transport`]: a TLS stream, a `tokio::io::duplex` pipe in tests, a
/// socket the caller accepted itself. The handle's addresses come from the TCP socket
/// underneath, or are `0.0.0.0:0` for a transport without one.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use quasar_net::{serve_connection, ConnectionConfig, Context, Progress, ProtocolConsumer, Result};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// struct Upper;
/// impl ProtocolConsumer for Upper {
///     type Request = ();
///     type Response = ();
///     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
///         cx.write(&buf.split().to_ascii_uppercase())?;
///         Ok(Progress::Finished(()))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let (mut client, server) = tokio::io::duplex(1024);
/// let (_conn, serving) = serve_connection(server, || Upper, ConnectionConfig::default());
/// tokio::spawn(serving);
/// client.write_all(b"hello").await?;
/// let mut reply = [0; 5];
/// client.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"HELLO");
/// # Ok(())
/// # }
/// ```
pub fn serve_connection<T, F>(
    io: T,
    factory: F,
    config: ConnectionConfig,
) -> (Connection, impl Future<Output = Result<()>> + Send)
where
    T: Transport,
    F: ConsumerFactory,
{
    let producer = Producer::new("connection", Default::default());
    let (peer, local) = addresses(&io);
    let conn = Connection::new(producer.next_session(), peer, local);
    let engine = Engine::new(
        conn.clone(),
        Arc::new(factory),
        Arc::new(config),
        producer,
        Role::Server,
        now(),
    );
    let driver = Driver::new(io, engine, None);
    let handle = conn.clone();
    (handle, async move {
        driver.run(Shutdown::default()).await;
        conn.connection_lost().wait().await
    })
}

/// The peer and local addresses of a transport's TCP socket, or unspecified ones.
pub(crate) fn addresses<T: Transport>(io: &T) -> (SocketAddr, SocketAddr) {
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    match io.tcp_stream() {
        Some(tcp) => (
            tcp.peer_addr().unwrap_or(unspecified),
            tcp.local_addr().unwrap_or(unspecified),
        ),
        None => (unspecified, unspecified),
    }
}
