//! The WebSocket client consumer: frames in, messages to the push sink, pongs and closes out.
//!
//! After the hand-over, the connection runs as a quasar-net client connection with a push
//! sink and no requests: every byte is unsolicited, so the engine builds one consumer and
//! feeds it. That consumer never finishes (it is long-lived): it keeps one [`WsDecoder`] for
//! the whole connection, so a ping between two fragments of a message does not lose the
//! fragments, and hands each message to the sink with [`Context::push`]. It answers pings
//! with pongs, answers a close with a close (unless one was sent already) and then closes the
//! connection, and fails the connection on a protocol error with the error's close code.
//! Sending is done by [`WebSocket`](crate::client::WebSocket) with `Connection::write`; the
//! "close sent" flag is shared so exactly one close frame leaves.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use quasar_net::{Connection, ConsumerFactory, Context, Progress, ProtocolConsumer, Result};

use crate::ws::{
    encode_message, CloseFrame, DeflateParams, Message, Role, WsDecoder, WsError, WsLimits,
};

/// What the sink receives: a message, or the protocol error that failed the connection.
pub(crate) type WsEvent = std::result::Result<Message, WsError>;

type Cx<'a> = Context<'a, (), WsEvent>;

/// State shared by the consumer and the user's handle.
#[derive(Debug, Default)]
pub(crate) struct WsShared {
    close_sent: AtomicBool,
}

impl WsShared {
    /// Claims the right to send the one close frame; true for the first caller only.
    pub(crate) fn claim_close(&self) -> bool {
        !self.close_sent.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_close_sent(&self) -> bool {
        self.close_sent.load(Ordering::Acquire)
    }
}

/// Builds the connection's [`WsConsumer`].
#[derive(Debug, Clone)]
pub(crate) struct WsFactory {
    pub(crate) shared: Arc<WsShared>,
    pub(crate) limits: WsLimits,
    /// Negotiated permessage-deflate: received messages may be compressed.
    pub(crate) deflate: Option<DeflateParams>,
}

impl ConsumerFactory for WsFactory {
    type Consumer = WsConsumer;

    fn build(&self, _conn: &Connection) -> WsConsumer {
        let mut decoder = WsDecoder::with_limits(Role::Client, self.limits);
        if let Some(params) = &self.deflate {
            decoder.set_inflater(params.inflater(Role::Client));
        }
        WsConsumer {
            decoder,
            shared: Arc::clone(&self.shared),
            done: false,
        }
    }
}

/// The connection's one consumer; see the module docs.
pub(crate) struct WsConsumer {
    decoder: WsDecoder,
    shared: Arc<WsShared>,
    /// A close was received or the peer broke the protocol: ignore what follows.
    done: bool,
}

impl WsConsumer {
    /// Writes `message` as a masked client frame.
    fn send(cx: &mut Cx<'_>, message: &Message) -> Result<()> {
        let mut out = BytesMut::new();
        encode_message(&mut out, Role::Client, message)
            .map_err(|e| quasar_net::Error::protocol_with("websocket frame", e))?;
        cx.write_bytes(out.freeze())
    }

    /// Ends the exchange: once what is queued is written, the connection closes.
    fn finish(&mut self, cx: &mut Cx<'_>, buf: &mut BytesMut) {
        self.done = true;
        buf.clear();
        cx.close();
    }
}

impl ProtocolConsumer for WsConsumer {
    type Request = ();
    type Response = WsEvent;

    fn connection_made(&mut self, cx: &mut Cx<'_>) {
        // A WebSocket may sit quiet for hours; its owner decides when to close it.
        cx.set_long_lived(true);
        cx.set_idle_timeout(Duration::ZERO);
    }

    fn data_received(&mut self, cx: &mut Cx<'_>, buf: &mut BytesMut) -> Result<Progress<WsEvent>> {
        if self.done {
            buf.clear();
            return Ok(Progress::NeedMore);
        }
        loop {
            match self.decoder.decode(buf) {
                Ok(None) => return Ok(Progress::NeedMore),
                Ok(Some(Message::Ping(payload))) => {
                    if !self.shared.is_close_sent() {
                        Self::send(cx, &Message::Pong(payload.clone()))?;
                    }
                    cx.push(Ok(Message::Ping(payload)));
                }
                Ok(Some(Message::Close(frame))) => {
                    if self.shared.claim_close() {
                        // RFC 6455 §5.5.1: echo the status code.
                        let echo = frame
                            .as_ref()
                            .and_then(|f| CloseFrame::new(f.code, "").ok());
                        Self::send(cx, &Message::Close(echo))?;
                    }
                    cx.push(Ok(Message::Close(frame)));
                    self.finish(cx, buf);
                    return Ok(Progress::NeedMore);
                }
                Ok(Some(message)) => cx.push(Ok(message)),
                Err(err) => {
                    tracing::debug!(error = %err, "websocket protocol error");
                    if self.shared.claim_close() {
                        let frame = CloseFrame::new(err.close_code(), "").ok();
                        Self::send(cx, &Message::Close(frame))?;
                    }
                    cx.push(Err(err));
                    self.finish(cx, buf);
                    return Ok(Progress::NeedMore);
                }
            }
        }
    }
}

impl fmt::Debug for WsConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsConsumer")
            .field("done", &self.done)
            .field("close_sent", &self.shared.is_close_sent())
            .finish()
    }
}
