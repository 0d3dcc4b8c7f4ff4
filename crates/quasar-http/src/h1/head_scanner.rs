//! Finds the end of a message head in linear time across partial reads.
//!
//! httparse re-parses from the start on every call, so feeding it a head that arrives one byte
//! at a time costs O(n²). The scanner remembers how far it has looked for the blank line, only
//! hands the head to httparse once it is complete, and enforces the line and head limits on the
//! way (a slow peer cannot make it buffer past them).

use memchr::memchr;

use crate::{HttpError, Limits};

/// Progress of the search for the blank line that ends a head.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeadScanner {
    /// Bytes of the buffer already searched; each byte is looked at once.
    scanned: usize,
    /// Whether the start line's LF has been seen (its limit is checked separately).
    start_line_done: bool,
}

impl HeadScanner {
    /// Returns the head's length (blank line included) once the buffer holds all of it.
    ///
    /// The buffer must only grow at its end between calls, and [`reset`](Self::reset) must be
    /// called once the caller consumes a head.
    pub(crate) fn scan(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let mut i = self.scanned.min(buf.len());
        while let Some(off) = memchr(b'\n', &buf[i..]) {
            let lf = i + off;
            // RFC 9112 §2.2 lets a recipient accept a bare LF; we do not, because intermediaries
            // that disagree on line ends are how requests get smuggled.
            if lf == 0 || buf[lf - 1] != b'\r' {
                return Err(HttpError::BareLineFeed);
            }
            if !self.start_line_done {
                if lf + 1 > limits.max_request_line {
                    return Err(HttpError::RequestLineTooLong);
                }
                self.start_line_done = true;
            }
            if lf >= 3 && &buf[lf - 3..=lf] == b"\r\n\r\n" {
                let end = lf + 1;
                if end > limits.max_head_bytes {
                    return Err(HttpError::HeadTooLarge);
                }
                return Ok(Some(end));
            }
            i = lf + 1;
        }
        self.scanned = buf.len();
        if !self.start_line_done && buf.len() > limits.max_request_line {
            return Err(HttpError::RequestLineTooLong);
        }
        if buf.len() > limits.max_head_bytes {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(None)
    }

    /// Forgets the progress, for the next head.
    pub(crate) fn reset(&mut self) {
        *self = HeadScanner::default();
    }
}

/// Drops the empty lines RFC 9112 §2.2 says a server should ignore before a request line
/// (clients send a stray CRLF after a POST body). Returns `false` when a lone `\r` must wait for
/// more bytes.
pub(crate) fn skip_leading_crlf(buf: &mut bytes::BytesMut) -> Result<bool, HttpError> {
    use bytes::Buf;
    loop {
        match buf.first() {
            Some(b'\r') => match buf.get(1) {
                Some(b'\n') => buf.advance(2),
                Some(_) => return Ok(true),
                None => return Ok(false),
            },
            Some(b'\n') => return Err(HttpError::BareLineFeed),
            _ => return Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_a_head_fed_one_byte_at_a_time() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        let mut s = HeadScanner::default();
        let limits = Limits::default();
        for n in 1..head.len() {
            let got = s.scan(&head[..n], &limits).unwrap();
            if n < 27 {
                assert_eq!(got, None, "prefix {n}");
            } else {
                assert_eq!(got, Some(27));
                return;
            }
        }
        panic!("head end never found");
    }

    #[test]
    fn each_byte_is_scanned_once() {
        let mut s = HeadScanner::default();
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        let limits = Limits::default();
        for _ in 0..100 {
            buf.extend_from_slice(b"X: y\r\n");
            assert_eq!(s.scan(&buf, &limits).unwrap(), None);
            assert_eq!(s.scanned, buf.len());
        }
    }
}
