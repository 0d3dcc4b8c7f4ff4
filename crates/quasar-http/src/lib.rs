//! HTTP/1.1 and WebSocket (RFC 6455) for quasar-net: a server, a client, an application
//! layer, and the sans-IO protocol code under them.
//!
//! Three layers, each usable alone:
//!
//! - **The protocol** (the crate root and [`ws`]): pure functions and state machines over a
//!   [`bytes::BytesMut`] read or write buffer, with no sockets and no runtime: parse a head,
//!   decode a body, encode a response, validate a WebSocket handshake, run the frame codec.
//!   Parsers return `Ok(None)` for "need more bytes", never panic on input, and bound every
//!   buffered field ([`Limits`], [`ws::WsLimits`]).
//! - **The server and the client** ([`server`], [`client`]): consumers on the quasar-net
//!   engine that drive the protocol over real connections (pipelining, streamed bodies with
//!   back-pressure, upgrades, pooled keep-alive clients, WebSocket both ways).
//! - **The application layer** ([`app`]): handlers as async functions of typed extractors
//!   (path, query, JSON, state), over the server's plain `Request<Body> -> Response<Body>`
//!   handlers, which keep working.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use http::{HeaderMap, StatusCode};
//! use quasar_http::{encode_response, BodyLength, RequestParser, ResponseHead};
//!
//! let mut parser = RequestParser::default();
//! let mut read = BytesMut::from(&b"GET /hello HTTP/1.0\r\n\r\n"[..]);
//! let req = parser.parse(&mut read)?.expect("a whole head");
//! assert!(req.body.is_eof());
//!
//! let mut write = BytesMut::new();
//! let headers = HeaderMap::new();
//! let head = ResponseHead::new(StatusCode::OK, &headers, BodyLength::Length(5))
//!     .close(!req.keep_alive);
//! encode_response(&mut write, &head);
//! write.extend_from_slice(b"hello");
//! assert!(write.ends_with(b"connection: close\r\n\r\nhello"));
//! # Ok::<(), quasar_http::HttpError>(())
//! ```
//!
//! # Layout
//!
//! - [`RequestParser`] / [`ParsedRequest`]: request heads into [`http::request::Parts`], with
//!   the body framing, keep-alive and `Expect` decided.
//! - [`ResponseParser`] / [`ParsedResponse`]: the client side.
//! - [`request_body`] / [`response_body`]: RFC 9112 §6 framing with the anti-smuggling rules.
//! - [`BodyDecoder`]: resumable length / chunked / until-close body decoding.
//! - [`encode_response`], [`encode_chunk`], [`http_date`]: writing responses.
//! - [`request_keep_alive`], [`Expectation`]: persistence and `Expect` rules.
//! - [`HttpError`]: every rejection, with the status to answer ([`HttpError::status`]).
//! - [`ws`]: the WebSocket handshake and frame codec.
//! - [`client`]: the HTTP/1.1 and WebSocket clients on quasar-net (`HttpClient`, `WebSocket`).
//! - [`Body`]: the message body of the server (and client): full, empty or streamed.
//! - [`server`]: the HTTP/1.1 and WebSocket server on the quasar-net engine; [`demo`]: the
//!   demo application of `quasar serve http`.
//! - [`app`]: the application layer over the server: handlers as async functions of typed
//!   extractors ([`app::Path`], [`app::Query`], [`app::Json`], [`app::State`]), returning
//!   anything [`app::IntoResponse`].
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod app;
mod body;
pub mod client;
mod error;
mod h1;
mod limits;
pub mod ws;

// The codec's modules under their crate-root names, for the re-exports below and the
// server, client and WebSocket code.
use h1::{
    body_decoder, chunk_encoder, chunked, date, framing, head_scanner, keep_alive, request_parser,
    response_encoder, response_parser,
};

pub mod demo;
mod demo_bench;
pub mod demo_chat;
pub mod proxy;
pub mod rpc;
pub mod server;

pub use body::{Body, BodyError, ToBytesError};

pub use body_decoder::BodyDecoder;
/// The `bytes` crate ([`bytes::Bytes`] is what bodies are made of).
pub use bytes;
pub use chunk_encoder::{
    encode_chunk, encode_chunk_header, encode_last_chunk, CHUNK_END, LAST_CHUNK,
};
pub use date::{http_date, HTTP_DATE_LEN};
pub use error::HttpError;
pub use framing::{request_body, response_body};
/// The `http` crate (request, response, status, header types), re-exported so an
/// application needs no dependency of its own on it.
pub use http;
/// The `http-body` trait [`Body`] implements.
pub use http_body;
/// `http-body-util`'s extension methods (`collect`, `frame`, ...) for [`Body`].
pub use http_body_util::BodyExt;
pub use keep_alive::{
    connection_has, keep_alive, request_keep_alive, response_keep_alive, Expectation,
};
pub use limits::{
    Limits, DEFAULT_MAX_BODY, DEFAULT_MAX_CHUNK_LINE, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_BYTES,
    DEFAULT_MAX_REQUEST_LINE, DEFAULT_MAX_TRAILER_BYTES, MAX_HEADERS_CEILING,
};
pub use request_parser::{ParsedRequest, RequestParser};
pub use response_encoder::{body_allowed, encode_response, BodyLength, ResponseHead, CONTINUE_100};
pub use response_parser::{ParsedResponse, ResponseParser};
