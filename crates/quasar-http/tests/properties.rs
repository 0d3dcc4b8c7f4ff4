//! Properties: any split of valid input decodes the same; arbitrary bytes never panic and
//! never exceed the limits; frames round-trip.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use quasar_http::ws::{encode_frame, Message, OpCode, Role, WsDecoder, WsLimits};
use quasar_http::{encode_chunk, encode_last_chunk, BodyDecoder, HttpError, Limits, RequestParser};

/// Parses one request (head + body) feeding `input` in pieces cut at `cuts`.
fn parse_split(
    input: &[u8],
    cuts: &[usize],
    limits: Limits,
) -> Result<Option<(String, Vec<u8>)>, HttpError> {
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut fed = 0;
    let mut req = None;
    let mut body = Vec::new();
    for p in points {
        buf.extend_from_slice(&input[fed..p]);
        fed = p;
        if req.is_none() {
            req = parser.parse(&mut buf)?;
            // Limits: what stays buffered while waiting for a head is bounded.
            if req.is_none() {
                assert!(
                    buf.len() <= limits.max_head_bytes + 2,
                    "buffered {}",
                    buf.len()
                );
            }
        }
        if let Some(r) = req.as_mut() {
            let r: &mut quasar_http::ParsedRequest = r;
            while let Some(data) = r.body.decode(&mut buf)? {
                body.extend_from_slice(&data);
                assert!(body.len() as u64 <= limits.max_body);
            }
        }
    }
    Ok(req
        .filter(|r| r.body.is_eof())
        .map(|r| (r.parts.uri.to_string(), body)))
}

fn chunked_request(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut wire =
        BytesMut::from(&b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"[..]);
    for c in chunks {
        encode_chunk(&mut wire, c);
    }
    encode_last_chunk(&mut wire);
    wire.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_of_a_chunked_request_decodes_the_same(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let wire = chunked_request(&chunks);
        let got = parse_split(&wire, &cuts, Limits::default()).unwrap();
        prop_assert_eq!(got, Some(("/up".to_string(), chunks.concat())));
    }

    #[test]
    fn any_split_of_a_length_request_decodes_the_same(
        body in prop::collection::vec(any::<u8>(), 0..100),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut wire = format!("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        wire.extend_from_slice(&body);
        prop_assert_eq!(parse_split(&wire, &cuts, Limits::default()).unwrap(), Some(("/x".to_string(), body)));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_respect_small_limits(
        input in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let limits = Limits { max_head_bytes: 200, max_request_line: 100, max_body: 64, max_chunk_line: 16, max_trailer_bytes: 32, ..Limits::default() };
        let _ = parse_split(&input, &cuts, limits);
    }

    #[test]
    fn arbitrary_bytes_after_a_chunked_head_never_panic(
        input in prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF;= \t\r\nxX\0".to_vec()), 0..300),
    ) {
        let limits = Limits { max_body: 100, max_chunk_line: 16, max_trailer_bytes: 32, ..Limits::default() };
        let mut dec = BodyDecoder::chunked(&limits);
        let mut buf = BytesMut::from(&input[..]);
        let mut total = 0usize;
        while let Ok(Some(d)) = dec.decode(&mut buf) {
            total += d.len();
        }
        prop_assert!(total <= 100);
    }

    #[test]
    fn frames_round_trip_in_any_split(
        messages in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..300), 1usize..4), 1..5),
        mask in any::<[u8; 4]>(),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        // Each message is sent as `parts` fragments, with a ping before the last one.
        let mut wire = BytesMut::new();
        let mut want = Vec::new();
        for (text, payload, parts) in &messages {
            let payload: Vec<u8> = if *text { String::from_utf8_lossy(payload).into_owned().into_bytes() } else { payload.clone() };
            let size = payload.len().div_ceil(*parts).max(1);
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(size).collect() };
            for (i, piece) in pieces.iter().enumerate() {
                let op = if i > 0 { OpCode::Continuation } else if *text { OpCode::Text } else { OpCode::Binary };
                let last = i + 1 == pieces.len();
                if last && i > 0 {
                    encode_frame(&mut wire, OpCode::Ping, true, b"p", Some(mask)).unwrap();
                    want.push(Message::Ping(Bytes::from_static(b"p")));
                }
                encode_frame(&mut wire, op, last, piece, Some(mask)).unwrap();
            }
            let payload = Bytes::from(payload);
            want.push(if *text { Message::Text(payload) } else { Message::Binary(payload) });
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let mut dec = WsDecoder::new(Role::Server);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut fed = 0;
        for p in points {
            buf.extend_from_slice(&wire[fed..p]);
            fed = p;
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, want);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoder(
        input in prop::collection::vec(any::<u8>(), 0..400),
        client in any::<bool>(),
    ) {
        let limits = WsLimits { max_frame: 64, max_message: 100 };
        let role = if client { Role::Client } else { Role::Server };
        let mut dec = WsDecoder::with_limits(role, limits);
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(m)) = dec.decode(&mut buf) {
            let len = match &m {
                Message::Text(b) | Message::Binary(b) => b.len(),
                Message::Ping(b) | Message::Pong(b) => { prop_assert!(b.len() <= 125); b.len() }
                Message::Close(_) => 0,
            };
            prop_assert!(len <= 100);
            if let Message::Text(b) = &m {
                prop_assert!(std::str::from_utf8(b).is_ok());
            }
        }
    }
}
