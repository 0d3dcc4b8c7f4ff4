//! The one error type of the HTTP/1.1 parsers, and the status each error answers with.
//!
//! A parser that fails returns an [`HttpError`]; a server maps it to a response with
//! [`HttpError::status`] and then closes, because after any of these errors the byte stream's
//! framing can no longer be trusted ([`HttpError::must_close`]).
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::{HttpError, RequestParser};
//!
//! let mut parser = RequestParser::default();
//! let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
//! let err = parser.parse(&mut buf).unwrap_err();
//! assert_eq!(err, HttpError::MissingHost);
//! assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
//! assert!(err.must_close());
//! ```

use std::fmt;

use http::StatusCode;

/// Why an HTTP/1.1 message was rejected.
///
/// Callers match on the variant or ask [`status`](HttpError::status); the `Display` text is for
/// logs only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The head did not end within [`Limits::max_head_bytes`](crate::Limits::max_head_bytes).
    HeadTooLarge,
    /// More header lines than [`Limits::max_headers`](crate::Limits::max_headers).
    TooManyHeaders,
    /// The request line passed [`Limits::max_request_line`](crate::Limits::max_request_line).
    RequestLineTooLong,
    /// The body (declared or received) passed [`Limits::max_body`](crate::Limits::max_body).
    BodyTooLarge,
    /// The trailer section passed [`Limits::max_trailer_bytes`](crate::Limits::max_trailer_bytes).
    TrailersTooLarge,
    /// httparse rejected the head (bad token, space or NUL in a field name, line folding, ...).
    InvalidHead(httparse::Error),
    /// A line ended in LF without CR (head or chunk framing).
    BareLineFeed,
    /// The method is not a token the `http` crate accepts.
    InvalidMethod,
    /// The request target is not a valid URI.
    InvalidUri,
    /// A header name or value the `http` crate refuses.
    InvalidHeader,
    /// The version is well-formed but not HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// More than one `Host` line, or a `Host` value that is not an authority.
    InvalidHost,
    /// Both `Content-Length` and `Transfer-Encoding` were sent (a smuggling vector).
    ContentLengthWithTransferEncoding,
    /// `Content-Length` lines or list members that disagree.
    ConflictingContentLength,
    /// A `Content-Length` that is not a plain decimal number fitting in a `u64`.
    InvalidContentLength,
    /// `Transfer-Encoding` whose last coding is not `chunked`, or `chunked` applied twice.
    ChunkedNotFinal,
    /// `Transfer-Encoding` in an HTTP/1.0 request, whose framing RFC 9112 calls faulty.
    TransferEncodingInHttp10,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1 answers 501).
    UnsupportedTransferCoding,
    /// A chunk-size that is empty, not hexadecimal, or overflows a `u64`.
    InvalidChunkSize,
    /// A chunk-size line (with extensions) longer than
    /// [`Limits::max_chunk_line`](crate::Limits::max_chunk_line).
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF, a CR not followed by LF, or a bad byte in the framing.
    InvalidChunkFraming,
    /// The peer closed before the body's end (truncated message).
    IncompleteBody,
    /// A response status line httparse accepted but `http` refuses (e.g. a code under 100).
    InvalidStatus,
}

impl HttpError {
    /// The status a server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders | HttpError::TrailersTooLarge => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HttpError::RequestLineTooLong => StatusCode::URI_TOO_LONG,
            HttpError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HttpError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            HttpError::InvalidHead(_)
            | HttpError::BareLineFeed
            | HttpError::InvalidMethod
            | HttpError::InvalidUri
            | HttpError::InvalidHeader
            | HttpError::MissingHost
            | HttpError::InvalidHost
            | HttpError::ContentLengthWithTransferEncoding
            | HttpError::ConflictingContentLength
            | HttpError::InvalidContentLength
            | HttpError::ChunkedNotFinal
            | HttpError::TransferEncodingInHttp10
            | HttpError::InvalidChunkSize
            | HttpError::ChunkLineTooLong
            | HttpError::InvalidChunkFraming
            | HttpError::IncompleteBody
            | HttpError::InvalidStatus => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether the connection must be closed after answering.
    ///
    /// Always `true` today: every variant either leaves the message's end unknown, or (missing
    /// `Host`, 413 on a declared length) leaves unread body bytes a server should not drain for
    /// a peer that already broke the rules. pulsar likewise closed after any status >= 400. The
    /// method exists so callers do not hard-code that policy.
    pub fn must_close(&self) -> bool {
        true
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            HttpError::HeadTooLarge => "message head too large",
            HttpError::TooManyHeaders => "too many header fields",
            HttpError::RequestLineTooLong => "request line too long",
            HttpError::BodyTooLarge => "message body too large",
            HttpError::TrailersTooLarge => "trailer section too large",
            HttpError::InvalidHead(e) => return write!(f, "invalid message head: {e}"),
            HttpError::BareLineFeed => "line ended by a bare LF",
            HttpError::InvalidMethod => "invalid method",
            HttpError::InvalidUri => "invalid request target",
            HttpError::InvalidHeader => "invalid header field",
            HttpError::UnsupportedVersion => "unsupported HTTP version",
            HttpError::MissingHost => "HTTP/1.1 request without Host",
            HttpError::InvalidHost => "duplicate or invalid Host",
            HttpError::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            HttpError::ConflictingContentLength => "conflicting Content-Length values",
            HttpError::InvalidContentLength => "invalid Content-Length",
            HttpError::ChunkedNotFinal => "chunked is not the final transfer coding",
            HttpError::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            HttpError::UnsupportedTransferCoding => "unsupported transfer coding",
            HttpError::InvalidChunkSize => "invalid chunk size",
            HttpError::ChunkLineTooLong => "chunk size line too long",
            HttpError::InvalidChunkFraming => "invalid chunk framing",
            HttpError::IncompleteBody => "connection closed before the body ended",
            HttpError::InvalidStatus => "invalid status code",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::InvalidHead(e) => Some(e),
            _ => None,
        }
    }
}

impl From<httparse::Error> for HttpError {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
            other => HttpError::InvalidHead(other),
        }
    }
}
