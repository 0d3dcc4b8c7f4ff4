//! Request head + body decoding over arbitrary bytes, fed in two pieces at a fuzzed point.
//! Invariants: no panic; bytes held while waiting for a head stay under the head limit; body
//! bytes never pass the body limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use quasar_http::{Limits, RequestParser};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else { return };
    let limits = Limits { max_head_bytes: 512, max_request_line: 128, max_body: 256, max_chunk_line: 32, max_trailer_bytes: 64, ..Limits::default() };
    let split = usize::from(cut) % (input.len() + 1);
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::new();
    for piece in [&input[..split], &input[split..]] {
        buf.extend_from_slice(piece);
        loop {
            let mut req = match parser.parse(&mut buf) {
                Ok(Some(req)) => req,
                Ok(None) => {
                    assert!(buf.len() <= limits.max_head_bytes + 2);
                    break;
                }
                Err(_) => return,
            };
            let mut total = 0u64;
            loop {
                match req.body.decode(&mut buf) {
                    Ok(Some(d)) => {
                        assert!(!d.is_empty());
                        total += d.len() as u64;
                        assert!(total <= limits.max_body);
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            if !req.body.is_eof() {
                // Truncated: the EOF check must report it.
                assert!(req.body.finish_on_eof().is_err());
                return;
            }
        }
    }
});
