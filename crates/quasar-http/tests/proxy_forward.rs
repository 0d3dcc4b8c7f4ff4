//! The forward proxy over real loopback sockets: forwarding, the header rewrite, the
//! safety rules, tunnels, and upstream failures.

use crate::proxy_support;

use std::time::Duration;

use proxy_support::*;
use quasar_http::proxy::{ForwardProxy, PortRule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways_and_forwarding_headers_added() {
    let upstream = header_echo().await;
    let (proxy, stats) = proxy(ForwardProxy::builder().pseudonym("testproxy")).await;
    let req = format!(
        "GET http://{upstream}/path?q=1 HTTP/1.1\r\nHost: wrong.example\r\n\
         Connection: keep-alive, x-client-hop\r\nX-Client-Hop: 1\r\nProxy-Connection: keep-alive\r\n\
         Keep-Alive: 300\r\nTE: trailers\r\nTrailer: x\r\nUpgrade: websocket\r\n\
         Proxy-Authorization: Basic eDp5\r\nX-Forwarded-For: 10.9.8.7\r\nVia: 1.0 fred\r\n\
         X-Client-End: kept\r\n\r\n"
    );
    let mut tcp = TcpStream::connect(proxy.address()).await.unwrap();
    tcp.write_all(req.as_bytes()).await.unwrap();
    let (head, mut rest) = read_head(&mut tcp).await;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a length")
        .parse()
        .unwrap();
    while rest.len() < len {
        let mut buf = [0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0);
        rest.extend_from_slice(&buf[..n]);
    }
    let sent = String::from_utf8(rest).unwrap().to_ascii_lowercase();
    // What the upstream received.
    assert!(sent.starts_with("get /path?q=1 http/1.1\r\n"), "{sent}");
    assert!(sent.contains(&format!("host: {upstream}\r\n")), "{sent}");
    assert!(
        sent.contains("x-forwarded-for: 10.9.8.7, 127.0.0.1\r\n"),
        "{sent}"
    );
    assert!(
        sent.contains("via: 1.0 fred\r\n") && sent.contains("via: 1.1 testproxy\r\n"),
        "{sent}"
    );
    assert!(sent.contains("x-client-end: kept\r\n"), "{sent}");
    for gone in [
        "connection:",
        "x-client-hop:",
        "proxy-connection:",
        "keep-alive:",
        "\r\nte:",
        "trailer:",
        "upgrade:",
        "proxy-authorization:",
        "transfer-encoding:",
    ] {
        assert!(!sent.contains(gone), "{gone} reached the upstream: {sent}");
    }
    // What the client received.
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("x-upstream-end: kept\r\n"), "{head}");
    assert!(head.contains("via: 1.1 testproxy\r\n"), "{head}");
    for gone in [
        "x-upstream-hop:",
        "keep-alive:",
        "proxy-authenticate:",
        "trailer:",
        "upgrade:",
        "connection:",
    ] {
        assert!(!head.contains(gone), "{gone} reached the client: {head}");
    }
    assert_eq!(stats.snapshot().requests, 1);
    proxy.close(T).await;
}

#[tokio::test]
async fn requests_to_the_proxy_itself_and_urls_with_credentials_get_400() {
    let upstream = header_echo().await;
    let (proxy, stats) = proxy(ForwardProxy::builder()).await;
    let addr = proxy.address();
    for req in [
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        format!("GET http://user:pw@{upstream}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        format!("GET https://{upstream}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        format!("GET ftp://{upstream}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ] {
        let answer = send_close(addr, req.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{req}: {answer}"
        );
    }
    let snap = stats.snapshot();
    assert_eq!((snap.requests, snap.refused), (0, 4));
    proxy.close(T).await;
}

#[tokio::test]
async fn credentials_are_required_when_configured_407_then_200() {
    let upstream = header_echo().await;
    let echo = raw_echo().await;
    let (proxy, _) = proxy(
        ForwardProxy::builder()
            .auth("alice", "s3cret")
            .connect_ports(PortRule::Any),
    )
    .await;
    let addr = proxy.address();
    let get = |auth: &str| {
        format!("GET http://{upstream}/ HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
    };
    let none = send_close(addr, get("").as_bytes()).await;
    assert!(
        none.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\n"),
        "{none}"
    );
    assert!(
        none.to_ascii_lowercase()
            .contains("proxy-authenticate: basic"),
        "{none}"
    );
    let wrong = format!("Proxy-Authorization: {}\r\n", basic("alice", "nope"));
    assert!(send_close(addr, get(&wrong).as_bytes())
        .await
        .starts_with("HTTP/1.1 407 "));
    let right = format!("Proxy-Authorization: {}\r\n", basic("alice", "s3cret"));
    let ok = send_close(addr, get(&right).as_bytes()).await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        !ok.to_ascii_lowercase().contains("proxy-authorization"),
        "{ok}"
    );

    // The same for CONNECT.
    let connect = |auth: &str| format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n{auth}\r\n");
    let none = send_close(addr, connect("").as_bytes()).await;
    assert!(none.starts_with("HTTP/1.1 407 "), "{none}");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(connect(&right).as_bytes()).await.unwrap();
    let (head, _) = read_head(&mut tcp).await;
    assert_eq!(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    proxy.close(T).await;
}

#[tokio::test]
async fn connect_to_a_port_or_host_not_allowed_is_403() {
    let echo = raw_echo().await;
    let (proxy, stats) = proxy(ForwardProxy::builder()).await; // 443 only
    let addr = proxy.address();
    let req = format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n");
    let answer = send_close(addr, req.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    proxy.close(T).await;

    let (proxy, _) = proxy_with_allow(echo.port()).await;
    let addr = proxy.address();
    let elsewhere = format!(
        "CONNECT 127.0.0.2:{} HTTP/1.1\r\nHost: x\r\n\r\n",
        echo.port()
    );
    let answer = send_close(addr, elsewhere.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    let get = format!(
        "GET http://127.0.0.2:{}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        echo.port()
    );
    let answer = send_close(addr, get.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    let allowed = format!("CONNECT {echo} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(allowed.as_bytes()).await.unwrap();
    assert_eq!(
        read_head(&mut tcp).await.0,
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
    assert_eq!(stats.snapshot().refused, 1);
    proxy.close(T).await;
}

async fn proxy_with_allow(port: u16) -> (quasar_net::TcpServer, quasar_http::proxy::ProxyStats) {
    proxy(
        ForwardProxy::builder()
            .connect_ports(PortRule::Only(vec![port]))
            .allow(["127.0.0.1"]),
    )
    .await
}

#[tokio::test]
async fn malformed_connect_targets_get_400_and_a_close() {
    let (proxy, _) = proxy(ForwardProxy::builder().connect_ports(PortRule::Any)).await;
    let addr = proxy.address();
    for target in [
        "example.com",
        "http://example.com:443/",
        "/path",
        "user@example.com:443",
        ":443",
        "example.com:99999",
        "example.com:0",
        "example.com:https",
        "[::1",
        "*",
    ] {
        let req = format!("CONNECT {target} HTTP/1.1\r\nHost: example.com\r\n\r\n");
        let answer = send_close(addr, req.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{target}: {answer}"
        );
    }
    // Garbage after the method: the parser's own 400.
    let answer = send_close(addr, b"CONNECT \x01\x02 HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    proxy.close(T).await;
}

#[tokio::test]
async fn a_tunnel_relays_both_ways_and_passes_the_half_close_on() {
    let echo = raw_echo().await;
    let (proxy, stats) = proxy(ForwardProxy::builder().connect_ports(PortRule::Any)).await;
    let mut tcp = TcpStream::connect(proxy.address()).await.unwrap();
    // The first tunnel bytes ride with the head: a client that does not wait for the 200.
    let req = format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\nearly ");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let (head, mut got) = read_head(&mut tcp).await;
    assert_eq!(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    tcp.write_all(&payload).await.unwrap();
    tcp.shutdown().await.unwrap(); // the half-close travels to the upstream
    tokio::time::timeout(T, tcp.read_to_end(&mut got))
        .await
        .expect("the upstream's EOF comes back")
        .unwrap();
    let mut want = b"early ".to_vec();
    want.extend_from_slice(&payload);
    assert_eq!(got.len(), want.len());
    assert!(got == want);
    let snap = stats.snapshot();
    assert_eq!(snap.tunnels, 1);
    assert_eq!(
        (snap.bytes_up, snap.bytes_down),
        (want.len() as u64, want.len() as u64)
    );
    proxy.close(T).await;
}

#[tokio::test]
async fn a_websocket_handshake_and_echo_pass_through_a_tunnel() {
    let ws = quasar_http::server::builder(
        quasar_http::demo::app(|| serde_json::json!({})),
        quasar_http::server::ServerConfig::default(),
    )
    .bind("127.0.0.1:0".parse().unwrap())
    .start()
    .await
    .unwrap();
    let target = ws.address();
    let (proxy, _) = proxy(ForwardProxy::builder().connect_ports(PortRule::Any)).await;
    let mut tcp = TcpStream::connect(proxy.address()).await.unwrap();
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(
        read_head(&mut tcp).await.0,
        "HTTP/1.1 200 Connection established\r\n\r\n"
    );
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(handshake.as_bytes()).await.unwrap();
    let (head, mut rest) = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    // A masked text frame "hello"; the echo comes back unmasked.
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 5];
    frame.extend_from_slice(&mask);
    frame.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&frame).await.unwrap();
    while rest.len() < 7 {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        rest.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&rest[..7], b"\x81\x05hello");
    proxy.close(T).await;
    ws.close(T).await;
}

#[tokio::test]
async fn unreachable_upstreams_get_502_saying_so() {
    let (proxy, stats) = proxy(ForwardProxy::builder().connect_ports(PortRule::Any)).await;
    let addr = proxy.address();
    let dead = closed_port();
    let get = format!("GET http://{dead}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = send_close(addr, get.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{answer}"
    );
    assert!(answer.contains("upstream connect failed"), "{answer}");
    let connect = format!("CONNECT {dead} HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = send_close(addr, connect.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{answer}"
    );
    assert!(answer.contains("upstream connect failed"), "{answer}");
    assert_eq!(stats.snapshot().upstream_errors.connect_failed, 2);
    proxy.close(T).await;
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_never_answers_gets_504_in_virtual_time() {
    // Accepts and reads, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let (proxy, stats) =
        proxy(ForwardProxy::builder().response_timeout(Duration::from_secs(5))).await;
    let get = format!("GET http://{upstream}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = send_close(proxy.address(), get.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("upstream response timed out"), "{answer}");
    assert_eq!(stats.snapshot().upstream_errors.response_timeout, 1);
    proxy.close(T).await;
}

#[tokio::test]
async fn an_upstream_reset_mid_body_closes_the_client_connection() {
    let upstream = resets_mid_body(1_000_000, 10_000).await;
    let (proxy, stats) = proxy(ForwardProxy::builder()).await;
    let get = format!("GET http://{upstream}/ HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut tcp = TcpStream::connect(proxy.address()).await.unwrap();
    tcp.write_all(get.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-length: 1000000\r\n"), "{head}");
    // The connection ends short of the promised length: the client can tell.
    let mut body = rest;
    let _ = tokio::time::timeout(T, tcp.read_to_end(&mut body))
        .await
        .expect("the proxy closes the client's connection");
    assert!(body.len() < 1_000_000, "{}", body.len());
    assert_eq!(stats.snapshot().upstream_errors.reset, 1);
    proxy.close(T).await;
}

#[tokio::test]
async fn keep_alive_requests_reuse_one_upstream_connection() {
    let upstream = header_echo().await;
    let (proxy, _) = proxy(ForwardProxy::builder()).await;
    let mut tcp = TcpStream::connect(proxy.address()).await.unwrap();
    for _ in 0..3 {
        let get = format!("GET http://{upstream}/ HTTP/1.1\r\nHost: x\r\n\r\n");
        tcp.write_all(get.as_bytes()).await.unwrap();
        let (head, mut rest) = read_head(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        while rest.len() < len {
            let mut buf = [0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            rest.extend_from_slice(&buf[..n]);
        }
    }
    proxy.close(T).await;
}
