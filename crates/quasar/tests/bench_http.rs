//! `quasar bench http` against in-process HTTP/1.1 servers over loopback.

mod common;

use common::{bench, describe, json_path, read_json, start_http};

#[test]
fn pipelined_keep_alive_gets_against_a_200_server_report_no_errors() {
    let addr = start_http(200).to_string();
    let path = json_path("http");
    let out = bench(&[
        "http",
        "--addr",
        &addr,
        "-c",
        "3",
        "-p",
        "4",
        "-d",
        "1s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    let requests = report["requests"].as_u64().unwrap();
    assert!(requests > 0);
    // Every response is counted whole: its head and the 13-byte body.
    let response = "HTTP/1.1 200 Whatever\r\nContent-Length: 13\r\n\r\nHello, World!";
    assert_eq!(
        report["bytes"].as_u64().unwrap(),
        requests * response.len() as u64
    );
}

#[test]
fn a_status_other_than_200_is_an_error() {
    let addr = start_http(500).to_string();
    let path = json_path("http-500");
    let out = bench(&[
        "http",
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
    assert_eq!(read_json(&path)["errors"]["status"], 2);
}
