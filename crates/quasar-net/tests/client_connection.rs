//! Client connections (`connection::connect` + `ClientConnection::request`) against
//! the echo server and against servers that misbehave.

use crate::core_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use core_support::within;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::connection::connect;
use quasar_net::{ClientConnection, ConnectionConfig, Hooks, Producer, Result, TcpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn echo_server() -> TcpServer {
    TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .start()
        .await
        .unwrap()
}

async fn client(addr: SocketAddr, producer: &Producer) -> Result<ClientConnection<Bytes, Bytes>> {
    connect(
        addr,
        Arc::new(EchoClientFactory::default()),
        Arc::new(ConnectionConfig::default()),
        producer.clone(),
        Duration::from_secs(2),
    )
    .await
}

fn producer() -> Producer {
    Producer::new("client", Hooks::default())
}

/// A server that accepts one connection, reads the start of a request and hands the
/// socket to `then`.
async fn one_shot_server<F, Fut>(then: F) -> SocketAddr
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let _ = sock.read(&mut buf).await;
        then(sock).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_on_one_connection_get_their_own_replies() {
    let server = echo_server().await;
    let producer = producer();
    let conn = client(server.address(), &producer).await.unwrap();
    assert_eq!(conn.session(), 1);
    assert!(conn.connection_made().is_fired());
    for i in 0..5 {
        let msg = format!("request number {i}");
        let reply = within("a reply", conn.request(Bytes::from(msg.clone())))
            .await
            .unwrap();
        assert_eq!(reply, msg.as_bytes());
    }
    // A large one: its echo arrives in many reads.
    let big = Bytes::from(vec![b'z'; 200 * 1024]);
    assert_eq!(
        within("a reply", conn.request(big.clone())).await.unwrap(),
        big
    );
    assert_eq!(conn.processed(), 6);
    assert_eq!((producer.sessions(), producer.requests_processed()), (1, 6));
    assert_eq!(server.sessions(), 1);
    assert_eq!(server.requests_processed(), 6);
    within("close", conn.close()).await.unwrap();
    assert!(conn.is_closed());
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_larger_than_the_write_buffer_cap_fails_and_closes_the_connection() {
    let server = echo_server().await;
    let conn = client(server.address(), &producer()).await.unwrap();
    // The default cap is 4 x 64 KiB and a request is written in one piece.
    let err = within(
        "the request",
        conn.request(Bytes::from(vec![b'z'; 300 * 1024])),
    )
    .await
    .unwrap_err();
    assert!(err.is_write_buffer_full(), "{err}");
    // Half a request may have been queued: the connection cannot be reused.
    within("connection_lost", conn.connection_lost().wait())
        .await
        .ok();
    assert!(conn.is_closed());
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_one_connection_are_answered_in_order() {
    let server = echo_server().await;
    let conn = client(server.address(), &producer()).await.unwrap();
    let calls = (0..8).map(|i| {
        let conn = conn.clone();
        tokio::spawn(async move {
            let msg = format!("call {i}");
            assert_eq!(
                conn.request(Bytes::from(msg.clone())).await.unwrap(),
                msg.as_bytes()
            );
        })
    });
    for call in calls.collect::<Vec<_>>() {
        within("a call", call).await.unwrap();
    }
    assert_eq!(conn.processed(), 8);
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closing_mid_request_fails_it_with_connection_lost() {
    // The server reads the request and closes without answering (FIN).
    let addr = one_shot_server(|sock| async move { drop(sock) }).await;
    let conn = client(addr, &producer()).await.unwrap();
    let err = within(
        "the request to fail",
        conn.request(Bytes::from_static(b"hello")),
    )
    .await
    .expect_err("no reply can come");
    assert!(err.is_connection_lost(), "{err}");
    within("connection_lost", conn.connection_lost().wait())
        .await
        .ok();
    assert!(conn.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_resetting_mid_reply_fails_the_request_with_connection_lost() {
    // Half a reply, then a reset.
    let addr = one_shot_server(|mut sock| async move {
        sock.write_all(b"half a rep").await.unwrap();
        sock.set_zero_linger().unwrap();
        drop(sock);
    })
    .await;
    let conn = client(addr, &producer()).await.unwrap();
    let err = within(
        "the request to fail",
        conn.request(Bytes::from_static(b"hello")),
    )
    .await
    .expect_err("the reply never completes");
    assert!(err.is_connection_lost(), "{err}");
    let lost = within("connection_lost", conn.connection_lost().wait()).await;
    assert!(lost.is_err(), "a reset is not a clean close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_leaves_the_connection_usable_and_replies_reach_their_callers() {
    // A slow echo server: every message comes back 150 ms after it arrived.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut pending = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let message: Vec<u8> = pending.drain(..end + 4).collect();
                tokio::time::sleep(Duration::from_millis(150)).await;
                sock.write_all(&message).await.unwrap();
            }
        }
    });
    let conn = client(addr, &producer()).await.unwrap();
    let timed_out = tokio::time::timeout(
        Duration::from_millis(30),
        conn.request(Bytes::from_static(b"first")),
    )
    .await;
    assert!(timed_out.is_err(), "the first reply takes 150 ms");
    // The first reply is still on its way: it must be read and dropped, not handed to
    // the second caller.
    let second = within(
        "the second reply",
        conn.request(Bytes::from_static(b"second")),
    )
    .await
    .unwrap();
    assert_eq!(second, "second");
    assert!(
        !conn.is_closed(),
        "cancelling a request keeps the connection"
    );
    assert_eq!(conn.processed(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_past_the_request_timeout_fails_with_request_timeout() {
    // A server that never answers.
    let addr = one_shot_server(|sock| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(sock);
    })
    .await;
    let mut cfg = ConnectionConfig::default();
    cfg.request_timeout(Duration::from_millis(200))
        .close_timeout(Duration::from_millis(100));
    let conn = connect(
        addr,
        Arc::new(EchoClientFactory::default()),
        Arc::new(cfg),
        producer(),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let err = within(
        "the request to time out",
        conn.request(Bytes::from_static(b"hello")),
    )
    .await
    .unwrap_err();
    assert!(err.is_request_timeout(), "{err}");
    assert!(err.is_timeout());
    let lost = within("connection_lost", conn.connection_lost().wait()).await;
    assert!(lost.unwrap_err().is_request_timeout());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsolicited_bytes_from_the_server_are_a_protocol_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        sock.write_all(b"nobody asked\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let conn = client(addr, &producer()).await.unwrap();
    let err = within("connection_lost", conn.connection_lost().wait())
        .await
        .unwrap_err();
    assert!(err.is_protocol(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refused_is_a_connect_error_naming_the_address() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed: nothing listens there now
    let producer = producer();
    let err = client(addr, &producer).await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert_eq!(producer.sessions(), 0, "no session for a failed connect");
}
