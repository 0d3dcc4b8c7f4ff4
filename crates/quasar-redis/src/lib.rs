//! The Redis protocol for quasar-net: a RESP2/RESP3 codec, a Redis client and a
//! Redis-protocol key-value server.
//!
//! Three layers; the codec needs nothing from the other two:
//!
//! - **The codec** (the top-level modules) is sans-IO: it turns bytes in a
//!   [`BytesMut`](bytes::BytesMut) read buffer into [`Frame`]s or commands, and frames or
//!   commands into bytes, and knows no connection type. Decoding returns `Ok(None)` for
//!   "need more bytes" without consuming anything, refuses every oversized field as soon as
//!   its header is seen (see [`Limits`]), and never panics on any input. Decoded payloads are
//!   [`Bytes`](bytes::Bytes) slices of the read buffer, not copies.
//! - **The client** ([`client`]): [`RedisClient`], multiplexed and pooled over quasar-net's
//!   `Client`, with typed replies ([`FromFrame`]), pipelines, transactions and pub/sub.
//! - **The server** ([`server`]): a `ConsumerFactory` that makes a quasar-net `TcpServer`
//!   speak RESP to a sharded in-memory keyspace (`quasar serve resp`).
//!
//! # Examples
//!
//! With the codec alone, a client writes a command and decodes the reply:
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_redis::{encode_command, Decoder, Frame, Limits};
//!
//! let mut out = BytesMut::new();
//! encode_command(&mut out, ["GET", "greeting"]);
//! assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n");
//!
//! let mut decoder = Decoder::new(Limits::default());
//! let mut read_buf = BytesMut::from(&b"$5\r\nhel"[..]);
//! assert_eq!(decoder.decode(&mut read_buf), Ok(None));
//! read_buf.extend_from_slice(b"lo\r\n");
//! assert_eq!(decoder.decode(&mut read_buf), Ok(Some(Frame::bulk("hello"))));
//! ```
//!
//! A server decodes commands and writes replies:
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_redis::{decode_command, encode, Limits};
//!
//! let mut read_buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n"[..]);
//! let cmd = decode_command(&mut read_buf, &Limits::default()).unwrap().unwrap();
//! assert_eq!(cmd, ["PING"]);
//! let mut out = BytesMut::new();
//! encode::encode_simple(&mut out, b"PONG");
//! assert_eq!(&out[..], b"+PONG\r\n");
//! ```
//!
//! # Layout
//!
//! The codec lives in [`resp`]; its modules are re-exported here under their own names:
//!
//! - [`frame`] — [`Frame`], one RESP2/RESP3 value.
//! - [`decoder`] — [`Decoder`], [`decode`] and [`decode_command`] (array or inline commands).
//! - [`encode`] — [`Frame::encode`] and allocation-free reply helpers.
//! - [`command`] (`resp::command_encoder`) — [`encode_command`] and [`CommandEncoder`] for client commands.
//! - [`limits`] — [`Limits`] and its defaults.
//! - [`error`] — [`DecodeError`].
//! - [`client`] — [`RedisClient`], [`Cmd`] and [`cmd()`], [`FromFrame`], [`RedisError`].
//! - [`server`] — the Redis-protocol key-value server (`quasar serve resp`).
//!
//! The codec's design, the limits' defaults and how this differs from Redis are in
//! `docs/resp-codec.md`; the client's in `docs/resp-client.md`; the server's in
//! `docs/resp-server.md`.
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod client;
pub mod pubsub;
pub mod resp;
pub mod server;

pub use resp::command_encoder as command;
pub use resp::{decoder, encode, error, frame, limits};

pub use client::{cmd, Cmd, FromFrame, RedisClient, RedisError};
pub use command::{encode_command, CommandEncoder};
pub use decoder::{decode, decode_command, Decoder};
pub use error::DecodeError;
pub use frame::Frame;
pub use limits::Limits;
