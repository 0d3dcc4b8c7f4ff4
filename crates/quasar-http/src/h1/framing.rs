//! Decides how a message body is delimited (RFC 9112 §6), rejecting ambiguous framing.
//!
//! Request smuggling lives in the gap between two parsers that frame the same bytes
//! differently, so every ambiguity is an error here rather than a guess: `Content-Length` with
//! `Transfer-Encoding`, disagreeing lengths, a final coding other than `chunked`, and
//! `Transfer-Encoding` in HTTP/1.0. The result is a ready [`BodyDecoder`].
//!
//! # Examples
//!
//! ```
//! use http::{HeaderMap, HeaderValue, Version};
//! use quasar_http::{request_body, HttpError, Limits};
//!
//! let mut headers = HeaderMap::new();
//! headers.append("content-length", HeaderValue::from_static("5"));
//! headers.append("transfer-encoding", HeaderValue::from_static("chunked"));
//! let err = request_body(Version::HTTP_11, &headers, &Limits::default()).unwrap_err();
//! assert_eq!(err, HttpError::ContentLengthWithTransferEncoding);
//! ```

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use crate::{BodyDecoder, HttpError, Limits};

/// The body decoder for a request with these headers.
///
/// A request with neither `Content-Length` nor `Transfer-Encoding` has no body.
///
/// # Errors
///
/// [`HttpError::TransferEncodingInHttp10`], [`HttpError::ContentLengthWithTransferEncoding`],
/// [`HttpError::ChunkedNotFinal`], [`HttpError::UnsupportedTransferCoding`] (501),
/// [`HttpError::InvalidContentLength`], [`HttpError::ConflictingContentLength`] and
/// [`HttpError::BodyTooLarge`] (413) for a declared length over
/// [`Limits::max_body`].
pub fn request_body(
    version: Version,
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<BodyDecoder, HttpError> {
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    if has_te {
        if version != Version::HTTP_11 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
        if headers.contains_key(CONTENT_LENGTH) {
            return Err(HttpError::ContentLengthWithTransferEncoding);
        }
        return match chunked_is_final(headers)? {
            true => Ok(BodyDecoder::chunked(limits)),
            // RFC 9112 §6.3 rule 4: a request cannot be read to EOF.
            false => Err(HttpError::ChunkedNotFinal),
        };
    }
    match content_length(headers)? {
        Some(n) if n > limits.max_body => Err(HttpError::BodyTooLarge),
        Some(n) => Ok(BodyDecoder::length(n, limits)),
        None => Ok(BodyDecoder::length(0, limits)),
    }
}

/// The body decoder for a response to a `method` request (RFC 9112 §6.3), client side.
///
/// HEAD responses, 1xx, 204, 304 and a 2xx to CONNECT have no body; otherwise `chunked`,
/// then `Content-Length`, then "until the connection closes".
///
/// # Errors
///
/// As [`request_body`], except that a final coding other than `chunked` means the body runs
/// to EOF (RFC 9112 §6.3 rule 4), and HTTP/1.0 responses may not carry `Transfer-Encoding`.
pub fn response_body(
    method: &Method,
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<BodyDecoder, HttpError> {
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || (method == Method::CONNECT && status.is_success())
    {
        return Ok(BodyDecoder::length(0, limits));
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        if version != Version::HTTP_11 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
        if headers.contains_key(CONTENT_LENGTH) {
            return Err(HttpError::ContentLengthWithTransferEncoding);
        }
        return match chunked_is_final(headers) {
            Ok(true) => Ok(BodyDecoder::chunked(limits)),
            Ok(false) | Err(HttpError::ChunkedNotFinal) => Ok(BodyDecoder::until_eof(limits)),
            Err(e) => Err(e),
        };
    }
    match content_length(headers)? {
        Some(n) if n > limits.max_body => Err(HttpError::BodyTooLarge),
        Some(n) => Ok(BodyDecoder::length(n, limits)),
        None => Ok(BodyDecoder::until_eof(limits)),
    }
}

/// `Ok(true)` when the codings are exactly `chunked`, `Ok(false)` when the last one is not.
fn chunked_is_final(headers: &HeaderMap) -> Result<bool, HttpError> {
    let mut codings = 0usize;
    let mut chunked_seen = false;
    let mut last_is_chunked = false;
    let mut unsupported = false;
    for value in headers.get_all(TRANSFER_ENCODING) {
        for coding in list_members(value.as_bytes()) {
            // Parameters (`;q=..`) belong to the coding; only its name decides.
            let name = coding.split(|&b| b == b';').next().unwrap_or(coding);
            let name = trim_ows(name);
            codings += 1;
            last_is_chunked = name.eq_ignore_ascii_case(b"chunked");
            if last_is_chunked {
                if chunked_seen {
                    // RFC 9112 §6.1: chunked must not be applied more than once.
                    return Err(HttpError::ChunkedNotFinal);
                }
                chunked_seen = true;
            } else {
                unsupported = true;
            }
        }
    }
    if codings == 0 || !last_is_chunked {
        return Ok(false);
    }
    if unsupported {
        // gzip/deflate/compress are real codings, but this crate does not decode them, and
        // handing coded bytes to an application as the body would be wrong.
        return Err(HttpError::UnsupportedTransferCoding);
    }
    Ok(true)
}

/// The declared length, if any; every line and list member must agree (RFC 9110 §8.6).
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, HttpError> {
    let mut found: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        // An empty member ("5,") is rejected too: lenient list parsing is a smuggling vector.
        for member in value.as_bytes().split(|&b| b == b',') {
            let n = parse_decimal(trim_ows(member)).ok_or(HttpError::InvalidContentLength)?;
            match found {
                Some(prev) if prev != n => return Err(HttpError::ConflictingContentLength),
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// `1*DIGIT` into a `u64`; no sign, no spaces, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Non-empty members of a comma-separated field value (RFC 9110 §5.6.1 allows empty ones).
pub(crate) fn list_members(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|m| !m.is_empty())
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parsing_rejects_signs_spaces_and_overflow() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"+5"), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b"0x5"), None);
        assert_eq!(parse_decimal(b""), None);
    }

    #[test]
    fn ows_is_trimmed_on_both_sides() {
        assert_eq!(trim_ows(b" \t chunked\t "), b"chunked");
        assert_eq!(trim_ows(b"   "), b"");
    }
}
