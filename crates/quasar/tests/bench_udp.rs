//! `quasar bench udp` against in-process UDP line-echo servers over loopback.

mod common;

use common::{bench, describe, json_path, read_json, start_udp_echo, Fault};

#[test]
fn udp_echo_against_a_correct_server_reports_no_errors_and_exits_zero() {
    let addr = start_udp_echo(Fault::None).to_string();
    let path = json_path("udp");
    let out = bench(&[
        "udp",
        "--addr",
        &addr,
        "-c",
        "4",
        "-p",
        "2",
        "-n",
        "200",
        "-d",
        "60s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    assert_eq!(report["protocol"], "udp");
    assert_eq!(report["requests"], 200);
    assert_eq!(report["errors"]["total"], 0);
}

#[test]
fn a_server_that_corrupts_datagrams_is_reported_and_exits_one() {
    let addr = start_udp_echo(Fault::Corrupt).to_string();
    let path = json_path("udp-bad");
    let out = bench(&[
        "udp",
        "--addr",
        &addr,
        "-c",
        "2",
        "-d",
        "500ms",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report = read_json(&path);
    assert!(
        report["errors"]["mismatch"].as_u64().unwrap() > 0,
        "{report}"
    );
}

#[test]
fn udp_open_loop_completes() {
    let addr = start_udp_echo(Fault::None).to_string();
    let out = bench(&[
        "udp", "--addr", &addr, "-c", "2", "--rate", "200", "-n", "20", "-d", "60s",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("open loop"));
}
