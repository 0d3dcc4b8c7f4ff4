//! HTTP/1.1 keep-alive GET: the request, and a minimal check of each response.
//!
//! Every request is the same `GET`; a response is accepted when its status line says 200 and
//! its body is exactly `Content-Length` bytes. Chunked bodies are reported as unparsable rather
//! than guessed at: the servers this tool compares answer with a length.

use crate::bench::workload::{ReplyError, StreamWorkload};

/// A response head longer than this is an error (a real server sends a few hundred bytes).
const MAX_HEAD: usize = 16 * 1024;

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

/// Finds one whole response at the front of `buf` and returns its length.
fn parse_response(buf: &[u8]) -> Result<Option<usize>, ReplyError> {
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(ReplyError::Parse("response head longer than 16 KiB"));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len])
        .map_err(|_| ReplyError::Parse("response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(ReplyError::Parse("bad status line"))?;
    let mut content_length = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(ReplyError::Parse("header line without a colon"))?;
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len = value
                .trim()
                .parse::<usize>()
                .map_err(|_| ReplyError::Parse("bad Content-Length"))?;
            content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReplyError::Parse("chunked bodies are not supported"));
        }
    }
    let body = content_length.ok_or(ReplyError::Parse("no Content-Length"))?;
    let total = head_len + 4 + body;
    if code != 200 {
        return Err(ReplyError::Status(code));
    }
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(total))
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
    fn other_statuses_and_missing_lengths_are_errors() {
        assert_eq!(
            parse_response(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
            Err(ReplyError::Status(500))
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(parse_response(b"SMTP 220\r\n\r\n").is_err());
    }
}
