//! Custom acceptors run inside each connection's task: a slow handshake never blocks
//! `accept`, one that never completes is cut by the handshake timeout, and one that
//! fails drops only its own connection.

use crate::core_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use core_support::{read_to_end, roundtrip, wait_until, within, LineEcho};
use quasar_net::transport::Acceptor;
use quasar_net::{Error, Result, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// What the acceptor does with the first connection; later ones pass at once.
#[derive(Clone, Copy)]
enum First {
    /// Waits for the test to open the gate (a slow handshake).
    WaitForGate,
    /// Never completes.
    Hang,
    /// Fails.
    Fail,
}

struct TestAcceptor {
    first: First,
    seen: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl Acceptor for TestAcceptor {
    type Io = TcpStream;

    async fn accept(&self, stream: TcpStream) -> Result<TcpStream> {
        if self.seen.fetch_add(1, Ordering::SeqCst) > 0 {
            return Ok(stream);
        }
        match self.first {
            First::WaitForGate => {
                let _permit = self.gate.acquire().await;
                Ok(stream)
            }
            First::Hang => std::future::pending().await,
            First::Fail => Err(Error::protocol("bad handshake")),
        }
    }
}

async fn start(
    first: First,
    handshake_timeout: Duration,
) -> (TcpServer, Arc<AtomicUsize>, Arc<Semaphore>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let server = TcpServer::builder(|| LineEcho)
        .acceptor(TestAcceptor {
            first,
            seen: Arc::clone(&seen),
            gate: Arc::clone(&gate),
        })
        .handshake_timeout(handshake_timeout)
        .start()
        .await
        .unwrap();
    (server, seen, gate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handshake_does_not_block_accepting_other_connections() {
    let (server, seen, gate) = start(First::WaitForGate, Duration::from_secs(10)).await;
    let mut slow = TcpStream::connect(server.address()).await.unwrap();
    slow.write_all(b"first\n").await.unwrap();
    wait_until("the first handshake", || seen.load(Ordering::SeqCst) == 1).await;
    // The first handshake is still running; a second client is served meanwhile.
    roundtrip(server.address(), b"second\n", b"second\n").await;
    assert_eq!(server.requests_processed(), 1, "only the second was served");
    // The slow handshake completes: its client is served too.
    gate.add_permits(1);
    let mut got = [0u8; 6];
    within(
        "the first reply",
        tokio::io::AsyncReadExt::read_exact(&mut slow, &mut got),
    )
    .await
    .unwrap();
    assert_eq!(&got, b"first\n");
    drop(slow);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_never_completes_is_cut_by_the_handshake_timeout() {
    let (server, seen, _gate) = start(First::Hang, Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut hung = TcpStream::connect(server.address()).await.unwrap();
    wait_until("the first handshake", || seen.load(Ordering::SeqCst) == 1).await;
    let (got, _) = read_to_end(&mut hung).await;
    let after = started.elapsed();
    assert!(got.is_empty());
    assert!(
        after >= Duration::from_millis(150),
        "cut after {after:?}, before the 200 ms timeout"
    );
    roundtrip(server.address(), b"next\n", b"next\n").await;
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_drops_its_connection_and_the_server_goes_on() {
    let (server, seen, _gate) = start(First::Fail, Duration::from_secs(10)).await;
    let mut failed = TcpStream::connect(server.address()).await.unwrap();
    let (got, _) = read_to_end(&mut failed).await;
    assert!(got.is_empty());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    roundtrip(server.address(), b"next\n", b"next\n").await;
    roundtrip(server.address(), b"more\n", b"more\n").await;
    assert_eq!(server.requests_processed(), 2);
    within("close", server.close(Duration::from_secs(1))).await;
}
