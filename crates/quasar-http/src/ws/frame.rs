//! Frame headers (RFC 6455 §5.2): decoding with early validation, encoding, masking.
//!
//! The header is validated from its first two bytes on, before the extended length or mask
//! arrives, so a peer breaking the protocol is refused as soon as the evidence is in: RSV bits,
//! opcode, mask direction, control-frame size and fragmentation. The decoder for whole
//! messages is [`WsDecoder`](crate::ws::WsDecoder); this file also holds the encoder.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use quasar_http::ws::{encode_frame, OpCode};
//!
//! let mut dst = BytesMut::new();
//! encode_frame(&mut dst, OpCode::Text, true, b"Hello", None)?;
//! assert_eq!(&dst[..], b"\x81\x05Hello"); // RFC 6455 §5.7, unmasked "Hello"
//! dst.clear();
//! encode_frame(&mut dst, OpCode::Text, true, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]))?;
//! assert_eq!(&dst[..], b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
//! # Ok::<(), quasar_http::ws::WsError>(())
//! ```

use bytes::{BufMut, BytesMut};

use crate::ws::WsError;

/// Largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: UTF-8 text.
    Text,
    /// 0x2: binary data.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode for `bits` (the low nibble), or `None` for a reserved one.
    pub fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Whether this is a control opcode (close, ping, pong).
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// Which end of the connection this codec runs at; decides the masking rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives masked frames, sends unmasked ones.
    Server,
    /// Receives unmasked frames, sends masked ones.
    Client,
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) fin: bool,
    pub(crate) rsv: u8,
    pub(crate) opcode: OpCode,
    pub(crate) mask: Option<[u8; 4]>,
    pub(crate) payload_len: u64,
    pub(crate) header_len: usize,
}

/// Decodes the frame header at the front of `buf` without consuming it.
///
/// `rsv_allowed` holds the RSV bits (0x70 mask) negotiated extensions define.
pub(crate) fn decode_header(
    buf: &[u8],
    role: Role,
    rsv_allowed: u8,
    max_frame: u64,
) -> Result<Option<FrameHeader>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = b0 & 0x70;
    if rsv & !rsv_allowed != 0 {
        return Err(WsError::ReservedBits);
    }
    let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(WsError::ReservedOpcode)?;
    if opcode.is_control() && !fin {
        return Err(WsError::FragmentedControlFrame);
    }
    let masked = b1 & 0x80 != 0;
    match (role, masked) {
        (Role::Server, false) => return Err(WsError::UnmaskedFrame),
        (Role::Client, true) => return Err(WsError::MaskedFrame),
        _ => {}
    }
    let len7 = b1 & 0x7F;
    if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
        return Err(WsError::ControlFrameTooLong);
    }
    let (payload_len, mut pos) = match len7 {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
            Some(bytes) => (u64::from_be_bytes(bytes), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if payload_len >> 63 != 0 {
        return Err(WsError::InvalidLength);
    }
    if payload_len > max_frame {
        return Err(WsError::FrameTooLarge);
    }
    let mask = if masked {
        match buf
            .get(pos..pos + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
        {
            Some(m) => {
                pos += 4;
                Some(m)
            }
            None => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len,
        header_len: pos,
    }))
}

/// XORs `data` with `mask`, as if `data` started `offset` bytes into the payload.
///
/// Masking and unmasking are the same operation.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = mask;
    m.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) {
            chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
        }
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// A mask key from a fast thread-local RNG, for client frames.
pub fn random_mask() -> [u8; 4] {
    rand::random()
}

/// Appends one frame to `dst`, masked with `mask` when given (clients must mask, servers must
/// not; see [`encode_message`](crate::ws::encode_message) for the role-aware form).
///
/// # Errors
///
/// [`WsError::ControlFrameTooLong`] or [`WsError::FragmentedControlFrame`] for a control frame
/// over 125 bytes or without FIN; nothing is written then.
pub fn encode_frame(
    dst: &mut BytesMut,
    opcode: OpCode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Result<(), WsError> {
    encode_frame_rsv(dst, opcode, fin, 0, payload, mask)
}

/// [`encode_frame`] with RSV bits (`rsv & 0x70`; `0x40`, RSV1, marks the first frame of a
/// permessage-deflate message).
///
/// # Errors
///
/// As [`encode_frame`], and [`WsError::ReservedBits`] for RSV bits on a control frame.
pub fn encode_frame_rsv(
    dst: &mut BytesMut,
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Result<(), WsError> {
    let rsv = rsv & 0x70;
    if opcode.is_control() {
        if rsv != 0 {
            return Err(WsError::ReservedBits);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(WsError::ControlFrameTooLong);
        }
        if !fin {
            return Err(WsError::FragmentedControlFrame);
        }
    }
    dst.reserve(MAX_HEADER_LEN + payload.len());
    dst.put_u8(if fin { 0x80 } else { 0 } | rsv | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => dst.put_u8(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            dst.put_u8(mask_bit | 126);
            dst.put_u16(n as u16);
        }
        n => {
            dst.put_u8(mask_bit | 127);
            dst.put_u64(n as u64);
        }
    }
    match mask {
        Some(key) => {
            dst.put_slice(&key);
            let start = dst.len();
            dst.put_slice(payload);
            apply_mask(&mut dst[start..], key, 0);
        }
        None => dst.put_slice(payload),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8], role: Role) -> Result<Option<FrameHeader>, WsError> {
        decode_header(bytes, role, 0, u64::MAX >> 1)
    }

    #[test]
    fn lengths_use_7_16_and_64_bits() {
        let h = header(b"\x82\x7e\x01\x00", Role::Client).unwrap().unwrap();
        assert_eq!((h.payload_len, h.header_len), (256, 4));
        let h = header(b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", Role::Client)
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, h.header_len), (65536, 10));
        // Non-minimal encodings are accepted (RFC 6455 does not require rejecting them).
        let h = header(b"\x82\x7e\x00\x05", Role::Client).unwrap().unwrap();
        assert_eq!(h.payload_len, 5);
        assert_eq!(
            header(b"\x82\x7f\x80\0\0\0\0\0\0\0", Role::Client),
            Err(WsError::InvalidLength)
        );
    }

    #[test]
    fn violations_are_seen_from_the_first_two_bytes() {
        assert_eq!(
            header(b"\xc1\x80", Role::Server),
            Err(WsError::ReservedBits)
        );
        assert_eq!(
            header(b"\x83\x80", Role::Server),
            Err(WsError::ReservedOpcode)
        );
        assert_eq!(
            header(b"\x8b\x80", Role::Server),
            Err(WsError::ReservedOpcode)
        );
        assert_eq!(
            header(b"\x09\x80", Role::Server),
            Err(WsError::FragmentedControlFrame)
        );
        assert_eq!(
            header(b"\x89\xfe", Role::Server),
            Err(WsError::ControlFrameTooLong)
        );
        assert_eq!(
            header(b"\x81\x00", Role::Server),
            Err(WsError::UnmaskedFrame)
        );
        assert_eq!(header(b"\x81\x80", Role::Client), Err(WsError::MaskedFrame));
        assert_eq!(header(b"\x81\x80\x01", Role::Server), Ok(None)); // waiting for the mask
        assert_eq!(
            decode_header(b"\xc1\x80\0\0\0\0", Role::Server, 0x40, 10)
                .unwrap()
                .unwrap()
                .rsv,
            0x40
        );
        assert_eq!(
            decode_header(b"\x81\x0b", Role::Client, 0, 10),
            Err(WsError::FrameTooLarge)
        );
    }

    #[test]
    fn masking_at_any_offset_matches_bytewise_xor() {
        let mask = [1, 2, 3, 4];
        let data: Vec<u8> = (0..37).collect();
        for offset in 0..8 {
            let mut got = data.clone();
            apply_mask(&mut got, mask, offset);
            let want: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[(i + offset) % 4])
                .collect();
            assert_eq!(got, want, "offset {offset}");
        }
    }

    #[test]
    fn encoder_refuses_bad_control_frames() {
        let mut dst = BytesMut::new();
        assert_eq!(
            encode_frame(&mut dst, OpCode::Ping, true, &[0; 126], None),
            Err(WsError::ControlFrameTooLong)
        );
        assert_eq!(
            encode_frame(&mut dst, OpCode::Ping, false, b"", None),
            Err(WsError::FragmentedControlFrame)
        );
        assert!(dst.is_empty());
    }
}
