//! The upstream side of forwarded requests: idle keep-alive connections per `host:port`,
//! one exchange per checked-out connection, and the response body streamed from the
//! socket at the pace the client takes it.
//!
//! The body is read from the upstream socket only when the server pulls the next frame,
//! and the server pulls only while the client's write queue is below its high-water mark,
//! so a slow client slows the upstream down (TCP flow control does the rest) and memory
//! stays at one read buffer per exchange. The request body goes the other way through
//! `write_all`, which waits for the upstream's window, while the client's connection
//! stops reading once the server's body channel is full.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::stats::ProxyStats;
use super::Shared;
use crate::body::{size_hint, Body, BodyError, PollFrame};
use crate::{encode_chunk_header, BodyDecoder, HttpError, ResponseParser, CHUNK_END, LAST_CHUNK};

/// How much the response body reader asks the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Why a forwarded request got no response.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    ConnectFailed(io::Error),
    ConnectTimeout,
    ResponseTimeout,
    BadResponse(HttpError),
    /// The upstream closed or failed the connection before its response head.
    Reset(io::Error),
    /// The client's request body broke off (its own connection failed).
    ClientBody(BodyError),
}

impl UpstreamError {
    /// The status the client gets and the short body saying which.
    pub(crate) fn answer(&self) -> (StatusCode, String) {
        match self {
            UpstreamError::ConnectFailed(e) => (
                StatusCode::BAD_GATEWAY,
                format!("upstream connect failed: {e}\n"),
            ),
            UpstreamError::ConnectTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream connect timed out\n".into(),
            ),
            UpstreamError::ResponseTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream response timed out\n".into(),
            ),
            UpstreamError::BadResponse(e) => (
                StatusCode::BAD_GATEWAY,
                format!("upstream sent an invalid response: {e}\n"),
            ),
            UpstreamError::Reset(e) => (
                StatusCode::BAD_GATEWAY,
                format!("upstream closed the connection: {e}\n"),
            ),
            UpstreamError::ClientBody(e) => (
                StatusCode::BAD_REQUEST,
                format!("request body broke off: {e}\n"),
            ),
        }
    }

    fn count(&self, stats: &ProxyStats) {
        let c = &stats.inner;
        let counter = match self {
            UpstreamError::ConnectFailed(_) => &c.connect_failed,
            UpstreamError::ConnectTimeout => &c.connect_timeout,
            UpstreamError::ResponseTimeout => &c.response_timeout,
            UpstreamError::BadResponse(_) => &c.bad_response,
            UpstreamError::Reset(_) => &c.reset,
            UpstreamError::ClientBody(_) => return,
        };
        ProxyStats::add(counter, 1);
    }
}

/// Idle connections to one `host:port`, each with the time it was returned.
type IdleList = Vec<(TcpStream, Instant)>;

/// Idle keep-alive upstream connections, per `host:port`.
pub(crate) struct Pool {
    idle: Mutex<HashMap<Box<str>, IdleList>>,
    per_host: usize,
    timeout: Duration,
}

impl Pool {
    pub(crate) fn new(per_host: usize, timeout: Duration) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            per_host,
            timeout,
        }
    }

    /// The most recently returned live connection to `key`, if any.
    fn take(&self, key: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(key)?;
        while let Some((stream, since)) = list.pop() {
            if since.elapsed() >= self.timeout {
                continue;
            }
            // An idle connection has nothing to read: EOF or bytes mean the upstream
            // closed it (or broke the protocol) while it waited.
            let mut probe = [0u8; 1];
            match stream.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(stream),
                _ => continue,
            }
        }
        None
    }

    fn put(&self, key: &str, stream: TcpStream) {
        if self.per_host == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(key.into()).or_default();
        list.retain(|(_, since)| since.elapsed() < self.timeout);
        if list.len() < self.per_host {
            list.push((stream, Instant::now()));
        }
    }
}

/// One forwarded request, ready to go.
pub(crate) struct Outgoing {
    /// `host:port` to connect to (and the pool's key).
    pub(crate) key: String,
    pub(crate) method: Method,
    /// The encoded request head.
    pub(crate) head: BytesMut,
    pub(crate) body: Body,
    /// The body goes chunked (its length is unknown).
    pub(crate) chunked: bool,
}

/// Sends `out` upstream and returns the response head and its streamed body.
pub(crate) async fn exchange(
    shared: &Arc<Shared>,
    out: Outgoing,
) -> Result<(http::response::Parts, Body), UpstreamError> {
    let result = exchange_inner(shared, out).await;
    if let Err(e) = &result {
        e.count(&shared.stats);
    }
    result
}

async fn exchange_inner(
    shared: &Arc<Shared>,
    mut out: Outgoing,
) -> Result<(http::response::Parts, Body), UpstreamError> {
    // A pooled connection the upstream closed just now fails before any response byte;
    // a request without a body is then sent again on a fresh connection.
    let retryable = http_body::Body::is_end_stream(&out.body);
    let mut reused = shared.pool.take(&out.key);
    loop {
        let was_reused = reused.is_some();
        let mut stream = match reused.take() {
            Some(s) => s,
            None => connect(shared, &out.key).await?,
        };
        match send(shared, &mut stream, &mut out).await {
            Ok(()) => {}
            Err(UpstreamError::Reset(_)) if was_reused && retryable => continue,
            Err(e) => return Err(e),
        }
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let head = tokio::time::timeout(
            shared.response_timeout,
            read_head(shared, &mut stream, &mut buf, &out.method),
        )
        .await;
        let parsed = match head {
            Err(_) => return Err(UpstreamError::ResponseTimeout),
            Ok(Err(UpstreamError::Reset(_))) if was_reused && retryable && buf.is_empty() => {
                continue
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(parsed)) => parsed,
        };
        // The length the client is told: the upstream's own for a counted body (and for
        // a HEAD response, which describes the GET's), none for chunked or until-close.
        let counted = !parsed.body.is_chunked() && !parsed.body.is_close_delimited();
        let hint = if counted || out.method == Method::HEAD {
            content_length(&parsed.parts.headers)
        } else {
            None
        };
        let mut body = UpstreamBody {
            stream: Some(stream),
            buf,
            decoder: parsed.body,
            keep_alive: parsed.keep_alive,
            shared: Arc::clone(shared),
            key: std::mem::take(&mut out.key),
            hint,
            done: false,
        };
        if body.decoder.is_eof() {
            // No body at all (HEAD, 204, 304): the connection is free at once.
            body.finish();
        }
        return Ok((parsed.parts, Body::new(body)));
    }
}

/// The `Content-Length` of a response the parser accepted (equal values if repeated).
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return None;
    }
    let value = headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?;
    value.split(',').next()?.trim().parse().ok()
}

async fn connect(shared: &Shared, key: &str) -> Result<TcpStream, UpstreamError> {
    match tokio::time::timeout(shared.connect_timeout, TcpStream::connect(key)).await {
        Err(_) => Err(UpstreamError::ConnectTimeout),
        Ok(Err(e)) => Err(UpstreamError::ConnectFailed(e)),
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// Writes the head and streams the body (chunked when its length is unknown).
async fn send(
    shared: &Shared,
    stream: &mut TcpStream,
    out: &mut Outgoing,
) -> Result<(), UpstreamError> {
    let reset = UpstreamError::Reset;
    stream.write_all(&out.head).await.map_err(reset)?;
    let mut chunk_head = BytesMut::with_capacity(16);
    while let Some(frame) = out.body.frame().await {
        let frame = frame.map_err(UpstreamError::ClientBody)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not forwarded
        };
        if data.is_empty() {
            continue;
        }
        ProxyStats::add(&shared.stats.inner.body_bytes_up, data.len() as u64);
        if out.chunked {
            chunk_head.clear();
            encode_chunk_header(&mut chunk_head, data.len());
            stream.write_all(&chunk_head).await.map_err(reset)?;
            stream.write_all(&data).await.map_err(reset)?;
            stream.write_all(CHUNK_END).await.map_err(reset)?;
        } else {
            stream.write_all(&data).await.map_err(reset)?;
        }
    }
    if out.chunked {
        stream.write_all(LAST_CHUNK).await.map_err(reset)?;
    }
    Ok(())
}

/// Reads up to the final (non-1xx) response head.
async fn read_head(
    shared: &Shared,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    method: &Method,
) -> Result<crate::ParsedResponse, UpstreamError> {
    let mut parser = ResponseParser::new(shared.limits);
    loop {
        match parser.parse(buf, method) {
            Ok(Some(parsed)) if parsed.parts.status == StatusCode::SWITCHING_PROTOCOLS => {
                // `Upgrade` is hop-by-hop and never forwarded: nobody asked to switch.
                return Err(UpstreamError::BadResponse(HttpError::InvalidStatus));
            }
            Ok(Some(parsed)) if parsed.parts.status.is_informational() => continue,
            Ok(Some(parsed)) => return Ok(parsed),
            Ok(None) => {}
            Err(e) => return Err(UpstreamError::BadResponse(e)),
        }
        buf.reserve(8 * 1024);
        match stream.read_buf(buf).await {
            Ok(0) => {
                return Err(UpstreamError::Reset(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "end of stream before the response head",
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(UpstreamError::Reset(e)),
        }
    }
}

/// A response body read from the upstream socket as the client takes it.
struct UpstreamBody {
    stream: Option<TcpStream>,
    buf: BytesMut,
    decoder: BodyDecoder,
    keep_alive: bool,
    shared: Arc<Shared>,
    key: String,
    hint: Option<u64>,
    done: bool,
}

impl UpstreamBody {
    /// The body ended well: a reusable connection goes back to the pool.
    fn finish(&mut self) {
        self.done = true;
        if let Some(stream) = self.stream.take() {
            // Bytes past the body's end are a protocol error of the upstream.
            if self.keep_alive && self.buf.is_empty() {
                self.shared.pool.put(&self.key, stream);
            }
        }
    }

    fn fail(&mut self, err: io::Error) -> PollFrame {
        self.done = true;
        self.stream = None;
        ProxyStats::add(&self.shared.stats.inner.reset, 1);
        tracing::debug!(upstream = %self.key, error = %err, "upstream body broke off");
        Poll::Ready(Some(Err(Box::new(err))))
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> PollFrame {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.decoder.decode(&mut this.buf) {
                Ok(Some(data)) => {
                    ProxyStats::add(&this.shared.stats.inner.body_bytes_down, data.len() as u64);
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(None) if this.decoder.is_eof() => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(None) => {}
                Err(e) => {
                    ProxyStats::add(&this.shared.stats.inner.bad_response, 1);
                    this.done = true;
                    this.stream = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
            let Some(stream) = this.stream.as_mut() else {
                return Poll::Ready(None);
            };
            if this.buf.capacity() - this.buf.len() < 1024 {
                this.buf.reserve(READ_CHUNK);
            }
            match tokio_util::io::poll_read_buf(Pin::new(stream), cx, &mut this.buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    if this.decoder.is_close_delimited() {
                        if let Err(e) = this.decoder.finish_on_eof() {
                            return this.fail(io::Error::new(io::ErrorKind::InvalidData, e));
                        }
                        this.keep_alive = false;
                        continue;
                    }
                    return this.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "upstream closed mid-body",
                    ));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return this.fail(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        size_hint(self.hint)
    }
}
