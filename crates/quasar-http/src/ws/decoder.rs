//! Reassembles WebSocket messages from frames, enforcing RFC 6455 on the way.
//!
//! [`WsDecoder::decode`] consumes frames from the front of a read buffer and returns whole
//! [`Message`]s. Data frame payloads are consumed as they arrive (unmasked in place), so a
//! text message's UTF-8 is checked incrementally and invalid text fails before the rest of the
//! frame arrives. Control frames, which may sit between the fragments of a message, are
//! returned whole as soon as they are complete. An unfragmented message whose payload is
//! already buffered is returned as a zero-copy slice of the read buffer.
//!
//! State: the frame in progress (payload bytes left, mask and its offset), the message in
//! progress (its opcode, bytes so far, UTF-8 progress), and whether a close was received.
//! Bounds: [`WsLimits::max_frame`] per frame and [`WsLimits::max_message`] per message, checked
//! from the headers before any payload is buffered; control frames are at most 125 bytes.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::ws::{encode_frame, Message, OpCode, Role, WsDecoder};
//!
//! // A client sends "Hel" + "lo" in two fragments with a ping between them.
//! let mask = Some([1, 2, 3, 4]);
//! let mut buf = BytesMut::new();
//! encode_frame(&mut buf, OpCode::Text, false, b"Hel", mask)?;
//! encode_frame(&mut buf, OpCode::Ping, true, b"?", mask)?;
//! encode_frame(&mut buf, OpCode::Continuation, true, b"lo", mask)?;
//!
//! let mut dec = WsDecoder::new(Role::Server);
//! assert_eq!(dec.decode(&mut buf)?, Some(Message::Ping("?".into())));
//! assert_eq!(dec.decode(&mut buf)?, Some(Message::Text("Hello".into())));
//! assert_eq!(dec.decode(&mut buf)?, None);
//! # Ok::<(), quasar_http::ws::WsError>(())
//! ```

use bytes::{Buf, Bytes, BytesMut};

use crate::ws::frame::{decode_header, random_mask, FrameHeader};
use crate::ws::utf8::Utf8Validator;
use crate::ws::{encode_frame, CloseFrame, Inflater, OpCode, Role, WsError};

/// Default [`WsLimits::max_frame`]: 16 MiB (Autobahn's largest case, 9.x, fits).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// Default [`WsLimits::max_message`]: 16 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Most message capacity reserved up front from a frame header's claim; the rest grows as
/// bytes really arrive, so a lying header cannot make us allocate 16 MiB.
const MAX_RESERVE: usize = 64 * 1024;

/// Size caps of the WebSocket decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest frame payload accepted (above it: close 1009).
    pub max_frame: usize,
    /// Largest reassembled message (above it: close 1009).
    pub max_message: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_frame: DEFAULT_MAX_FRAME,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// A complete WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message; the bytes are valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; answer with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame (`None`: no status code); answer with a close and stop sending.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    ///
    /// # Examples
    ///
    /// ```
    /// use quasar_http::ws::Message;
    ///
    /// let hi = Message::text("hi");
    /// assert_eq!(hi.as_text(), Some("hi"));
    /// assert_eq!(Message::text(format!("{} + {}", 1, 2)).as_text(), Some("1 + 2"));
    /// ```
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(Bytes::from(text.into()))
    }

    /// A binary message.
    ///
    /// # Examples
    ///
    /// ```
    /// use quasar_http::ws::Message;
    ///
    /// let m = Message::binary(vec![1u8, 2, 3]);
    /// assert_eq!(m.as_bytes(), &[1, 2, 3]);
    /// assert_eq!(m.as_text(), None);
    /// ```
    pub fn binary(data: impl Into<Bytes>) -> Message {
        Message::Binary(data.into())
    }

    /// The text of a text message (its bytes are valid UTF-8: the decoder checked them,
    /// [`Message::text`] built them from a `String`); `None` for any other kind, or for a
    /// `Text` built by hand from bytes that are not UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The payload: a data message's bytes, a ping's or pong's, empty for a close.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(b) | Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(_) => &[],
        }
    }

    /// Whether this is a close message.
    pub fn is_close(&self) -> bool {
        matches!(self, Message::Close(_))
    }
}

/// The frame whose payload is being consumed.
#[derive(Debug, Clone, Copy)]
struct FrameProgress {
    fin: bool,
    remaining: u64,
    mask: Option<[u8; 4]>,
    /// Payload bytes already consumed, for the mask's rotation.
    offset: usize,
}

/// The data message being reassembled.
#[derive(Debug)]
struct MessageProgress {
    text: bool,
    /// permessage-deflate: `data` holds the decompressed bytes so far.
    compressed: bool,
    data: BytesMut,
    utf8: Utf8Validator,
}

/// Turns frames into messages for one connection; see the module docs.
#[derive(Debug)]
pub struct WsDecoder {
    role: Role,
    limits: WsLimits,
    rsv_allowed: u8,
    /// permessage-deflate was negotiated: RSV1 marks compressed messages.
    inflater: Option<Inflater>,
    frame: Option<FrameProgress>,
    message: Option<MessageProgress>,
    /// RSV bits of the first frame of the last data message (for extensions).
    message_rsv: u8,
    closed: bool,
}

impl WsDecoder {
    /// A decoder for the `role` end, with default limits and no extension.
    pub fn new(role: Role) -> Self {
        WsDecoder::with_limits(role, WsLimits::default())
    }

    /// A decoder for the `role` end with `limits`.
    pub fn with_limits(role: Role, limits: WsLimits) -> Self {
        WsDecoder {
            role,
            limits,
            rsv_allowed: 0,
            inflater: None,
            frame: None,
            message: None,
            message_rsv: 0,
            closed: false,
        }
    }

    /// Allows the RSV bits in `mask` (e.g. `0x40`, RSV1, for permessage-deflate) because an
    /// extension defining them was negotiated.
    pub fn allow_rsv_bits(&mut self, mask: u8) {
        self.rsv_allowed = mask & 0x70;
    }

    /// Turns on permessage-deflate receiving: RSV1 on the first frame of a data message
    /// marks it compressed, it is decompressed with `inflater` (within
    /// [`WsLimits::max_message`], counted after decompression) and text is validated after
    /// decompression. RSV1 on a control or continuation frame fails with
    /// [`WsError::CompressedNotFirstFrame`] (close 1002).
    pub fn set_inflater(&mut self, inflater: Inflater) {
        self.inflater = Some(inflater);
        self.rsv_allowed |= 0x40;
    }

    /// The RSV bits of the first frame of the last data message returned.
    pub fn message_rsv(&self) -> u8 {
        self.message_rsv
    }

    /// Whether a close frame has been received; `decode` returns `Ok(None)` from then on.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Decodes the next message from the front of `buf`; `Ok(None)` means "need more bytes"
    /// (or, after a close frame, that nothing more will be decoded).
    ///
    /// # Errors
    ///
    /// Any [`WsError`]: send a close frame with [`WsError::close_code`] and close. The decoder
    /// must not be used afterwards.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, WsError> {
        while !self.closed {
            match self.frame {
                None => {
                    if let Some(msg) = self.read_header(buf)? {
                        return Ok(Some(msg));
                    }
                    if self.frame.is_none() {
                        return Ok(None);
                    }
                }
                Some(progress) => {
                    if let Some(msg) = self.read_payload(buf, progress)? {
                        return Ok(Some(msg));
                    }
                    if self.frame.is_some() {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(None)
    }

    /// Header state: returns a control or fast-path message, or leaves `self.frame` set.
    fn read_header(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, WsError> {
        let max_frame = self.limits.max_frame as u64;
        let Some(h) = decode_header(buf, self.role, self.rsv_allowed, max_frame)? else {
            return Ok(None);
        };
        let rsv1 = h.rsv & 0x40 != 0 && self.inflater.is_some();
        if rsv1 && (h.opcode.is_control() || h.opcode == OpCode::Continuation) {
            return Err(WsError::CompressedNotFirstFrame);
        }
        if h.opcode.is_control() {
            return self.read_control(buf, h);
        }
        let in_message = self.message.as_ref().map_or(0, |m| m.data.len());
        match (h.opcode, self.message.is_some()) {
            (OpCode::Continuation, false) => return Err(WsError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, true) => return Err(WsError::ExpectedContinuation),
            _ => {}
        }
        let compressed = self.message.as_ref().map_or(rsv1, |m| m.compressed);
        // A compressed message is bounded after decompression (the inflater's limit).
        if !compressed
            && (in_message as u64).saturating_add(h.payload_len) > self.limits.max_message as u64
        {
            return Err(WsError::MessageTooLarge);
        }
        buf.advance(h.header_len);
        // payload_len <= max_frame, a usize, so this conversion is lossless.
        let len = h.payload_len as usize;
        if h.opcode != OpCode::Continuation {
            self.message_rsv = h.rsv;
        }
        if h.fin && !compressed && self.message.is_none() && buf.len() >= len {
            // Fast path: a whole unfragmented message is buffered; hand out a slice of it.
            let mut payload = buf.split_to(len);
            if let Some(mask) = h.mask {
                crate::ws::apply_mask(&mut payload, mask, 0);
            }
            return match h.opcode {
                OpCode::Text => match std::str::from_utf8(&payload) {
                    Ok(_) => Ok(Some(Message::Text(payload.freeze()))),
                    Err(_) => Err(WsError::InvalidUtf8),
                },
                _ => Ok(Some(Message::Binary(payload.freeze()))),
            };
        }
        if self.message.is_none() {
            self.message = Some(MessageProgress {
                text: h.opcode == OpCode::Text,
                compressed,
                data: BytesMut::with_capacity(len.min(MAX_RESERVE)),
                utf8: Utf8Validator::default(),
            });
        }
        // header -> payload
        self.frame = Some(FrameProgress {
            fin: h.fin,
            remaining: h.payload_len,
            mask: h.mask,
            offset: 0,
        });
        Ok(None)
    }

    /// A control frame is taken only once whole (at most 14 + 125 bytes).
    fn read_control(
        &mut self,
        buf: &mut BytesMut,
        h: FrameHeader,
    ) -> Result<Option<Message>, WsError> {
        let len = h.payload_len as usize;
        if buf.len() < h.header_len + len {
            return Ok(None);
        }
        buf.advance(h.header_len);
        let mut payload = buf.split_to(len);
        if let Some(mask) = h.mask {
            crate::ws::apply_mask(&mut payload, mask, 0);
        }
        let payload = payload.freeze();
        Ok(Some(match h.opcode {
            OpCode::Ping => Message::Ping(payload),
            OpCode::Pong => Message::Pong(payload),
            _ => {
                let close = CloseFrame::parse(payload)?;
                self.closed = true;
                Message::Close(close)
            }
        }))
    }

    /// Payload state: consumes what is buffered of the current data frame.
    fn read_payload(
        &mut self,
        buf: &mut BytesMut,
        mut progress: FrameProgress,
    ) -> Result<Option<Message>, WsError> {
        let Some(message) = self.message.as_mut() else {
            // Unreachable by construction: a data frame in progress always has a message.
            self.frame = None;
            return Ok(None);
        };
        if progress.remaining > 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            let n = usize::try_from(progress.remaining)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let mut chunk = buf.split_to(n);
            if let Some(mask) = progress.mask {
                crate::ws::apply_mask(&mut chunk, mask, progress.offset);
            }
            progress.offset += n;
            progress.remaining -= n as u64;
            match (message.compressed, self.inflater.as_mut()) {
                (true, Some(inflater)) => {
                    inflater.inflate(&chunk, &mut message.data, self.limits.max_message)?;
                }
                _ => message.data.extend_from_slice(&chunk),
            }
            if message.text {
                message.utf8.feed(&message.data)?;
            }
        }
        if progress.remaining > 0 {
            self.frame = Some(progress);
            return Ok(None);
        }
        // payload -> header
        self.frame = None;
        if !progress.fin {
            return Ok(None);
        }
        let Some(mut message) = self.message.take() else {
            return Ok(None);
        };
        if let (true, Some(inflater)) = (message.compressed, self.inflater.as_mut()) {
            inflater.finish_message(&mut message.data, self.limits.max_message)?;
            if message.text {
                message.utf8.feed(&message.data)?;
            }
        }
        if message.text {
            message.utf8.finish(&message.data)?;
            Ok(Some(Message::Text(message.data.freeze())))
        } else {
            Ok(Some(Message::Binary(message.data.freeze())))
        }
    }
}

/// Appends `message` as one frame, masked with a random key when `role` is [`Role::Client`].
///
/// # Errors
///
/// [`WsError::ControlFrameTooLong`] for a ping or pong over 125 bytes.
pub fn encode_message(dst: &mut BytesMut, role: Role, message: &Message) -> Result<(), WsError> {
    let mask = match role {
        Role::Client => Some(random_mask()),
        Role::Server => None,
    };
    match message {
        Message::Text(b) => encode_frame(dst, OpCode::Text, true, b, mask),
        Message::Binary(b) => encode_frame(dst, OpCode::Binary, true, b, mask),
        Message::Ping(b) => encode_frame(dst, OpCode::Ping, true, b, mask),
        Message::Pong(b) => encode_frame(dst, OpCode::Pong, true, b, mask),
        Message::Close(None) => encode_frame(dst, OpCode::Close, true, b"", mask),
        Message::Close(Some(frame)) => {
            let mut payload = [0u8; 125];
            let n = frame.write_payload(&mut payload);
            encode_frame(dst, OpCode::Close, true, &payload[..n], mask)
        }
    }
}
