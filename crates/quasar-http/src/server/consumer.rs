//! The HTTP/1.1 server consumer: one per request, built by [`HttpFactory`].
//!
//! States (see docs/http-server.md for the whole table): *reading head* (parse with
//! [`RequestParser`]; a head still incomplete after its first bytes arms the header
//! timeout), *dispatch* (417, WebSocket handshake, or the handler's future polled once at
//! once: a ready response is written straight into the write queue, a pending one becomes
//! an ordered response stream), *reading body* (decoded into the handler's bounded channel,
//! pausing the connection's reading when it is full), *finished* (the next bytes go to a
//! fresh consumer).

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::task::noop_waker_ref;
use http::header::{ALLOW, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Request, StatusCode, Version};
use quasar_net::{Connection, Error, TcpServerBuilder};
use quasar_net::{ConsumerFactory, Context, Progress, ProtocolConsumer, Result, TcpServer};

use super::config::ServerConfig;
use super::fixed::FixedResponse;
use super::handler::Handler;
use super::incoming::{self, BodySender, Room};
use super::plain_get::{plain_get, plain_get_after, SeenHost};
use super::response::{encode, encode_status, Encoded, PendingResponse, ReqInfo};
use super::websocket::{WsFactory, WsRoute};
use crate::body::Body;
use crate::ws::{self, HandshakeError};
use crate::{BodyDecoder, Expectation, ParsedRequest, RequestParser, CONTINUE_100};

/// Responses up to this size are copied into the write queue's tail buffer, where pipelined
/// responses coalesce into one write; larger ones are queued without a copy.
const COPY_RESPONSE_BELOW: usize = 4 * 1024;

/// Builds an [`HttpConsumer`] per request; the factory of an HTTP server.
///
/// # Examples
///
/// ```no_run
/// use quasar_http::server::{HttpFactory, ServerConfig};
/// use quasar_http::Body;
///
/// # async fn run() -> quasar_net::Result<()> {
/// let hello = |_req: http::Request<Body>| async { http::Response::new(Body::from("hi")) };
/// let server = quasar_net::TcpServer::builder(HttpFactory::new(hello, ServerConfig::default()))
///     .bind("127.0.0.1:0".parse().unwrap())
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpFactory {
    shared: Arc<Shared>,
}

struct Shared {
    handler: Box<dyn Handler>,
    config: ServerConfig,
    /// Whether the handler has fixed responses at all: without any, requests skip the
    /// fixed-route check.
    has_fixed: bool,
}

impl HttpFactory {
    /// A factory serving every request with `handler`.
    pub fn new(handler: impl Handler, config: ServerConfig) -> Self {
        let has_fixed = handler.has_fixed();
        HttpFactory {
            shared: Arc::new(Shared {
                handler: Box::new(handler),
                config,
                has_fixed,
            }),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }
}

impl std::fmt::Debug for HttpFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFactory")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// A `TcpServer` builder serving `handler`, with the engine's per-connection request
/// limit set to [`ServerConfig::max_requests`]. Set `keep_alive` (idle timeout between
/// requests) and `request_timeout` on the builder.
pub fn builder(handler: impl Handler, config: ServerConfig) -> TcpServerBuilder<HttpFactory> {
    let max = config.max_requests;
    TcpServer::builder(HttpFactory::new(handler, config)).max_requests_per_connection(max)
}

/// What a connection refused at `max_connections` hears (see
/// `quasar_net::server::OverflowPolicy`): a complete 503 asking the client to retry in a
/// second, and the connection closes.
pub const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\nserver at capacity\r\n";

impl ConsumerFactory for HttpFactory {
    type Consumer = HttpConsumer;

    fn busy_reply(&self) -> Option<bytes::Bytes> {
        Some(bytes::Bytes::from_static(BUSY_RESPONSE))
    }

    fn build(&self, _conn: &Connection) -> HttpConsumer {
        HttpConsumer {
            parser: RequestParser::new(self.shared.config.limits),
            shared: self.shared.clone(),
            state: State::Head { timer: false },
        }
    }
}

/// One request on an HTTP/1.1 connection.
pub struct HttpConsumer {
    shared: Arc<Shared>,
    parser: RequestParser,
    state: State,
}

enum State {
    /// Reading the head; `timer`: the header timeout is armed.
    Head {
        timer: bool,
    },
    /// Feeding the request body to the handler.
    Body {
        decoder: BodyDecoder,
        sender: BodySender,
    },
    Done,
}

impl std::fmt::Debug for HttpConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Head { .. } => "head",
            State::Body { .. } => "body",
            State::Done => "done",
        };
        f.debug_struct("HttpConsumer")
            .field("state", &state)
            .finish()
    }
}

impl ProtocolConsumer for HttpConsumer {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        match self.state {
            State::Head { timer } => self.read_head(cx, buf, timer),
            State::Body { .. } => self.read_body(cx, buf),
            State::Done => Ok(Progress::Finished(())),
        }
    }

    fn tick(&mut self, cx: &mut Context<'_>) -> Result<()> {
        if let State::Head { timer: true } = self.state {
            // Slowloris: the head did not arrive within the header timeout.
            tracing::debug!(
                session = cx.connection().session(),
                "request head timed out"
            );
            self.reject_with(cx, StatusCode::REQUEST_TIMEOUT)?;
            cx.set_tick(Duration::ZERO);
        }
        Ok(())
    }
}

impl HttpConsumer {
    fn read_head(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        timer: bool,
    ) -> Result<Progress> {
        // A head seen for the first time is tried whole as a fixed-route GET: one pass over
        // its bytes instead of scanner + httparse. A head that needed several reads takes the
        // scanner (linear however it trickles in) and is tried once complete.
        let fresh = self.shared.has_fixed && !timer && self.parser.is_fresh();
        if fresh {
            if let Some(end) = self.serve_fixed(cx, buf)? {
                self.parser.skip_scanned(buf, end);
                self.serve_fixed_batch(cx, buf)?;
                self.state = State::Done;
                return Ok(Progress::Finished(()));
            }
        }
        let end = match self.parser.head_len(buf) {
            Ok(Some(end)) => end,
            Ok(None) => {
                let timeout = self.shared.config.header_timeout;
                if !timer && !buf.is_empty() && !timeout.is_zero() {
                    // Armed only for heads that need more than one read: a whole head in
                    // the first read (the common case) costs no timer.
                    cx.set_tick(timeout);
                    self.state = State::Head { timer: true };
                }
                return Ok(Progress::NeedMore);
            }
            Err(e) => {
                tracing::debug!(session = cx.connection().session(), error = %e, "bad request");
                return self.reject(cx, buf, e.status());
            }
        };
        if timer {
            cx.set_tick(Duration::ZERO);
        }
        if !fresh && self.serve_fixed(cx, &buf[..end])?.is_some() {
            self.parser.skip_scanned(buf, end);
            self.serve_fixed_batch(cx, buf)?;
            self.state = State::Done;
            return Ok(Progress::Finished(()));
        }
        let parsed = match self.parser.parse_scanned(buf, end) {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::debug!(session = cx.connection().session(), error = %e, "bad request");
                return self.reject(cx, buf, e.status());
            }
        };
        if let Some(status) = parsed.expect.status() {
            return self.reject(cx, buf, status);
        }
        if let Some(route) = self.shared.handler.websocket(&parsed.parts) {
            return self.websocket(cx, buf, parsed, route);
        }
        self.dispatch(cx, buf, parsed)
    }

    /// Answers a plain keep-alive `GET` to a fixed route at the front of `buf` straight from
    /// its encoded bytes (see [`FixedResponse`](super::FixedResponse)) and returns the head's
    /// length; `None` leaves the request to the ordinary path.
    fn serve_fixed(&self, cx: &mut Context<'_>, buf: &[u8]) -> Result<Option<usize>> {
        let config = &self.shared.config;
        if !self.shared.has_fixed {
            return Ok(None);
        }
        let handler = &self.shared.handler;
        let Some((end, fixed)) = plain_get(buf, self.parser.limits(), |path| handler.fixed(path))
        else {
            return Ok(None);
        };
        // The last request `max_requests` allows says `Connection: close`: ordinary path.
        if config.max_requests > 0 && cx.connection().processed() >= config.max_requests {
            return Ok(None);
        }
        fixed.write(cx, config.server_name)?;
        Ok(Some(end))
    }

    /// After a fixed response, answers the fixed-route `GET`s that follow it in `buf`
    /// (pipelining) within this call, as far as the connection grants room
    /// ([`Context::batch_room`]): one engine exchange and one clock read for the whole run
    /// instead of one per request. Stops at the first request that is anything else (it
    /// gets a consumer of its own, after these, so answers stay in order), at an
    /// incomplete head, and before the last request `max_requests` allows (it must say
    /// `Connection: close`).
    fn serve_fixed_batch(&self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<()> {
        if buf.is_empty() || cx.batch_room() == 0 {
            return Ok(());
        }
        // The served heads leave the buffer in one step at the end, errors included.
        let mut served = 0;
        let result = self.serve_fixed_run(cx, buf, &mut served);
        buf.advance(served);
        result
    }

    /// The loop of [`serve_fixed_batch`](Self::serve_fixed_batch): answers from
    /// `buf[*served..]` on, moving `*served` past each request answered. A run of requests
    /// for the same route is answered with one copy of its assembled responses.
    fn serve_fixed_run(&self, cx: &mut Context<'_>, buf: &[u8], served: &mut usize) -> Result<()> {
        let config = &self.shared.config;
        let handler = &self.shared.handler;
        let limits = self.parser.limits();
        let max_requests = config.max_requests;
        let date = crate::http_date();
        // The last route's assembled responses: later runs for the same route (the usual
        // pipelined read) copy them without looking them up again.
        let mut last: Option<(&FixedResponse, Bytes, usize)> = None;
        let mut host = SeenHost::default();
        while *served < buf.len() {
            let room = cx.batch_room() as usize;
            // The next request's index is one past the count published so far; a run
            // stops before the last request `max_requests` allows.
            let processed = cx.connection().processed();
            let allowed =
                |run: usize| max_requests == 0 || processed + 1 + (run as u64) < max_requests;
            if room == 0 || !allowed(0) {
                break;
            }
            let Some((end, fixed)) = plain_get_after(&buf[*served..], limits, &mut host, |path| {
                handler.fixed(path)
            }) else {
                break;
            };
            if !matches!(&last, Some((prev, ..)) if std::ptr::eq(*prev, fixed)) {
                match fixed.assembled(config.server_name, &date) {
                    Some((block, len)) => last = Some((fixed, block, len)),
                    None => {
                        fixed.write_dated(cx, config.server_name, &date)?;
                        *served += end;
                        cx.finish_batched();
                        continue;
                    }
                }
            }
            let Some((_, block, len)) = &last else {
                break;
            };
            let mut run = 1;
            let mut next = *served + end;
            let most = room.min(block.len() / len);
            while run < most && next < buf.len() && allowed(run) {
                match plain_get_after(&buf[next..], limits, &mut host, |path| handler.fixed(path)) {
                    Some((end, same)) if std::ptr::eq(same, fixed) => {
                        next += end;
                        run += 1;
                    }
                    _ => break,
                }
            }
            cx.write(&block[..run * len])?;
            *served = next;
            for _ in 0..run {
                cx.finish_batched();
            }
        }
        Ok(())
    }

    /// Answers `status` and closes; bytes after the rejected head are dropped.
    fn reject(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        status: StatusCode,
    ) -> Result<Progress> {
        self.reject_with(cx, status)?;
        buf.clear();
        Ok(Progress::Finished(()))
    }

    fn reject_with(&mut self, cx: &mut Context<'_>, status: StatusCode) -> Result<()> {
        let mut dst = BytesMut::new();
        encode_status(&mut dst, status, self.shared.config.server_name);
        cx.write(&dst)?;
        cx.close();
        self.state = State::Done;
        Ok(())
    }

    fn dispatch(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        parsed: ParsedRequest,
    ) -> Result<Progress> {
        let config = &self.shared.config;
        let conn = cx.connection();
        // The engine publishes the count as each request starts: this is our index.
        let last = config.max_requests > 0 && conn.processed() >= config.max_requests;
        let parts = parsed.parts;
        let mut info = ReqInfo {
            head: parts.method == Method::HEAD,
            http10: parts.version == Version::HTTP_10,
            keep_alive: parsed.keep_alive && !last,
            close_on_error: config.close_on_error,
            server: config.server_name,
        };
        let expect_continue = parsed.expect == Expectation::Continue;
        let (body, mut sender, flow) = if parsed.body.is_eof() {
            (Body::empty(), None, None)
        } else {
            let (sender, incoming, flow) =
                incoming::channel(conn.clone(), config.body_channel, content_length(&parts));
            (Body::new(incoming), Some(sender), Some(flow))
        };
        // A client that sent body bytes with the head is not waiting for `100 Continue`.
        let continue_needed = expect_continue && sender.is_some() && buf.is_empty();
        let mut fut = self.shared.handler.call(Request::from_parts(parts, body));
        // Polled once here: most handlers answer at once, and their response then goes
        // straight into the write queue (no boxed stream, coalesced with its neighbours).
        let mut task_cx = TaskContext::from_waker(noop_waker_ref());
        match fut.as_mut().poll(&mut task_cx) {
            Poll::Ready(resp) => {
                if continue_needed {
                    let polled = flow
                        .as_ref()
                        .is_some_and(|f| f.polled.load(std::sync::atomic::Ordering::Relaxed));
                    if polled || sender.as_ref().is_some_and(BodySender::is_open) {
                        // The handler read the body or kept it (an echo streams it back).
                        cx.write(CONTINUE_100)?;
                    } else {
                        // Refused without reading: the client will not send the body, so
                        // this connection cannot frame another request.
                        info.keep_alive = false;
                    }
                }
                let (encoded, close) = encode(resp, &info);
                match encoded {
                    Encoded::Full(bytes) => {
                        if bytes.len() < COPY_RESPONSE_BELOW {
                            cx.write(&bytes)?;
                        } else {
                            cx.write_bytes(bytes.freeze())?;
                        }
                        if close {
                            cx.close();
                        }
                    }
                    // The stream closes the connection itself once written: closing now
                    // would stop reading a request body the response may be echoing.
                    Encoded::Stream(head, body) => {
                        cx.write(&head)?;
                        cx.stream_response(body);
                    }
                }
            }
            Poll::Pending => {
                if continue_needed {
                    // Sent now rather than on the handler's first read of the body: the
                    // interim response must precede this response's slot in the ordered
                    // output, and the slot is taken now.
                    cx.write(CONTINUE_100)?;
                }
                cx.stream_response(PendingResponse::new(fut, info));
            }
        }
        match sender.take() {
            Some(sender) => {
                self.state = State::Body {
                    decoder: parsed.body,
                    sender,
                };
                self.read_body(cx, buf)
            }
            None => {
                self.state = State::Done;
                Ok(Progress::Finished(()))
            }
        }
    }

    fn read_body(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let State::Body { decoder, sender } = &mut self.state else {
            return Ok(Progress::Finished(()));
        };
        loop {
            if decoder.is_eof() {
                sender.finish();
                self.state = State::Done;
                return Ok(Progress::Finished(()));
            }
            let room = sender.room();
            if let Room::Full = room {
                // Request-side back-pressure: the handler's receiver resumes reading.
                cx.report_buffered(sender.queued());
                cx.pause_reading();
                return Ok(Progress::NeedMore);
            }
            match decoder.decode(buf) {
                Ok(Some(data)) => {
                    if let Room::Send(permit) = room {
                        sender.send(permit, data);
                    }
                }
                Ok(None) if decoder.is_eof() => {}
                Ok(None) => {
                    // The memory budget counts the chunks the handler has not taken.
                    cx.report_buffered(sender.queued());
                    return Ok(Progress::NeedMore);
                }
                Err(e) => {
                    drop(room);
                    sender.fail(e.clone());
                    return Err(Error::protocol_with("bad request body", e));
                }
            }
        }
    }

    fn websocket(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        parsed: ParsedRequest,
        route: WsRoute,
    ) -> Result<Progress> {
        let mut dst = BytesMut::new();
        match ws::validate_request(&parsed.parts) {
            Ok(accept) => {
                let ws_config = self.shared.config.ws.clone();
                let factory = WsFactory::new(route, parsed.parts, ws_config);
                ws::encode_accept_with_extensions(&mut dst, &accept, None, factory.extensions());
                cx.write(&dst)?;
                cx.upgrade(factory);
                self.state = State::Done;
                Ok(Progress::Finished(()))
            }
            Err(HandshakeError::NotGet) => {
                let mut headers = http::HeaderMap::new();
                headers.insert(ALLOW, HeaderValue::from_static("GET"));
                let head = crate::ResponseHead::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &headers,
                    crate::BodyLength::Length(0),
                )
                .close(true)
                .server(self.shared.config.server_name);
                crate::encode_response(&mut dst, &head);
                cx.write(&dst)?;
                cx.close();
                buf.clear();
                self.state = State::Done;
                Ok(Progress::Finished(()))
            }
            Err(e) => {
                tracing::debug!(error = %e, "websocket handshake refused");
                e.encode_rejection(&mut dst);
                cx.write(&dst)?;
                cx.close();
                buf.clear();
                self.state = State::Done;
                Ok(Progress::Finished(()))
            }
        }
    }
}

/// The declared length of a `Content-Length` body (the parser already validated framing).
fn content_length(parts: &http::request::Parts) -> Option<u64> {
    if parts.headers.contains_key(TRANSFER_ENCODING) {
        return None;
    }
    let value = parts.headers.get(CONTENT_LENGTH)?.to_str().ok()?;
    // A list of equal values was accepted by the parser; they agree, take the first.
    value.split(',').next()?.trim().parse().ok()
}
