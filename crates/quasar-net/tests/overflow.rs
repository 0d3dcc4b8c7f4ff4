//! Shedding at `max_connections`: `reject` answers with the factory's busy reply at
//! once; `wait` serves a connection that gets a slot within `max_queue_time` and refuses
//! (with the busy reply) one that does not. Both are counted in `info().abuse`.

use crate::core_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use core_support::{wait_until, within, LineEcho};
use quasar_net::server::OverflowPolicy;
use quasar_net::{Connection, ConsumerFactory, TcpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Busy;

impl ConsumerFactory for Busy {
    type Consumer = LineEcho;

    fn build(&self, _conn: &Connection) -> LineEcho {
        LineEcho
    }

    fn busy_reply(&self) -> Option<Bytes> {
        Some(Bytes::from_static(b"BUSY\n"))
    }
}

async fn echo_once(sock: &mut TcpStream) {
    sock.write_all(b"hi\n").await.unwrap();
    let mut b = [0; 3];
    within("echo", sock.read_exact(&mut b)).await.unwrap();
    assert_eq!(&b, b"hi\n");
}

async fn heard(sock: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = within("reply then close", sock.read_to_end(&mut all)).await;
    all
}

#[tokio::test]
async fn reject_answers_busy_at_once_and_counts() {
    let server = TcpServer::builder(Busy)
        .max_connections(1)
        .overflow_policy(OverflowPolicy::Reject)
        .start()
        .await
        .unwrap();
    assert_eq!(server.info().server.overflow_policy, "reject");
    let mut first = TcpStream::connect(server.address()).await.unwrap();
    echo_once(&mut first).await;
    let started = Instant::now();
    for _ in 0..3 {
        let mut extra = TcpStream::connect(server.address()).await.unwrap();
        // A client that sends its request first still reads the whole reply.
        extra.write_all(b"hello?\n").await.unwrap();
        assert_eq!(heard(&mut extra).await, b"BUSY\n");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    echo_once(&mut first).await;
    let info = server.info();
    assert_eq!(info.abuse.rejected, 3);
    assert_eq!(
        info.clients.processed_clients, 1,
        "refused ones are not sessions"
    );
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wait_refuses_after_the_queue_time_and_serves_within_it() {
    let server = TcpServer::builder(Busy)
        .max_connections(1)
        .max_queue_time(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    assert_eq!(server.info().server.overflow_policy, "wait");
    let mut first = TcpStream::connect(server.address()).await.unwrap();
    echo_once(&mut first).await;
    // Nobody frees the slot: refused after ~300 ms.
    let started = Instant::now();
    let mut late = TcpStream::connect(server.address()).await.unwrap();
    assert_eq!(heard(&mut late).await, b"BUSY\n");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    wait_until("counted", || server.info().abuse.queue_timeouts == 1).await;
    // The slot frees within the queue time: served.
    let mut next = TcpStream::connect(server.address()).await.unwrap();
    next.write_all(b"hi\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(first);
    let mut b = [0; 3];
    within("served after the slot freed", next.read_exact(&mut b))
        .await
        .unwrap();
    assert_eq!(&b, b"hi\n");
    assert_eq!(server.info().abuse.queue_timeouts, 1);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_factory_without_busy_reply_closes_refused_connections_silently() {
    let server = TcpServer::builder(|| LineEcho)
        .max_connections(1)
        .overflow_policy(OverflowPolicy::Reject)
        .start()
        .await
        .unwrap();
    let mut first = TcpStream::connect(server.address()).await.unwrap();
    echo_once(&mut first).await;
    let mut extra = TcpStream::connect(server.address()).await.unwrap();
    assert!(heard(&mut extra).await.is_empty());
    assert_eq!(server.info().abuse.rejected, 1);
    server.close(Duration::from_secs(1)).await;
}
