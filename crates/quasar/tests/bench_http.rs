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
        "-n",
        "200",
        "-d",
        "60s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    let requests = report["requests"].as_u64().unwrap();
    assert_eq!(requests, 200);
    // Every response is counted whole: its head and the 13-byte body.
    let response = "HTTP/1.1 200 Whatever\r\nContent-Length: 13\r\n\r\nHello, World!";
    assert_eq!(
        report["bytes"].as_u64().unwrap(),
        requests * response.len() as u64
    );
}

#[test]
fn every_non_2xx_response_is_an_error_and_the_connection_goes_on() {
    let addr = start_http(500).to_string();
    let path = json_path("http-500");
    let out = bench(&[
        "http",
        "--addr",
        &addr,
        "-c",
        "1",
        "-p",
        "4",
        "-d",
        "500ms",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report = read_json(&path);
    // A well-framed 500 does not end its connection: the four requests sent at once all get
    // their reply checked (within the drain wait, however slow the machine), each counted as
    // a status error, none as a success or a parse error. A connection that stopped at its
    // first error would count one.
    assert!(
        report["errors"]["status"].as_u64().unwrap() >= 4,
        "{}",
        describe(&out)
    );
    assert_eq!(report["errors"]["parse"], 0);
    assert_eq!(report["requests"], 0);
}

#[test]
fn a_2xx_other_than_200_is_a_success() {
    let addr = start_http(201).to_string();
    let path = json_path("http-201");
    let out = bench(&[
        "http",
        "--addr",
        &addr,
        "-c",
        "1",
        "-n",
        "20",
        "-d",
        "60s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(read_json(&path)["requests"], 20);
}
