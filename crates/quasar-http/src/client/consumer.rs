//! The HTTP/1.1 client consumer: writes one request, reads its response.
//!
//! [`HttpConsumer`] is the quasar-net [`ProtocolConsumer`] behind
//! [`HttpClient`](crate::client::HttpClient), usable on its own over any
//! [`ClientConnection`](quasar_net::ClientConnection). `start_request` encodes the request
//! ([`encode_request`]) and remembers its method (a HEAD response has no body);
//! `data_received` parses the head with [`ResponseParser`], skips interim 1xx responses, and
//! collects the body (length, chunked, or until EOF) up to [`Limits::max_body`]. The whole
//! response finishes as `Progress::Finished(http::Response<Bytes>)`; response bodies are not
//! streamed. A response that does not keep the connection alive (`Connection: close`,
//! HTTP/1.0) closes it. A close-delimited body is completed by
//! [`connection_lost`](ProtocolConsumer::connection_lost) on a clean EOF. A WebSocket
//! handshake's valid `101` hands the connection over with [`Context::detach`].
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use quasar_http::client::HttpConsumerFactory;
//! use quasar_net::ClientConnectionBuilder;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     let (mut sock, _) = listener.accept().await?;
//!     let mut buf = [0u8; 1024];
//!     let _ = sock.read(&mut buf).await?;
//!     sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await
//! });
//!
//! let conn = ClientConnectionBuilder::new(HttpConsumerFactory::default())
//!     .connect(addr)
//!     .await?;
//! let req = http::Request::get(format!("http://{addr}/")).body(Bytes::new())?;
//! let res = conn.request(req.into()).await?;
//! assert_eq!(res.body(), &Bytes::from_static(b"hello"));
//! # Ok(())
//! # }
//! ```

use std::fmt;

use bytes::{Bytes, BytesMut};
use http::{Method, Response, StatusCode};
use quasar_net::{Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer, Result};

use crate::client::decompress::{DecodeError, Decompressor};
use crate::client::request::WsUpgrade;
use crate::client::{encode_request, ClientError, ClientRequest};
use crate::{BodyDecoder, HttpError, Limits, ParsedResponse, ResponseParser};

type Cx<'a> = Context<'a, ClientRequest, Response<Bytes>>;

/// Builds [`HttpConsumer`]s enforcing `limits` (the response body cap is
/// [`Limits::max_body`]).
#[derive(Debug, Clone, Default)]
pub struct HttpConsumerFactory {
    limits: Limits,
}

impl HttpConsumerFactory {
    /// A factory whose consumers enforce `limits`.
    pub fn new(limits: Limits) -> Self {
        HttpConsumerFactory { limits }
    }

    /// The limits enforced on responses.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl ConsumerFactory for HttpConsumerFactory {
    type Consumer = HttpConsumer;

    fn build(&self, _conn: &Connection) -> HttpConsumer {
        HttpConsumer::new(self.limits)
    }
}

/// One HTTP/1.1 request and its response on a client connection; see the module docs.
pub struct HttpConsumer {
    parser: ResponseParser,
    limits: Limits,
    method: Method,
    websocket: Option<WsUpgrade>,
    /// Decode `gzip`/`deflate` bodies of this exchange.
    decode: bool,
    /// A body held back until the server's `100 Continue` (or the wait's end).
    pending_body: Option<Bytes>,
    /// The body was held back and never sent: the connection cannot be reused.
    body_withheld: bool,
    state: State,
}

/// Head -> Body -> (finished); a 1xx goes back to Head.
enum State {
    Head,
    Body(Box<Reading>),
}

/// A response whose head is parsed and whose body is being collected.
struct Reading {
    parts: http::response::Parts,
    decoder: BodyDecoder,
    keep_alive: bool,
    body: Collected,
    /// Decodes a `gzip`/`deflate` body as it arrives.
    inflate: Option<Decompressor>,
    /// The request body was never sent (a final status came before `100 Continue`).
    withheld: bool,
}

/// Marks a response (in its extensions) whose request body was held back and never sent:
/// the server may still expect it, so the connection is not reused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyWithheld;

/// The body so far: one slice needs no copy; more are joined.
#[derive(Default)]
enum Collected {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

// ===== impl HttpConsumer =====

impl HttpConsumer {
    /// A consumer enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        HttpConsumer {
            parser: ResponseParser::new(limits),
            limits,
            method: Method::GET,
            websocket: None,
            decode: false,
            pending_body: None,
            body_withheld: false,
            state: State::Head,
        }
    }

    /// Sends the held-back body, if any (a `100 Continue`, or the wait for one is over).
    fn release_body(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.set_tick(std::time::Duration::ZERO);
        match self.pending_body.take() {
            Some(body) if !body.is_empty() => cx.write_bytes(body),
            _ => Ok(()),
        }
    }

    /// Head state: a final response moves to Body; a valid `101` to a handshake finishes.
    fn read_head(
        &mut self,
        cx: &mut Cx<'_>,
        buf: &mut BytesMut,
    ) -> Result<Option<Response<Bytes>>> {
        loop {
            let Some(res) = self.parser.parse(buf, &self.method).map_err(invalid)? else {
                return Ok(None);
            };
            let ParsedResponse {
                parts,
                body,
                keep_alive,
                ..
            } = res;
            if parts.status == StatusCode::SWITCHING_PROTOCOLS {
                return self.switch(cx, parts).map(Some);
            }
            if parts.status == StatusCode::CONTINUE {
                self.release_body(cx)?;
                continue;
            }
            if parts.status.is_informational() {
                // 103 Early Hints and the like: the final response follows.
                continue;
            }
            if self.pending_body.take().is_some() {
                // A final status before `100`: the body is not sent (RFC 9110 §10.1.1),
                // and the server may still be waiting for it, so the connection goes.
                cx.set_tick(std::time::Duration::ZERO);
                self.body_withheld = true;
            }
            let inflate = if self.decode {
                Decompressor::for_headers(&parts.headers, self.limits.max_body)
            } else {
                None
            };
            // head -> body
            self.state = State::Body(Box::new(Reading {
                parts,
                decoder: body,
                keep_alive: keep_alive && !self.body_withheld,
                withheld: self.body_withheld,
                body: Collected::Empty,
                inflate,
            }));
            return Ok(None);
        }
    }

    /// A `101`: only a WebSocket handshake asked for it, and only a valid one is accepted.
    fn switch(&mut self, cx: &mut Cx<'_>, parts: http::response::Parts) -> Result<Response<Bytes>> {
        let Some(ws) = self.websocket.take() else {
            return Err(Error::protocol(
                "101 Switching Protocols to a plain request",
            ));
        };
        crate::ws::validate_response(&parts, &ws.key)
            .map_err(|e| Error::protocol_with("websocket handshake", e))?;
        // The engine sends the socket and the bytes after the 101 once this finishes.
        cx.detach(ws.to);
        Ok(Response::from_parts(parts, Bytes::new()))
    }
}

impl ProtocolConsumer for HttpConsumer {
    type Request = ClientRequest;
    type Response = Response<Bytes>;

    fn start_request(&mut self, cx: &mut Cx<'_>, request: ClientRequest) -> Result<()> {
        let mut out = BytesMut::new();
        encode_request(&mut out, &request)
            .map_err(|e| Error::protocol_with("invalid request", e))?;
        self.method = request.request.method().clone();
        self.websocket = request.websocket;
        self.decode = request.decode;
        self.body_withheld = false;
        self.pending_body = None;
        if let Some(wait) = request.expect_continue {
            // The head ends at the first blank line; the body waits for `100 Continue`.
            if let Some(end) = memchr::memmem::find(&out, b"\r\n\r\n") {
                let body = out.split_off(end + 4);
                self.pending_body = Some(body.freeze());
                cx.set_tick(wait);
            }
        }
        cx.write_bytes(out.freeze())
    }

    fn tick(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        // No `100` in time: send the body anyway (RFC 9110 §10.1.1).
        self.release_body(cx)
    }

    fn data_received(
        &mut self,
        cx: &mut Cx<'_>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Response<Bytes>>> {
        if let State::Head = self.state {
            if let Some(res) = self.read_head(cx, buf)? {
                return Ok(Progress::Finished(res));
            }
        }
        let State::Body(reading) = &mut self.state else {
            return Ok(Progress::NeedMore);
        };
        while let Some(data) = reading.decoder.decode(buf).map_err(invalid)? {
            reading.push(data, self.limits.max_body)?;
        }
        if !reading.decoder.is_eof() {
            return Ok(Progress::NeedMore);
        }
        reading.finish_inflate(self.limits.max_body)?;
        if !reading.keep_alive {
            cx.close();
        }
        let State::Body(reading) = std::mem::replace(&mut self.state, State::Head) else {
            return Ok(Progress::NeedMore);
        };
        Ok(Progress::Finished(reading.into_response()))
    }

    fn connection_lost(&mut self, error: Option<&Error>) -> Option<Response<Bytes>> {
        // Only a clean EOF ends a close-delimited body; a reset truncates it.
        if error.is_some() {
            return None;
        }
        let State::Body(reading) = std::mem::replace(&mut self.state, State::Head) else {
            return None;
        };
        let mut reading = *reading;
        if !reading.decoder.is_close_delimited()
            || reading.decoder.finish_on_eof().is_err()
            || reading.finish_inflate(self.limits.max_body).is_err()
        {
            return None;
        }
        Some(reading.into_response())
    }
}

impl fmt::Debug for HttpConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Head => "head",
            State::Body(_) => "body",
        };
        f.debug_struct("HttpConsumer")
            .field("method", &self.method)
            .field("state", &state)
            .finish()
    }
}

// ===== impl Reading =====

impl Reading {
    /// Collects a piece of body, through the decoder when there is one.
    fn push(&mut self, data: Bytes, max: u64) -> Result<()> {
        let Some(inflate) = &mut self.inflate else {
            return self.body.push(data, max);
        };
        let decoded = inflate.push(&data).map_err(decode_error)?;
        if decoded.is_empty() {
            return Ok(());
        }
        self.body.push(decoded, max)
    }

    /// The body's end: flushes the decoder and drops the headers that described the
    /// encoded bytes.
    fn finish_inflate(&mut self, max: u64) -> Result<()> {
        let Some(mut inflate) = self.inflate.take() else {
            return Ok(());
        };
        if !inflate.was_fed() {
            // No body (HEAD, 204, 304): the headers still describe the resource.
            return Ok(());
        }
        let rest = inflate.finish().map_err(decode_error)?;
        if !rest.is_empty() {
            self.body.push(rest, max)?;
        }
        self.parts.headers.remove(http::header::CONTENT_ENCODING);
        self.parts.headers.remove(http::header::CONTENT_LENGTH);
        Ok(())
    }

    fn into_response(mut self) -> Response<Bytes> {
        if self.withheld {
            self.parts.extensions.insert(BodyWithheld);
        }
        Response::from_parts(self.parts, self.body.into_bytes())
    }
}

impl Collected {
    fn push(&mut self, data: Bytes, max: u64) -> Result<()> {
        // The decoders enforce the cap too; this keeps the collector honest on its own.
        if (self.len() + data.len()) as u64 > max {
            return Err(invalid(HttpError::BodyTooLarge));
        }
        *self = match std::mem::take(self) {
            Collected::Empty => Collected::One(data),
            Collected::One(first) => {
                let mut all = BytesMut::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                Collected::Many(all)
            }
            Collected::Many(mut all) => {
                all.extend_from_slice(&data);
                Collected::Many(all)
            }
        };
        Ok(())
    }

    fn len(&self) -> usize {
        match self {
            Collected::Empty => 0,
            Collected::One(b) => b.len(),
            Collected::Many(b) => b.len(),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Collected::Empty => Bytes::new(),
            Collected::One(b) => b,
            Collected::Many(b) => b.freeze(),
        }
    }
}

/// A decoding failure as the engine error whose source `ClientError::from` digs out.
fn decode_error(e: DecodeError) -> Error {
    match e {
        DecodeError::TooLarge => invalid(HttpError::BodyTooLarge),
        DecodeError::Corrupt(why) => {
            Error::protocol_with("invalid response body", ClientError::Decompress(why))
        }
    }
}

/// An engine error carrying the protocol error, which `ClientError::from` digs out again.
fn invalid(e: HttpError) -> Error {
    Error::protocol_with("invalid response", e)
}
