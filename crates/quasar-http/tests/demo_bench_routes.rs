//! The demo's benchmark routes over loopback: `/plaintext` and `/json` answer what the
//! benchmarks expect, the typed and the plain JSON route answer the same bytes, and the
//! mixed workload of scripts/bench/mixed.lua (pipelined, on one connection) gets only 2xx
//! answers, in order, with the connection kept.

use crate::common;

use common::{demo, is_closed, read_responses, status_line};
use quasar_http::server::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The body of one Content-Length response.
fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// The responses in `out`, split at each status line.
fn responses(out: &str) -> Vec<String> {
    out.split("HTTP/1.1 ")
        .filter(|s| !s.is_empty())
        .map(|s| format!("HTTP/1.1 {s}"))
        .collect()
}

#[tokio::test]
async fn plaintext_and_json_answer_the_benchmark_bodies() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /json HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let out = responses(&read_responses(&mut tcp, 2).await);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(status_line(&out[0]), "HTTP/1.1 200 OK");
    assert!(
        out[0].contains("content-type: text/plain\r\n"),
        "{}",
        out[0]
    );
    assert!(out[0].contains("content-length: 13\r\n"), "{}", out[0]);
    assert_eq!(body(&out[0]), "Hello, World!");
    assert!(
        out[1].contains("content-type: application/json\r\n"),
        "{}",
        out[1]
    );
    assert_eq!(body(&out[1]), r#"{"message":"Hello, World!"}"#);
    assert!(!is_closed(&mut tcp).await);
    server.close(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_typed_and_the_plain_json_route_answer_the_same() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"GET /app/json/42 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /plain/json/42 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /app/json/x HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /plain/json/x HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let out = responses(&read_responses(&mut tcp, 4).await);
    assert_eq!(out.len(), 4, "{out:?}");
    let want = r#"{"message":"Hello, World!","id":42}"#;
    for resp in &out[..2] {
        assert_eq!(status_line(resp), "HTTP/1.1 200 OK");
        assert!(
            resp.contains("content-type: application/json\r\n"),
            "{resp}"
        );
        assert_eq!(body(resp), want);
    }
    // A path parameter that is not a number: 400 from both, and the connection stays.
    for resp in &out[2..] {
        assert_eq!(status_line(resp), "HTTP/1.1 400 Bad Request", "{resp}");
    }
    assert!(!is_closed(&mut tcp).await);
    server.close(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_mixed_workload_pipelined_on_one_connection_gets_2xx_in_order() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let post = r#"{"user":"alice","items":[1,2,3],"note":"hello"}"#;
    // The requests of scripts/bench/mixed.lua, twice over, in one write.
    let mixed = format!(
        "GET /plaintext HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n\
         GET /json HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nAccept-Encoding: gzip, br\r\n\r\n\
         GET /app/json/42 HTTP/1.1\r\nHost: a\r\nCookie: session=abc123; theme=dark\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nX-Request-Id: 7f9c\r\nContent-Length: {}\r\n\r\n{post}\
         GET /plain/json/7 HTTP/1.1\r\nHost: a\r\nCache-Control: no-cache\r\n\r\n\
         GET /get?page=2&sort=name HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n",
        post.len()
    );
    tcp.write_all(format!("{mixed}{mixed}").as_bytes())
        .await
        .unwrap();
    let out = responses(&read_responses(&mut tcp, 12).await);
    assert_eq!(out.len(), 12, "{out:?}");
    for (i, resp) in out.iter().enumerate() {
        assert_eq!(status_line(resp), "HTTP/1.1 200 OK", "response {i}: {resp}");
    }
    assert_eq!(body(&out[0]), "Hello, World!");
    assert_eq!(body(&out[3]), post);
    assert!(
        body(&out[5]).contains(r#""query":"page=2&sort=name""#),
        "{}",
        out[5]
    );
    assert_eq!(body(&out[9]), post);
    assert!(!is_closed(&mut tcp).await);
    server.close(std::time::Duration::from_secs(1)).await;
}
