//! pulsar's Protocol/Transport layer for async Rust.
//!
//! `quasar-net` bridges sockets to per-request [`ProtocolConsumer`]s the way pulsar's
//! `Connection` does, with tokio underneath: a [`TcpServer`] (a producer) accepts
//! connections, each [`Connection`] routes the bytes it reads to its current consumer,
//! and the consumer parses incrementally and writes its response into a bounded,
//! water-marked write buffer. Pipelined responses leave in one syscall. Many-times
//! events are typed [`Hooks`]; one-time events are awaitable [`OneTime`]s.
//!
//! The crate knows no concrete protocol: echo, HTTP and RESP live in their own crates.
//!
//! # Layout
//!
//! - [`error`]: the crate's one [`Error`] type.
//! - [`event`]: [`OneTime`], the awaitable one-time event.
//! - [`hooks`]: [`Hooks`], the many-times events of a producer.
//! - [`consumer`]: the [`ProtocolConsumer`] trait, its [`Context`] and [`ConsumerFactory`].
//! - [`connection`]: [`Connection`], its configuration, the task that drives it,
//!   [`serve_connection`] and client connections.
//! - `engine` (private): the sans-IO connection engine every driver shares.
//! - [`transport`]: the [`transport::Transport`] trait and the acceptor/connector
//!   plug-ins (TCP today, TLS and in-memory streams alike).
//! - `tls` (feature `tls`, on by default): the rustls acceptor and connector, PEM
//!   loading, certificate reload, the TLS pool manager.
//! - [`flow_control`]: [`flow_control::WaterMarks`], the write queue's high/low water marks
//!   and hard cap.
//! - [`harness`]: [`harness::ConsumerHarness`], a consumer driven without a socket (tests, fuzzing).
//! - [`producer`]: [`Producer`], the session and request counters shared by servers and clients.
//! - [`server`]: [`TcpServer`], its builder, workers and graceful close.
//! - [`group`]: [`Group`], a set of connections with a broadcast and a slow-member policy
//!   (chat rooms, pub/sub channels).
//! - [`pool`]: [`Pool`] and [`PoolConnection`], the generic connection pool.
//! - [`client`]: [`Client`], pooled client connections per address; [`UdpManager`] pools
//!   UDP endpoints.
//! - [`udp`]: [`DatagramServer`], datagram consumers, [`UdpClient`] and [`UdpEndpoint`].
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]
#![deny(unsafe_code)] // udp/batch.rs alone opts out, for recvmmsg/sendmmsg

pub mod abuse;
pub mod client;
pub mod connection;
pub mod consumer;
mod engine;
pub mod error;
pub mod event;
pub mod flow_control;
pub mod group;
pub mod harness;
pub mod hooks;
pub mod memory_budget;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod pool;
pub mod producer;
pub mod pubsub;
pub mod rate_limited_log;
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
pub use rate_limited_log::RateLimitedLog;
pub use server::{CloseReport, ServerInfo, TcpServer, TcpServerBuilder};
pub use udp::{
    DatagramConsumer, DatagramContext, DatagramServer, DatagramServerBuilder, UdpClient,
    UdpEndpoint,
};

// The README's code blocks compile as doctests, so its example cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
