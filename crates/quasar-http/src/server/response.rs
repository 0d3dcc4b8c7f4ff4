//! Turns a handler's `Response<Body>` into bytes: the head, then the body whole, counted
//! (`Content-Length`), chunked, or (HTTP/1.0, unknown length) delimited by the close.
//!
//! A small full body leaves with its head in one buffer. A streamed body, or a full one
//! larger than [`FULL_INLINE_MAX`], becomes a [`BodyStream`] the engine pulls only below the
//! write queue's high mark, so a slow reader pauses the producer. Chunks are handed out in
//! slices of at most [`SLICE`] bytes (`Bytes::slice`, no copy): the queue then holds at most
//! its high mark plus one slice, whatever the size of the `Bytes` the handler returned, and
//! nothing is ever written past the queue's hard cap. A response that ends the connection
//! ends its stream with an `Error::closed`, which the engine turns into a graceful close
//! after the bytes before it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use http::header::CONNECTION;
use http::{Response, StatusCode};
use http_body::Body as _;
use quasar_net::Error;

use super::handler::ResponseFuture;
use crate::body::Body;
use crate::{
    body_allowed, connection_has, encode_chunk_header, encode_response, response_keep_alive,
    BodyLength, ResponseHead, CHUNK_END, LAST_CHUNK,
};

/// Chunks smaller than this are copied next to their chunk header (one `Bytes`); larger
/// ones leave as they are, between a header and a CRLF (no copy).
const COPY_CHUNK_BELOW: usize = 1024;

/// Full bodies up to this size are written with their head in one buffer. The consumer is
/// fed only below the write queue's high mark, so such a write stays well under the hard
/// cap; anything larger is pulled at the reader's pace instead.
pub(crate) const FULL_INLINE_MAX: usize = 32 * 1024;

/// The most bytes of a body handed to the write queue in one pull.
pub(crate) const SLICE: usize = 64 * 1024;

/// What the request decided about its response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReqInfo {
    /// HEAD: no body bytes.
    pub(crate) head: bool,
    /// HTTP/1.0: no chunked encoding.
    pub(crate) http10: bool,
    /// The request allows another request after this one.
    pub(crate) keep_alive: bool,
    /// Statuses >= 400 close the connection ([`ServerConfig::close_on_error`]).
    ///
    /// [`ServerConfig::close_on_error`]: super::ServerConfig::close_on_error
    pub(crate) close_on_error: bool,
    pub(crate) server: Option<&'static str>,
}

/// Encodes `resp` at the end of `dst`: the head, and the body when it is full and small
/// (`None`), or the head alone and the body still to stream (`Some`). Also returns whether
/// the connection closes after it.
pub(crate) fn encode(
    resp: Response<Body>,
    info: &ReqInfo,
    dst: &mut BytesMut,
) -> (Option<BodyStream>, bool) {
    let (parts, body) = resp.into_parts();
    let status = parts.status;
    // An error status alone keeps the connection (its request was read whole, or is being
    // read and dropped), unless the server keeps pulsar's rule. A handler's few headers are
    // scanned for `Connection` (enum tags) before its tokens are read: cheaper than a lookup.
    let mut close = !info.keep_alive
        || (parts.headers.iter().any(|(name, _)| name == CONNECTION)
            && connection_has(&parts.headers, "close"))
        || (info.close_on_error && !response_keep_alive(true, status));
    let method = if info.head {
        http::Method::HEAD
    } else {
        http::Method::GET
    };
    let allowed = body_allowed(&method, status);
    let hint = body.size_hint().exact();
    let head = |len, close| {
        ResponseHead::new(status, &parts.headers, len)
            .close(close)
            .server(info.server)
    };
    match body.into_full() {
        Ok(bytes) if !allowed || bytes.len() <= FULL_INLINE_MAX => {
            let len = if allowed || info.head {
                bytes.len() as u64
            } else {
                0
            };
            encode_response(dst, &head(BodyLength::Length(len), close));
            if allowed {
                dst.put_slice(&bytes);
            }
            (None, close)
        }
        Ok(bytes) => {
            let len = bytes.len() as u64;
            encode_response(dst, &head(BodyLength::Length(len), close));
            let mut stream = BodyStream {
                body: Body::empty(),
                chunked: false,
                remaining: Some(0),
                pending: VecDeque::new(),
                state: State::Streaming,
                close_at_end: close,
            };
            stream.pending.push_back(bytes);
            (Some(stream), close)
        }
        Err(body) if !allowed => {
            let len = match hint {
                Some(n) if info.head => BodyLength::Length(n),
                None if info.head && !info.http10 => BodyLength::Chunked,
                _ => BodyLength::Length(0),
            };
            encode_response(dst, &head(len, close));
            drop(body);
            (None, close)
        }
        Err(body) => {
            let len = match hint {
                Some(n) => BodyLength::Length(n),
                None if !info.http10 => BodyLength::Chunked,
                None => {
                    close = true;
                    BodyLength::CloseDelimited
                }
            };
            encode_response(dst, &head(len, close));
            let stream = BodyStream {
                body,
                chunked: len == BodyLength::Chunked,
                remaining: hint,
                pending: VecDeque::new(),
                state: State::Streaming,
                close_at_end: close,
            };
            (Some(stream), close)
        }
    }
}

/// A minimal response the server writes itself (errors, 417, 408): no body but the reason.
pub(crate) fn encode_status(dst: &mut BytesMut, status: StatusCode, server: Option<&str>) {
    let reason = status.canonical_reason().unwrap_or("").as_bytes();
    let headers = http::HeaderMap::new();
    let head = ResponseHead::new(status, &headers, BodyLength::Length(reason.len() as u64))
        .close(true)
        .server(server);
    encode_response(dst, &head);
    dst.put_slice(reason);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Streaming,
    /// Everything is out; fail once to close the connection.
    Close,
    Done,
}

/// A response body on the wire: framed chunks of a [`Body`].
pub(crate) struct BodyStream {
    body: Body,
    chunked: bool,
    /// Bytes the head announced and the body still owes (`Content-Length`).
    remaining: Option<u64>,
    pending: VecDeque<Bytes>,
    state: State,
    close_at_end: bool,
}

impl BodyStream {
    fn on_data(&mut self, data: Bytes) -> quasar_net::Result<()> {
        if let Some(r) = &mut self.remaining {
            if data.len() as u64 > *r {
                return Err(Error::protocol(
                    "response body longer than its Content-Length",
                ));
            }
            *r -= data.len() as u64;
        }
        if !self.chunked {
            self.pending.push_back(data);
        } else if data.len() < COPY_CHUNK_BELOW {
            let mut buf = BytesMut::with_capacity(data.len() + 12);
            encode_chunk_header(&mut buf, data.len());
            buf.put_slice(&data);
            buf.put_slice(CHUNK_END);
            self.pending.push_back(buf.freeze());
        } else {
            let mut header = BytesMut::with_capacity(10);
            encode_chunk_header(&mut header, data.len());
            self.pending.push_back(header.freeze());
            self.pending.push_back(data);
            self.pending.push_back(Bytes::from_static(CHUNK_END));
        }
        Ok(())
    }

    fn on_end(&mut self) -> quasar_net::Result<()> {
        if self.remaining.is_some_and(|r| r > 0) {
            return Err(Error::protocol(
                "response body shorter than its Content-Length",
            ));
        }
        if self.chunked {
            self.pending.push_back(Bytes::from_static(LAST_CHUNK));
        }
        self.state = if self.close_at_end {
            State::Close
        } else {
            State::Done
        };
        Ok(())
    }
}

impl Stream for BodyStream {
    type Item = quasar_net::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(front) = this.pending.front_mut() {
                // A large chunk leaves a slice at a time, each pulled as the queue drains.
                let next = if front.len() > SLICE {
                    front.split_to(SLICE)
                } else {
                    this.pending.pop_front().unwrap_or_default()
                };
                return Poll::Ready(Some(Ok(next)));
            }
            match this.state {
                State::Done => return Poll::Ready(None),
                State::Close => {
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(closing())));
                }
                State::Streaming => {}
            }
            let step = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => this.on_data(data),
                    // Empty chunks and trailers: HTTP/1.1 trailers are not sent.
                    _ => Ok(()),
                },
                Poll::Ready(Some(Err(e))) => Err(Error::protocol_with("response body failed", e)),
                Poll::Ready(None) => this.on_end(),
            };
            if let Err(e) = step {
                this.state = State::Done;
                this.pending.clear();
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

fn closing() -> Error {
    Error::closed("response closes the connection")
}

/// A response whose handler was still running when its request was parsed: awaits the
/// handler, then yields the head and the body.
pub(crate) struct PendingResponse {
    stage: Stage,
}

enum Stage {
    Handler(ResponseFuture, ReqInfo),
    Body(BodyStream),
    Close,
    Done,
}

impl PendingResponse {
    pub(crate) fn new(fut: ResponseFuture, info: ReqInfo) -> Self {
        PendingResponse {
            stage: Stage::Handler(fut, info),
        }
    }
}

impl Stream for PendingResponse {
    type Item = quasar_net::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match &mut this.stage {
            Stage::Handler(fut, info) => {
                let Poll::Ready(resp) = fut.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                let mut dst = BytesMut::new();
                let (stream, close) = encode(resp, info, &mut dst);
                this.stage = match stream {
                    Some(body) => Stage::Body(body),
                    None if close => Stage::Close,
                    None => Stage::Done,
                };
                Poll::Ready(Some(Ok(dst.freeze())))
            }
            Stage::Body(body) => Pin::new(body).poll_next(cx),
            Stage::Close => {
                this.stage = Stage::Done;
                Poll::Ready(Some(Err(closing())))
            }
            Stage::Done => Poll::Ready(None),
        }
    }
}
