//! Fixed responses (`Router::fixed`): the same bytes for plain and unusual requests alike
//! (query strings, odd `Host` values, HEAD, close, HTTP/1.0, `max_requests`), in order when
//! pipelined among handler routes. These tests were written against the former fixed-route
//! fast path and hold its replacement, the ordinary path, to the same answers.

use crate::common;

use bytes::Bytes;
use common::{read_responses, roundtrip_close, start};
use quasar_http::server::{Router, ServerConfig};
use quasar_http::Body;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn hello() -> http::Response<Bytes> {
    http::Response::builder()
        .header("content-type", "text/plain")
        .body(Bytes::from_static(b"Hello, World!"))
        .unwrap()
}

/// The response without its `date` line (the only part that may differ between two calls).
fn without_date(resp: &str) -> String {
    resp.split("\r\n")
        .filter(|l| !l.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test]
async fn the_fast_and_the_ordinary_path_write_the_same_response() {
    let server = start(Router::new().fixed("/", hello()), ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    // Plain GET (fast path), then a query string and an extra token in Host (ordinary path).
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /?q=1 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    )
    .await
    .unwrap();
    let out = read_responses(&mut tcp, 3).await;
    let responses: Vec<String> = out
        .split_inclusive("Hello, World!")
        .map(without_date)
        .collect();
    assert_eq!(responses.len(), 3, "{out}");
    let expected = "HTTP/1.1 200 OK\r\nserver: quasar\r\ncontent-type: text/plain\r\n\
                    content-length: 13\r\n\r\nHello, World!";
    for r in &responses {
        assert_eq!(r, expected);
    }
    assert!(out.starts_with("HTTP/1.1 200 OK\r\ndate: "), "{out}");
}

#[tokio::test]
async fn head_close_and_http10_requests_get_the_ordinary_rules() {
    let server = start(Router::new().fixed("/", hello()), ServerConfig::default()).await;
    let head = roundtrip_close(
        &server,
        b"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.contains("content-length: 13\r\n"), "{head}");
    assert!(head.ends_with("connection: close\r\n\r\n"), "{head}");
    let close = roundtrip_close(
        &server,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(close.contains("connection: close\r\n"), "{close}");
    assert!(close.ends_with("Hello, World!"), "{close}");
    let old = roundtrip_close(&server, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(old.contains("connection: close\r\n"), "{old}");
    // No Host in HTTP/1.1: still a 400, fast path or not.
    let no_host = roundtrip_close(&server, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(no_host.starts_with("HTTP/1.1 400 "), "{no_host}");
    let two_hosts = roundtrip_close(&server, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").await;
    assert!(two_hosts.starts_with("HTTP/1.1 400 "), "{two_hosts}");
}

#[tokio::test]
async fn the_last_request_max_requests_allows_says_close() {
    let config = ServerConfig {
        max_requests: 2,
        ..ServerConfig::default()
    };
    let server = start(Router::new().fixed("/", hello()), config).await;
    let out = roundtrip_close(
        &server,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await;
    assert_eq!(out.matches("Hello, World!").count(), 2, "{out}");
    assert_eq!(out.matches("connection: close").count(), 1, "{out}");
}

#[tokio::test]
async fn an_earlier_route_or_a_websocket_route_on_the_path_wins() {
    let dynamic = |_req: http::Request<Body>| async { http::Response::new(Body::from("dynamic")) };
    let router = Router::new()
        .get("/", dynamic)
        .fixed("/", hello())
        .fixed("/ws", hello())
        .websocket("/ws", |_ws| async {});
    let server = start(router, ServerConfig::default()).await;
    let out = roundtrip_close(
        &server,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.ends_with("\r\n\r\ndynamic"), "{out}");
    // Not a handshake: the WebSocket route answers 400 (and closes).
    let out = roundtrip_close(&server, b"GET /ws HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
}

#[tokio::test]
async fn a_fixed_route_on_a_literal_path_serves_pipelined_requests_in_order() {
    let router = Router::new()
        .fixed("/a", http::Response::new(Bytes::from_static(b"A")))
        .fixed("/b/c", http::Response::new(Bytes::from_static(b"BC")));
    let server = start(router, ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let mut batch = Vec::new();
    for path in ["/a", "/b/c", "/a", "/b//c", "/b/c"] {
        batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: x:8080\r\n\r\n").as_bytes());
    }
    tcp.write_all(&batch).await.unwrap();
    let out = read_responses(&mut tcp, 5).await;
    let bodies: Vec<&str> = out
        .split("HTTP/1.1 200 OK\r\n")
        .skip(1)
        .map(|r| r.rsplit("\r\n\r\n").next().unwrap())
        .collect();
    // "/b//c" is not the literal path byte for byte: the ordinary path matches it the same.
    assert_eq!(bodies, ["A", "BC", "A", "BC", "BC"], "{out}");
}

/// Splits `Content-Length`-framed responses: (head lower-cased, body) each. The response
/// at index `head_at` answers a `HEAD` (no body whatever its `Content-Length`).
fn split_responses(mut data: &str, head_at: Option<usize>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(end) = data.find("\r\n\r\n") {
        let head = data[..end].to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .filter(|_| head_at != Some(out.len()))
            .unwrap_or(0);
        let body = &data[end + 4..end + 4 + len];
        out.push((head, body.to_string()));
        data = &data[end + 4 + len..];
    }
    assert!(data.is_empty(), "trailing bytes: {data:?}");
    out
}

/// A router with the fixed `/`, a handler that reads its whole body, and a dynamic route.
fn mixed_router() -> Router {
    use http_body_util::BodyExt;
    Router::new()
        .fixed("/", hello())
        .post("/len", |req: http::Request<Body>| async move {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let n = body.map(|b| b.len()).unwrap_or(0);
            http::Response::new(Body::from(format!("len={n}")))
        })
        .get("/dyn", |_req: http::Request<Body>| async {
            http::Response::new(Body::from("dynamic"))
        })
}

const GET: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

#[tokio::test]
async fn a_mixed_pipelined_batch_is_answered_strictly_in_order() {
    let server = start(mixed_router(), ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let mut batch = String::new();
    for _ in 0..20 {
        batch.push_str(GET);
    }
    batch.push_str("POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde");
    batch.push_str(GET);
    batch.push_str(GET);
    batch.push_str("GET /dyn HTTP/1.1\r\nHost: a\r\n\r\n");
    batch.push_str("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    batch.push_str(GET);
    // A head split across two writes, right after fast-path requests.
    let (first, second) = GET.split_at(9);
    batch.push_str(first);
    tcp.write_all(batch.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    tcp.write_all(second.as_bytes()).await.unwrap();
    tcp.write_all(GET.as_bytes()).await.unwrap();
    let out = read_responses(&mut tcp, 28).await;
    let got: Vec<String> = split_responses(&out, Some(24))
        .into_iter()
        .map(|(head, body)| {
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
            assert!(!head.contains("connection: close"), "{head}");
            if head.contains("content-length: 13") && body.is_empty() {
                "HEAD".to_string()
            } else {
                body
            }
        })
        .collect();
    let hello = "Hello, World!".to_string();
    let mut want = vec![hello.clone(); 20];
    want.extend(["len=5", "Hello, World!", "Hello, World!", "dynamic", "HEAD"].map(String::from));
    want.extend([hello.clone(), hello.clone(), hello]);
    assert_eq!(got, want);
    assert_eq!(server.requests_processed(), 28);
}

#[tokio::test]
async fn close_and_http10_in_a_pipelined_batch_end_the_connection_in_order() {
    let server = start(mixed_router(), ServerConfig::default()).await;
    for stop in [
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    ] {
        let batch = [GET, GET, GET, stop, GET, GET].concat();
        let out = roundtrip_close(&server, batch.as_bytes()).await;
        let responses = split_responses(&out, None);
        // Everything up to the closing request is answered; what follows it is dropped.
        assert_eq!(responses.len(), 4, "{out}");
        for (i, (head, body)) in responses.iter().enumerate() {
            assert_eq!(body, "Hello, World!");
            assert_eq!(head.contains("connection: close"), i == 3, "{head}");
        }
    }
}

#[tokio::test]
async fn max_requests_holds_across_a_pipelined_batch() {
    // Around the 16-response runs a batch writes in one copy, too.
    for max in [1, 2, 5, 16, 17, 18, 33] {
        let config = ServerConfig {
            max_requests: max,
            ..ServerConfig::default()
        };
        let server = start(mixed_router(), config).await;
        let batch = GET.repeat(40);
        let out = roundtrip_close(&server, batch.as_bytes()).await;
        let responses = split_responses(&out, None);
        assert_eq!(responses.len(), max as usize, "max {max}: {out}");
        for (i, (head, body)) in responses.iter().enumerate() {
            assert_eq!(body, "Hello, World!");
            let last = i + 1 == max as usize;
            assert_eq!(
                head.contains("connection: close"),
                last,
                "max {max}: {head}"
            );
        }
    }
}

/// Runs of one route longer than a copy block, route changes inside a read, and a `Host`
/// that changes between requests: each answer matches its own request, in order.
#[tokio::test]
async fn long_runs_and_changing_routes_and_hosts_in_one_read_are_answered_in_order() {
    let router = Router::new()
        .fixed("/a", http::Response::new(Bytes::from_static(b"A")))
        .fixed("/b", http::Response::new(Bytes::from_static(b"BB")));
    let server = start(router, ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let mut batch = String::new();
    let mut want = Vec::new();
    // "x:808" then "x:8080": a value that starts with the one seen before is checked again.
    let hosts = ["x:808", "x:8080", "x:8080", "y", "[::1]:80", "x:8080 ", "x"];
    for (i, run) in [1usize, 18, 3, 33, 1, 2, 16, 17].into_iter().enumerate() {
        let (path, body) = if i % 2 == 0 {
            ("/a", "A")
        } else {
            ("/b", "BB")
        };
        for k in 0..run {
            let host = hosts[(i + k) % hosts.len()];
            batch.push_str(&format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
            want.push(body.to_string());
        }
    }
    tcp.write_all(batch.as_bytes()).await.unwrap();
    let out = read_responses(&mut tcp, want.len()).await;
    let got: Vec<String> = split_responses(&out, None)
        .into_iter()
        .map(|(head, body)| {
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
            body
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(server.requests_processed(), want.len() as u64);
}
