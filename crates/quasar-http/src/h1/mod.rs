//! The HTTP/1.1 codec: sans-IO parsers, framing rules and encoders over `BytesMut`.
//!
//! The head scanner finds the end of a head in linear time however it trickles in; the
//! request and response parsers turn heads into `http` types with framing and persistence
//! decided; `framing` holds the RFC 9112 §6 body-length rules, `body_decoder` and `chunked`
//! decode bodies, `chunk_encoder` and `response_encoder` write them, `keep_alive` decides
//! persistence and `Expect`, and `date` caches the `Date` header per second. The crate root
//! re-exports the public items, so their paths (`quasar_http::RequestParser`, ...) do not
//! name this module.

pub(crate) mod body_decoder;
pub(crate) mod chunk_encoder;
pub(crate) mod chunked;
pub(crate) mod date;
pub(crate) mod framing;
pub(crate) mod head_scanner;
pub(crate) mod keep_alive;
pub(crate) mod request_parser;
pub(crate) mod response_encoder;
pub(crate) mod response_parser;
