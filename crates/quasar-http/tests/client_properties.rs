//! Properties of the HTTP client consumer, driven by quasar-net's consumer harness (the
//! engine's own code without a socket): however a response stream is split into reads, the
//! consumer yields the same responses.

use bytes::Bytes;
use proptest::prelude::*;
use quasar_http::client::HttpConsumerFactory;
use quasar_http::Limits;
use quasar_net::harness::ConsumerHarness;

/// `body` as a response: Content-Length, or chunked with `chunk`-byte chunks.
fn encode(body: &[u8], chunked: Option<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    match chunked {
        None => {
            out.extend_from_slice(
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).as_bytes(),
            );
            out.extend_from_slice(body);
        }
        Some(size) => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            for chunk in body.chunks(size.max(1)) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    out
}

proptest! {
    #[test]
    fn responses_decode_the_same_under_any_split(
        bodies in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..300), proptest::option::of(1usize..64)),
            1..4,
        ),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for (body, chunked) in &bodies {
            wire.extend(encode(body, *chunked));
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let mut h = ConsumerHarness::new(HttpConsumerFactory::default());
        let mut got = Vec::new();
        for pair in points.windows(2) {
            h.feed(&wire[pair[0]..pair[1]]).unwrap();
            got.extend(h.take_responses().into_iter().map(|r| r.into_body()));
        }
        let want: Vec<Bytes> = bodies.iter().map(|(b, _)| Bytes::from(b.clone())).collect();
        prop_assert_eq!(got, want);
        prop_assert!(h.unparsed().is_empty());
    }

    #[test]
    fn no_body_over_the_limit_is_ever_returned(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        chunked in proptest::option::of(1usize..64),
        max in 0u64..150,
    ) {
        let limits = Limits { max_body: max, ..Limits::default() };
        let mut h = ConsumerHarness::new(HttpConsumerFactory::new(limits));
        let outcome = h.feed(&encode(&body, chunked));
        let responses = h.take_responses();
        if body.len() as u64 <= max {
            prop_assert!(outcome.is_ok());
            prop_assert_eq!(responses.len(), 1);
        } else {
            prop_assert!(outcome.is_err());
            prop_assert!(responses.is_empty());
            prop_assert!(h.is_closed());
        }
    }
}
