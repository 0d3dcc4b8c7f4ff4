//! The WebSocket codec's error type and the close code each error sends.
//!
//! # Examples
//!
//! ```
//! use quasar_http::ws::{CloseCode, WsError};
//!
//! assert_eq!(WsError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
//! assert_eq!(WsError::ReservedBits.close_code(), CloseCode::PROTOCOL_ERROR);
//! ```

use std::fmt;

use crate::ws::CloseCode;

/// A violation of RFC 6455 by the peer, or of a configured limit.
///
/// The endpoint answers with a close frame carrying [`close_code`](WsError::close_code), then
/// closes the connection (RFC 6455 §7.1.7 "fail the WebSocket connection").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// An RSV bit set that no negotiated extension defines.
    ReservedBits,
    /// Opcode 3-7 or 0xB-0xF.
    ReservedOpcode,
    /// A client frame without a mask (server side).
    UnmaskedFrame,
    /// A server frame with a mask (client side).
    MaskedFrame,
    /// A control frame with more than 125 payload bytes.
    ControlFrameTooLong,
    /// A control frame with FIN clear.
    FragmentedControlFrame,
    /// A 64-bit payload length with its most significant bit set.
    InvalidLength,
    /// A continuation frame with no fragmented message in progress.
    UnexpectedContinuation,
    /// A new text/binary frame while a fragmented message is unfinished.
    ExpectedContinuation,
    /// A close frame with a 1-byte payload.
    InvalidClosePayload,
    /// A close code not allowed on the wire (RFC 6455 §7.4, IANA registry).
    InvalidCloseCode,
    /// A text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// A frame larger than [`WsLimits::max_frame`](crate::ws::WsLimits::max_frame).
    FrameTooLarge,
    /// A message larger than [`WsLimits::max_message`](crate::ws::WsLimits::max_message)
    /// (for a compressed message: once decompressed).
    MessageTooLarge,
    /// A compressed message (permessage-deflate) that is not a valid deflate stream.
    InvalidCompressedData,
    /// RSV1 (compressed) on a control or continuation frame (RFC 7692 §6.1).
    CompressedNotFirstFrame,
}

impl WsError {
    /// The status code for the close frame this error sends.
    pub fn close_code(&self) -> CloseCode {
        match self {
            WsError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            WsError::FrameTooLarge | WsError::MessageTooLarge => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WsError::ReservedBits => "reserved bits set",
            WsError::ReservedOpcode => "reserved opcode",
            WsError::UnmaskedFrame => "unmasked client frame",
            WsError::MaskedFrame => "masked server frame",
            WsError::ControlFrameTooLong => "control frame payload over 125 bytes",
            WsError::FragmentedControlFrame => "fragmented control frame",
            WsError::InvalidLength => "payload length with the most significant bit set",
            WsError::UnexpectedContinuation => "continuation frame without a message",
            WsError::ExpectedContinuation => "new message before the previous one ended",
            WsError::InvalidClosePayload => "close payload of one byte",
            WsError::InvalidCloseCode => "invalid close code",
            WsError::InvalidUtf8 => "invalid UTF-8",
            WsError::FrameTooLarge => "frame too large",
            WsError::MessageTooLarge => "message too large",
            WsError::InvalidCompressedData => "invalid compressed data",
            WsError::CompressedNotFirstFrame => "RSV1 on a control or continuation frame",
        })
    }
}

impl std::error::Error for WsError {}
