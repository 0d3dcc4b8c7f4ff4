//! WebSocket frame decoding over arbitrary bytes for both roles, fed in two pieces.
//! Invariants: no panic; messages within limits; text is UTF-8; control payloads <= 125.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use quasar_http::ws::{Message, Role, WsDecoder, WsLimits};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else { return };
    let role = if ctl & 1 == 0 { Role::Server } else { Role::Client };
    let limits = WsLimits { max_frame: 1024, max_message: 2048 };
    let mut dec = WsDecoder::with_limits(role, limits);
    let split = usize::from(ctl >> 1) % (input.len() + 1);
    let mut buf = BytesMut::new();
    for piece in [&input[..split], &input[split..]] {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(Message::Text(t))) => {
                    assert!(t.len() <= limits.max_message);
                    assert!(std::str::from_utf8(&t).is_ok());
                }
                Ok(Some(Message::Binary(b))) => assert!(b.len() <= limits.max_message),
                Ok(Some(Message::Ping(b) | Message::Pong(b))) => assert!(b.len() <= 125),
                Ok(Some(Message::Close(_))) => assert!(dec.is_closed()),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
