//! The HTTP/1.1 server over real loopback connections, byte for byte.

use crate::common;

use std::time::Duration;

use common::*;
use quasar_http::server::ServerConfig;
use quasar_http::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn http10_closes_unless_keep_alive() {
    let server = demo(ServerConfig::default()).await;
    let resp = roundtrip_close(&server, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("connection: close\r\n"));
    assert!(resp.ends_with("\r\n\r\nHello, World!"));

    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let first = read_responses(&mut tcp, 1).await;
    assert!(!first.contains("connection: close"), "{first}");
    tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let second = read_to_close(&mut tcp).await;
    assert!(second.contains("Hello, World!"));
}

#[tokio::test]
async fn http11_connection_close_closes() {
    let server = demo(ServerConfig::default()).await;
    let resp = roundtrip_close(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(resp.matches("HTTP/1.1 200").count(), 1, "{resp}");
    assert!(resp.contains("connection: close\r\n"));
}

#[tokio::test]
async fn pipelined_responses_in_order_in_one_read() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"GET /delay/50 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(T, tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(
        count_complete(&buf[..n]),
        3,
        "one read holds all three: {text}"
    );
    let a = text.find("{\"delay_ms\":50}").unwrap();
    let b = text.find("\r\n\r\nxxx").unwrap();
    let c = text.find("Hello, World!").unwrap();
    assert!(a < b && b < c, "{text}");
}

#[tokio::test]
async fn limit_errors_answer_and_close() {
    let limits = Limits {
        max_body: 1000,
        max_request_line: 100,
        max_head_bytes: 1000,
        ..Limits::default()
    };
    let config = ServerConfig {
        limits,
        ..ServerConfig::default()
    };
    let server = demo(config).await;
    let cases: [(Vec<u8>, &str); 5] = [
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "400"),
        (b"BAD\x01 / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "400"),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n".to_vec(),
            "413",
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(200)).into_bytes(),
            "414",
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(2000)
            )
            .into_bytes(),
            "431",
        ),
    ];
    for (req, code) in cases {
        let resp = roundtrip_close(&server, &req).await;
        assert!(
            status_line(&resp).starts_with(&format!("HTTP/1.1 {code}")),
            "{code}: {resp}"
        );
        assert!(resp.contains("connection: close\r\n"), "{resp}");
    }
}

#[tokio::test]
async fn smuggling_attempts_are_rejected() {
    let server = demo(ServerConfig::default()).await;
    let attacks: [&[u8]; 4] = [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    ];
    for req in attacks {
        let resp = roundtrip_close(&server, req).await;
        assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp}");
        // The smuggled request after the body never reaches the router.
        assert!(!resp.contains("Hello, World!"), "{resp}");
        assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{resp}");
    }
    // Bad chunk framing is found mid-body, after the echo's head left: the body is cut
    // (no last chunk) and the connection closes before the smuggled request.
    let resp = roundtrip_close(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(!resp.contains("Hello, World!"), "{resp}");
    assert!(!resp.ends_with("0\r\n\r\n"), "{resp}");
}

#[tokio::test]
async fn head_204_304_carry_no_body() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"HEAD /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/204 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).ends_with("Hello, World!") {
        let n = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    let parts: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(parts.len(), 4, "{text}");
    assert!(parts[0].starts_with("200") && parts[0].contains("content-length: 10\r\n"));
    assert!(parts[0].ends_with("\r\n\r\n"), "HEAD has no body: {text}");
    assert!(parts[1].starts_with("204") && parts[1].ends_with("\r\n\r\n"));
    assert!(!parts[1].contains("content-length"), "{text}");
    assert!(parts[2].starts_with("304") && parts[2].ends_with("\r\n\r\n"));
    assert!(parts[3].starts_with("200"));
}

#[tokio::test]
async fn chunked_upload_is_echoed() {
    let server = demo(ServerConfig::default()).await;
    let resp = roundtrip_close(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("transfer-encoding: chunked\r\n"), "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(body, "5\r\nhello\r\n6\r\n world\r\n0");
    assert!(resp.ends_with("0\r\n\r\n"));
}

#[tokio::test]
async fn expect_100_continue() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(T, tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"));
    let mut out = buf[..n].to_vec();
    tcp.write_all(b"hello").await.unwrap();
    while !out.ends_with(b"hello") {
        let n = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        out.extend_from_slice(&buf[..n]);
    }
    let resp = String::from_utf8_lossy(&out);
    assert!(resp.contains("\r\n\r\nHTTP/1.1 200 OK\r\n"), "{resp}");

    // A route that ignores the body: no 100, and the connection closes after the answer.
    tcp.write_all(
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let resp = read_to_close(&mut tcp).await;
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");

    let resp = roundtrip_close(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: teapot\r\n\r\nhello",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 417"), "{resp}");
}

#[tokio::test]
async fn router_404_and_405_with_allow() {
    let server = demo(ServerConfig::default()).await;
    // Pipelined on one connection: error statuses keep it (the last request closes it).
    let resp = roundtrip_close(
        &server,
        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nDELETE /echo HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let parts: Vec<&str> = resp.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(parts.len(), 3, "{resp}");
    assert!(parts[0].starts_with("404"), "{resp}");
    assert!(parts[1].starts_with("405"), "{resp}");
    assert!(parts[1].contains("allow: POST, PUT\r\n"), "{resp}");
    assert!(parts[2].starts_with("405"), "{resp}");
    assert!(parts[2].contains("allow: GET, HEAD\r\n"), "{resp}");
}

#[tokio::test]
async fn max_requests_marks_the_last_response() {
    let config = ServerConfig {
        max_requests: 2,
        ..ServerConfig::default()
    };
    let server = demo(config).await;
    let resp = roundtrip_close(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let parts: Vec<&str> = resp.split("HTTP/1.1 200").skip(1).collect();
    assert_eq!(parts.len(), 2, "{resp}");
    assert!(!parts[0].contains("connection: close"));
    assert!(parts[1].contains("connection: close"));
}

#[tokio::test]
async fn stream_route_is_chunked_and_keeps_alive() {
    let server = demo(ServerConfig::default()).await;
    let resp = roundtrip_close(
        &server,
        b"GET /stream?n=3&size=4 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        resp.contains("\r\n\r\n4\r\nxxxx\r\n4\r\nxxxx\r\n4\r\nxxxx\r\n0\r\n\r\nHTTP/1.1 200"),
        "{resp}"
    );
    assert!(resp.ends_with("Hello, World!"));
}

#[tokio::test]
async fn slowloris_is_cut_by_the_header_timeout() {
    let config = ServerConfig {
        header_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = demo(config).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut tcp = TcpStream::connect(server.address()).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        slow.push(tcp);
    }
    // A normal client is served meanwhile.
    let resp = roundtrip_close(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.ends_with("Hello, World!"), "{resp}");
    // Trickle one more byte each: the timer runs from the first byte, not the last.
    tokio::time::sleep(Duration::from_millis(150)).await;
    for tcp in &mut slow {
        let _ = tcp.write_all(b"s").await;
    }
    for tcp in &mut slow {
        let resp = read_to_close(tcp).await;
        assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    }
}

#[tokio::test]
async fn idle_keep_alive_timeout_closes_between_requests() {
    let server = start_with(
        quasar_http::demo::app(|| serde_json::json!({})),
        ServerConfig::default(),
        |b| b.keep_alive(Duration::from_millis(200)),
    )
    .await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_responses(&mut tcp, 1).await;
    let started = std::time::Instant::now();
    assert!(is_closed(&mut tcp).await);
    assert!(started.elapsed() >= Duration::from_millis(150));
}
