//! The RESP server's consumer, fed arbitrary bytes in arbitrary pieces under small decoder
//! caps: it must never panic, and everything it writes must be whole RESP frames.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use quasar_net::harness::ConsumerHarness;
use quasar_redis::server::{RespServerConfig, RespServerFactory};
use quasar_redis::{Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    // Blocking pops create timers: they need a runtime context (never driven here).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _enter = rt.enter();
    let mut config = RespServerConfig::default();
    config.limits.max_bulk_len = 256;
    config.limits.max_aggregate_len = 16;
    config.limits.max_depth = 4;
    config.limits.max_inline_len = 128;
    config.limits.max_line_len = 64;
    config.limits.max_frame_len = 2048;
    let mut h = ConsumerHarness::new(RespServerFactory::new(config));
    let step = usize::from(split % 64).max(1);
    for piece in input.chunks(step) {
        if h.feed(piece).is_err() {
            break;
        }
    }
    let mut out = BytesMut::from(&h.take_output()[..]);
    let mut decoder = Decoder::new(Limits::default());
    while !out.is_empty() {
        match decoder.decode(&mut out) {
            Ok(Some(_)) => {}
            other => panic!("server wrote a broken frame: {other:?}"),
        }
    }
});
