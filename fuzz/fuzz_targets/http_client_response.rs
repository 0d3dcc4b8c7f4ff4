//! The HTTP client consumer over arbitrary server bytes, fed in up to three fuzzed pieces
//! through quasar-net's consumer harness (the engine's own code, no socket).
//! Invariants: no panic; every finished response's body is within the body limit; after an
//! error the connection is closed and nothing more is parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quasar_http::client::HttpConsumerFactory;
use quasar_http::Limits;
use quasar_net::harness::ConsumerHarness;

fuzz_target!(|data: &[u8]| {
    let Some((&cuts, input)) = data.split_first() else { return };
    let limits = Limits { max_head_bytes: 512, max_request_line: 128, max_body: 256, max_chunk_line: 32, max_trailer_bytes: 64, ..Limits::default() };
    let mut h = ConsumerHarness::new(HttpConsumerFactory::new(limits)).max_read_buffer(4096);
    let a = usize::from(cuts & 0x0f) * input.len() / 16;
    let b = a + usize::from(cuts >> 4) * (input.len() - a) / 16;
    for piece in [&input[..a], &input[a..b], &input[b..]] {
        if h.feed(piece).is_err() {
            assert!(h.is_closed());
            break;
        }
        for res in h.take_responses() {
            assert!(res.body().len() as u64 <= limits.max_body);
        }
    }
});
