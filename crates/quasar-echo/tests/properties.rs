//! Property tests of the echo parsers, driven through `ConsumerHarness`: the same
//! invariants as the cargo-fuzz targets in `fuzz/`, run on every `cargo test`.

use bytes::Bytes;
use proptest::prelude::*;
use quasar_echo::tcp::{
    find_separator, EchoClientFactory, EchoConfig, EchoServerFactory, SEPARATOR,
};
use quasar_echo::udp::lines;
use quasar_net::harness::ConsumerHarness;

/// Message bodies that cannot contain the separator (no '\r').
fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>().prop_filter("no CR", |b| *b != b'\r'), 0..300)
}

/// Feeds `input` in pieces cut at `cuts` (positions taken modulo the length).
fn feed_in_pieces<F: quasar_net::ConsumerFactory>(
    h: &mut ConsumerHarness<F>,
    input: &[u8],
    cuts: &[usize],
) -> quasar_net::Result<()> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    for w in points.windows(2) {
        h.feed(&input[w[0]..w[1]])?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn framed_messages_split_anywhere_are_echoed_whole_and_in_order(
        messages in proptest::collection::vec(body(), 1..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut input = Vec::new();
        for m in &messages {
            input.extend_from_slice(m);
            input.extend_from_slice(SEPARATOR);
        }
        let mut h = ConsumerHarness::new(EchoServerFactory::new(EchoConfig::default()));
        feed_in_pieces(&mut h, &input, &cuts).unwrap();
        let quit = messages.iter().position(|m| m == b"QUIT");
        let echoed = quit.map_or(messages.len(), |q| q + 1);
        let expected: Vec<u8> = messages[..echoed]
            .iter()
            .flat_map(|m| m.iter().chain(SEPARATOR).copied())
            .collect();
        prop_assert_eq!(h.take_output(), Bytes::from(expected));
        prop_assert_eq!(h.finished(), echoed as u64);
        prop_assert_eq!(h.is_closed(), quit.is_some());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_only_whole_messages_come_back(
        input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..2000),
        step in 1usize..64,
    ) {
        let config = EchoConfig { max_message_size: 256, raw: false };
        let mut h = ConsumerHarness::new(EchoServerFactory::new(config));
        let mut failed = false;
        for piece in input.chunks(step) {
            if let Err(e) = h.feed(piece) {
                prop_assert!(e.is_protocol(), "{e}");
                failed = true;
                break;
            }
        }
        let out = h.take_output();
        prop_assert!(input.starts_with(&out));
        if !out.is_empty() {
            prop_assert!(out.ends_with(SEPARATOR));
        }
        if !failed && !h.is_closed() {
            prop_assert_eq!(find_separator(h.unparsed(), 0), None);
            prop_assert!(h.unparsed().len() <= 256 + SEPARATOR.len());
        }
    }

    #[test]
    fn the_client_parser_yields_the_echoed_bodies(
        messages in proptest::collection::vec(body(), 1..10),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut input = Vec::new();
        for m in &messages {
            input.extend_from_slice(m);
            input.extend_from_slice(SEPARATOR);
        }
        let mut h = ConsumerHarness::new(EchoClientFactory::default());
        feed_in_pieces(&mut h, &input, &cuts).unwrap();
        let got: Vec<Vec<u8>> = h.take_responses().into_iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn udp_lines_cover_every_byte_but_newlines(data in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..500)) {
        let mut joined = Vec::new();
        for line in lines(&data) {
            prop_assert!(!line.is_empty());
            prop_assert!(!line.contains(&b'\n'));
            joined.extend_from_slice(line);
        }
        let expected: Vec<u8> = data.iter().copied().filter(|&b| b != b'\n').collect();
        prop_assert_eq!(joined, expected);
    }
}

#[test]
fn an_oversize_reply_arriving_whole_is_refused_by_the_client() {
    // The cargo-fuzz target echo_tcp_client found this: the size check only ran while
    // the separator was still missing.
    let mut h = ConsumerHarness::new(EchoClientFactory::with_max_message_size(8));
    let err = h.feed(b"0123456789abcdef\r\n\r\n").unwrap_err();
    assert!(err.is_protocol(), "{err}");
    assert!(h.take_responses().is_empty());
}

proptest! {
    #[test]
    fn client_responses_never_exceed_the_limit(input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..2000)) {
        let mut h = ConsumerHarness::new(EchoClientFactory::with_max_message_size(64));
        let _ = h.feed(&input);
        for response in h.take_responses() {
            prop_assert!(response.len() <= 64);
            prop_assert_eq!(find_separator(&response, 0), None);
        }
    }
}

#[test]
fn an_oversize_message_is_a_protocol_error() {
    let config = EchoConfig {
        max_message_size: 8,
        raw: false,
    };
    let mut h = ConsumerHarness::new(EchoServerFactory::new(config));
    let err = h.feed(b"0123456789abcdef").unwrap_err();
    assert!(err.is_protocol(), "{err}");
    assert!(h.is_closed());
}
