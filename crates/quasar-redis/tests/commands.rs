//! Decoding client commands: arrays of bulk strings and inline lines, as a Redis server reads
//! them.

use bytes::{Bytes, BytesMut};
use quasar_redis::{decode_command, DecodeError, Decoder, Limits};

fn run(wire: &[u8]) -> Result<Option<Vec<Bytes>>, DecodeError> {
    let mut buf = BytesMut::from(wire);
    let result = decode_command(&mut buf, &Limits::default());
    if let Ok(None) = result {
        assert_eq!(&buf[..], wire, "need-more must not consume");
    }
    result
}

fn args(wire: &[u8]) -> Vec<&'static str> {
    let got = run(wire)
        .unwrap_or_else(|e| panic!("{wire:?}: {e}"))
        .unwrap_or_else(|| panic!("{wire:?}: incomplete"));
    got.into_iter()
        .map(|a| &*String::from_utf8(a.to_vec()).unwrap().leak())
        .collect()
}

#[test]
fn array_commands_decode_to_their_arguments() {
    assert_eq!(
        args(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"),
        ["SET", "k", ""]
    );
    assert_eq!(args(b"*1\r\n$4\r\nPING\r\n"), ["PING"]);
}

#[test]
fn empty_and_negative_arrays_are_empty_commands() {
    assert!(args(b"*0\r\n").is_empty());
    assert!(args(b"*-1\r\n").is_empty());
    assert!(args(b"*-10\r\n").is_empty());
}

#[test]
fn array_elements_must_be_non_null_bulk_strings() {
    assert_eq!(
        run(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
        Err(DecodeError::ExpectedBulk { found: b'f' })
    );
    assert_eq!(
        run(b"*1\r\n:1\r\n"),
        Err(DecodeError::ExpectedBulk { found: b':' })
    );
    assert_eq!(
        run(b"*1\r\n*1\r\n$1\r\na\r\n"),
        Err(DecodeError::ExpectedBulk { found: b'*' })
    );
    assert_eq!(run(b"*1\r\n$-1\r\n"), Err(DecodeError::NullBulkInCommand));
}

#[test]
fn an_out_of_range_array_length_is_refused() {
    assert_eq!(
        run(b"*20000000\r\n"),
        Err(DecodeError::AggregateTooLarge {
            len: 20_000_000,
            limit: 1024 * 1024
        })
    );
}

#[test]
fn incomplete_array_commands_need_more_at_every_cut() {
    let wire = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    for cut in 1..wire.len() {
        assert_eq!(run(&wire[..cut]), Ok(None), "cut at {cut}");
    }
    assert_eq!(run(b""), Ok(None));
}

#[test]
fn inline_commands_split_on_whitespace_with_either_line_ending() {
    assert_eq!(args(b"PING\r\n"), ["PING"]);
    assert_eq!(args(b"SET a b\n"), ["SET", "a", "b"]);
    assert_eq!(args(b"  GET\t k  \r\n"), ["GET", "k"]);
    assert_eq!(run(b"PING"), Ok(None));
    assert_eq!(run(b"PING\r"), Ok(None));
}

#[test]
fn inline_commands_honour_redis_quoting() {
    assert_eq!(
        args(b"SET \"a key\" 'it\\'s'\r\n"),
        ["SET", "a key", "it's"]
    );
    assert_eq!(args(b"ECHO \"\\x41\\n\"\n"), ["ECHO", "A\n"]);
    assert_eq!(
        run(b"SET \"unterminated\r\n"),
        Err(DecodeError::UnbalancedQuotes)
    );
    assert_eq!(run(b"SET \"a\"b\r\n"), Err(DecodeError::UnbalancedQuotes));
}

#[test]
fn a_blank_inline_line_is_an_empty_command_and_is_consumed() {
    let mut buf = BytesMut::from(&b"\r\nPING\r\n"[..]);
    let limits = Limits::default();
    assert_eq!(decode_command(&mut buf, &limits), Ok(Some(vec![])));
    assert_eq!(
        decode_command(&mut buf, &limits),
        Ok(Some(vec![Bytes::from("PING")]))
    );
    assert!(buf.is_empty());
}

#[test]
fn inline_commands_longer_than_the_limit_are_refused_before_their_newline() {
    let mut limits = Limits::default();
    limits.max_inline_len = 8;
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    for &byte in b"GET 1234" {
        buf.extend_from_slice(&[byte]);
        assert_eq!(decoder.decode_command(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"5");
    assert_eq!(
        decoder.decode_command(&mut buf),
        Err(DecodeError::InlineTooLong { limit: 8 })
    );
    let mut buf = BytesMut::from(&b"GET 1234\r\n"[..]);
    assert_eq!(
        decoder.decode_command(&mut buf),
        Ok(Some(vec![Bytes::from("GET"), Bytes::from("1234")]))
    );
}

#[test]
fn a_decoder_reads_pipelined_commands_of_both_forms_fed_byte_by_byte() {
    let wire = b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n";
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    for &byte in wire {
        buf.extend_from_slice(&[byte]);
        while let Some(cmd) = decoder.decode_command(&mut buf).unwrap() {
            commands.push(cmd);
        }
    }
    assert_eq!(
        commands,
        vec![
            vec![Bytes::from("ECHO"), Bytes::from("hi")],
            vec![Bytes::from("PING")],
            vec![Bytes::from("QUIT")],
        ]
    );
}
