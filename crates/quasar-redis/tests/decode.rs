//! Decoding each frame kind, its edge cases, and every malformed input the decoder names.

use bytes::{Bytes, BytesMut};
use quasar_redis::{decode, DecodeError, Decoder, Frame, Limits};

fn one(wire: &[u8]) -> Result<Option<Frame>, DecodeError> {
    let mut buf = BytesMut::from(wire);
    let result = decode(&mut buf, &Limits::default());
    if let Ok(Some(_)) = result {
        assert!(buf.is_empty(), "{wire:?} left {:?}", &buf[..]);
    }
    if let Ok(None) = result {
        assert_eq!(&buf[..], wire, "need-more must not consume");
    }
    result
}

fn ok(wire: &[u8]) -> Frame {
    match one(wire) {
        Ok(Some(frame)) => frame,
        other => panic!("{wire:?} decoded to {other:?}"),
    }
}

fn err(wire: &[u8]) -> DecodeError {
    match one(wire) {
        Err(e) => e,
        other => panic!("{wire:?} decoded to {other:?}"),
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn resp2_scalars_decode() {
    assert_eq!(ok(b"+OK\r\n"), Frame::Simple(b("OK")));
    assert_eq!(ok(b"+\r\n"), Frame::Simple(b("")));
    assert_eq!(ok(b"-ERR unknown\r\n"), Frame::Error(b("ERR unknown")));
    assert_eq!(ok(b":0\r\n"), Frame::Integer(0));
    assert_eq!(ok(b":-9223372036854775808\r\n"), Frame::Integer(i64::MIN));
    assert_eq!(ok(b"$5\r\nhello\r\n"), Frame::Bulk(b("hello")));
    assert_eq!(ok(b"$0\r\n\r\n"), Frame::Bulk(b("")));
    assert_eq!(
        ok(b"$4\r\na\r\nb\r\n"),
        Frame::Bulk(b("a\r\nb")),
        "binary safe"
    );
    assert_eq!(ok(b"$-1\r\n"), Frame::NullBulk);
}

#[test]
fn resp2_arrays_decode_including_null_and_nested() {
    assert_eq!(ok(b"*0\r\n"), Frame::Array(vec![]));
    assert_eq!(ok(b"*-1\r\n"), Frame::NullArray);
    assert_eq!(
        ok(b"*3\r\n:1\r\n*1\r\n$-1\r\n*0\r\n"),
        Frame::Array(vec![
            Frame::Integer(1),
            Frame::Array(vec![Frame::NullBulk]),
            Frame::Array(vec![]),
        ])
    );
}

#[test]
fn resp3_scalars_decode() {
    assert_eq!(ok(b"_\r\n"), Frame::Null);
    assert_eq!(ok(b",1.5\r\n"), Frame::Double(1.5));
    assert_eq!(ok(b",-2\r\n"), Frame::Double(-2.0));
    assert_eq!(ok(b",1e+300\r\n"), Frame::Double(1e300));
    assert_eq!(ok(b",inf\r\n"), Frame::Double(f64::INFINITY));
    assert_eq!(ok(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
    assert_eq!(ok(b",nan\r\n"), Frame::Double(f64::NAN));
    assert_eq!(ok(b"#t\r\n"), Frame::Boolean(true));
    assert_eq!(ok(b"#f\r\n"), Frame::Boolean(false));
    assert_eq!(
        ok(b"(3492890328409238509324850943850943825024385\r\n"),
        Frame::BigNumber(b("3492890328409238509324850943850943825024385"))
    );
    assert_eq!(ok(b"(-1\r\n"), Frame::BigNumber(b("-1")));
    assert_eq!(
        ok(b"!21\r\nSYNTAX invalid syntax\r\n"),
        Frame::BlobError(b("SYNTAX invalid syntax"))
    );
    assert_eq!(
        ok(b"=15\r\ntxt:Some string\r\n"),
        Frame::Verbatim {
            format: *b"txt",
            text: b("Some string")
        }
    );
    assert_eq!(
        ok(b"=4\r\nmkd:\r\n"),
        Frame::Verbatim {
            format: *b"mkd",
            text: b("")
        }
    );
}

#[test]
fn resp3_aggregates_decode() {
    assert_eq!(
        ok(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
        Frame::Map(vec![
            (Frame::Simple(b("first")), Frame::Integer(1)),
            (Frame::Simple(b("second")), Frame::Integer(2)),
        ])
    );
    assert_eq!(ok(b"%0\r\n"), Frame::Map(vec![]));
    assert_eq!(
        ok(b"~2\r\n+a\r\n+a\r\n"),
        Frame::Set(vec![Frame::Simple(b("a")), Frame::Simple(b("a"))])
    );
    assert_eq!(
        ok(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
        Frame::Push(vec![
            Frame::Bulk(b("message")),
            Frame::Bulk(b("ch")),
            Frame::Bulk(b("hi"))
        ])
    );
}

#[test]
fn attributes_attach_to_the_frame_that_follows_and_do_not_count_as_elements() {
    let wire = b"*2\r\n|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:2039123\r\n:9543892\r\n";
    assert_eq!(
        ok(wire),
        Frame::Array(vec![
            Frame::Attributed {
                attributes: vec![(
                    Frame::Simple(b("key-popularity")),
                    Frame::Map(vec![(Frame::Bulk(b("a")), Frame::Double(0.19))]),
                )],
                frame: Box::new(Frame::Integer(2039123)),
            },
            Frame::Integer(9543892),
        ])
    );
    // An attribute alone is incomplete: the frame it describes has not arrived.
    assert_eq!(one(b"|1\r\n+a\r\n+b\r\n"), Ok(None));
    assert_eq!(
        ok(b"|0\r\n_\r\n"),
        Frame::Attributed {
            attributes: vec![],
            frame: Box::new(Frame::Null)
        }
    );
}

#[test]
fn incomplete_input_is_need_more_at_every_cut() {
    let wire: &[u8] = b"*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.25\r\n=6\r\ntxt:hi\r\n";
    for cut in 0..wire.len() {
        assert_eq!(one(&wire[..cut]), Ok(None), "cut at {cut}");
    }
    assert!(matches!(one(wire), Ok(Some(_))));
}

#[test]
fn frames_are_taken_one_at_a_time_and_leave_the_rest() {
    let mut buf = BytesMut::from(&b"+a\r\n:1\r\n$1"[..]);
    let limits = Limits::default();
    assert_eq!(decode(&mut buf, &limits), Ok(Some(Frame::Simple(b("a")))));
    assert_eq!(decode(&mut buf, &limits), Ok(Some(Frame::Integer(1))));
    assert_eq!(decode(&mut buf, &limits), Ok(None));
    assert_eq!(&buf[..], b"$1");
}

#[test]
fn bad_type_bytes_are_rejected() {
    assert_eq!(err(b"?\r\n"), DecodeError::InvalidTypeByte(b'?'));
    assert_eq!(err(b"PING\r\n"), DecodeError::InvalidTypeByte(b'P'));
    assert_eq!(err(b"*1\r\nx\r\n"), DecodeError::InvalidTypeByte(b'x'));
}

#[test]
fn bad_lengths_are_rejected() {
    assert_eq!(err(b"$\r\n"), DecodeError::InvalidLength);
    assert_eq!(err(b"$x\r\n"), DecodeError::InvalidLength);
    assert_eq!(err(b"$+1\r\n"), DecodeError::InvalidLength);
    assert_eq!(err(b"$1 \r\n"), DecodeError::InvalidLength);
    assert_eq!(err(b"$-2\r\n"), DecodeError::NegativeLength(-2));
    assert_eq!(err(b"*-5\r\n"), DecodeError::NegativeLength(-5));
    // Only `$` and `*` have a -1 null form.
    assert_eq!(err(b"!-1\r\n"), DecodeError::NegativeLength(-1));
    assert_eq!(err(b"%-1\r\n"), DecodeError::NegativeLength(-1));
    assert_eq!(err(b"~-1\r\n"), DecodeError::NegativeLength(-1));
    assert_eq!(err(b"|-1\r\n"), DecodeError::NegativeLength(-1));
    assert_eq!(
        err(b"$99999999999999999999\r\n"),
        DecodeError::IntegerOverflow
    );
    // RESP3 streamed strings and aggregates are not supported.
    assert_eq!(err(b"$?\r\n"), DecodeError::InvalidLength);
    assert_eq!(err(b"*?\r\n"), DecodeError::InvalidLength);
}

#[test]
fn bad_scalars_are_rejected() {
    assert_eq!(err(b":\r\n"), DecodeError::InvalidInteger);
    assert_eq!(err(b":1.0\r\n"), DecodeError::InvalidInteger);
    assert_eq!(
        err(b":9223372036854775808\r\n"),
        DecodeError::IntegerOverflow
    );
    assert_eq!(err(b",\r\n"), DecodeError::InvalidDouble);
    assert_eq!(err(b",1,5\r\n"), DecodeError::InvalidDouble);
    assert_eq!(err(b",\xff\r\n"), DecodeError::InvalidDouble);
    assert_eq!(err(b"#x\r\n"), DecodeError::InvalidBoolean);
    assert_eq!(err(b"#\r\n"), DecodeError::InvalidBoolean);
    assert_eq!(err(b"(12a\r\n"), DecodeError::InvalidBigNumber);
    assert_eq!(err(b"(\r\n"), DecodeError::InvalidBigNumber);
    assert_eq!(err(b"_x\r\n"), DecodeError::InvalidNull);
    assert_eq!(err(b"=3\r\ntxt\r\n"), DecodeError::InvalidVerbatim);
    assert_eq!(err(b"=5\r\ntxt;a\r\n"), DecodeError::InvalidVerbatim);
}

#[test]
fn missing_line_endings_are_rejected() {
    assert_eq!(err(b"+OK\n"), DecodeError::MissingCrlf);
    assert_eq!(err(b"+O\rK\r\n"), DecodeError::MissingCrlf);
    assert_eq!(err(b":1\r\r\n"), DecodeError::MissingCrlf);
    assert_eq!(err(b"$3\nabc\r\n"), DecodeError::MissingCrlf);
    assert_eq!(err(b"$3\r\nabcd\r\n"), DecodeError::BulkMissingCrlf);
    assert_eq!(err(b"$3\r\nab\r\n\r\n"), DecodeError::BulkMissingCrlf);
    assert_eq!(err(b"!1\r\nab\r"), DecodeError::BulkMissingCrlf);
}

#[test]
fn limits_are_enforced() {
    let mut limits = Limits::default();
    limits.max_bulk_len = 3;
    limits.max_aggregate_len = 2;
    limits.max_depth = 2;
    limits.max_line_len = 8;
    limits.max_frame_len = 35;
    let run = |wire: &[u8]| decode(&mut BytesMut::from(wire), &limits);

    assert_eq!(run(b"$3\r\nabc\r\n"), Ok(Some(Frame::Bulk(b("abc")))));
    assert_eq!(
        run(b"$4\r\n"),
        Err(DecodeError::BulkTooLarge { len: 4, limit: 3 })
    );
    assert_eq!(
        run(b"=4\r\n"),
        Err(DecodeError::BulkTooLarge { len: 4, limit: 3 })
    );
    assert_eq!(
        run(b"*3\r\n"),
        Err(DecodeError::AggregateTooLarge { len: 3, limit: 2 })
    );
    assert_eq!(
        run(b"%3\r\n"),
        Err(DecodeError::AggregateTooLarge { len: 3, limit: 2 })
    );
    assert!(matches!(run(b"*1\r\n*1\r\n_\r\n"), Ok(Some(_))));
    assert_eq!(
        run(b"*1\r\n*1\r\n*1\r\n"),
        Err(DecodeError::TooDeep { limit: 2 })
    );
    // Attributes count towards depth, so a chain of them cannot recurse without bound.
    assert_eq!(
        run(b"|0\r\n|0\r\n|0\r\n"),
        Err(DecodeError::TooDeep { limit: 2 })
    );
    // Empty aggregates open nothing.
    assert!(matches!(run(b"*1\r\n*1\r\n*0\r\n"), Ok(Some(_))));
    assert_eq!(
        run(b"+12345678\r\n"),
        Ok(Some(Frame::Simple(b("12345678"))))
    );
    assert_eq!(
        run(b"+123456789"),
        Err(DecodeError::LineTooLong { limit: 8 })
    );
    assert_eq!(
        run(b"+123456789\r\n"),
        Err(DecodeError::LineTooLong { limit: 8 })
    );
    assert_eq!(
        run(b"*2\r\n$3\r\nabc\r\n$3\r\nabc\r\n"),
        Ok(Some(Frame::Array(vec![
            Frame::Bulk(b("abc")),
            Frame::Bulk(b("abc"))
        ])))
    );
    assert_eq!(
        run(b"*2\r\n*2\r\n$3\r\nabc\r\n$3\r\nabc\r\n*2\r\n$3\r\n"),
        Err(DecodeError::FrameTooLarge { limit: 35 })
    );
}

#[test]
fn a_huge_declared_bulk_is_refused_as_soon_as_its_header_arrives() {
    let mut limits = Limits::default();
    limits.max_bulk_len = 1024;
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    for &byte in b"*1\r\n$1025\r" {
        buf.extend_from_slice(&[byte]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"\n");
    assert_eq!(
        decoder.decode(&mut buf),
        Err(DecodeError::BulkTooLarge {
            len: 1025,
            limit: 1024
        })
    );
}

#[test]
fn a_header_without_its_line_end_is_refused_once_past_the_line_limit() {
    let mut limits = Limits::default();
    limits.max_line_len = 16;
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"*"[..]);
    for _ in 0..16 {
        buf.extend_from_slice(b"1");
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"1");
    assert_eq!(
        decoder.decode(&mut buf),
        Err(DecodeError::LineTooLong { limit: 16 })
    );
}

#[test]
fn a_decoder_resumes_a_frame_fed_one_byte_at_a_time() {
    let mut wire = BytesMut::new();
    let frame = Frame::Array(
        (0..200)
            .map(|i| Frame::Array(vec![Frame::Integer(i), Frame::bulk(format!("v{i}"))]))
            .collect(),
    );
    frame.encode(&mut wire);
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    for (i, &byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        let got = decoder.decode(&mut buf).unwrap();
        if i + 1 < wire.len() {
            assert_eq!(got, None, "complete early at byte {i}");
            assert_eq!(buf.len(), i + 1);
        } else {
            assert_eq!(got, Some(frame.clone()));
        }
    }
    assert!(buf.is_empty());
}

#[test]
fn a_decoder_recovers_when_reset_after_its_buffer_changed() {
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::from(&b"*2\r\n:1\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.clear();
    buf.extend_from_slice(b":7\r\n");
    decoder.reset();
    assert_eq!(decoder.decode(&mut buf), Ok(Some(Frame::Integer(7))));
}

#[test]
fn decoded_bulks_share_the_read_buffer() {
    let mut buf = BytesMut::from(&b"$3\r\nabc\r\n"[..]);
    let start = buf.as_ptr() as usize;
    let Ok(Some(Frame::Bulk(data))) = decode(&mut buf, &Limits::default()) else {
        panic!("not a bulk");
    };
    assert_eq!(data.as_ptr() as usize, start + 4, "payload was copied");
}
