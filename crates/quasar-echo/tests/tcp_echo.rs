//! The TCP echo protocol over real loopback sockets.

use std::time::Duration;

use bytes::Bytes;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::{ConnectionConfig, Hooks, Producer, TcpServer};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(workers: usize) -> TcpServer {
    let cfg = EchoConfig::default();
    TcpServer::builder(EchoServerFactory::new(cfg))
        .workers(workers)
        .connection_config(|c| {
            let marks = c.get_water_marks();
            c.water_marks(marks.with_cap(cfg.write_buffer_cap(marks.high())).unwrap());
        })
        .start()
        .await
        .expect("server starts")
}

async fn read_n(sock: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(10), sock.read_exact(&mut buf))
        .await
        .expect("reply in time")
        .expect("read");
    buf
}

async fn echo_small_message(workers: usize) {
    let server = start(workers).await;
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"ciao luca\r\n\r\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 13).await, b"ciao luca\r\n\r\n");
    drop(sock);
    server.close(Duration::from_secs(2)).await;
    assert_eq!(server.sessions(), 1);
    assert_eq!(server.requests_processed(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_message_is_echoed() {
    echo_small_message(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_message_is_echoed_with_two_workers() {
    echo_small_message(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requests_reuse_one_connection() {
    let server = start(0).await;
    let producer = Producer::new("echo-client", Hooks::default());
    let conn = quasar_net::connection::connect(
        server.address(),
        Arc::new(EchoClientFactory::default()),
        Arc::new(ConnectionConfig::default()),
        producer.clone(),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    for i in 0..3 {
        let reply = conn.request(Bytes::from(format!("msg {i}"))).await.unwrap();
        assert_eq!(reply, format!("msg {i}").as_bytes());
    }
    assert_eq!(conn.processed(), 3);
    assert_eq!(producer.sessions(), 1);
    assert_eq!(producer.requests_processed(), 3);
    let quit = conn.request(Bytes::from_static(b"QUIT")).await.unwrap();
    assert_eq!(quit, &b"QUIT"[..]);
    conn.connection_lost().wait().await.unwrap();
    assert!(conn.is_closed());
    let err = conn.request(Bytes::from_static(b"late")).await.unwrap_err();
    assert!(err.is_connection_lost(), "{err}");
}
