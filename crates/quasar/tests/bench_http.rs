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
fn every_non_2xx_response_is_an_error_and_the_connection_goes_on() {
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
    let report = read_json(&path);
    // A well-framed 500 does not end its connection: two connections for 500 ms answer
    // many requests, each one counted as a status error, none as a success or a parse error.
    assert!(
        report["errors"]["status"].as_u64().unwrap() > 2,
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
        "-d",
        "300ms",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(read_json(&path)["requests"].as_u64().unwrap() > 0);
}
