//! pulsar's echo protocols, built on quasar-net.
//!
//! - [`chat`]: a line chat over TCP (pulsar's chat example): members are greeted at once,
//!   joins and leaves are announced, each line goes to every other member; built on
//!   [`quasar_net::Group`].
//! - [`client`]: [`client::EchoClient`], pulsar's pooled `Echo` client.
//! - [`tcp`]: messages end with `\r\n\r\n`; the server echoes each whole message,
//!   separator included; `QUIT` is echoed and then the server closes the connection. A
//!   `raw` mode echoes bytes as they arrive, with no framing.
//! - [`udp`]: every datagram is split on `\n` and each non-empty line is echoed as its own
//!   datagram; oversize datagrams are counted and dropped.
//!
//! # Examples
//!
//! ```
//! use quasar_echo::tcp::{EchoConfig, EchoServerFactory};
//! use quasar_net::TcpServer;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! let server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
//!     .start()
//!     .await?;
//! let mut sock = tokio::net::TcpStream::connect(server.address()).await?;
//! sock.write_all(b"hello\r\n\r\n").await?;
//! let mut reply = [0u8; 9];
//! sock.read_exact(&mut reply).await?;
//! assert_eq!(&reply, b"hello\r\n\r\n");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod chat;
pub mod client;
pub mod tcp;
pub mod udp;
