//! The Redis client's reply path on arbitrary server bytes: the consumer decodes them (no
//! request in flight, as for pushes), and every typed conversion and error mapping runs on
//! each frame without panicking. The same bytes as a `redis://` URL must parse or be refused.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use quasar_net::harness::ConsumerHarness;
use quasar_redis::client::{FromFrame, RedisConsumer, RedisError, RedisUrl};
use quasar_redis::Frame;

fuzz_target!(|data: &[u8]| {
    let mut h = ConsumerHarness::new(RedisConsumer::new);
    let _ = h.feed(data);
    for frame in h.take_responses() {
        if frame.is_error() {
            let _ = RedisError::from_reply(&frame).to_string();
        }
        let _ = String::from_frame(frame.clone());
        let _ = i64::from_frame(frame.clone());
        let _ = f64::from_frame(frame.clone());
        let _ = bool::from_frame(frame.clone());
        let _ = Option::<Vec<u8>>::from_frame(frame.clone());
        let _ = Vec::<Option<String>>::from_frame(frame.clone());
        let _ = HashMap::<String, i64>::from_frame(frame.clone());
        let _ = <(String, f64)>::from_frame(frame.clone());
        let _ = <(Frame, i64, ())>::from_frame(frame);
    }
    let _ = RedisUrl::parse(&String::from_utf8_lossy(data));
});
