//! WebSocket (RFC 6455): the opening handshake and the frame/message codec, sans-IO.
//!
//! After a 101, both ends exchange frames. [`WsDecoder`] turns received bytes into
//! [`Message`]s, enforcing the protocol (masking direction, RSV bits, opcodes, control frame
//! rules, fragmentation, UTF-8 of text and close reasons, close codes) and the [`WsLimits`];
//! every violation is a [`WsError`] that names the close code to send. [`encode_message`] and
//! [`encode_frame`] write frames. permessage-deflate (RFC 7692) is negotiated with
//! [`DeflateConfig`] and runs through [`WsDecoder::set_inflater`] (receiving) and a
//! [`Deflater`] with [`encode_frame_rsv`] (sending).
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::ws::{encode_message, Message, Role, WsDecoder};
//!
//! let mut wire = BytesMut::new();
//! encode_message(&mut wire, Role::Client, &Message::Binary(vec![1, 2, 3].into()))?;
//! let mut server = WsDecoder::new(Role::Server);
//! assert_eq!(server.decode(&mut wire)?, Some(Message::Binary(vec![1, 2, 3].into())));
//! # Ok::<(), quasar_http::ws::WsError>(())
//! ```
//!
//! # Layout
//!
//! - `handshake`: [`validate_request`], [`accept_key`], [`encode_accept`],
//!   [`encode_client_request`], [`validate_response`], [`HandshakeError`].
//! - `frame`: [`OpCode`], [`Role`], [`encode_frame`], [`apply_mask`].
//! - `decoder`: [`WsDecoder`], [`Message`], [`WsLimits`], [`encode_message`].
//! - `close`: [`CloseCode`], [`CloseFrame`].
//! - `deflate`: [`Deflater`], [`Inflater`] (permessage-deflate payloads).
//! - `extension`: [`DeflateConfig`], [`DeflateParams`] (permessage-deflate negotiation).
//! - `error`: [`WsError`].

mod close;
mod decoder;
mod deflate;
mod error;
mod extension;
mod frame;
mod handshake;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use decoder::{
    encode_message, Message, WsDecoder, WsLimits, DEFAULT_MAX_FRAME, DEFAULT_MAX_MESSAGE,
};
pub use deflate::{Deflater, Inflater, DEFLATE_TAIL};
pub use error::WsError;
pub use extension::{DeflateConfig, DeflateParams, PERMESSAGE_DEFLATE};
pub use frame::{
    apply_mask, encode_frame, encode_frame_rsv, random_mask, OpCode, Role, MAX_CONTROL_PAYLOAD,
    MAX_HEADER_LEN,
};
pub use handshake::{
    accept_key, encode_accept, encode_accept_with_extensions, encode_client_request, generate_key,
    key_from_bytes, validate_request, validate_response, HandshakeError,
};
