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

use bytes::BytesMut;
use futures_util::task::noop_waker_ref;
use http::header::{ALLOW, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Request, StatusCode, Version};
use quasar_net::{Connection, Error, TcpServerBuilder};
use quasar_net::{ConsumerFactory, Context, Progress, ProtocolConsumer, Result, TcpServer};

use super::config::ServerConfig;
use super::handler::Handler;
use super::incoming::{self, BodySender, Room};
use super::response::{encode, encode_status, PendingResponse, ReqInfo};
use super::websocket::{WsFactory, WsRoute};
use crate::body::Body;
use crate::ws::{self, HandshakeError};
use crate::{BodyDecoder, Expectation, ParsedRequest, RequestParser, CONTINUE_100};

/// Responses up to this size are copied into the write queue's tail buffer, where pipelined
/// responses coalesce into one write; larger ones are queued without a copy.
const COPY_RESPONSE_BELOW: usize = 4 * 1024;

thread_local! {
    /// Where a ready response is encoded before it is copied into the write queue: one
    /// buffer per thread, reused, instead of an allocation per response.
    static SCRATCH: std::cell::Cell<BytesMut> = std::cell::Cell::new(BytesMut::new());
}

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
}

impl HttpFactory {
    /// A factory serving every request with `handler`.
    pub fn new(handler: impl Handler, config: ServerConfig) -> Self {
        HttpFactory {
            shared: Arc::new(Shared {
                handler: Box::new(handler),
                config,
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
                // Taken out of the thread's slot and put back: nothing here can find it
                // borrowed, and an error leaves it empty rather than holding stale bytes.
                let mut dst = SCRATCH.take();
                let (stream, close) = encode(resp, &info, &mut dst);
                let written = if dst.len() < COPY_RESPONSE_BELOW {
                    cx.write(&dst)
                } else {
                    cx.write_bytes(dst.split().freeze())
                };
                dst.clear();
                SCRATCH.set(dst);
                written?;
                match stream {
                    // The stream closes the connection itself once written: closing now
                    // would stop reading a request body the response may be echoing.
                    Some(body) => cx.stream_response(body),
                    None if close => cx.close(),
                    None => {}
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
