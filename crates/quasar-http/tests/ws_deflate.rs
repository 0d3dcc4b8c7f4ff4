//! permessage-deflate (RFC 7692) through the frame decoder: round trips for every window size
//! with and without context takeover (property tests), RSV1 rules, and the size limit.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use quasar_http::ws::{
    encode_frame, encode_frame_rsv, CloseCode, DeflateParams, Deflater, Message, OpCode, Role,
    WsDecoder, WsError, WsLimits,
};

const MASK: Option<[u8; 4]> = Some([0x11, 0x22, 0x33, 0x44]);

/// Appends `payload` as a message of `opcode`, compressed by `deflater`, in frames of at most
/// `frame` wire bytes; RSV1 only on the first frame.
fn encode(
    dst: &mut BytesMut,
    deflater: &mut Deflater,
    opcode: OpCode,
    payload: &[u8],
    frame: usize,
    mask: Option<[u8; 4]>,
) {
    let (wire, rsv) = deflater.encode_payload(&Bytes::copy_from_slice(payload));
    let mut chunks = wire.chunks(frame.max(1)).peekable();
    let (mut op, mut rsv) = (opcode, rsv);
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let fin = chunks.peek().is_none();
        encode_frame_rsv(dst, op, fin, rsv, chunk, mask).unwrap();
        if fin {
            break;
        }
        op = OpCode::Continuation;
        rsv = 0;
    }
}

fn decoder(role: Role, params: DeflateParams, limits: WsLimits) -> WsDecoder {
    let mut dec = WsDecoder::with_limits(role, limits);
    dec.set_inflater(params.inflater(role));
    dec
}

/// Decodes `wire` fed in pieces of `step` bytes; the messages, then the error if any.
fn decode_in_steps(
    dec: &mut WsDecoder,
    wire: &[u8],
    step: usize,
) -> (Vec<Message>, Option<WsError>) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in wire.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn message() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        // Compressible text: repeated words.
        (prop::collection::vec(
            prop::sample::select(vec!["hello ", "κόσμε ", "world ", "🦀"]),
            0..400
        ))
        .prop_map(|w| (true, w.concat().into_bytes())),
        // Incompressible binary.
        prop::collection::vec(any::<u8>(), 0..3000).prop_map(|b| (false, b)),
        // Long runs.
        (any::<u8>(), 0usize..70_000).prop_map(|(b, n)| (false, vec![b; n])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn compressed_messages_round_trip_for_every_window_and_takeover(
        server_bits in 8u8..=15,
        client_bits in 8u8..=15,
        server_reset in any::<bool>(),
        client_reset in any::<bool>(),
        level in 0u32..=9,
        messages in prop::collection::vec(message(), 1..8),
        frame in 1usize..5000,
        step in 1usize..9000,
    ) {
        let params = DeflateParams {
            server_no_context_takeover: server_reset,
            client_no_context_takeover: client_reset,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        for (sender, receiver, mask) in [(Role::Client, Role::Server, MASK), (Role::Server, Role::Client, None)] {
            let mut deflater = params.deflater(sender, level);
            let mut wire = BytesMut::new();
            for (i, (text, payload)) in messages.iter().enumerate() {
                let op = if *text { OpCode::Text } else { OpCode::Binary };
                encode(&mut wire, &mut deflater, op, payload, frame, mask);
                if i % 2 == 0 {
                    // A control frame between messages is never compressed.
                    encode_frame(&mut wire, OpCode::Ping, true, b"p", mask).unwrap();
                }
            }
            let mut dec = decoder(receiver, params, WsLimits::default());
            let (got, err) = decode_in_steps(&mut dec, &wire, step);
            prop_assert_eq!(err, None);
            let want: Vec<Message> = messages
                .iter()
                .enumerate()
                .flat_map(|(i, (text, p))| {
                    let data = Bytes::copy_from_slice(p);
                    let m = if *text { Message::Text(data) } else { Message::Binary(data) };
                    let ping = (i % 2 == 0).then(|| Message::Ping(Bytes::from_static(b"p")));
                    std::iter::once(m).chain(ping)
                })
                .collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn arbitrary_bytes_in_a_compressed_frame_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..2000),
        text in any::<bool>(),
    ) {
        let mut wire = BytesMut::new();
        let op = if text { OpCode::Text } else { OpCode::Binary };
        encode_frame_rsv(&mut wire, op, true, 0x40, &body, MASK).unwrap();
        let limits = WsLimits { max_frame: 1 << 20, max_message: 4096 };
        let mut dec = decoder(Role::Server, DeflateParams::default(), limits);
        let (msgs, err) = decode_in_steps(&mut dec, &wire, 97);
        match (msgs.as_slice(), err) {
            ([Message::Text(d) | Message::Binary(d)], None) => prop_assert!(d.len() <= 4096),
            ([], Some(e)) => prop_assert!(matches!(
                e,
                WsError::InvalidCompressedData | WsError::MessageTooLarge | WsError::InvalidUtf8
            ), "{e:?}"),
            other => prop_assert!(false, "{other:?}"),
        }
    }
}

fn violation(wire: &[u8], params: Option<DeflateParams>) -> WsError {
    let mut dec = match params {
        Some(p) => decoder(Role::Server, p, WsLimits::default()),
        None => WsDecoder::new(Role::Server),
    };
    decode_in_steps(&mut dec, wire, wire.len())
        .1
        .expect("a violation")
}

#[test]
fn rsv1_only_on_the_first_frame_of_a_negotiated_data_message() {
    let on = Some(DeflateParams::default());
    let mut ping = BytesMut::new();
    encode_frame(&mut ping, OpCode::Ping, true, b"", MASK).unwrap();
    ping[0] |= 0x40;
    let e = violation(&ping, on);
    assert_eq!(
        (e, e.close_code()),
        (WsError::CompressedNotFirstFrame, CloseCode::PROTOCOL_ERROR)
    );

    let mut frag = BytesMut::new();
    let mut deflater = Deflater::new(6, 15, false);
    let (wire, _) = deflater.encode_payload(&Bytes::from_static(b"Hello, Hello"));
    encode_frame_rsv(&mut frag, OpCode::Text, false, 0x40, &wire[..2], MASK).unwrap();
    encode_frame_rsv(
        &mut frag,
        OpCode::Continuation,
        true,
        0x40,
        &wire[2..],
        MASK,
    )
    .unwrap();
    assert_eq!(violation(&frag, on), WsError::CompressedNotFirstFrame);

    // Without negotiation RSV1 is a reserved bit.
    let mut text = BytesMut::new();
    encode_frame_rsv(&mut text, OpCode::Text, true, 0x40, &wire, MASK).unwrap();
    assert_eq!(violation(&text, None), WsError::ReservedBits);
    // An uncompressed message is still fine when negotiated.
    let mut plain = BytesMut::new();
    encode_frame(&mut plain, OpCode::Text, true, b"plain", MASK).unwrap();
    let mut dec = decoder(Role::Server, DeflateParams::default(), WsLimits::default());
    assert_eq!(
        dec.decode(&mut plain),
        Ok(Some(Message::Text(Bytes::from_static(b"plain"))))
    );
}

#[test]
fn a_deflate_bomb_closes_1009_and_text_is_checked_after_inflating() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let mut deflater = Deflater::new(9, 15, false);
    let mut wire = BytesMut::new();
    encode(
        &mut wire,
        &mut deflater,
        OpCode::Binary,
        &zeros,
        1 << 20,
        MASK,
    );
    assert!(wire.len() < 64 * 1024, "{}", wire.len());
    let limits = WsLimits {
        max_frame: 1 << 20,
        max_message: 1 << 20,
    };
    let mut dec = decoder(Role::Server, DeflateParams::default(), limits);
    let e = decode_in_steps(&mut dec, &wire, 4096).1.expect("too large");
    assert_eq!(
        (e, e.close_code()),
        (WsError::MessageTooLarge, CloseCode::MESSAGE_TOO_BIG)
    );

    let mut bad = BytesMut::new();
    let mut deflater = Deflater::new(6, 15, false);
    encode(
        &mut bad,
        &mut deflater,
        OpCode::Text,
        b"ok \xff\xfe",
        100,
        MASK,
    );
    let e = violation(&bad, Some(DeflateParams::default()));
    assert_eq!(
        (e, e.close_code()),
        (WsError::InvalidUtf8, CloseCode::INVALID_PAYLOAD)
    );

    let mut garbage = BytesMut::new();
    encode_frame_rsv(&mut garbage, OpCode::Binary, true, 0x40, &[0xff; 8], MASK).unwrap();
    assert_eq!(
        violation(&garbage, Some(DeflateParams::default())),
        WsError::InvalidCompressedData
    );
}

#[test]
fn context_takeover_needs_the_previous_messages() {
    let params = DeflateParams::default();
    let mut deflater = params.deflater(Role::Client, 6);
    let mut first = BytesMut::new();
    encode(
        &mut first,
        &mut deflater,
        OpCode::Text,
        b"repeat after me, repeat",
        1000,
        MASK,
    );
    let mut second = BytesMut::new();
    encode(
        &mut second,
        &mut deflater,
        OpCode::Text,
        b"repeat after me, repeat",
        1000,
        MASK,
    );
    assert!(second.len() < first.len());
    // A receiver that missed the first message cannot decode the second.
    assert_eq!(
        violation(&second, Some(params)),
        WsError::InvalidCompressedData
    );
    // Without takeover every message stands alone.
    let reset = DeflateParams {
        client_no_context_takeover: true,
        ..params
    };
    let mut deflater = reset.deflater(Role::Client, 6);
    let mut a = BytesMut::new();
    encode(
        &mut a,
        &mut deflater,
        OpCode::Text,
        b"repeat after me, repeat",
        1000,
        MASK,
    );
    let mut b = BytesMut::new();
    encode(
        &mut b,
        &mut deflater,
        OpCode::Text,
        b"repeat after me, repeat",
        1000,
        MASK,
    );
    assert_eq!(a.len(), b.len());
    let mut dec = decoder(Role::Server, reset, WsLimits::default());
    assert_eq!(
        decode_in_steps(&mut dec, &b, 3).0,
        vec![Message::Text(Bytes::from_static(
            b"repeat after me, repeat"
        ))]
    );
}
