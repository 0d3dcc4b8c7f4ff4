//! HTTP/1.1 keep-alive GET: the request, and a check of each response's status and framing.
//!
//! Every request is the same `GET`. A response's head is parsed with `httparse` (status line
//! and header syntax), its body framed by `Content-Length` (one value, or a list of equal
//! ones) or by chunked encoding (every chunk size line and CRLF checked, trailers skipped);
//! 1xx, 204 and 304 responses have no body. A response that is framed correctly but whose
//! status is not 2xx counts as a `status` error and the connection goes on after it (its bytes
//! are accounted for); anything unparsable is a `parse` error and closes the connection, since
//! the byte stream no longer lines up with the requests.

use crate::bench::workload::{ReplyError, StreamWorkload};

/// A response head longer than this is an error (a real server sends a few hundred bytes).
const MAX_HEAD: usize = 16 * 1024;
/// Most headers in a response head.
const MAX_HEADERS: usize = 64;
/// Longest chunk-size line (hex digits, extensions and CRLF) accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// Pipelined keep-alive GETs of one path.
#[derive(Debug)]
pub(crate) struct HttpWorkload {
    request: Vec<u8>,
}

impl HttpWorkload {
    pub(crate) fn new(host: &str, path: &str) -> HttpWorkload {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: quasar-bench\r\n\r\n");
        HttpWorkload {
            request: request.into_bytes(),
        }
    }
}

impl StreamWorkload for HttpWorkload {
    fn write_request(&mut self, _seq: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.request);
    }

    fn check_reply(&mut self, _seq: u64, buf: &[u8]) -> Result<Option<usize>, ReplyError> {
        parse_response(buf)
    }

    fn request_size(&self) -> usize {
        self.request.len()
    }
}

/// How the body after a head is delimited.
enum Framing {
    Length(usize),
    Chunked,
}

/// Finds one whole response at the front of `buf` and returns its length.
fn parse_response(buf: &[u8]) -> Result<Option<usize>, ReplyError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(ReplyError::Parse("response head longer than 16 KiB"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReplyError::Parse("more than 64 response headers"))
        }
        Err(_) => return Err(ReplyError::Parse("malformed status line or header")),
    };
    if head_len > MAX_HEAD {
        return Err(ReplyError::Parse("response head longer than 16 KiB"));
    }
    let code = resp.code.ok_or(ReplyError::Parse("bad status line"))?;
    let framing = if (100..200).contains(&code) || code == 204 || code == 304 {
        Framing::Length(0)
    } else {
        framing(resp.headers)?
    };
    let body = match framing {
        Framing::Length(n) => (buf.len() - head_len >= n).then_some(n),
        Framing::Chunked => chunked_len(&buf[head_len..])?,
    };
    let Some(body) = body else {
        return Ok(None);
    };
    let len = head_len + body;
    if !(200..300).contains(&code) {
        return Err(ReplyError::Status { code, len });
    }
    Ok(Some(len))
}

/// The body framing the headers declare; a response without either is not measurable (a
/// close-delimited body cannot be told from the next response).
fn framing(headers: &[httparse::Header<'_>]) -> Result<Framing, ReplyError> {
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value)
                .map_err(|_| ReplyError::Parse("bad Content-Length"))?;
            for part in text.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ReplyError::Parse("bad Content-Length"));
                }
                let n = part
                    .parse::<usize>()
                    .map_err(|_| ReplyError::Parse("bad Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ReplyError::Parse("conflicting Content-Length values"));
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(ReplyError::Parse(
                    "transfer coding other than a final chunked",
                ));
            }
            chunked = true;
        }
    }
    match (length, chunked) {
        (Some(_), true) => Err(ReplyError::Parse(
            "both Content-Length and Transfer-Encoding",
        )),
        (Some(n), false) => Ok(Framing::Length(n)),
        (None, true) => Ok(Framing::Chunked),
        (None, false) => Err(ReplyError::Parse("no Content-Length and not chunked")),
    }
}

/// The length of a whole chunked body at the front of `buf` (last chunk and trailers
/// included), `None` while incomplete.
fn chunked_len(buf: &[u8]) -> Result<Option<usize>, ReplyError> {
    let mut pos = 0;
    loop {
        let Some(line) = line_at(&buf[pos..])? else {
            return Ok(None);
        };
        let digits = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(ReplyError::Parse("bad chunk size"));
        }
        let size = digits.iter().fold(0usize, |n, &d| {
            n * 16 + (d as char).to_digit(16).unwrap_or(0) as usize
        });
        pos += line.len() + 2;
        if size == 0 {
            // Trailer fields, then the empty line.
            loop {
                let Some(trailer) = line_at(&buf[pos..])? else {
                    return Ok(None);
                };
                pos += trailer.len() + 2;
                if trailer.is_empty() {
                    return Ok(Some(pos));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(ReplyError::Parse("chunk data not followed by CRLF"));
        }
        pos += size + 2;
    }
}

/// The line at the front of `buf` without its CRLF, `None` while it has no CRLF yet.
fn line_at(buf: &[u8]) -> Result<Option<&[u8]>, ReplyError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some(&buf[..end])),
        None if buf.len() > MAX_CHUNK_LINE => Err(ReplyError::Parse("chunk line too long")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_response_is_measured_by_its_content_length() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1";
        assert_eq!(parse_response(response), Ok(Some(43)));
        assert_eq!(parse_response(&response[..40]), Ok(None));
        assert_eq!(parse_response(&response[..10]), Ok(None));
    }

    #[test]
    fn a_non_2xx_response_is_a_status_error_that_keeps_its_length() {
        let response = b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno";
        assert_eq!(
            parse_response(response),
            Err(ReplyError::Status { code: 500, len: 42 })
        );
        // Incomplete: not judged until the whole response is there.
        assert_eq!(parse_response(&response[..41]), Ok(None));
        assert_eq!(
            parse_response(
                b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            ),
            Err(ReplyError::Status { code: 404, len: 59 })
        );
        // 2xx other than 200 are successes; 204 has no body whatever it says.
        assert_eq!(
            parse_response(b"HTTP/1.1 204 No Content\r\n\r\n"),
            Ok(Some(27))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
            Ok(Some(43))
        );
    }

    #[test]
    fn chunked_bodies_are_framed_chunk_by_chunk() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n";
        assert_eq!(parse_response(response), Ok(Some(response.len())));
        for cut in 0..response.len() {
            assert_eq!(parse_response(&response[..cut]), Ok(None), "cut at {cut}");
        }
        let bad_size = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(
            parse_response(bad_size),
            Err(ReplyError::Parse(_))
        ));
        let no_crlf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n";
        assert!(matches!(parse_response(no_crlf), Err(ReplyError::Parse(_))));
    }

    #[test]
    fn broken_framing_and_status_lines_are_parse_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"SMTP 220\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        ] {
            assert!(
                matches!(parse_response(bad), Err(ReplyError::Parse(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Equal repeated lengths are one length.
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\na"),
            Ok(Some(42))
        );
    }
}
