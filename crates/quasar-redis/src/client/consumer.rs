//! [`RedisConsumer`]: one command (or pipeline) and its replies, on a quasar-net connection.
//!
//! The connection builds a fresh consumer per request. [`start_request`] writes the encoded
//! [`Cmd`] without copying its arguments; [`data_received`] decodes replies until it has one
//! per command and finishes with the reply (a pipeline's replies as one [`Frame::Array`]).
//! RESP3 push frames that arrive first (client-side caching invalidations, pub/sub messages)
//! are handed to the push sink with [`Context::push`] and do not count as replies, except
//! for the `SUBSCRIBE` family, whose RESP3 reply *is* a push. A consumer built for bytes that
//! arrive with no command in flight (pub/sub messages in RESP2) finishes with the first frame,
//! which the connection then gives to the push sink.
//!
//! Each consumer owns a [`Decoder`], so a large reply arriving in many reads is scanned once.
//!
//! # Examples
//!
//! ```
//! use quasar_net::connection::ClientConnectionBuilder;
//! use quasar_redis::client::{cmd, RedisConsumer};
//! # async fn run(addr: std::net::SocketAddr) -> quasar_net::Result<()> {
//! let conn = ClientConnectionBuilder::new(RedisConsumer::new).connect(addr).await?;
//! let pong = conn.request(cmd("PING")).await?;
//! assert_eq!(pong, quasar_redis::Frame::simple("PONG"));
//! # Ok(()) }
//! ```
//!
//! [`start_request`]: ProtocolConsumer::start_request
//! [`data_received`]: ProtocolConsumer::data_received

use bytes::BytesMut;
use quasar_net::{Context, Error, Progress, ProtocolConsumer, Result};

use super::cmd::Cmd;
use crate::{Decoder, Frame, Limits};

/// A command's arguments up to this size are copied into the connection's write buffer;
/// larger ones are handed over without a copy.
const COPY_ARGS_UP_TO: usize = 512;

/// The client consumer: writes a [`Cmd`], resolves with its reply [`Frame`].
#[derive(Debug)]
pub struct RedisConsumer {
    decoder: Decoder,
    /// Replies still expected; `None` until a request starts (a push-only consumer).
    expected: Option<usize>,
    /// A pipeline's replies so far.
    replies: Vec<Frame>,
    pubsub: bool,
}

impl RedisConsumer {
    /// A consumer applying the codec's default [`Limits`].
    pub fn new() -> RedisConsumer {
        RedisConsumer::with_limits(Limits::default())
    }

    /// A consumer applying `limits` to the replies it decodes.
    pub fn with_limits(limits: Limits) -> RedisConsumer {
        RedisConsumer {
            decoder: Decoder::new(limits),
            expected: None,
            replies: Vec::new(),
            pubsub: false,
        }
    }
}

impl Default for RedisConsumer {
    fn default() -> Self {
        RedisConsumer::new()
    }
}

impl ProtocolConsumer for RedisConsumer {
    type Request = Cmd;
    type Response = Frame;

    fn start_request(&mut self, cx: &mut Context<'_, Cmd, Frame>, request: Cmd) -> Result<()> {
        let replies = request.replies();
        if replies == 0 {
            return Err(Error::protocol("an empty command expects no reply"));
        }
        self.expected = Some(replies);
        self.pubsub = request.is_pubsub();
        if replies > 1 {
            self.replies.reserve_exact(replies.min(1024));
        }
        let (done, header, args) = request.into_parts();
        if !done.is_empty() {
            cx.write_bytes(done)?;
        }
        if !header.as_bytes().is_empty() {
            cx.write(header.as_bytes())?;
            if args.len() <= COPY_ARGS_UP_TO {
                // Copied after the header into the connection's tail buffer: freezing a
                // partly filled buffer into `Bytes` allocates its shared header, which
                // costs more than copying a typical command, and the write stays one
                // contiguous slice.
                cx.write(&args)?;
            } else {
                cx.write_bytes(args.freeze())?;
            }
        }
        Ok(())
    }

    fn data_received(
        &mut self,
        cx: &mut Context<'_, Cmd, Frame>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Frame>> {
        loop {
            let frame = match self.decoder.decode(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(Progress::NeedMore),
                Err(e) => return Err(Error::protocol_with("bad RESP reply", e)),
            };
            let Some(expected) = self.expected else {
                // No command in flight: this frame is for the push sink.
                return Ok(Progress::Finished(frame));
            };
            if self.pubsub {
                // Subscribed: messages may come before the confirmations, and in RESP2
                // they are plain arrays.
                if is_message(&frame) {
                    cx.push(frame);
                    continue;
                }
                if frame.is_error() {
                    return Ok(Progress::Finished(frame));
                }
            } else if matches!(frame, Frame::Push(_)) {
                cx.push(frame);
                continue;
            }
            if expected == 1 && self.replies.is_empty() {
                return Ok(Progress::Finished(frame));
            }
            self.replies.push(frame);
            if self.replies.len() == expected {
                return Ok(Progress::Finished(Frame::Array(std::mem::take(
                    &mut self.replies,
                ))));
            }
        }
    }
}

/// Whether `frame` is a pub/sub message (`message`, `pmessage`, `smessage`), as a RESP3 push
/// or a RESP2 array.
pub(crate) fn is_message(frame: &Frame) -> bool {
    let (Frame::Push(items) | Frame::Array(items)) = frame else {
        return false;
    };
    matches!(
        items.first(),
        Some(Frame::Bulk(kind) | Frame::Simple(kind))
            if matches!(&kind[..], b"message" | b"pmessage" | b"smessage")
    )
}
