//! WebSocket echo: the handshake at connect time, then binary messages checked byte for byte.
//!
//! Each connection upgrades with a plain RFC 6455 handshake (no extension offered, so neither
//! server compresses) before the run starts, so handshakes are not measured. A request is one
//! masked binary frame carrying `--size` payload bytes that differ per request (the echo
//! workload's [`Payload`]); its reply must be one unmasked binary frame with the same payload.
//! Frames are written with quasar-http's codec (`encode_frame`); the reply check reads the
//! header itself because it works on the borrowed read buffer.

use std::io;

use quasar_http::ws::{accept_key, encode_frame, generate_key, random_mask, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bench::payload::Payload;
use crate::bench::workload::{ReplyError, StreamWorkload};

/// A handshake response longer than this is refused.
const MAX_HANDSHAKE: usize = 16 * 1024;

/// Upgrades `stream` to a WebSocket on `host` and `path`, checking the `101` and its accept key.
///
/// # Errors
///
/// Socket errors, or `InvalidData` for anything but a valid `101`, or bytes after it (the
/// server must not speak first).
pub(crate) async fn handshake(stream: &mut TcpStream, host: &str, path: &str) -> io::Result<()> {
    let key = generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let head_len = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HANDSHAKE {
            return Err(bad("handshake response longer than 16 KiB"));
        }
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed during the handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if buf.len() != head_len {
        return Err(bad("bytes after the 101"));
    }
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| bad("non-UTF-8 response"))?;
    let mut lines = head.split("\r\n");
    if !lines.next().is_some_and(|l| l.starts_with("HTTP/1.1 101")) {
        return Err(bad("no 101 Switching Protocols"));
    }
    let want = accept_key(&key);
    let accepted = lines
        .filter_map(|l| l.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == want
        });
    if !accepted {
        return Err(bad("missing or wrong Sec-WebSocket-Accept"));
    }
    Ok(())
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("websocket: {why}"))
}

/// Binary echo messages over an upgraded connection.
#[derive(Debug)]
pub(crate) struct WsWorkload {
    payload: Payload,
    frame: bytes::BytesMut,
    body: Vec<u8>,
}

impl WsWorkload {
    pub(crate) fn new(payload: Payload) -> WsWorkload {
        WsWorkload {
            payload,
            frame: bytes::BytesMut::new(),
            body: Vec::new(),
        }
    }

    /// Header bytes of an unmasked server frame with `len` payload bytes.
    fn header_len(len: usize) -> usize {
        match len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        }
    }
}

impl StreamWorkload for WsWorkload {
    fn write_request(&mut self, seq: u64, out: &mut Vec<u8>) {
        self.body.clear();
        self.payload.write_to(seq, &mut self.body);
        self.frame.clear();
        // A data frame never fails to encode (only oversized control frames do).
        if encode_frame(
            &mut self.frame,
            OpCode::Binary,
            true,
            &self.body,
            Some(random_mask()),
        )
        .is_ok()
        {
            out.extend_from_slice(&self.frame);
        }
    }

    fn check_reply(&mut self, seq: u64, buf: &[u8]) -> Result<Option<usize>, ReplyError> {
        let size = self.payload.size();
        let header = Self::header_len(size);
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        if b0 != 0x82 {
            return Err(ReplyError::Parse("not a final binary frame"));
        }
        if b1 & 0x80 != 0 {
            return Err(ReplyError::Parse("masked server frame"));
        }
        let len = match b1 & 0x7F {
            126 if buf.len() >= 4 => usize::from(u16::from_be_bytes([buf[2], buf[3]])),
            127 if buf.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX)
            }
            126 | 127 => return Ok(None),
            n => usize::from(n),
        };
        if len != size {
            return Err(ReplyError::Parse("echo of another length"));
        }
        if buf.len() < header + size {
            return Ok(None);
        }
        self.payload
            .check(seq, &buf[header..header + size])
            .map_err(ReplyError::Mismatch)?;
        Ok(Some(header + size))
    }

    fn request_size(&self) -> usize {
        self.payload.size() + 14
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_the_unmasked_frame_of_the_same_payload() {
        let mut w = WsWorkload::new(Payload::new(64, false, 7));
        let mut request = Vec::new();
        w.write_request(3, &mut request);
        assert_eq!(request.len(), 2 + 4 + 64);
        let mut body = Vec::new();
        w.payload.write_to(3, &mut body);
        let mut reply = vec![0x82, 64];
        reply.extend_from_slice(&body);
        assert_eq!(w.check_reply(3, &reply[..40]), Ok(None));
        assert_eq!(w.check_reply(3, &reply), Ok(Some(66)));
        assert!(w.check_reply(4, &reply).is_err());
        reply[0] = 0x81;
        assert!(w.check_reply(3, &reply).is_err());
    }
}
