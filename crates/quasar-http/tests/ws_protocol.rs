//! WebSocket: each protocol violation closes with the right code; handshake rules.

use bytes::BytesMut;
use http::StatusCode;
use quasar_http::ws::{
    self, encode_frame, CloseCode, CloseFrame, HandshakeError, Message, OpCode, Role, WsDecoder,
    WsError, WsLimits,
};
use quasar_http::{RequestParser, ResponseParser};

const MASK: Option<[u8; 4]> = Some([0xa1, 0xb2, 0xc3, 0xd4]);

fn frame(op: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_frame(&mut b, op, fin, payload, MASK).unwrap();
    b.to_vec()
}

/// Runs a server decoder over `wire`; the messages, then the error if any.
fn server_decode(wire: &[u8], limits: WsLimits) -> (Vec<Message>, Option<WsError>) {
    let mut dec = WsDecoder::with_limits(Role::Server, limits);
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(m)) => out.push(m),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn violation(wire: &[u8]) -> CloseCode {
    server_decode(wire, WsLimits::default())
        .1
        .expect("a violation")
        .close_code()
}

#[test]
fn reserved_bits_and_opcodes_are_protocol_errors() {
    let mut f = frame(OpCode::Text, true, b"x");
    f[0] |= 0x20;
    assert_eq!(violation(&f), CloseCode::PROTOCOL_ERROR);
    for op in [3u8, 7, 0xb, 0xf] {
        assert_eq!(
            violation(&[0x80 | op, 0x80, 0, 0, 0, 0]),
            CloseCode::PROTOCOL_ERROR,
            "{op}"
        );
    }
}

#[test]
fn an_unmasked_client_frame_is_a_protocol_error_and_a_masked_server_frame_too() {
    assert_eq!(violation(b"\x81\x01x"), CloseCode::PROTOCOL_ERROR);
    let mut client = WsDecoder::new(Role::Client);
    assert_eq!(
        client.decode(&mut BytesMut::from(&frame(OpCode::Text, true, b"x")[..])),
        Err(WsError::MaskedFrame)
    );
    assert_eq!(
        client.decode(&mut BytesMut::from(&b"\x81\x01x"[..])),
        Ok(Some(Message::Text("x".into())))
    );
}

#[test]
fn control_frames_must_be_short_and_whole() {
    // A masked ping announcing 126 payload bytes (16-bit length form).
    assert_eq!(
        violation(&[0x89, 0xfe, 0, 126, 1, 2, 3, 4]),
        CloseCode::PROTOCOL_ERROR
    );
    let mut ping = frame(OpCode::Ping, true, b"p");
    ping[0] &= 0x7f; // clear FIN
    assert_eq!(violation(&ping), CloseCode::PROTOCOL_ERROR);
    let (msgs, err) = server_decode(&frame(OpCode::Ping, true, &[7; 125]), WsLimits::default());
    assert_eq!(
        (msgs, err),
        (vec![Message::Ping(vec![7; 125].into())], None)
    );
}

#[test]
fn continuation_rules_are_enforced() {
    assert_eq!(
        violation(&frame(OpCode::Continuation, true, b"x")),
        CloseCode::PROTOCOL_ERROR
    );
    let mut wire = frame(OpCode::Text, false, b"a");
    wire.extend(frame(OpCode::Text, true, b"b"));
    assert_eq!(violation(&wire), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn fragments_reassemble_around_interleaved_control_frames() {
    let mut wire = frame(OpCode::Binary, false, b"ab");
    wire.extend(frame(OpCode::Pong, true, b""));
    wire.extend(frame(OpCode::Continuation, false, b""));
    wire.extend(frame(OpCode::Ping, true, b"1"));
    wire.extend(frame(OpCode::Continuation, true, b"cd"));
    let (msgs, err) = server_decode(&wire, WsLimits::default());
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        vec![
            Message::Pong("".into()),
            Message::Ping("1".into()),
            Message::Binary("abcd".into())
        ]
    );
}

#[test]
fn invalid_utf8_text_is_1007_and_fails_before_the_frame_ends() {
    assert_eq!(
        violation(&frame(OpCode::Text, true, b"\xce\xba\xff")),
        CloseCode::INVALID_PAYLOAD
    );
    // A code point split across fragments is fine; an unfinished one at the end is not.
    let mut wire = frame(OpCode::Text, false, "κ".as_bytes().get(..1).unwrap());
    wire.extend(frame(
        OpCode::Continuation,
        true,
        "κ".as_bytes().get(1..).unwrap(),
    ));
    assert_eq!(
        server_decode(&wire, WsLimits::default()).0,
        vec![Message::Text("κ".into())]
    );
    assert_eq!(
        violation(&frame(OpCode::Text, true, b"ok\xce")),
        CloseCode::INVALID_PAYLOAD
    );
    // Fail fast: only the first 3 payload bytes of a 1000-byte frame have arrived.
    let mut payload = b"a\xf4\x90".to_vec();
    payload.resize(1000, b'a');
    let full = frame(OpCode::Text, true, &payload);
    let header_len = 2 + 2 + 4;
    let mut dec = WsDecoder::new(Role::Server);
    let mut buf = BytesMut::from(&full[..header_len + 3]);
    assert_eq!(dec.decode(&mut buf), Err(WsError::InvalidUtf8));
}

#[test]
fn close_frames_are_validated() {
    assert_eq!(
        violation(&frame(OpCode::Close, true, b"\x03")),
        CloseCode::PROTOCOL_ERROR
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(
            violation(&frame(OpCode::Close, true, &code.to_be_bytes())),
            CloseCode::PROTOCOL_ERROR,
            "{code}"
        );
    }
    assert_eq!(
        violation(&frame(OpCode::Close, true, b"\x03\xe8\xce")),
        CloseCode::INVALID_PAYLOAD
    );
    let mut wire = frame(OpCode::Close, true, b"\x03\xe9bye");
    wire.extend(frame(OpCode::Text, true, b"ignored after close"));
    let (msgs, err) = server_decode(&wire, WsLimits::default());
    assert_eq!(err, None);
    let want = CloseFrame::new(CloseCode::GOING_AWAY, "bye").unwrap();
    assert_eq!(msgs, vec![Message::Close(Some(want))]);
}

#[test]
fn frame_and_message_limits_are_1009() {
    let limits = WsLimits {
        max_frame: 10,
        max_message: 15,
    };
    assert_eq!(
        server_decode(&frame(OpCode::Binary, true, &[0; 11]), limits).1,
        Some(WsError::FrameTooLarge)
    );
    let mut wire = frame(OpCode::Binary, false, &[0; 10]);
    wire.extend(frame(OpCode::Continuation, true, &[0; 6]));
    let err = server_decode(&wire, limits).1.unwrap();
    assert_eq!(
        (err, err.close_code()),
        (WsError::MessageTooLarge, CloseCode::MESSAGE_TOO_BIG)
    );
    let mut wire = frame(OpCode::Binary, false, &[0; 10]);
    wire.extend(frame(OpCode::Continuation, true, &[0; 5]));
    assert_eq!(
        server_decode(&wire, limits),
        (vec![Message::Binary(vec![0; 15].into())], None)
    );
}

#[test]
fn a_64_bit_length_with_the_top_bit_set_is_a_protocol_error() {
    assert_eq!(
        violation(b"\x82\xff\x80\0\0\0\0\0\0\x01\0\0\0\0"),
        CloseCode::PROTOCOL_ERROR
    );
}

// ===== handshake =====

const HANDSHAKE: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn validate(raw: &str) -> Result<String, HandshakeError> {
    let req = RequestParser::default()
        .parse(&mut BytesMut::from(raw.as_bytes()))
        .unwrap()
        .unwrap();
    ws::validate_request(&req.parts)
}

#[test]
fn the_rfc_sample_handshake_is_accepted() {
    assert_eq!(validate(HANDSHAKE).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let relaxed = HANDSHAKE
        .replace("Upgrade: websocket", "Upgrade: foo, WebSocket")
        .replace("Connection: Upgrade", "Connection: keep-alive, upgrade");
    assert!(validate(&relaxed).is_ok());
}

#[test]
fn each_handshake_rule_is_checked() {
    assert_eq!(
        validate(&HANDSHAKE.replace("GET", "POST")),
        Err(HandshakeError::NotGet)
    );
    assert_eq!(
        validate(&HANDSHAKE.replace("HTTP/1.1", "HTTP/1.0")),
        Err(HandshakeError::NotHttp11)
    );
    assert_eq!(
        validate(&HANDSHAKE.replace("Upgrade: websocket", "Upgrade: h2c")),
        Err(HandshakeError::MissingUpgrade)
    );
    assert_eq!(
        validate(&HANDSHAKE.replace("Connection: Upgrade", "Connection: close")),
        Err(HandshakeError::MissingConnectionUpgrade)
    );
    assert_eq!(
        validate(&HANDSHAKE.replace("Version: 13", "Version: 8")),
        Err(HandshakeError::UnsupportedVersion)
    );
    assert_eq!(
        validate(&HANDSHAKE.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==")),
        Err(HandshakeError::InvalidKey)
    );
    assert_eq!(
        validate(&HANDSHAKE.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!==")),
        Err(HandshakeError::InvalidKey)
    );
}

#[test]
fn a_wrong_version_gets_426_with_the_supported_version() {
    let mut out = BytesMut::new();
    HandshakeError::UnsupportedVersion.encode_rejection(&mut out);
    assert_eq!(
        HandshakeError::UnsupportedVersion.status(),
        StatusCode::UPGRADE_REQUIRED
    );
    assert_eq!(
        &out[..],
        &b"HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"[..]
    );
}

#[test]
fn a_client_handshake_round_trips_through_a_server() {
    let key = ws::key_from_bytes(*b"the sample nonce");
    assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
    let mut wire = BytesMut::new();
    ws::encode_client_request(
        &mut wire,
        &"server.example.com".parse().unwrap(),
        &"/chat".parse().unwrap(),
        &key,
        &http::HeaderMap::new(),
    );
    let req = RequestParser::default().parse(&mut wire).unwrap().unwrap();
    assert!(req.upgrade);
    let accept = ws::validate_request(&req.parts).unwrap();

    let mut answer = BytesMut::new();
    ws::encode_accept(&mut answer, &accept, Some("chat"));
    let res = ResponseParser::default()
        .parse(&mut answer, &http::Method::GET)
        .unwrap()
        .unwrap();
    assert_eq!(res.parts.headers["sec-websocket-protocol"], "chat");
    assert_eq!(ws::validate_response(&res.parts, &key), Ok(()));
    assert_eq!(
        ws::validate_response(&res.parts, &ws::generate_key()),
        Err(HandshakeError::InvalidAccept)
    );
}
