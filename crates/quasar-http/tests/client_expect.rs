//! `Expect: 100-continue` against raw servers: the body waits for `100 Continue`; a final
//! status that comes first is the answer and the body is never sent; a `417` makes the
//! client send the request again without `Expect`; a server that never answers `100` gets
//! the body after the wait; small bodies carry no `Expect`.

use crate::client_support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use client_support::{response, serve, within, Conn};
use quasar_http::client::HttpClient;
use quasar_http::{ParsedRequest, RequestParser};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Reads a request head only (the body may be held back by the client).
async fn read_head(conn: &mut Conn) -> Option<ParsedRequest> {
    let mut parser = RequestParser::default();
    loop {
        if let Some(head) = parser.parse(&mut conn.buf).expect("a valid head") {
            return Some(head);
        }
        if conn.sock.read_buf(&mut conn.buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// Reads the body of `head`.
async fn read_body(conn: &mut Conn, head: &mut ParsedRequest) -> Bytes {
    let mut body = BytesMut::new();
    loop {
        while let Some(data) = head.body.decode(&mut conn.buf).expect("a valid body") {
            body.extend_from_slice(&data);
        }
        if head.body.is_eof() {
            return body.freeze();
        }
        assert!(
            conn.sock.read_buf(&mut conn.buf).await.unwrap() > 0,
            "EOF in body"
        );
    }
}

fn expects(head: &ParsedRequest) -> bool {
    head.parts
        .headers
        .get("expect")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn client(threshold: u64, wait: Duration) -> HttpClient {
    HttpClient::builder()
        .expect_continue(Some(threshold))
        .expect_timeout(wait)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_body_waits_for_100_continue() {
    let (seen, mut saw) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let seen = seen.clone();
        async move {
            while let Some(mut head) = read_head(&mut conn).await {
                let expected = expects(&head);
                // Nothing of the body may have come with the head.
                let early = conn.buf.len();
                if expected {
                    conn.write(b"HTTP/1.1 100 Continue\r\n\r\n").await;
                }
                let body = read_body(&mut conn, &mut head).await;
                let _ = seen.send((expected, early));
                conn.write(response(200, "", &body.len().to_string()).as_bytes())
                    .await;
            }
        }
    })
    .await;
    // A long wait: the body can only go because of the `100`.
    let client = client(100, Duration::from_secs(60));
    let res = within("big POST", client.post(&server.url("/"), vec![7u8; 5000]))
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), &res.body()[..]),
        (200, &b"5000"[..])
    );
    assert_eq!(saw.recv().await.unwrap(), (true, 0));
    // Small bodies go at once, without `Expect`, on the same connection.
    let res = within("small POST", client.post(&server.url("/"), "tiny"))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"4");
    assert!(!saw.recv().await.unwrap().0);
    assert_eq!(client.sessions(), 1);
    // Turned off: big bodies go at once too.
    let off = HttpClient::builder().expect_continue(None).build().unwrap();
    let res = within(
        "POST, expect off",
        off.post(&server.url("/"), vec![7u8; 5000]),
    )
    .await
    .unwrap();
    assert_eq!(&res.body()[..], b"5000");
    assert!(!saw.recv().await.unwrap().0);
}

#[tokio::test]
async fn a_final_status_before_100_is_the_answer_and_the_body_is_never_sent() {
    let (seen, mut saw) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let seen = seen.clone();
        async move {
            let Some(head) = read_head(&mut conn).await else {
                return;
            };
            assert!(expects(&head));
            conn.write(response(413, "", "too big").as_bytes()).await;
            // The client closes without sending the body.
            let mut rest = Vec::new();
            let _ = conn.sock.read_to_end(&mut rest).await;
            let _ = seen.send(conn.buf.len() + rest.len());
        }
    })
    .await;
    let client = client(100, Duration::from_secs(60));
    let res = within("POST", client.post(&server.url("/"), vec![1u8; 10_000]))
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        within("server", saw.recv()).await.unwrap(),
        0,
        "body bytes were sent"
    );
    assert_eq!(client.idle_connections(), 0, "the connection is not reused");
}

#[tokio::test]
async fn a_417_sends_the_request_again_without_expect() {
    let (seen, mut saw) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let seen = seen.clone();
        async move {
            let Some(mut head) = read_head(&mut conn).await else {
                return;
            };
            if expects(&head) {
                let _ = seen.send("expect".to_string());
                conn.write(response(417, "", "").as_bytes()).await;
                return;
            }
            let body = read_body(&mut conn, &mut head).await;
            let _ = seen.send(format!("plain {}", body.len()));
            conn.write(response(201, "", "").as_bytes()).await;
        }
    })
    .await;
    let client = client(10, Duration::from_secs(60));
    let res = within("POST", client.post(&server.url("/"), vec![2u8; 300]))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(saw.recv().await.unwrap(), "expect");
    assert_eq!(saw.recv().await.unwrap(), "plain 300");
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_server_that_ignores_expect_gets_the_body_after_the_wait() {
    let server = serve(|mut conn| async move {
        while let Some(mut head) = read_head(&mut conn).await {
            assert!(expects(&head));
            // No `100`: just wait for the body, as servers that predate `Expect` do.
            let body = read_body(&mut conn, &mut head).await;
            conn.write(response(200, "", &body.len().to_string()).as_bytes())
                .await;
        }
    })
    .await;
    let client = client(10, Duration::from_millis(50));
    let res = within("POST", client.post(&server.url("/"), vec![3u8; 2048]))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"2048");
}
