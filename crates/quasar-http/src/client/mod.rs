//! HTTP/1.1 and WebSocket clients on the quasar-net engine.
//!
//! [`HttpClient`] keeps one pool of connections per address (a [`quasar_net::Client`] of
//! [`HttpConsumer`]s), checks a connection out for each request, returns it when the response
//! keeps it alive, follows redirects and applies a request timeout. Responses come back whole
//! as `http::Response<Bytes>`, their bodies capped by [`Limits::max_body`](crate::Limits).
//! [`HttpClient::websocket`] sends a WebSocket handshake through the same pools; its `101`
//! detaches the socket from the HTTP pool and hands it to a [`WebSocket`].
//!
//! # Examples
//!
//! A WebSocket echo round trip against a tiny server built on the crate's codec:
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::client::HttpClient;
//! use quasar_http::ws::{self, CloseCode, Message, Role, WsDecoder};
//! use quasar_http::RequestParser;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     let (mut sock, _) = listener.accept().await?;
//!     let (mut buf, mut out) = (BytesMut::new(), BytesMut::new());
//!     let req = loop {
//!         sock.read_buf(&mut buf).await?;
//!         if let Ok(Some(req)) = RequestParser::default().parse(&mut buf) { break req; }
//!     };
//!     let accept = ws::validate_request(&req.parts).expect("a valid handshake");
//!     ws::encode_accept(&mut out, &accept, None);
//!     let mut decoder = WsDecoder::new(Role::Server);
//!     loop {
//!         while let Ok(Some(msg)) = decoder.decode(&mut buf) {
//!             ws::encode_message(&mut out, Role::Server, &msg).expect("echo"); // echo
//!         }
//!         sock.write_all(&out).await?;
//!         out.clear();
//!         if sock.read_buf(&mut buf).await? == 0 { return Ok::<_, std::io::Error>(()); }
//!     }
//! });
//!
//! let client = HttpClient::new();
//! let mut socket = client.websocket(&format!("ws://{addr}/echo")).await?;
//! socket.send(Message::Text("hello".into())).await?;
//! let echoed = socket.recv().await.expect("a message")?;
//! assert_eq!(echoed, Message::Text("hello".into()));
//! socket.close(CloseCode::NORMAL, "bye").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`HttpClient`] / [`HttpClientBuilder`]: pools, caps, redirects, timeouts.
//! - [`Proxy`] / [`NoProxy`]: forward proxies, `CONNECT` tunnels, `no_proxy` rules.
//! - [`Jar`]: the cookie jar; [`RequestBuilderExt`]: Basic, Bearer and Digest authentication.
//! - [`HttpConsumer`] / [`HttpConsumerFactory`]: the protocol consumer, usable on any
//!   [`ClientConnection`](quasar_net::ClientConnection).
//! - [`ClientRequest`] / [`encode_request`]: what the consumer writes.
//! - [`WebSocket`]: send, receive and close after the hand-over.
//! - [`ClientError`]: every failure, typed.

mod auth;
mod builder;
mod consumer;
mod cookies;
mod decompress;
mod digest;
mod error;
mod http_client;
mod no_proxy;
mod pool;
mod proxy;
mod redirect;
mod request;
mod target;
mod websocket;
mod ws_consumer;

pub use auth::RequestBuilderExt;
pub use builder::{
    HttpClientBuilder, DEFAULT_EXPECT_CONTINUE, DEFAULT_EXPECT_TIMEOUT, DEFAULT_MAX_PER_HOST,
    DEFAULT_MAX_REDIRECTS,
};
pub use consumer::{HttpConsumer, HttpConsumerFactory};
pub use cookies::Jar;
pub use error::ClientError;
pub use http_client::HttpClient;
pub use no_proxy::NoProxy;
pub use proxy::{Proxy, DEFAULT_PROXY_PORT};
pub use request::{encode_request, ClientRequest};
pub use websocket::{WebSocket, CLOSE_TIMEOUT};
