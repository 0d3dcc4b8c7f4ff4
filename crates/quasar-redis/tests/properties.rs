//! Properties of the codec over generated frames, commands and arbitrary bytes.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use quasar_redis::{decode, decode_command, encode_command, DecodeError, Decoder, Frame, Limits};

// ===== strategies =====

/// Line text: any bytes but `\r` and `\n`, which the encoder would rewrite.
fn line_text() -> impl Strategy<Value = Bytes> {
    vec(
        any::<u8>().prop_filter("no line breaks", |b| *b != b'\r' && *b != b'\n'),
        0..24,
    )
    .prop_map(Bytes::from)
}

fn payload() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..48).prop_map(Bytes::from)
}

fn leaf() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_text().prop_map(Frame::Simple),
        line_text().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        payload().prop_map(Frame::Bulk),
        Just(Frame::NullBulk),
        Just(Frame::NullArray),
        Just(Frame::Null),
        proptest::num::f64::ANY.prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "[-+]?[0-9]{1,50}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        payload().prop_map(Frame::BlobError),
        (any::<[u8; 3]>(), payload()).prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    leaf().prop_recursive(5, 96, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Frame::Array),
            vec(inner.clone(), 0..6).prop_map(Frame::Set),
            vec(inner.clone(), 0..6).prop_map(Frame::Push),
            vec((inner.clone(), inner.clone()), 0..4).prop_map(Frame::Map),
            (vec((inner.clone(), inner.clone()), 0..3), inner).prop_map(|(attributes, frame)| {
                Frame::Attributed {
                    attributes,
                    frame: Box::new(frame),
                }
            }),
        ]
    })
}

/// Cuts `wire` into consecutive chunks whose sizes cycle through `sizes`.
fn chunks<'a>(wire: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

/// The number of aggregates the decoder has open at once while reading `frame`.
fn depth(frame: &Frame) -> usize {
    fn nested<'a>(children: impl Iterator<Item = &'a Frame>, always: bool) -> usize {
        let deepest = children.map(depth).max();
        match deepest {
            Some(d) => d + 1,
            None if always => 1,
            None => 0,
        }
    }
    match frame {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => nested(v.iter(), false),
        Frame::Map(pairs) => nested(pairs.iter().flat_map(|(k, v)| [k, v]), false),
        Frame::Attributed { attributes, frame } => nested(
            attributes
                .iter()
                .flat_map(|(k, v)| [k, v])
                .chain(std::iter::once(&**frame)),
            true,
        ),
        _ => 0,
    }
}

fn encoded(frames: &[Frame]) -> BytesMut {
    let mut wire = BytesMut::new();
    for f in frames {
        f.encode(&mut wire);
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_frame_round_trips_through_encode_and_decode(f in frame()) {
        let mut wire = encoded(std::slice::from_ref(&f));
        let decoded = decode(&mut wire, &Limits::default());
        prop_assert_eq!(decoded, Ok(Some(f)));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn any_split_of_encoded_frames_decodes_to_the_same_frames(
        frames in vec(frame(), 1..4),
        sizes in vec(1usize..24, 1..8),
    ) {
        let wire = encoded(&frames);
        let mut decoder = Decoder::default();
        let mut stateful = BytesMut::new();
        let mut stateless = BytesMut::new();
        let (mut got, mut got_stateless) = (Vec::new(), Vec::new());
        for chunk in chunks(&wire, &sizes) {
            stateful.extend_from_slice(chunk);
            stateless.extend_from_slice(chunk);
            while let Some(f) = decoder.decode(&mut stateful).unwrap() {
                got.push(f);
            }
            while let Some(f) = decode(&mut stateless, &Limits::default()).unwrap() {
                got_stateless.push(f);
            }
        }
        prop_assert_eq!(&got, &frames);
        prop_assert_eq!(&got_stateless, &frames);
        prop_assert!(stateful.is_empty() && stateless.is_empty());
    }

    #[test]
    fn the_depth_limit_accepts_exactly_the_frames_within_it(f in frame(), max_depth in 0usize..5) {
        let mut limits = Limits::default();
        limits.max_depth = max_depth;
        let mut wire = encoded(std::slice::from_ref(&f));
        let result = decode(&mut wire, &limits);
        if depth(&f) <= max_depth {
            prop_assert_eq!(result, Ok(Some(f)));
        } else {
            prop_assert_eq!(result, Err(DecodeError::TooDeep { limit: max_depth }));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_need_more_consumes_nothing(
        bytes in vec(any::<u8>(), 0..256),
        sizes in vec(1usize..32, 1..6),
        command in any::<bool>(),
    ) {
        let mut limits = Limits::default();
        limits.max_line_len = 40;
        limits.max_bulk_len = 64;
        limits.max_depth = 6;
        limits.max_inline_len = 100;
        let mut decoder = Decoder::new(limits.clone());
        let mut stateful = BytesMut::new();
        let mut stateless = BytesMut::new();
        'feed: for chunk in chunks(&bytes, &sizes) {
            stateful.extend_from_slice(chunk);
            stateless.extend_from_slice(chunk);
            loop {
                let before = stateful.clone();
                // Both decoders see the same bytes, so they must agree on every step.
                let (a, b) = if command {
                    (
                        decoder.decode_command(&mut stateful).map(|c| c.map(|_| ())),
                        decode_command(&mut stateless, &limits).map(|c| c.map(|_| ())),
                    )
                } else {
                    (
                        decoder.decode(&mut stateful).map(|f| f.map(|_| ())),
                        decode(&mut stateless, &limits).map(|f| f.map(|_| ())),
                    )
                };
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(&stateful, &stateless);
                match a {
                    Ok(None) => {
                        prop_assert_eq!(&stateful, &before);
                        break;
                    }
                    Ok(Some(())) => prop_assert!(stateful.len() < before.len()),
                    Err(_) => break 'feed,
                }
            }
        }
    }

    #[test]
    fn decoding_into_a_reused_vector_agrees_with_decode_command(
        bytes in vec(any::<u8>(), 0..256),
        sizes in vec(1usize..32, 1..6),
    ) {
        let mut limits = Limits::default();
        limits.max_line_len = 40;
        limits.max_bulk_len = 64;
        limits.max_inline_len = 100;
        let mut decoder = Decoder::new(limits.clone());
        let mut args = vec![Bytes::from_static(b"left over")];
        let mut reused = BytesMut::new();
        let mut fresh = BytesMut::new();
        'feed: for chunk in chunks(&bytes, &sizes) {
            reused.extend_from_slice(chunk);
            fresh.extend_from_slice(chunk);
            loop {
                let got = decoder.decode_command_into(&mut reused, &mut args);
                let want = decode_command(&mut fresh, &limits);
                prop_assert_eq!(&reused, &fresh);
                match (got, want) {
                    (Ok(true), Ok(Some(cmd))) => prop_assert_eq!(&args, &cmd),
                    (Ok(false), Ok(None)) => {
                        prop_assert!(args.is_empty());
                        break;
                    }
                    (Err(a), Err(b)) => {
                        prop_assert_eq!(a, b);
                        break 'feed;
                    }
                    (got, want) => prop_assert!(false, "into {:?} vs {:?}", got, want),
                }
            }
        }
    }

    #[test]
    fn decoded_arbitrary_frames_reencode_to_the_same_frame(bytes in vec(any::<u8>(), 0..128)) {
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(f)) = decode(&mut buf, &Limits::default()) {
            let mut wire = encoded(std::slice::from_ref(&f));
            prop_assert_eq!(decode(&mut wire, &Limits::default()), Ok(Some(f)));
        }
    }

    #[test]
    fn a_declared_oversized_bulk_is_refused_at_the_end_of_its_header(
        len in 1025u64..u64::MAX,
        ty in prop::sample::select(vec![b'$', b'!', b'=']),
        nested in any::<bool>(),
    ) {
        let mut limits = Limits::default();
        limits.max_bulk_len = 1024;
        let mut decoder = Decoder::new(limits);
        let mut wire = Vec::new();
        if nested {
            wire.extend_from_slice(b"*1\r\n");
        }
        wire.push(ty);
        wire.extend_from_slice(format!("{len}\r\n").as_bytes());
        let mut buf = BytesMut::new();
        for (i, &byte) in wire.iter().enumerate() {
            buf.extend_from_slice(&[byte]);
            let result = decoder.decode(&mut buf);
            if i + 1 < wire.len() {
                prop_assert_eq!(result, Ok(None));
            } else if len > i64::MAX as u64 {
                prop_assert_eq!(result, Err(DecodeError::IntegerOverflow));
            } else {
                prop_assert_eq!(result, Err(DecodeError::BulkTooLarge { len, limit: 1024 }));
            }
        }
    }

    #[test]
    fn commands_round_trip_whatever_the_split(
        commands in vec(vec(vec(any::<u8>(), 0..20), 0..6), 1..4),
        sizes in vec(1usize..16, 1..6),
    ) {
        let mut wire = BytesMut::new();
        for c in &commands {
            encode_command(&mut wire, c);
        }
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in chunks(&wire, &sizes) {
            buf.extend_from_slice(chunk);
            while let Some(c) = decoder.decode_command(&mut buf).unwrap() {
                got.push(c.into_iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
        }
        prop_assert_eq!(got, commands);
    }

    #[test]
    fn inline_arguments_in_hex_escaped_double_quotes_decode_to_their_bytes(
        args in vec(vec(any::<u8>(), 0..12), 1..5),
        crlf in any::<bool>(),
    ) {
        let mut line = Vec::new();
        for a in &args {
            line.push(b'"');
            for byte in a {
                line.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
            }
            line.extend_from_slice(b"\" ");
        }
        line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        // An inline line must not start with '*', which would make it a RESP array.
        let mut buf = BytesMut::from(&line[..]);
        let got = decode_command(&mut buf, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(got.into_iter().map(|a| a.to_vec()).collect::<Vec<_>>(), args);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn inline_words_split_on_spaces(words in vec("[A-Za-z0-9_:.-]{1,10}", 1..6)) {
        let line = format!("{}\r\n", words.join("  "));
        let mut buf = BytesMut::from(line.as_bytes());
        let got = decode_command(&mut buf, &Limits::default()).unwrap().unwrap();
        let got: Vec<String> = got.iter().map(|a| String::from_utf8(a.to_vec()).unwrap()).collect();
        prop_assert_eq!(got, words);
    }
}
