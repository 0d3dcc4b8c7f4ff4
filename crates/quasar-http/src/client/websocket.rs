//! `WebSocket`: a client WebSocket over a connection the HTTP client handed over.
//!
//! [`HttpClient::websocket`] sends the opening handshake on a pooled connection
//! ([`encode_client_request`](crate::ws::encode_client_request) with a fresh
//! [`generate_key`](crate::ws::generate_key)); the HTTP consumer validates the `101`
//! ([`validate_response`](crate::ws::validate_response)) and calls
//! [`Context::detach`](quasar_net::Context::detach), which takes the socket out of the HTTP
//! pool and hands it over with the bytes that came after the `101`. The socket then runs as a
//! new quasar-net client connection,
//! `ClientConnectionBuilder::new(ws factory).push_sink(tx).resume(detached)`: received
//! messages arrive on the push sink (bounded: a full sink stops reading), pings are answered,
//! and frames that shared a read with the `101` are decoded first.
//!
//! Through a proxy ([`Proxy`](crate::client::Proxy)), `ws://` and `wss://` open a `CONNECT`
//! tunnel first and run the handshake (and TLS) inside it. The handshake carries the
//! cookie jar's cookies and Basic credentials from the URL, like any request.
//!
//! permessage-deflate (RFC 7692) is offered by default, as Python `websockets` does
//! ([`DeflateConfig`]; turn it off with [`HttpClient::websocket_with_deflate`] and
//! [`DeflateConfig::disabled`]). The server's answer is checked
//! ([`DeflateConfig::check_response`]); sent data messages are compressed under a lock so
//! that the compression context follows the order frames are queued in.
//!
//! # Examples
//!
//! See [the module docs](crate::client) for a runnable example against a test server.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use quasar_net::transport::Detached;
use quasar_net::{ClientConnection, ClientConnectionBuilder, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::client::target::{parse_url, Target};
use crate::client::ws_consumer::{WsEvent, WsFactory, WsShared};
use crate::client::{ClientError, ClientRequest, HttpClient};
use crate::ws::{
    encode_frame_rsv, encode_message, generate_key, random_mask, CloseCode, CloseFrame,
    DeflateConfig, DeflateParams, Deflater, HandshakeError, Message, OpCode, Role, WsLimits,
};

/// Messages buffered between the connection and [`WebSocket::recv`]; past it the connection
/// stops reading until the caller catches up.
const SINK_CAPACITY: usize = 64;
/// How long [`WebSocket::close`] waits for the server's close frame and the socket's end.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the hand-over after a `101` may take (it only waits for queued bytes to drain).
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// A client WebSocket; see the module docs.
pub struct WebSocket {
    conn: ClientConnection<(), WsEvent>,
    events: mpsc::Receiver<WsEvent>,
    shared: Arc<WsShared>,
    protocol: Option<HeaderValue>,
    /// Compresses sent data messages (permessage-deflate); the lock also orders the writes.
    deflater: Option<Mutex<Deflater>>,
}

// ===== impl HttpClient (websocket) =====

impl HttpClient {
    /// Opens a WebSocket to `url` (`ws://` or `http://`).
    ///
    /// # Errors
    ///
    /// URL and connection errors as [`request`](HttpClient::request);
    /// [`ClientError::Handshake`] when the server does not answer a valid `101`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled handshake's connection is closed.
    pub async fn websocket(&self, url: &str) -> Result<WebSocket, ClientError> {
        self.websocket_with(url, HeaderMap::new(), WsLimits::default())
            .await
    }

    /// Opens a WebSocket to `url`, adding `headers` to the handshake (`Origin`,
    /// `Sec-WebSocket-Protocol`, ...) and decoding frames with `limits`.
    ///
    /// # Errors
    ///
    /// As [`websocket`](HttpClient::websocket).
    ///
    /// # Cancel safety
    ///
    /// As [`websocket`](HttpClient::websocket).
    pub async fn websocket_with(
        &self,
        url: &str,
        headers: HeaderMap,
        limits: WsLimits,
    ) -> Result<WebSocket, ClientError> {
        self.websocket_with_deflate(url, headers, limits, DeflateConfig::default())
            .await
    }

    /// As [`websocket_with`](HttpClient::websocket_with), offering permessage-deflate as
    /// `deflate` says (nothing when disabled, or when `headers` already hold a
    /// `Sec-WebSocket-Extensions` offer, which then must not be answered with anything but
    /// permessage-deflate).
    ///
    /// # Errors
    ///
    /// As [`websocket`](HttpClient::websocket); [`ClientError::Handshake`] with
    /// [`HandshakeError::InvalidExtension`] when the server answers an extension or
    /// parameter that was not offered.
    ///
    /// # Cancel safety
    ///
    /// As [`websocket`](HttpClient::websocket).
    pub async fn websocket_with_deflate(
        &self,
        url: &str,
        mut headers: HeaderMap,
        limits: WsLimits,
        deflate: DeflateConfig,
    ) -> Result<WebSocket, ClientError> {
        if !headers.contains_key(SEC_WEBSOCKET_EXTENSIONS) {
            if let Some(offer) = deflate.client_offer() {
                let value = HeaderValue::from_str(&offer)
                    .map_err(|_| ClientError::Handshake(HandshakeError::InvalidExtension))?;
                headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
            }
        }
        let uri = parse_url(url)?;
        Target::of(&uri)?;
        let mut req = Request::new(Bytes::new());
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = headers;
        self.decorate(&mut req);
        let (to, handed_over) = oneshot::channel();
        let (res, old) = self
            .send(ClientRequest::websocket(req, generate_key(), to))
            .await?;
        self.store_cookies(&uri, &res);
        if res.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Handshake(
                HandshakeError::NotSwitchingProtocols(res.status()),
            ));
        }
        let detached = tokio::time::timeout(HANDOVER_TIMEOUT, handed_over)
            .await
            .map_err(|_| ClientError::Timeout(quasar_net::Error::timeout("websocket hand-over")))?
            .map_err(|_| ClientError::ConnectionLost(quasar_net::Error::connection_lost(None)))?;
        drop(old);
        // A bad answer drops `detached`, which closes the socket.
        let params = deflate
            .check_response(res.headers())
            .map_err(ClientError::Handshake)?;
        let mut ws = WebSocket::resume_with(detached, limits, params, deflate.level).await;
        ws.protocol = res.headers().get(SEC_WEBSOCKET_PROTOCOL).cloned();
        Ok(ws)
    }
}

// ===== impl WebSocket =====

impl WebSocket {
    /// Runs the client side of a WebSocket over a connection detached after a `101`
    /// (for callers that do their own handshake with [`ClientRequest::websocket`]).
    pub async fn resume(detached: Detached, limits: WsLimits) -> WebSocket {
        WebSocket::resume_with(detached, limits, None, 6).await
    }

    /// As [`resume`](Self::resume), with permessage-deflate as negotiated (`deflate`,
    /// from [`DeflateConfig::check_response`]) compressing at `level` (0-9).
    pub async fn resume_with(
        detached: Detached,
        limits: WsLimits,
        deflate: Option<DeflateParams>,
        level: u32,
    ) -> WebSocket {
        let shared = Arc::new(WsShared::default());
        let (tx, events) = mpsc::channel(SINK_CAPACITY);
        let factory = WsFactory {
            shared: Arc::clone(&shared),
            limits,
            deflate,
        };
        let conn = ClientConnectionBuilder::new(factory)
            .push_sink(tx)
            .resume(detached)
            .await;
        WebSocket {
            conn,
            events,
            shared,
            protocol: None,
            deflater: deflate.map(|p| Mutex::new(p.deflater(Role::Client, level))),
        }
    }

    /// Sends `message` as a masked frame and waits until the write queue is below its
    /// high mark. Sending [`Message::Close`] starts the close handshake (prefer
    /// [`close`](Self::close), which also waits for the answer).
    ///
    /// # Errors
    ///
    /// [`ClientError::Closed`] once a close frame was sent or the connection ended;
    /// [`ClientError::WebSocket`] for a ping or pong over 125 bytes.
    ///
    /// # Cancel safety
    ///
    /// The message is queued at the first poll; cancelling only stops the wait for room.
    pub async fn send(&self, message: Message) -> Result<(), ClientError> {
        let closing = matches!(message, Message::Close(_));
        if self.shared.is_close_sent() || (closing && !self.shared.claim_close()) {
            return Err(ClientError::Closed);
        }
        let mut out = BytesMut::new();
        match (&message, &self.deflater) {
            (Message::Text(data) | Message::Binary(data), Some(deflater)) => {
                let opcode = if matches!(message, Message::Text(_)) {
                    OpCode::Text
                } else {
                    OpCode::Binary
                };
                // Compress and queue under one lock: the peer inflates in queue order.
                let mut deflater = deflater.lock().unwrap_or_else(PoisonError::into_inner);
                let (wire, rsv) = deflater.encode_payload(data);
                encode_frame_rsv(&mut out, opcode, true, rsv, &wire, Some(random_mask()))
                    .map_err(ClientError::WebSocket)?;
                self.conn.write(out.freeze())?;
            }
            _ => {
                encode_message(&mut out, Role::Client, &message).map_err(ClientError::WebSocket)?;
                self.conn.write(out.freeze())?;
            }
        }
        self.conn.writable().await?;
        Ok(())
    }

    /// The next message: data, pings (already answered), pongs, and finally the server's
    /// close. `None` once the connection has ended.
    ///
    /// # Errors
    ///
    /// [`ClientError::WebSocket`] when the server broke RFC 6455; the connection was failed
    /// with the error's close code and `None` follows.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no message is lost.
    pub async fn recv(&mut self) -> Option<Result<Message, ClientError>> {
        self.events
            .recv()
            .await
            .map(|event| event.map_err(ClientError::WebSocket))
    }

    /// Runs the close handshake: sends a close with `code` and `reason` (unless one was
    /// sent), drops incoming messages until the server's close, and waits for the
    /// connection to end, at most [`CLOSE_TIMEOUT`]; past it the socket is aborted.
    ///
    /// # Errors
    ///
    /// [`ClientError::WebSocket`] for a code not allowed on the wire or a reason over 123
    /// bytes; [`ClientError::Timeout`] when the server did not finish the handshake.
    ///
    /// # Cancel safety
    ///
    /// The close frame is queued at the first poll; cancelling leaves the handshake half done.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), ClientError> {
        let frame = CloseFrame::new(code, reason).map_err(ClientError::WebSocket)?;
        if self.shared.claim_close() {
            let mut out = BytesMut::new();
            encode_message(&mut out, Role::Client, &Message::Close(Some(frame)))
                .map_err(ClientError::WebSocket)?;
            // A connection already gone needs no close frame.
            let _ = self.conn.write(out.freeze());
        }
        let events = &mut self.events;
        let conn = &self.conn;
        let handshake = async move {
            while let Some(event) = events.recv().await {
                if matches!(event, Ok(Message::Close(_)) | Err(_)) {
                    break;
                }
            }
            let _ = conn.connection_lost().wait().await;
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, handshake)
            .await
            .is_err()
        {
            self.conn.abort();
            return Err(ClientError::Timeout(quasar_net::Error::timeout(
                "websocket close handshake",
            )));
        }
        Ok(())
    }

    /// Whether permessage-deflate was negotiated.
    pub fn is_compressed(&self) -> bool {
        self.deflater.is_some()
    }

    /// The subprotocol the server chose (`Sec-WebSocket-Protocol` of the `101`).
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.protocol.as_ref()
    }

    /// The connection (addresses, session number, `connection_lost`).
    pub fn connection(&self) -> &Connection {
        self.conn.connection()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.conn.is_read_closed()
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("connection", self.conn.connection())
            .field("close_sent", &self.shared.is_close_sent())
            .finish()
    }
}
