//! Error responses keep the connection (as hyper does) unless the request could not be read,
//! the handler says `Connection: close`, or the server keeps pulsar's `close_on_error` rule.

use crate::common;

use common::*;
use http::{Response, StatusCode};
use quasar_http::server::{Router, ServerConfig};
use quasar_http::Body;
use quasar_net::TcpServer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn app() -> Router {
    Router::new()
        .get("/ok", |_req| async { Response::new(Body::from("ok")) })
        .get("/teapot", |_req| async {
            let mut resp = Response::new(Body::from("short and stout"));
            *resp.status_mut() = StatusCode::IM_A_TEAPOT;
            resp
        })
        .get("/fail", |_req| async {
            tokio::task::yield_now().await;
            let mut resp = Response::new(Body::from("failed"));
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp
        })
        .get("/bye", |_req| async {
            let mut resp = Response::new(Body::from("bye"));
            *resp.status_mut() = StatusCode::FORBIDDEN;
            resp.headers_mut()
                .insert("connection", http::HeaderValue::from_static("close"));
            resp
        })
        // Refuses without reading the body it was sent.
        .post("/refuse", |_req| async {
            let mut resp = Response::new(Body::from("no"));
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            resp
        })
}

async fn server(close_on_error: bool) -> TcpServer {
    let config = ServerConfig {
        close_on_error,
        ..ServerConfig::default()
    };
    start(app(), config).await
}

async fn ask(tcp: &mut TcpStream, req: &str) -> String {
    tcp.write_all(req.as_bytes()).await.unwrap();
    read_responses(tcp, 1).await
}

#[tokio::test]
async fn error_statuses_keep_the_connection_by_default() {
    let server = server(false).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let cases = [
        (
            "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
            "404 Not Found",
            "Not Found",
        ),
        (
            "DELETE /ok HTTP/1.1\r\nHost: x\r\n\r\n",
            "405 Method Not Allowed",
            "",
        ),
        (
            "GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n",
            "418 I'm a teapot",
            "short and stout",
        ),
        (
            "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n",
            "500 Internal Server Error",
            "failed",
        ),
        (
            "POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            "400 Bad Request",
            "no",
        ),
        ("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK", "ok"),
    ];
    for (req, status, body) in cases {
        let resp = ask(&mut tcp, req).await;
        assert!(
            resp.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{resp}"
        );
        assert!(resp.ends_with(body), "{resp}");
        assert!(!resp.contains("connection: close"), "{resp}");
    }
    assert_eq!(server.connections().len(), 1);
    assert_eq!(server.connections()[0].processed(), 6);
}

#[tokio::test]
async fn an_unread_body_is_dropped_and_the_next_pipelined_request_served() {
    let server = server(false).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    // A chunked body the handler never reads, sent behind a request that follows it.
    let body = "a".repeat(100_000);
    let req = format!(
        "POST /refuse HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let resp = read_responses(&mut tcp, 2).await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nok"), "{resp}");
    assert!(!resp.contains("connection: close"), "{resp}");
}

#[tokio::test]
async fn http10_without_keep_alive_still_closes_after_an_error() {
    let server = server(false).await;
    let resp = roundtrip_close(&server, b"GET /nope HTTP/1.0\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
    assert!(resp.contains("connection: close\r\n"), "{resp}");
}

#[tokio::test]
async fn a_handler_asking_to_close_closes() {
    let server = server(false).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let resp = ask(&mut tcp, "GET /bye HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{resp}");
    assert!(is_closed(&mut tcp).await);
}

#[tokio::test]
async fn a_malformed_request_still_closes() {
    let server = server(false).await;
    let resp = roundtrip_close(
        &server,
        b"GET /ok HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert!(resp.contains("connection: close\r\n"), "{resp}");
}

#[tokio::test]
async fn close_on_error_restores_pulsars_rule() {
    let server = server(true).await;
    for path in ["/nope", "/teapot", "/fail"] {
        let mut tcp = TcpStream::connect(server.address()).await.unwrap();
        let resp = ask(&mut tcp, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await;
        assert!(resp.contains("connection: close\r\n"), "{resp}");
        assert!(is_closed(&mut tcp).await, "{path}");
    }
    // Successes still keep it.
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    for _ in 0..3 {
        let resp = ask(&mut tcp, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(resp.ends_with("\r\n\r\nok"), "{resp}");
    }
}
