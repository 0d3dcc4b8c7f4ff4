//! The UDP echo line splitter: no panic, no empty line, no newline inside a line, and
//! the lines joined back cover every non-newline byte of the datagram in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quasar_echo::udp::lines;

fuzz_target!(|data: &[u8]| {
    let joined: Vec<u8> = lines(data)
        .inspect(|l| {
            assert!(!l.is_empty());
            assert!(!l.contains(&b'\n'));
        })
        .flatten()
        .copied()
        .collect();
    let expected: Vec<u8> = data.iter().copied().filter(|&b| b != b'\n').collect();
    assert_eq!(joined, expected);
});
