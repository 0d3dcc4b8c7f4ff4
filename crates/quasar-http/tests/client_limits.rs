//! `HttpClient`'s connection caps against real servers: 100 concurrent requests with
//! `max_per_host = 4` open exactly 4 connections, the total cap holds across hosts (a
//! waiter gets `PoolTimeout`, and idle connections of another host make room), and the idle
//! cap closes the surplus; a WebSocket holds its place under the total cap until it closes. Servers hold their answers until enough requests are in flight,
//! so every cap is reached for sure, without sleeps.

use crate::client_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client_support::{response, serve, within, Server};
use quasar_http::client::{ClientError, HttpClient};
use tokio::sync::Notify;

/// A gate that opens once `need` requests are waiting at it, and stays open.
struct Gate {
    need: usize,
    waiting: AtomicUsize,
    open: Notify,
}

impl Gate {
    fn new(need: usize) -> Arc<Gate> {
        Arc::new(Gate {
            need,
            waiting: AtomicUsize::new(0),
            open: Notify::new(),
        })
    }

    async fn pass(&self) {
        let open = self.open.notified();
        if self.waiting.fetch_add(1, Ordering::SeqCst) + 1 >= self.need {
            self.open.notify_waiters();
            // Later arrivals pass at once.
            self.waiting.store(usize::MAX / 2, Ordering::SeqCst);
            return;
        }
        open.await;
    }

    fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// A server answering `ok` to every request once `gate` lets it.
async fn gated_server(gate: Arc<Gate>) -> Server {
    serve(move |mut conn| {
        let gate = Arc::clone(&gate);
        async move {
            while let Some(_req) = conn.read_request().await {
                gate.pass().await;
                conn.write(response(200, "", "ok").as_bytes()).await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_hundred_concurrent_requests_with_max_per_host_4_open_exactly_4_connections() {
    let gate = Gate::new(4);
    let server = gated_server(Arc::clone(&gate)).await;
    let client = HttpClient::builder().max_per_host(4).build().unwrap();
    let url = server.url("/");
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(&url).await })
        })
        .collect();
    for r in requests {
        let res = within("request", r).await.unwrap().unwrap();
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        server.accepted(),
        4,
        "the server accepted more than the cap"
    );
    assert_eq!(client.sessions(), 4);
    assert_eq!(client.idle_connections(), 4);
}

#[tokio::test]
async fn the_total_cap_holds_across_hosts_and_idle_connections_make_room() {
    let gate_a = Gate::new(2);
    let a = gated_server(Arc::clone(&gate_a)).await;
    let b = gated_server(Gate::new(1)).await;
    let client = HttpClient::builder()
        .max_connections(2)
        .max_per_host(10)
        .pool_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    // Five requests to A: two connections (the total cap), answered once both are in.
    let url_a = a.url("/");
    let to_a: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (client.clone(), url_a.clone());
            tokio::spawn(async move { client.get(&url).await })
        })
        .collect();
    for r in to_a {
        within("A", r).await.unwrap().unwrap();
    }
    assert_eq!(a.accepted(), 2);
    assert_eq!(
        gate_a.waiting(),
        usize::MAX / 2,
        "both A connections were in use at once"
    );
    // B needs a connection: the cap is reached, and A's idle ones are closed to make room.
    let res = within("B", client.get(&b.url("/"))).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(b.accepted(), 1);
    assert!(
        client.open_connections() <= 2,
        "{}",
        client.open_connections()
    );
}

#[tokio::test]
async fn a_request_over_the_caps_waits_at_most_the_pool_timeout() {
    // A server that never answers: the one connection allowed stays in use.
    let server = serve(|mut conn| async move {
        let _req = conn.read_request().await;
        conn.peer_closed(Duration::from_secs(30)).await;
    })
    .await;
    let other = gated_server(Gate::new(1)).await;
    let client = HttpClient::builder()
        .max_per_host(1)
        .max_connections(1)
        .pool_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let stuck = {
        let (client, url) = (client.clone(), server.url("/"));
        tokio::spawn(async move { client.get(&url).await })
    };
    // Wait until the stuck request holds its connection.
    within("stuck request", async {
        while client.connections_in_use() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Same host: the per-host cap; another host: the total cap.
    for url in [server.url("/"), other.url("/")] {
        let err = within("waiter", client.get(&url)).await.unwrap_err();
        assert!(matches!(err, ClientError::PoolTimeout), "{err:?}");
    }
    assert_eq!(other.accepted(), 0);
    stuck.abort();
}

#[tokio::test]
async fn the_idle_cap_closes_surplus_connections_when_they_come_back() {
    let gate = Gate::new(3);
    let server = gated_server(Arc::clone(&gate)).await;
    let client = HttpClient::builder().max_idle_per_host(1).build().unwrap();
    let url = server.url("/");
    let requests: Vec<_> = (0..3)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(&url).await })
        })
        .collect();
    for r in requests {
        within("request", r).await.unwrap().unwrap();
    }
    assert_eq!(server.accepted(), 3);
    assert_eq!(client.idle_connections(), 1);
    assert!(matches!(
        HttpClient::builder().max_connections(0).build(),
        Err(ClientError::Net(e)) if e.is_config()
    ));
}

#[tokio::test]
async fn a_websocket_counts_under_the_total_cap_until_it_closes() {
    let ws_server = serve(|mut conn| async move {
        conn.accept_websocket(b"").await;
        conn.peer_closed(Duration::from_secs(30)).await;
    })
    .await;
    let other = gated_server(Gate::new(1)).await;
    let client = HttpClient::builder()
        .max_connections(1)
        .pool_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let ws = within("handshake", client.websocket(&ws_server.ws_url("/")))
        .await
        .unwrap();
    assert_eq!(client.open_connections(), 1);
    let err = within("GET", client.get(&other.url("/")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::PoolTimeout), "{err:?}");
    // Once the WebSocket's socket is gone (it closes in its own task), its place is free.
    ws.connection().abort();
    drop(ws);
    within("the socket's end", async {
        while client.open_connections() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let res = within("GET after", client.get(&other.url("/")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
