//! `quasar bench --faults RATE`: faults run next to the measured load and are reported;
//! a server that handles them leaves the measured connections error-free.

mod common;

use std::process::Command;

#[test]
fn faults_are_injected_reported_and_answered() {
    let bin = env!("CARGO_BIN_EXE_quasar");
    let (mut server, addr) =
        common::spawn_listening(Command::new(bin).args(["serve", "echo", "--bind", "127.0.0.1:0"]));
    let addr = addr.to_string();
    let out = Command::new(bin)
        .args(["bench", "echo", "--addr", &addr, "-c", "2", "-d", "1s"])
        .args(["--faults", "30"])
        .output()
        .expect("bench runs");
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let faults = text
        .lines()
        .find(|l| l.starts_with("faults: "))
        .unwrap_or_else(|| panic!("no faults line in {text}"));
    let n: Vec<u64> = faults
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // resets, half-closes, answered, stalls, stall secs, connect errors
    assert!(n[0] >= 5 && n[1] >= 5 && n[3] >= 5, "{faults}");
    assert_eq!(n[1], n[2], "every half-close answered and closed: {faults}");
    assert_eq!(n[5], 0, "{faults}");

    let udp = Command::new(bin)
        .args(["bench", "udp", "--addr", &addr, "--faults", "1", "-d", "1s"])
        .output()
        .expect("bench runs");
    assert_ne!(udp.status.code(), Some(0));
}
