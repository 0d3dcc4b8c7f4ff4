//! permessage-deflate through the WebSocket decoder, two modes chosen by the first byte:
//! - raw: arbitrary bytes as frames (RSV1 allowed) into a decoder with an inflater. Invariants:
//!   no panic; messages within the decompressed limit; text is UTF-8.
//! - round trip: the input split into messages, compressed with a `Deflater` (window and
//!   takeover from the control byte), framed with RSV1 and decoded. Invariant: the same
//!   messages come out.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use quasar_http::ws::{
    encode_frame_rsv, DeflateParams, Message, OpCode, Role, WsDecoder, WsLimits,
};

const LIMITS: WsLimits = WsLimits { max_frame: 4096, max_message: 8192 };

fn params(ctl: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: ctl & 1 != 0,
        client_no_context_takeover: ctl & 2 != 0,
        server_max_window_bits: 8 + (ctl >> 2) % 8,
        client_max_window_bits: 8 + (ctl >> 5) % 8,
    }
}

fn decoder(role: Role, p: DeflateParams) -> WsDecoder {
    let mut dec = WsDecoder::with_limits(role, LIMITS);
    dec.set_inflater(p.inflater(role));
    dec
}

fuzz_target!(|data: &[u8]| {
    let [mode, ctl, input @ ..] = data else { return };
    let p = params(*ctl);
    if mode & 1 == 0 {
        let role = if mode & 2 == 0 { Role::Server } else { Role::Client };
        let mut dec = decoder(role, p);
        let split = usize::from(mode >> 2) % (input.len() + 1);
        let mut buf = BytesMut::new();
        for piece in [&input[..split], &input[split..]] {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(Message::Text(t))) => {
                        assert!(t.len() <= LIMITS.max_message);
                        assert!(std::str::from_utf8(&t).is_ok());
                    }
                    Ok(Some(Message::Binary(b))) => assert!(b.len() <= LIMITS.max_message),
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
        return;
    }
    // Round trip: messages separated by 0xff, sent client -> server.
    let mut deflater = p.deflater(Role::Client, u32::from(mode >> 4) % 10);
    let messages: Vec<&[u8]> = input.split(|&b| b == 0xff).collect();
    let frame = 1 + usize::from(mode >> 1) % 64;
    let mut wire = BytesMut::new();
    for m in &messages {
        let (payload, mut rsv) = deflater.encode_payload(&Bytes::copy_from_slice(m));
        let mut chunks = payload.chunks(frame).peekable();
        let mut op = OpCode::Binary;
        loop {
            let chunk = chunks.next().unwrap_or_default();
            let fin = chunks.peek().is_none();
            encode_frame_rsv(&mut wire, op, fin, rsv, chunk, Some([1, 2, 3, 4])).unwrap();
            if fin {
                break;
            }
            op = OpCode::Continuation;
            rsv = 0;
        }
    }
    let mut dec = decoder(Role::Server, p);
    for m in &messages {
        match dec.decode(&mut wire) {
            Ok(Some(Message::Binary(b))) => assert_eq!(&b[..], *m),
            other => panic!("{other:?} for a message of {} bytes", m.len()),
        }
    }
    assert!(wire.is_empty());
});
