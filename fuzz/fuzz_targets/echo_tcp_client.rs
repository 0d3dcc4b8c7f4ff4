//! The TCP echo client consumer parsing arbitrary server bytes: no panic, and every
//! response it yields is a separator-free prefix piece of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quasar_echo::tcp::{find_separator, EchoClientFactory};
use quasar_net::harness::ConsumerHarness;

fuzz_target!(|data: &[u8]| {
    let mut h = ConsumerHarness::new(EchoClientFactory::with_max_message_size(512));
    let _ = h.feed(data);
    for response in h.take_responses() {
        assert_eq!(find_separator(&response, 0), None);
        assert!(response.len() <= 512);
    }
});
