//! The handler's side of a server WebSocket: [`WebSocket`], split into a [`WsReceiver`] and
//! cloneable [`WsSender`]s. Sends wait for the connection to be writable and queue whole
//! frames; the last handle dropped sends a close 1000 if no close was sent.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use quasar_net::{Connection, Error, Result};
use tokio::sync::mpsc;

use crate::ws::{
    encode_frame_rsv, encode_message, CloseCode, CloseFrame, Deflater, Message, OpCode, Role,
    WsError,
};

/// Data frames a [`WebSocket::send`] writes at most in one frame; longer messages are
/// fragmented.
pub const MAX_SEND_FRAME: usize = 16 * 1024;

/// State both ends of a server WebSocket see.
#[derive(Debug, Default)]
pub(super) struct WsShared {
    /// A close frame was sent: nothing may follow it.
    pub(super) close_sent: AtomicBool,
    /// The consumer paused reading because the handler's channel was full.
    pub(super) paused: AtomicBool,
}

pub(super) type Item = std::result::Result<Message, WsError>;

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

    /// The handshake request (its path parameters are in `extensions`, as
    /// [`Params`](crate::server::Params)).
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

impl WebSocket {
    /// The handles of one upgraded connection: `rx` receives what the consumer decodes,
    /// sends compress with `deflater` when permessage-deflate was negotiated.
    pub(super) fn new(
        conn: Connection,
        shared: Arc<WsShared>,
        request: http::request::Parts,
        rx: mpsc::Receiver<Item>,
        deflater: Option<Deflater>,
    ) -> WebSocket {
        let out = Arc::new(Outbound {
            conn: conn.clone(),
            shared: shared.clone(),
            sending: tokio::sync::Mutex::new(deflater),
        });
        WebSocket {
            rx: WsReceiver {
                rx,
                shared,
                conn,
                request,
                _out: out.clone(),
            },
            tx: WsSender { out },
        }
    }
}
