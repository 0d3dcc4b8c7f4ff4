//! A Redis-protocol key-value server (pulsar's `pulsards`) on quasar-net's engine.
//!
//! [`RespServerFactory`] is a [`ConsumerFactory`](quasar_net::ConsumerFactory): give it
//! to a `TcpServer` and every connection speaks RESP2 (RESP3 after `HELLO 3`) to one
//! shared keyspace of 16 databases holding strings, hashes, lists, sets and sorted sets
//! with expiry, plus transactions, blocking pops and pub/sub. Commands are decoded with
//! one [`Decoder`](crate::Decoder) per connection, run synchronously under the locks of
//! the keyspace shards they touch, and answered straight into the connection's write
//! queue, so pipelined commands leave in one write. The design is in
//! `docs/resp-server.md`.
//!
//! # Examples
//!
//! ```
//! use quasar_net::TcpServer;
//! use quasar_redis::server::{RespServerConfig, RespServerFactory};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! let config = RespServerConfig::default();
//! let server = TcpServer::builder(RespServerFactory::new(config.clone()))
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .connection_config(|c| config.apply_to(c))
//!     .start()
//!     .await?;
//!
//! let mut client = tokio::net::TcpStream::connect(server.address()).await?;
//! client.write_all(b"SET greeting hello\r\nGET greeting\r\n").await?;
//! let mut reply = vec![0; 16];
//! client.read_exact(&mut reply).await?;
//! assert_eq!(reply, b"+OK\r\n$5\r\nhello\r\n");
//! server.close(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

mod admin;
mod blocking;
mod commands;
mod config;
mod consumer;
mod dispatch;
// Redis's glob rules live beside the in-process pub/sub, which needs the same ones.
use quasar_net::pubsub::glob;
mod pubsub;
mod reply;
mod session;
mod shared;
mod store;
mod value;

pub use config::{
    parse_memory, MaxMemoryPolicy, RespServerConfig, DEFAULT_DATABASES, DEFAULT_MAX_COMMAND_LEN,
    DEFAULT_OUTPUT_CAP, DEFAULT_SHARDS, DEFAULT_SWEEP_INTERVAL,
};
pub use consumer::{RespConsumer, RespServerFactory, BUSY_REPLY};
