//! quasar-net: pulsar's Protocol/Transport layer for async Rust, on tokio.
//!
//! The crate moves bytes between sockets and *protocol consumers* and knows no concrete
//! protocol (echo, HTTP and RESP live in their own crates). A [`TcpServer`] (a producer)
//! accepts connections; each [`Connection`] routes the bytes it reads to its current
//! [`ProtocolConsumer`], which parses incrementally and writes its response through a
//! [`Context`] into a bounded, water-marked write queue ([`flow_control`]). Pipelined
//! responses leave in one syscall. Many-times events are typed [`Hooks`]; one-time events
//! are awaitable [`OneTime`]s. Clients ([`ClientConnection`], [`Client`], [`Pool`]) and
//! datagram servers ([`DatagramServer`]) are built on the same pieces.
//!
//! # Layout
//!
//! - [`consumer`]: the [`ProtocolConsumer`] trait, its [`Context`] and [`ConsumerFactory`].
//! - [`connection`]: [`Connection`], its configuration, the task that drives it,
//!   [`serve_connection`] and client connections ([`ClientConnection`]).
//! - `engine` (private): the sans-IO connection engine every driver shares.
//! - [`flow_control`]: the write queue's policy: [`flow_control::WaterMarks`] (high/low
//!   marks and hard cap) and the rules they drive.
//! - [`server`]: [`TcpServer`], its builder, workers and graceful close; overload
//!   protection ([`MemoryBudget`], abuse counters in [`AbuseSection`]).
//! - [`udp`]: [`DatagramServer`], datagram consumers, [`UdpClient`] and [`UdpEndpoint`].
//! - [`client`]: [`Client`], pooled client connections per address; [`UdpManager`] pools
//!   UDP endpoints. [`pool`]: [`Pool`] and [`PoolConnection`], the generic pool.
//! - [`group`]: [`Group`], a set of connections with a broadcast and a slow-member policy
//!   (chat rooms, pub/sub channels); [`relay`]: bytes between two connections.
//! - [`transport`]: the [`transport::Transport`] trait and the acceptor/connector
//!   plug-ins (TCP, TLS, in-memory streams alike); `tls` (feature `tls`, on by default):
//!   the rustls acceptor and connector, PEM loading, certificate reload.
//! - [`error`], [`event`], [`hooks`], [`producer`]: the one [`Error`] type, [`OneTime`],
//!   [`Hooks`], and [`Producer`] (the counters shared by servers and clients).
//! - `harness` (feature `test-util`): `ConsumerHarness`, a consumer driven without a
//!   socket, for tests and fuzzing.
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]
#![deny(unsafe_code)] // udp/batch.rs alone opts out, for recvmmsg/sendmmsg

mod abuse;
pub mod client;
pub mod connection;
pub mod consumer;
mod engine;
pub mod error;
pub mod event;
pub mod flow_control;
pub mod group;
#[cfg(feature = "test-util")]
pub mod harness;
pub mod hooks;
mod memory_budget;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod pool;
pub mod producer;
pub mod pubsub;
mod rate_limited_log;
pub mod relay;
pub mod server;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;
pub mod udp;

pub use abuse::{AbuseKind, AbuseSection, AbuseStats};
pub use client::{Client, ClientBuilder, TcpManager, UdpManager};
pub use connection::{
    serve_connection, ClientConnection, ClientConnectionBuilder, Connection, ConnectionConfig,
    ConnectionInfo, MinRate,
};
pub use consumer::{BoxConsumer, ConsumerFactory, Context, Progress, ProtocolConsumer};
pub use error::{BoxError, Error, Result};
pub use event::OneTime;
pub use group::{Broadcast, Group, GroupStats, SlowMember};
pub use hooks::{ConnectionEvent, DataEvent, HookResult, Hooks, LostEvent, RequestEvent};
pub use memory_budget::{MemoryBudget, DEFAULT_MEMORY_BUDGET};
pub use pool::{
    Manager, Pool, PoolBuilder, PoolConnection, PoolState, PoolStats, SharedConnection,
};
pub use producer::Producer;
pub use server::{CloseReport, ServerInfo, TcpServer, TcpServerBuilder};
pub use udp::{
    DatagramConsumer, DatagramContext, DatagramServer, DatagramServerBuilder, UdpClient,
    UdpEndpoint,
};

// The README's code blocks compile as doctests, so its example cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
