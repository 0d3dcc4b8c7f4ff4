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
//!
//! This file is the connection's side (the route, the factory, the consumer);
//! `websocket/handle.rs` is the handler's.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use quasar_net::{Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer, Result};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::config::WsConfig;
use super::router::Params;
use crate::ws::{encode_message, CloseCode, CloseFrame, DeflateParams, Message, Role, WsDecoder};

mod handle;

use handle::{Item, WsShared};
pub use handle::{WebSocket, WsReceiver, WsSender, MAX_SEND_FRAME};

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
            let ws = WebSocket::new(conn, self.shared.clone(), request, rx, deflater);
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
