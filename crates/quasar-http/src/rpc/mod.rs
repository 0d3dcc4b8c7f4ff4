//! JSON-RPC 2.0: a server over HTTP `POST` and WebSocket, and clients for both.
//!
//! - **Server**: [`Methods`] is a table of async methods with typed params and results
//!   (serde: a tuple takes positional params, a struct positional or named), sharing a
//!   state; [`Router::rpc`](crate::server::Router::rpc) serves it at a path. Notifications
//!   get no answer, batches are answered as a batch (notifications left out; an empty
//!   batch is one `-32600`; a batch of notifications only gets nothing, `204` over HTTP),
//!   and the spec's error codes are answered with serde's or the parser's message in
//!   `data`. Methods on a WebSocket can notify their caller ([`Ctx::notifier`]).
//! - **Clients**: [`RpcHttpClient`] over the pooled [`HttpClient`](crate::client::HttpClient)
//!   and [`RpcWsClient`], many calls in flight on one socket, matched by id, with the
//!   server's notifications as a stream.
//!
//! JSON is serde_json's: a message is checked once into borrowed
//! [`RawValue`](serde_json::value::RawValue)s, params are deserialised straight from their
//! raw text, and ids are echoed byte for byte. Nesting is bounded at [`MAX_DEPTH`] levels
//! (serde_json's own limit): deeper input is a `-32700`, never a stack overflow.
//! docs/rpc.md has the details.
//!
//! # Examples
//!
//! ```
//! use quasar_http::rpc::{Methods, RpcError, RpcHttpClient};
//! use quasar_http::server::{builder, Router, ServerConfig};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let methods = Methods::new()
//!     .method("calc.add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) });
//! let server = builder(Router::new().rpc("/rpc", methods), ServerConfig::default())
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .start()
//!     .await?;
//!
//! let client = RpcHttpClient::new(&format!("http://{}/rpc", server.address()))?;
//! assert_eq!(client.call::<i64>("calc.add", (1, 2)).await?, 3);
//! # server.close(std::time::Duration::from_secs(1)).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod calculator;
mod client;
mod error;
mod message;
mod server;
mod transport;

pub use calculator::{calculator, DIVISION_BY_ZERO};
pub use client::{
    CallError, Notification, Notifications, RpcHttpClient, RpcWsClient, DEFAULT_CLIENT_IN_FLIGHT,
    NOTIFICATION_BUFFER,
};
pub use error::{
    RpcError, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
};
pub use message::{Id, MAX_DEPTH};
pub use server::{
    Ctx, Methods, Notifier, DEFAULT_MAX_BATCH, DEFAULT_MAX_IN_FLIGHT, DEFAULT_RPC_BODY_LIMIT,
};
