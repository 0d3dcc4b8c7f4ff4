//! `HttpClient` against raw loopback servers: bodies, HEAD, keep-alive, redirects, errors,
//! limits, timeouts and a pool under load.

use crate::client_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use client_support::{response, serve, within, Conn};
use http::{Method, Request, StatusCode, Version};
use quasar_http::client::{ClientError, HttpClient};
use quasar_http::HttpError;
use tokio::sync::mpsc;

/// Answers every request on a connection with `200` and the request's method, path and body.
async fn echo(mut conn: Conn) {
    while let Some(req) = conn.read_request().await {
        let body = format!(
            "{} {} {}",
            req.method(),
            req.path(),
            String::from_utf8_lossy(&req.body)
        );
        conn.write(response(200, "", &body).as_bytes()).await;
    }
}

#[tokio::test]
async fn get_returns_a_content_length_body_and_sends_host() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let seen_tx = seen_tx.clone();
        async move {
            let req = conn.read_request().await.unwrap();
            let _ = seen_tx.send((
                req.header("host").map(str::to_owned),
                req.header("content-length").map(str::to_owned),
            ));
            conn.write(response(200, "x-test: 1\r\n", "hello").as_bytes())
                .await;
            conn.peer_closed(Duration::from_secs(5)).await;
        }
    })
    .await;
    let client = HttpClient::new();
    let res = within("GET", client.get(&server.url("/hi?x=1")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(res.headers()["x-test"], "1");
    assert_eq!(&res.body()[..], b"hello");
    let (host, length) = seen.recv().await.unwrap();
    assert_eq!(host.as_deref(), Some(server.addr.to_string().as_str()));
    assert_eq!(length, None, "a GET without a body sends no Content-Length");
}

#[tokio::test]
async fn post_sends_its_body_with_content_length() {
    let server = serve(echo).await;
    let client = HttpClient::new();
    let res = within("POST", client.post(&server.url("/submit"), "payload"))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"POST /submit payload");
}

#[tokio::test]
async fn a_chunked_request_body_reaches_the_server_whole() {
    let server = serve(echo).await;
    let client = HttpClient::new();
    let req = Request::put(server.url("/c"))
        .header("transfer-encoding", "chunked")
        .body(Bytes::from_static(b"in chunks"))
        .unwrap();
    let res = within("PUT", client.request(req)).await.unwrap();
    assert_eq!(&res.body()[..], b"PUT /c in chunks");
}

#[tokio::test]
async fn chunked_response_bodies_are_decoded_across_reads_and_the_connection_is_reused() {
    let server = serve(|mut conn| async move {
        while conn.read_request().await.is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel")
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            conn.write(b"lo\r\n6\r\n world\r\n0\r\n\r\n").await;
        }
    })
    .await;
    let client = HttpClient::new();
    for _ in 0..3 {
        let res = within("GET", client.get(&server.url("/"))).await.unwrap();
        assert_eq!(&res.body()[..], b"hello world");
    }
    assert_eq!((client.sessions(), server.accepted()), (1, 1));
}

#[tokio::test]
async fn a_close_delimited_body_ends_at_eof_and_the_next_request_reconnects() {
    let server = serve(|mut conn| async move {
        conn.read_request().await.unwrap();
        conn.write(b"HTTP/1.0 200 OK\r\n\r\nuntil ").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        conn.write(b"the end").await;
        // Dropping the socket closes it: the body ends here.
    })
    .await;
    let client = HttpClient::new();
    for round in 1..=2 {
        let res = within("GET", client.get(&server.url("/"))).await.unwrap();
        assert_eq!(res.version(), Version::HTTP_10);
        assert_eq!(&res.body()[..], b"until the end");
        assert_eq!(server.accepted(), round);
    }
    assert_eq!(client.sessions(), 2);
}

#[tokio::test]
async fn a_head_response_has_no_body_and_leaves_the_connection_usable() {
    let server = serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            if req.method() == Method::HEAD {
                // Content-Length describes the GET body; no body bytes follow.
                conn.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                    .await;
            } else {
                conn.write(response(200, "", "after head").as_bytes()).await;
            }
        }
    })
    .await;
    let client = HttpClient::new();
    let req = Request::head(server.url("/")).body(Bytes::new()).unwrap();
    let res = within("HEAD", client.request(req)).await.unwrap();
    assert_eq!(res.headers()["content-length"], "1000");
    assert!(res.body().is_empty());
    let res = within("GET", client.get(&server.url("/"))).await.unwrap();
    assert_eq!(&res.body()[..], b"after head");
    assert_eq!(client.sessions(), 1);
}

#[tokio::test]
async fn keep_alive_reuses_one_connection_for_sequential_requests() {
    let server = serve(echo).await;
    let client = HttpClient::new();
    for i in 0..5 {
        let res = within("GET", client.get(&server.url(&format!("/{i}"))))
            .await
            .unwrap();
        assert_eq!(res.body(), &Bytes::from(format!("GET /{i} ")));
    }
    assert_eq!((client.sessions(), server.accepted()), (1, 1));
    assert_eq!(client.requests_processed(), 5);
}

#[tokio::test]
async fn connection_close_makes_the_client_close_and_open_a_new_connection_next_time() {
    let (closed_tx, mut closed) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let closed_tx = closed_tx.clone();
        async move {
            conn.read_request().await.unwrap();
            conn.write(response(200, "connection: close\r\n", "bye").as_bytes())
                .await;
            // The server keeps its side open: the client must close.
            let _ = closed_tx.send(conn.peer_closed(Duration::from_secs(5)).await);
        }
    })
    .await;
    let client = HttpClient::new();
    for round in 1..=2 {
        let res = within("GET", client.get(&server.url("/"))).await.unwrap();
        assert_eq!(&res.body()[..], b"bye");
        assert_eq!(within("the close", closed.recv()).await, Some(true));
        assert_eq!(server.accepted(), round);
    }
    assert_eq!(client.sessions(), 2);
}

#[tokio::test]
async fn an_http_10_response_without_keep_alive_is_not_reused() {
    let server = serve(|mut conn| async move {
        while conn.read_request().await.is_some() {
            conn.write(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    })
    .await;
    let client = HttpClient::new();
    for _ in 0..2 {
        within("GET", client.get(&server.url("/"))).await.unwrap();
    }
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn redirects_are_followed_on_the_same_pooled_connection() {
    let server = serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let res = match req.path() {
                "/a" => response(302, "location: /b\r\n", "moved"),
                "/b" => response(301, "location: c\r\n", ""),
                _ => response(200, "", &format!("{} {}", req.method(), req.path())),
            };
            conn.write(res.as_bytes()).await;
        }
    })
    .await;
    let client = HttpClient::new();
    let res = within("GET", client.get(&server.url("/a"))).await.unwrap();
    assert_eq!(&res.body()[..], b"GET /c");
    assert_eq!((client.sessions(), server.accepted()), (1, 1));
    assert_eq!(client.requests_processed(), 3);
}

#[tokio::test]
async fn see_other_turns_a_post_into_a_get_without_the_body() {
    let server = serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let res = match req.path() {
                "/form" => response(303, "location: /result\r\n", ""),
                _ => response(
                    200,
                    "",
                    &format!("{} {} [{}]", req.method(), req.path(), req.body.len()),
                ),
            };
            conn.write(res.as_bytes()).await;
        }
    })
    .await;
    let client = HttpClient::new();
    let res = within("POST", client.post(&server.url("/form"), "data"))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"GET /result [0]");
}

#[tokio::test]
async fn a_redirect_loop_stops_at_the_limit() {
    let server = serve(|mut conn| async move {
        while conn.read_request().await.is_some() {
            conn.write(response(302, "location: /again\r\n", "").as_bytes())
                .await;
        }
    })
    .await;
    let client = HttpClient::builder().max_redirects(3).build().unwrap();
    let err = within("GET", client.get(&server.url("/")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::TooManyRedirects(3)), "{err:?}");
    assert_eq!(client.requests_processed(), 4);

    let no_follow = HttpClient::builder().max_redirects(0).build().unwrap();
    let res = within("GET", no_follow.get(&server.url("/")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn a_server_that_resets_mid_body_fails_the_request_with_connection_lost() {
    let server = serve(|mut conn| async move {
        conn.read_request().await.unwrap();
        conn.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..")
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        // SO_LINGER 0: dropping the socket sends RST.
        conn.sock.set_zero_linger().unwrap();
    })
    .await;
    let client = HttpClient::new();
    let err = within("GET", client.get(&server.url("/")))
        .await
        .unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
}

#[tokio::test]
async fn a_clean_close_mid_body_is_a_lost_connection_too() {
    let server = serve(|mut conn| async move {
        conn.read_request().await.unwrap();
        conn.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .await;
    })
    .await;
    let client = HttpClient::new();
    let err = within("GET", client.get(&server.url("/")))
        .await
        .unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
}

#[tokio::test]
async fn bodies_over_the_limit_fail_with_body_too_large() {
    let server = serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let res = match req.path() {
                "/declared" => response(200, "", &"x".repeat(65)),
                "/chunked" => format!(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n{}\r\n1\r\ny\r\n0\r\n\r\n",
                    "x".repeat(64)
                ),
                "/eof" => format!("HTTP/1.0 200 OK\r\n\r\n{}", "x".repeat(65)),
                _ => response(200, "", &"x".repeat(64)),
            };
            conn.write(res.as_bytes()).await;
        }
    })
    .await;
    let client = HttpClient::builder().max_body(64).build().unwrap();
    let res = within("GET", client.get(&server.url("/fits")))
        .await
        .unwrap();
    assert_eq!(res.body().len(), 64);
    for path in ["/declared", "/chunked", "/eof"] {
        let err = within(path, client.get(&server.url(path)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Http(HttpError::BodyTooLarge)),
            "{path}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_malformed_response_is_a_typed_http_error() {
    let server = serve(|mut conn| async move {
        conn.read_request().await.unwrap();
        conn.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab")
            .await;
    })
    .await;
    let client = HttpClient::new();
    let err = within("GET", client.get(&server.url("/")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Http(HttpError::ConflictingContentLength)),
        "{err:?}"
    );
}

#[tokio::test]
async fn interim_responses_are_skipped() {
    let server = serve(|mut conn| async move {
        conn.read_request().await.unwrap();
        conn.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </s>\r\n\r\n")
            .await;
        conn.write(response(201, "", "made").as_bytes()).await;
        conn.peer_closed(Duration::from_secs(5)).await;
    })
    .await;
    let client = HttpClient::new();
    let res = within("POST", client.post(&server.url("/"), "x"))
        .await
        .unwrap();
    assert_eq!(
        (res.status(), &res.body()[..]),
        (StatusCode::CREATED, &b"made"[..])
    );
}

#[tokio::test]
async fn a_silent_server_hits_the_request_timeout_and_its_connection_is_dropped() {
    let server = serve(|mut conn| async move {
        conn.read_request().await;
        conn.peer_closed(Duration::from_secs(10)).await;
    })
    .await;
    let client = HttpClient::builder()
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = within("GET", client.get(&server.url("/")))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(
        client.connections_in_use() + client.idle_connections(),
        0,
        "the timed-out connection is gone"
    );
}

#[tokio::test]
async fn urls_are_checked_before_anything_is_sent() {
    let client = HttpClient::new();
    assert!(matches!(
        client.get("ftp://127.0.0.1/").await,
        Err(ClientError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        client.get("/no/host").await,
        Err(ClientError::InvalidUrl(_))
    ));
    assert!(matches!(
        client.get("http://no-such-host.invalid/").await,
        Err(ClientError::Resolve { .. })
    ));
    assert_eq!(client.sessions(), 0);
}

#[tokio::test]
async fn a_closed_client_refuses_requests() {
    let server = serve(echo).await;
    let client = HttpClient::new();
    within("GET", client.get(&server.url("/"))).await.unwrap();
    within("close", client.close()).await;
    let err = client.get(&server.url("/")).await.unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_gets_share_a_pool_of_four() {
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (a, p) = (Arc::clone(&active), Arc::clone(&peak));
    let server = serve(move |mut conn| {
        let (active, peak) = (Arc::clone(&a), Arc::clone(&p));
        async move {
            while let Some(req) = conn.read_request().await {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                conn.write(response(200, "", req.path()).as_bytes()).await;
            }
        }
    })
    .await;
    let client = HttpClient::builder().pool_size(4).build().unwrap();
    let calls = (0..100).map(|i| {
        let client = client.clone();
        let url = server.url(&format!("/{i}"));
        tokio::spawn(async move { (i, client.get(&url).await) })
    });
    for call in calls {
        let (i, res) = within("a GET", call).await.unwrap();
        assert_eq!(res.unwrap().body(), &Bytes::from(format!("/{i}")));
    }
    assert!(client.sessions() <= 4, "sessions {}", client.sessions());
    assert!(server.accepted() <= 4);
    assert!(peak.load(Ordering::SeqCst) <= 4);
    assert_eq!(client.requests_processed(), 100);
}
