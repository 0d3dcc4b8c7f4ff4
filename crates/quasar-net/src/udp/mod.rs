//! UDP: datagram servers, datagram consumers and connected client endpoints.
//!
//! This module owns pulsar's UDP side. A [`DatagramServer`] (pulsar's `DatagramServer`,
//! a producer) binds one or more sockets, builds one [`DatagramConsumer`] per socket from
//! its [`DatagramConsumerFactory`], and hands it every datagram with its sender;
//! replies queued through the [`DatagramContext`] leave together after each receive
//! batch. On Linux the batch is one `recvmmsg` and one `sendmmsg`, and runs of
//! equal-size replies to one peer go as single UDP GSO sends; elsewhere, or with
//! `.batching(false)`, the portable `recv_from`/`send_to` path does the same work one
//! datagram per syscall. A consumer that must await hands a future to
//! [`DatagramContext::spawn_reply`] and the socket keeps serving meanwhile.
//!
//! The server fixes what pulsar's lacked: bind errors reach the
//! caller, `pre_request`/`post_request` hooks fire for every datagram, `max_requests`
//! stops the server after that many datagrams, `workers(n)` runs one `SO_REUSEPORT`
//! socket per current-thread runtime, oversize datagrams are detected and counted, and
//! [`close`](DatagramServer::close) drains with a deadline and fires `stop`.
//!
//! On the client side a [`UdpClient`] (pulsar's `AbstractUdpClient`) opens
//! [`UdpEndpoint`]s, sockets connected to one remote, whose
//! [`request`](UdpEndpoint::request) sends a datagram and awaits the reply with a timeout.
//!
//! # Examples
//!
//! An upper-casing server and a client request:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use quasar_net::udp::{DatagramConsumer, DatagramContext, DatagramServer, UdpClient};
//! use quasar_net::Result;
//!
//! struct Upper;
//!
//! impl DatagramConsumer for Upper {
//!     fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], _peer: SocketAddr) -> Result<()> {
//!         cx.reply(&data.to_ascii_uppercase())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let server = DatagramServer::builder(|| Upper)
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .start()
//!     .await?;
//! let client = UdpClient::new();
//! let reply = client.request(server.address(), b"ciao").await?;
//! assert_eq!(&reply[..], b"CIAO");
//! server.close(Duration::from_secs(1)).await;
//! assert_eq!(server.info().datagrams.requests_processed, 1);
//! assert!(server.stopped().is_fired());
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/udp.md` for the design decisions and measurements.

mod amplification;
mod batch;
mod builder;
mod consumer;
mod driver;
mod endpoint;
mod info;
mod queue;
mod server;
mod socket;

pub use amplification::{
    DEFAULT_MAX_REPLIES_PER_DATAGRAM, DEFAULT_MAX_REPLY_RATIO, UDP_WIRE_OVERHEAD,
};
pub use builder::{
    DatagramServerBuilder, DEFAULT_BATCH_SIZE, DEFAULT_MAX_DATAGRAM_SIZE, DEFAULT_MAX_PENDING,
    DEFAULT_UDP_SHUTDOWN_TIMEOUT, MAX_QUEUED_BYTES,
};
pub use consumer::{DatagramConsumer, DatagramConsumerFactory, DatagramContext, Reply, SocketInfo};
pub use endpoint::{
    UdpClient, UdpClientBuilder, UdpEndpoint, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};
pub use info::{DatagramCloseReport, DatagramServerInfo, DatagramServerSection, DatagramsSection};
pub use server::DatagramServer;

/// Whether this platform has the batched `recvmmsg`/`sendmmsg` path (Linux, Android);
/// elsewhere [`DatagramServerBuilder::batching`] has no effect.
pub const BATCHING_AVAILABLE: bool = batch::AVAILABLE;
