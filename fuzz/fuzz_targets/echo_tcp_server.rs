//! The TCP echo server consumer, fed arbitrary bytes in arbitrary pieces: it must never
//! panic, never echo anything but whole messages of its input, and stop at `QUIT`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quasar_echo::tcp::{find_separator, EchoConfig, EchoServerFactory, SEPARATOR};
use quasar_net::harness::ConsumerHarness;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let config = EchoConfig {
        max_message_size: 256,
        raw: false,
    };
    let mut h = ConsumerHarness::new(EchoServerFactory::new(config));
    let step = usize::from(split).max(1);
    let mut failed = false;
    for piece in input.chunks(step) {
        if h.feed(piece).is_err() {
            failed = true;
            break;
        }
    }
    let out = h.take_output();
    // Whatever was echoed is exactly the input's leading whole messages.
    assert!(input.starts_with(&out));
    if !out.is_empty() {
        assert!(out.ends_with(SEPARATOR));
    }
    if !failed && !h.is_closed() {
        // Everything left unparsed holds no separator: no message was skipped.
        assert_eq!(find_separator(h.unparsed(), 0), None);
    }
});
