//! Server-side WebSocket connections: the long-lived consumer after a `101`, and the
//! [`WebSocket`] handle its handler task talks through.
//!
//! The consumer decodes frames ([`WsDecoder`] with [`Role::Server`]), answers pings, runs the
//! close handshake (echoes the peer's close code; a protocol error closes with
//! [`WsError::close_code`]; a server shutdown sends 1001) and hands data messages to the
//! handler through a bounded channel, pausing the connection's reading when it is full.
//! The handler writes with [`WebSocket::send`], which waits for the connection to be
//! writable and queues whole frames (large messages are fragmented so a pong may go
//! between their frames, as RFC 6455 §5.4 allows).
//!
//! permessage-deflate (RFC 7692) is accepted when the client offers it and
//! [`WsConfig::deflate`] allows it: the factory negotiates from the handshake headers (its
//! answer goes into the `101`), the consumer's decoder inflates compressed messages, and
//! [`WebSocket::send`] compresses data messages (control frames never are).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use quasar_net::{Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer, Result};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::config::WsConfig;
use super::router::Params;
use crate::ws::{
    encode_frame_rsv, encode_message, CloseCode, CloseFrame, DeflateParams, Deflater, Message,
    OpCode, Role, WsDecoder, WsError,
};

/// Data frames a [`WebSocket::send`] writes at most in one frame; longer messages are
/// fragmented.
pub const MAX_SEND_FRAME: usize = 16 * 1024;

type BoxUnit = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A WebSocket handler: `async fn(WebSocket)`.
pub(crate) trait WsHandler: Send + Sync + 'static {
    fn call(&self, ws: WebSocket) -> BoxUnit;
}

impl<F, Fut> WsHandler for F
where
    F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, ws: WebSocket) -> BoxUnit {
        Box::pin(self(ws))
    }
}

/// A matched WebSocket route: what a [`Handler`](super::Handler) returns from
/// [`websocket`](super::Handler::websocket) to take a request over.
#[derive(Clone)]
pub struct WsRoute {
    handler: Arc<dyn WsHandler>,
    params: Option<Params>,
}

impl WsRoute {
    /// A route served by `handler` (`Fn(WebSocket) -> impl Future<Output = ()>`).
    pub fn new<F, Fut>(handler: F) -> Self
    where
        F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        WsRoute {
            handler: Arc::new(handler),
            params: None,
        }
    }

    pub(crate) fn from_parts(handler: Arc<dyn WsHandler>, params: Option<Params>) -> Self {
        WsRoute { handler, params }
    }
}

impl fmt::Debug for WsRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsRoute")
            .field("params", &self.params)
            .finish()
    }
}

/// State both ends of a server WebSocket see.
#[derive(Debug, Default)]
struct WsShared {
    /// A close frame was sent: nothing may follow it.
    close_sent: AtomicBool,
    /// The consumer paused reading because the handler's channel was full.
    paused: AtomicBool,
}

type Item = std::result::Result<Message, WsError>;

/// The handler's side of a server WebSocket.
///
/// [`recv`](Self::recv) yields text, binary and (last) close messages; pings are answered
/// by the connection. [`split`](Self::split) gives a cloneable [`WsSender`] and a
/// [`WsReceiver`] for code that sends from several tasks (a chat room's broadcast).
/// Dropping the handle (or, after a split, every sender and the receiver) sends a close
/// 1000 if no close was sent.
pub struct WebSocket {
    rx: WsReceiver,
    tx: WsSender,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("session", &self.rx.conn.session())
            .field("uri", &self.rx.request.uri)
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// The next message: `Some(Ok(Text | Binary))`, then `Some(Ok(Close(_)))` when the peer
    /// closes, `Some(Err(_))` on a protocol error (the connection closes with its code),
    /// and `None` once the connection is gone.
    pub async fn recv(&mut self) -> Option<std::result::Result<Message, WsError>> {
        self.rx.recv().await
    }

    /// Sends `message`, waiting while the connection's write buffer is above its high mark.
    ///
    /// # Errors
    ///
    /// [`Error::is_closed`] after a close frame was sent (by either side's handshake) or
    /// once the connection is closed; a protocol error for a ping or pong over 125 bytes.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.tx.send(message).await
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes); keep
    /// calling [`recv`](Self::recv) to see the peer's answer.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); a protocol error for a code not allowed on the wire.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.tx.close(code, reason).await
    }

    /// The handshake request (its path parameters are in `extensions`, as [`Params`]).
    pub fn request(&self) -> &http::request::Parts {
        &self.rx.request
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.rx.conn
    }

    /// Splits the socket into a cloneable sender and a receiver, so that other tasks can
    /// send while one reads.
    ///
    /// Senders keep the back-pressure of [`send`](Self::send): each waits while the
    /// connection's write queue is above its high mark, so a peer that stops reading
    /// stalls its senders rather than filling memory. A broadcaster that must not be held
    /// up by one slow peer gives each peer its own task and bounds the wait (see the chat
    /// room in docs/websocket.md). Messages from several senders never interleave their
    /// frames. The close 1000 on drop is sent once every sender and the receiver are gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use quasar_http::server::Router;
    /// use quasar_http::ws::Message;
    ///
    /// let app = Router::new().websocket("/ticks", |ws| async move {
    ///     let (tx, mut rx) = ws.split();
    ///     let ticker = tokio::spawn({
    ///         let tx = tx.clone();
    ///         async move {
    ///             for i in 0.. {
    ///                 if tx.send(Message::text(format!("tick {i}"))).await.is_err() {
    ///                     break;
    ///                 }
    ///                 tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///             }
    ///         }
    ///     });
    ///     // Echo what the peer says, between the ticks.
    ///     while let Some(Ok(msg)) = rx.recv().await {
    ///         if msg.is_close() || tx.send(msg).await.is_err() {
    ///             break;
    ///         }
    ///     }
    ///     ticker.abort();
    /// });
    /// # let _ = app;
    /// ```
    pub fn split(self) -> (WsSender, WsReceiver) {
        (self.tx, self.rx)
    }
}

/// The receiving half of a [`WebSocket`] ([`WebSocket::split`]).
pub struct WsReceiver {
    rx: mpsc::Receiver<Item>,
    shared: Arc<WsShared>,
    conn: Connection,
    request: http::request::Parts,
    /// Keeps the close-on-drop waiting until the receiver is gone too.
    _out: Arc<Outbound>,
}

impl fmt::Debug for WsReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReceiver")
            .field("session", &self.conn.session())
            .finish_non_exhaustive()
    }
}

impl WsReceiver {
    /// As [`WebSocket::recv`].
    pub async fn recv(&mut self) -> Option<std::result::Result<Message, WsError>> {
        let msg = self.rx.recv().await;
        if self.shared.paused.swap(false, Ordering::SeqCst) {
            self.conn.resume_reading();
        }
        msg
    }

    /// The handshake request.
    pub fn request(&self) -> &http::request::Parts {
        &self.request
    }
}

/// The sending half of a [`WebSocket`] ([`WebSocket::split`]); clones send on the same
/// connection.
#[derive(Clone)]
pub struct WsSender {
    out: Arc<Outbound>,
}

impl fmt::Debug for WsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsSender")
            .field("session", &self.out.conn.session())
            .finish_non_exhaustive()
    }
}

/// What every sender of one connection shares.
struct Outbound {
    conn: Connection,
    shared: Arc<WsShared>,
    /// Held for a whole message, so the frames of concurrent sends never interleave (and a
    /// compressed message's context stays in wire order); holds the deflater when
    /// permessage-deflate was negotiated.
    sending: tokio::sync::Mutex<Option<Deflater>>,
}

impl WsSender {
    /// As [`WebSocket::send`]: waits while the connection's write queue is above its high
    /// mark (back-pressure), then queues the message's frames.
    ///
    /// # Cancel safety
    ///
    /// The send waits for room before compressing: cancelled while waiting (a timeout
    /// around a slow peer), it sends nothing and leaves the compression context as the
    /// peer knows it. A message of at most [`MAX_SEND_FRAME`] bytes (after compression) is
    /// then written without another wait. Cancelling a longer one after its first frame
    /// left closes the connection: the peer could not make sense of what would follow.
    ///
    /// # Errors
    ///
    /// As [`WebSocket::send`].
    pub async fn send(&self, message: Message) -> Result<()> {
        let out = &*self.out;
        let closing = matches!(message, Message::Close(_));
        let mut deflater = out.sending.lock().await;
        let already = if closing {
            out.shared.close_sent.swap(true, Ordering::SeqCst)
        } else {
            out.shared.close_sent.load(Ordering::SeqCst)
        };
        if already {
            return Err(Error::closed("websocket close already sent"));
        }
        match &message {
            Message::Text(data) | Message::Binary(data) => {
                let mut opcode = if matches!(message, Message::Text(_)) {
                    OpCode::Text
                } else {
                    OpCode::Binary
                };
                // Wait before compressing: a send cancelled while waiting leaves the deflate
                // context as the peer knows it. From compression to the first frame's write
                // nothing awaits, so the message is either not started or under way.
                out.conn.writable().await?;
                let (wire, mut rsv) = match deflater.as_mut() {
                    Some(deflater) => deflater.encode_payload(data),
                    None => (data.clone(), 0),
                };
                // RSV1 goes on the first frame only (RFC 7692 §6.1).
                let mut chunks = wire.chunks(MAX_SEND_FRAME).peekable();
                let mut torn = TornGuard(None);
                loop {
                    let chunk = chunks.next().unwrap_or_default();
                    let mut frame = BytesMut::with_capacity(chunk.len() + 14);
                    let fin = chunks.peek().is_none();
                    encode_frame_rsv(&mut frame, opcode, fin, rsv, chunk, None)
                        .map_err(|e| Error::protocol_with("websocket frame", e))?;
                    if torn.0.is_none() {
                        out.conn.write(frame.freeze())?;
                    } else {
                        out.write(frame.freeze()).await?;
                    }
                    if fin {
                        torn.0 = None;
                        return Ok(());
                    }
                    torn.0 = Some(&out.conn);
                    opcode = OpCode::Continuation;
                    rsv = 0;
                }
            }
            _ => {
                let mut frame = BytesMut::new();
                encode_message(&mut frame, Role::Server, &message)
                    .map_err(|e| Error::protocol_with("websocket frame", e))?;
                out.write(frame.freeze()).await
            }
        }
    }

    /// As [`WebSocket::close`].
    ///
    /// # Errors
    ///
    /// As [`WebSocket::close`].
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        let frame =
            CloseFrame::new(code, reason).map_err(|e| Error::protocol_with("close frame", e))?;
        self.send(Message::Close(Some(frame))).await
    }

    /// The connection (to [`abort`](Connection::abort) a peer that does not keep up).
    pub fn connection(&self) -> &Connection {
        &self.out.conn
    }
}

/// Aborts the connection if dropped while set: a fragmented message was cut short.
struct TornGuard<'a>(Option<&'a Connection>);

impl Drop for TornGuard<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.0 {
            conn.abort();
        }
    }
}

impl Outbound {
    async fn write(&self, frame: Bytes) -> Result<()> {
        self.conn.writable().await?;
        self.conn.write(frame)
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        if !self.shared.close_sent.swap(true, Ordering::SeqCst) {
            let mut frame = BytesMut::new();
            let close = CloseFrame::new(CloseCode::NORMAL, "").ok();
            if encode_message(&mut frame, Role::Server, &Message::Close(close)).is_ok() {
                let _ = self.conn.write(frame.freeze());
            }
        }
    }
}

/// Builds the WebSocket consumer after a `101` (the target of `Context::upgrade`).
pub(crate) struct WsFactory {
    start: Mutex<Option<(Arc<dyn WsHandler>, http::request::Parts)>>,
    config: WsConfig,
    /// permessage-deflate as negotiated, and the `Sec-WebSocket-Extensions` answer.
    deflate: Option<(DeflateParams, String)>,
}

impl WsFactory {
    /// Negotiates extensions from the handshake request's headers.
    pub(crate) fn new(route: WsRoute, mut parts: http::request::Parts, config: WsConfig) -> Self {
        if let Some(params) = route.params {
            parts.extensions.insert(params);
        }
        let deflate = config.deflate.accept_offer(&parts.headers);
        WsFactory {
            start: Mutex::new(Some((route.handler, parts))),
            config,
            deflate,
        }
    }

    /// The `Sec-WebSocket-Extensions` value for the `101`, if an extension was accepted.
    pub(crate) fn extensions(&self) -> Option<&str> {
        self.deflate.as_ref().map(|(_, answer)| answer.as_str())
    }
}

impl ConsumerFactory for WsFactory {
    type Consumer = WsConsumer;

    fn build(&self, _conn: &Connection) -> WsConsumer {
        let start = self
            .start
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut decoder = WsDecoder::with_limits(Role::Server, self.config.limits);
        let deflate = self.deflate.as_ref().map(|(params, _)| *params);
        if let Some(params) = &deflate {
            decoder.set_inflater(params.inflater(Role::Server));
        }
        WsConsumer {
            decoder,
            deflate,
            tx: None,
            shared: Arc::new(WsShared::default()),
            start,
            config: self.config.clone(),
            close_seen: None,
            closed: false,
        }
    }
}

/// The connection's side of a server WebSocket: one long-lived exchange.
pub(crate) struct WsConsumer {
    decoder: WsDecoder,
    /// Negotiated permessage-deflate, for the handler's [`Deflater`].
    deflate: Option<DeflateParams>,
    tx: Option<mpsc::Sender<Item>>,
    shared: Arc<WsShared>,
    start: Option<(Arc<dyn WsHandler>, http::request::Parts)>,
    config: WsConfig,
    /// When a tick first saw our close frame sent (the close timeout's start).
    close_seen: Option<Instant>,
    /// The connection is closing: input is dropped.
    closed: bool,
}

impl WsConsumer {
    fn tick_every(&self) -> Duration {
        match self.config.ping_interval {
            Some(p) if !p.is_zero() => p.min(self.config.close_timeout),
            _ => self.config.close_timeout,
        }
    }

    fn write_message(cx: &mut Context<'_>, message: &Message) -> Result<()> {
        let mut frame = BytesMut::new();
        encode_message(&mut frame, Role::Server, message)
            .map_err(|e| Error::protocol_with("websocket frame", e))?;
        cx.write(&frame)
    }

    /// Sends our close frame unless one went already.
    fn send_close(&self, cx: &mut Context<'_>, frame: Option<CloseFrame>) -> Result<()> {
        if self.shared.close_sent.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        Self::write_message(cx, &Message::Close(frame))
    }

    fn finish(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        self.tx = None;
        self.closed = true;
        buf.clear();
        cx.close();
        // Not `Finished`: the upgraded factory would build another WebSocket consumer.
        Ok(Progress::NeedMore)
    }
}

impl ProtocolConsumer for WsConsumer {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_long_lived(true);
        cx.set_idle_timeout(self.config.idle_timeout);
        cx.set_tick(self.tick_every());
        if let Some((handler, request)) = self.start.take() {
            let (tx, rx) = mpsc::channel(self.config.channel.max(1));
            self.tx = Some(tx);
            let conn = cx.connection().clone();
            let deflater = self
                .deflate
                .map(|p| p.deflater(Role::Server, self.config.deflate.level));
            let out = Arc::new(Outbound {
                conn: conn.clone(),
                shared: self.shared.clone(),
                sending: tokio::sync::Mutex::new(deflater),
            });
            let ws = WebSocket {
                rx: WsReceiver {
                    rx,
                    shared: self.shared.clone(),
                    conn,
                    request,
                    _out: out.clone(),
                },
                tx: WsSender { out },
            };
            tokio::spawn(handler.call(ws));
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        loop {
            if self.closed {
                buf.clear();
                return Ok(Progress::NeedMore);
            }
            let finished = {
                // Room for one message before decoding it: a full channel pauses reading.
                let permit = match &self.tx {
                    None => None,
                    Some(tx) => match tx.try_reserve() {
                        Ok(p) => Some(p),
                        Err(TrySendError::Closed(())) => None,
                        Err(TrySendError::Full(())) => {
                            self.shared.paused.store(true, Ordering::SeqCst);
                            match tx.try_reserve() {
                                Ok(p) => Some(p),
                                Err(TrySendError::Closed(())) => None,
                                Err(TrySendError::Full(())) => {
                                    cx.pause_reading();
                                    return Ok(Progress::NeedMore);
                                }
                            }
                        }
                    },
                };
                match self.decoder.decode(buf) {
                    Ok(None) => return Ok(Progress::NeedMore),
                    Ok(Some(Message::Ping(payload))) => {
                        if !self.shared.close_sent.load(Ordering::SeqCst) {
                            Self::write_message(cx, &Message::Pong(payload))?;
                        }
                        false
                    }
                    Ok(Some(Message::Pong(_))) => false,
                    Ok(Some(Message::Close(frame))) => {
                        // Echo the peer's code (no reason); a close without a code gets one
                        // without a code.
                        let echo = frame
                            .as_ref()
                            .and_then(|f| CloseFrame::new(f.code, "").ok());
                        self.send_close(cx, echo)?;
                        if let Some(p) = permit {
                            p.send(Ok(Message::Close(frame)));
                        }
                        true
                    }
                    Ok(Some(message)) => {
                        if let Some(p) = permit {
                            p.send(Ok(message));
                        }
                        false
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "websocket protocol error");
                        let frame = CloseFrame::new(e.close_code(), "").ok();
                        self.send_close(cx, frame)?;
                        if let Some(p) = permit {
                            p.send(Err(e));
                        }
                        true
                    }
                }
            };
            if finished {
                return self.finish(cx, buf);
            }
        }
    }

    fn tick(&mut self, cx: &mut Context<'_>) -> Result<()> {
        if self.shared.close_sent.load(Ordering::SeqCst) {
            // Our close went out (handler, drop or shutdown): wait for the peer's, a while.
            let seen = *self.close_seen.get_or_insert_with(Instant::now);
            if seen.elapsed() >= self.config.close_timeout {
                cx.close();
            }
        } else if self.config.ping_interval.is_some_and(|p| !p.is_zero()) {
            Self::write_message(cx, &Message::Ping(Bytes::new()))?;
        }
        Ok(())
    }

    fn shutdown(&mut self, cx: &mut Context<'_>) {
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, "server shutdown").ok();
        if self.send_close(cx, frame).is_err() {
            cx.close();
        }
        self.close_seen = Some(Instant::now());
    }
}
