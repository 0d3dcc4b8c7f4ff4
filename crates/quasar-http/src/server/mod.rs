//! The HTTP/1.1 and WebSocket server on the quasar-net engine.
//!
//! [`HttpFactory`] builds one [`HttpConsumer`] per request; serve it with a `TcpServer`
//! ([`builder`] sets the per-connection request limit too). A handler is any
//! `async fn(http::Request<Body>) -> http::Response<Body>`, a [`Router`], or a tower
//! service through [`TowerHandler`]. WebSocket routes ([`Router::websocket`]) upgrade the
//! connection and run their handler with a [`WebSocket`]. Handlers that take typed
//! arguments (path parameters, JSON, shared state) are the [`app`](crate::app) layer's,
//! through [`Router::with_state`]. The design, states and timeouts are in
//! docs/http-server.md.
//!
//! # Examples
//!
//! ```
//! use quasar_http::server::{builder, Router, ServerConfig};
//! use quasar_http::Body;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let app = Router::new().get("/", |_req| async { http::Response::new(Body::from("Hello")) });
//! let server = builder(app, ServerConfig::default())
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .start()
//!     .await?;
//!
//! let mut tcp = tokio::net::TcpStream::connect(server.address()).await?;
//! tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
//! let mut answer = String::new();
//! tcp.read_to_string(&mut answer).await?;
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.ends_with("\r\n\r\nHello"));
//! server.close(std::time::Duration::from_secs(1)).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod config;
mod consumer;
mod fixed;
mod handler;
mod incoming;
mod response;
mod router;
mod websocket;

pub use config::{
    ServerConfig, WsConfig, DEFAULT_BODY_CHANNEL, DEFAULT_HEADER_TIMEOUT, DEFAULT_WS_CHANNEL,
    DEFAULT_WS_CLOSE_TIMEOUT,
};
pub use consumer::{builder, HttpConsumer, HttpFactory, BUSY_RESPONSE};
pub use fixed::FixedResponse;
pub use handler::{Handler, ResponseFuture, TowerHandler};
pub use router::{Params, Router};
pub use websocket::{WebSocket, WsReceiver, WsRoute, WsSender, MAX_SEND_FRAME};
