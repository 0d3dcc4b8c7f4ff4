//! A Redis client on quasar-net: multiplexed, pooled, typed.
//!
//! [`RedisClient`] sends [`Cmd`]s over a pool of connections shared by every task, with up to
//! [`MAX_IN_FLIGHT`] commands pipelined on each (requests queued together leave in one write,
//! replies come back in order). New connections run the session handshake (`AUTH`,
//! `CLIENT SETNAME`, `SELECT`, or `HELLO 3`) before any command. Replies convert to Rust
//! types with [`FromFrame`]; error replies become [`RedisError`]s. Transactions with `WATCH`
//! and blocking commands use an [`ExclusiveConnection`]; pub/sub a [`Subscription`] on a
//! connection of its own. A connection the server closes is replaced by the pool: commands in
//! flight on it fail with [`RedisError::is_connection_lost`], later ones use a new connection.
//!
//! Cluster mode is not supported: `-MOVED` and `-ASK` replies are reported as
//! [`RedisError::Moved`] and [`RedisError::Ask`], naming the node, and not followed.
//!
//! # Examples
//!
//! ```no_run
//! use quasar_redis::client::{cmd, RedisClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_redis::client::RedisResult<()> {
//! let client = RedisClient::new("redis://127.0.0.1:6379/0")?;
//! client.set("greeting", "hello").await?;
//! let greeting: Option<String> = client.get("greeting").await?;
//! assert_eq!(greeting.as_deref(), Some("hello"));
//! let len: i64 = cmd("STRLEN").arg("greeting").query(&client).await?;
//! assert_eq!(len, 5);
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`cmd`](mod@cmd) — [`Cmd`], the encoded command, and [`ToArg`].
//! - [`consumer`] — [`RedisConsumer`], the quasar-net protocol consumer.
//! - [`redis_client`] — [`RedisClient`] and its builder.
//! - [`string_commands`] (strings and keys), [`collection_commands`] (hashes, lists, sets,
//!   sorted sets) — typed helpers ([`SetOptions`]).
//! - [`pipeline`] — [`Pipeline`]; [`exclusive`] — [`ExclusiveConnection`] (transactions,
//!   blocking pops); [`subscription`] — [`Subscription`], [`Message`].
//! - [`from_frame`] — [`FromFrame`]; [`error`] — [`RedisError`]; [`url`] — [`RedisUrl`].
//!
//! The design is in `docs/resp-client.md`.

pub mod cmd;
pub mod collection_commands;
pub mod consumer;
pub mod error;
pub mod exclusive;
pub mod from_frame;
pub mod pipeline;
pub mod redis_client;
pub mod string_commands;
pub mod subscription;
pub mod url;

mod scan;

// The modules' earlier names, so paths written against them keep compiling.
#[doc(hidden)]
pub use collection_commands as collections;
#[doc(hidden)]
pub use string_commands as commands;

pub use cmd::{cmd, Cmd, ToArg};
pub use consumer::RedisConsumer;
pub use error::{RedisError, RedisResult, ServerError};
pub use exclusive::ExclusiveConnection;
pub use from_frame::FromFrame;
pub use pipeline::Pipeline;
pub use redis_client::{
    RedisClient, RedisClientBuilder, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, MAX_IN_FLIGHT,
};
pub use string_commands::SetOptions;
pub use subscription::{Message, Subscription, SubscriptionControl};
pub use url::RedisUrl;
