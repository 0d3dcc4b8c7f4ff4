//! The server-wide memory budget: many peers each holding an unfinished request cannot
//! pin more than the budget plus a read chunk each; the largest holders are closed with
//! a typed reason and counted, small ones are served.

mod core_support;

use std::time::Duration;

use core_support::{wait_until, within, LineEcho};
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BUDGET: usize = 256 * 1024;
const READ_CHUNK: usize = 16 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_requests_are_held_within_the_budget() {
    let server = TcpServer::builder(|| LineEcho)
        .memory_budget(BUDGET)
        .connection_config(|c| {
            c.max_read_buffer(4 << 20).unwrap();
            c.read_chunk(READ_CHUNK);
        })
        .start()
        .await
        .unwrap();
    assert_eq!(server.info().server.memory_budget, BUDGET);
    let addr = server.address();
    // 20 peers x 64 KiB with no separator = 1.25 MiB asked of a 256 KiB budget.
    let mut peers = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&[b'a'; 64 * 1024]).await;
        peers.push(s);
    }
    wait_until("shedding", || server.info().abuse.budget_shed >= 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = server.info().clients.memory_held;
    assert!(
        held <= BUDGET + 20 * READ_CHUNK,
        "held {held} over budget + a chunk per peer"
    );
    // An honest client is still served.
    let mut honest = TcpStream::connect(addr).await.unwrap();
    honest.write_all(b"ping\n").await.unwrap();
    let mut b = [0; 5];
    within("honest served", honest.read_exact(&mut b))
        .await
        .unwrap();
    assert_eq!(&b, b"ping\n");
    drop(peers);
    drop(honest);
    wait_until("all released", || {
        server.info().clients.memory_held == 0 && server.connected() == 0
    })
    .await;
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn zero_turns_the_budget_off() {
    let server = TcpServer::builder(|| LineEcho)
        .memory_budget(0)
        .start()
        .await
        .unwrap();
    assert_eq!(server.info().server.memory_budget, 0);
    let mut s = TcpStream::connect(server.address()).await.unwrap();
    s.write_all(b"x\n").await.unwrap();
    let mut b = [0; 2];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(server.info().clients.memory_held, 0);
    server.close(Duration::from_secs(1)).await;
}
