//! An axum `Router` served by quasar-http through the tower adapter (`TowerHandler`),
//! checked with raw HTTP/1.1 bytes over loopback.

use crate::common;

use axum::extract::Path;
use axum::routing::{get, post};
use common::{read_responses, roundtrip_close, start};
use quasar_http::server::{ServerConfig, TowerHandler};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Two routes: a path parameter and a request body.
fn app() -> axum::Router {
    axum::Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}") }),
        )
        .route(
            "/echo",
            post(|body: String| async move { body.to_uppercase() }),
        )
}

async fn server() -> quasar_net::TcpServer {
    start(TowerHandler::new(app()), ServerConfig::default()).await
}

#[tokio::test]
async fn axum_routes_answer_with_their_extractors_results() {
    let server = server().await;
    let answer = roundtrip_close(
        &server,
        b"GET /users/42 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("content-length: 7\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nuser 42"), "{answer}");

    let answer = roundtrip_close(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nHELLO"), "{answer}");
}

#[tokio::test]
async fn axum_rejections_and_unknown_paths_keep_their_statuses() {
    let server = server().await;
    // The `u32` extractor rejects a non-number: axum's 400.
    let answer = roundtrip_close(
        &server,
        b"GET /users/abc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    // No route: axum's 404.
    let answer = roundtrip_close(
        &server,
        b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    // A method the route does not take: axum's 405 with its Allow header.
    let answer = roundtrip_close(
        &server,
        b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("allow: post"),
        "{answer}"
    );
}

#[tokio::test]
async fn pipelined_requests_to_axum_come_back_in_order_on_one_connection() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"GET /users/1 HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab\
          GET /users/3 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let out = read_responses(&mut tcp, 3).await;
    let bodies: Vec<&str> = out
        .split("HTTP/1.1 200 OK\r\n")
        .skip(1)
        .map(|r| r.rsplit("\r\n\r\n").next().unwrap())
        .collect();
    assert_eq!(bodies, ["user 1", "AB", "user 3"], "{out}");
}
