//! A handler's body of any size goes out at the reader's pace: `Full` bodies far above the
//! write queue's hard cap and a stream yielding one huge chunk reach a slow reader intact,
//! with the queue holding about its high mark, and the connection serves the next request.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Response};
use quasar_http::server::{Params, Router, ServerConfig};
use quasar_http::Body;
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The body byte at offset `i`: a pattern that catches reordered or repeated slices.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fn body_of(n: usize) -> Bytes {
    (0..n).map(pattern).collect::<Vec<u8>>().into()
}

fn len_param(req: &Request<Body>) -> usize {
    req.extensions()
        .get::<Params>()
        .and_then(|p| p.get("n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn server() -> TcpServer {
    let app = Router::new()
        // Answers at once: the consumer writes the response itself.
        .get("/full/:n", |req: Request<Body>| {
            let body = body_of(len_param(&req));
            async move { Response::new(Body::from(body)) }
        })
        // Answers after yielding: the response is pulled by the engine.
        .get("/later/:n", |req: Request<Body>| async move {
            tokio::task::yield_now().await;
            Response::new(Body::from(body_of(len_param(&req))))
        })
        // One chunk of the whole length, length unknown: chunked.
        .get("/stream/:n", |req: Request<Body>| async move {
            let chunk = body_of(len_param(&req));
            let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(chunk)]);
            Response::new(Body::from_stream(chunks))
        })
        .get("/small", |_req| async {
            Response::new(Body::from("small"))
        });
    start(app, ServerConfig::default()).await
}

/// Reads one response head from `tcp` (bytes after it are returned too).
async fn read_head(tcp: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..p + 4]).into_owned();
            return (head, got[p + 4..].to_vec());
        }
        let n = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .expect("head in time")
            .unwrap();
        assert!(n > 0, "closed before the head");
        got.extend_from_slice(&buf[..n]);
    }
}

/// Reads `n` more body bytes after `start`: the first `slow` bytes in 1 KiB reads with a
/// pause after each (a reader slower than the server), the rest as fast as they come.
/// Checks the pattern and samples the server's write queue; returns the peak seen.
async fn read_body(
    server: &TcpServer,
    tcp: &mut TcpStream,
    start: Vec<u8>,
    n: usize,
    slow: usize,
) -> u64 {
    let mut at = 0;
    let check = |data: &[u8], at: &mut usize| {
        for &b in data {
            assert_eq!(b, pattern(*at), "byte {at} of {n}");
            *at += 1;
        }
    };
    check(&start, &mut at);
    let mut peak = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while at < n {
        let want = if at < slow { 1024 } else { buf.len() };
        let want = want.min(n - at);
        let k = tokio::time::timeout(T, tcp.read(&mut buf[..want]))
            .await
            .expect("body in time")
            .unwrap();
        assert!(k > 0, "closed after {at} of {n} body bytes");
        check(&buf[..k], &mut at);
        if at < slow {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for c in server.connections() {
            peak = peak.max(c.info().write_buffer_peak);
        }
    }
    peak
}

/// GETs `path` for a body of `n` bytes, reads it slowly, then checks the connection still
/// serves a small request.
async fn fetch(path: &str, n: usize) {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let peak = if head.contains("transfer-encoding: chunked") {
        // One chunk: its size line, the data, CRLF, then the last chunk.
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16);
        assert_eq!(size.unwrap(), n);
        let start = rest[line_end + 2..].to_vec();
        let peak = read_body(&server, &mut tcp, start, n, 256 * 1024).await;
        let mut end = [0u8; 7];
        tcp.read_exact(&mut end).await.unwrap();
        assert_eq!(&end, b"\r\n0\r\n\r\n");
        peak
    } else {
        assert!(head.contains(&format!("content-length: {n}\r\n")), "{head}");
        read_body(&server, &mut tcp, rest, n, 256 * 1024).await
    };
    // The queue held about its high mark (64 KiB) plus a slice, never the body.
    assert!(
        peak < 256 * 1024,
        "write queue peak {peak} for a {n}-byte body"
    );
    tcp.write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let resp = read_responses(&mut tcp, 1).await;
    assert!(resp.ends_with("\r\n\r\nsmall"), "{resp}");
    server.close(T).await;
}

#[tokio::test]
async fn a_256_kib_full_body_reaches_a_slow_reader() {
    fetch("/full/262144", 256 * 1024).await;
}

#[tokio::test]
async fn a_256_kib_full_body_from_a_pending_handler_reaches_a_slow_reader() {
    fetch("/later/262144", 256 * 1024).await;
}

#[tokio::test]
async fn a_4_mib_full_body_reaches_a_slow_reader() {
    fetch("/full/4194304", 4 * 1024 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_full_body_reaches_a_slow_reader() {
    fetch("/later/67108864", 64 * 1024 * 1024).await;
}

#[tokio::test]
async fn a_stream_of_one_8_mib_chunk_reaches_a_slow_reader() {
    fetch("/stream/8388608", 8 * 1024 * 1024).await;
}

#[tokio::test]
async fn a_head_request_to_a_big_body_gets_its_length_only() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"HEAD /full/1048576 HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    assert!(head.contains("content-length: 1048576\r\n"), "{head}");
    let mut tcp_rest = rest;
    while !tcp_rest.ends_with(b"small") {
        let mut buf = [0u8; 1024];
        let k = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(k > 0);
        tcp_rest.extend_from_slice(&buf[..k]);
    }
    let text = String::from_utf8_lossy(&tcp_rest);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    server.close(T).await;
}

#[tokio::test]
async fn pipelined_requests_for_inline_sized_bodies_wait_for_the_reader() {
    // 32 KiB bodies go out with their head in one write; 40 of them asked in one go are
    // far above the write queue's cap, so the server must stop feeding requests while the
    // queue is above its high mark rather than fail.
    let server = server().await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let n = 32 * 1024;
    let reqs = format!("GET /full/{n} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(40);
    tcp.write_all(reqs.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let mut peak = 0;
    for _ in 0..40 {
        let mut head = rest;
        let mut buf = vec![0u8; 4096];
        let end = loop {
            if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let k = tokio::time::timeout(T, tcp.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(k > 0, "closed");
            head.extend_from_slice(&buf[..k]);
        };
        let text = String::from_utf8_lossy(&head[..end]).into_owned();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        let body_start = head[end..].to_vec();
        let take = body_start.len().min(n);
        let tail = body_start[take..].to_vec();
        peak =
            peak.max(read_body(&server, &mut tcp, body_start[..take].to_vec(), n, 8 * 1024).await);
        rest = tail;
    }
    assert!(peak < 256 * 1024, "write queue peak {peak}");
    server.close(T).await;
}
