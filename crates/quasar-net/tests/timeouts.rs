//! Idle (keep-alive) and request timeouts, and the per-connection and per-server
//! request limits.
//!
//! These use short real timeouts, not tokio's paused clock: with real sockets the paused
//! clock jumps to the next timer whenever the runtime waits for I/O, even I/O that is
//! already on its way over loopback, so it would fire timeouts the test did not mean.

use crate::core_support;

use std::time::{Duration, Instant};

use core_support::{
    expect_reply_then_eof, read_n, read_to_end, roundtrip, wait_until, within, Conns, LineEcho,
};
use quasar_net::{TcpServer, TcpServerBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_millis(200);
/// Comfortably past [`SHORT`]: what "well past the timeout" means here.
const LONG: Duration = Duration::from_millis(800);

fn builder(conns: &Conns) -> TcpServerBuilder<core_support::Recorded<fn() -> LineEcho>> {
    TcpServer::builder(conns.record((|| LineEcho) as fn() -> LineEcho))
}

/// Asserts the server neither answers nor closes `sock` for `LONG`.
async fn assert_stays_open(sock: &mut TcpStream) {
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(LONG, sock.read(&mut buf)).await;
    assert!(read.is_err(), "the server answered or closed: {read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_is_closed_after_keep_alive() {
    let conns = Conns::default();
    let server = builder(&conns).keep_alive(SHORT).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"hi\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 3).await, b"hi\n");
    let idle_since = Instant::now();
    let (got, end) = read_to_end(&mut sock).await;
    let idle = idle_since.elapsed();
    assert!(got.is_empty());
    end.expect("an idle close is a clean EOF");
    assert!(idle >= SHORT - Duration::from_millis(20), "{idle:?}");
    assert!(idle < SHORT * 5, "{idle:?}");
    drop(sock);
    // An idle timeout is the normal end of a keep-alive connection, not an error.
    within(
        "connection_lost",
        conns.session(1).await.connection_lost().wait(),
    )
    .await
    .expect("clean");
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_does_not_close_a_connection_with_a_request_in_flight() {
    let conns = Conns::default();
    let server = builder(&conns).keep_alive(SHORT).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"partial").await.unwrap();
    wait_until("the request to start", || {
        conns.get(1).is_some_and(|c| c.processed() == 1)
    })
    .await;
    assert_stays_open(&mut sock).await;
    sock.write_all(b" request\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 16).await, b"partial request\n");
    // Idle now: keep-alive applies again.
    let (_, end) = read_to_end(&mut sock).await;
    end.expect("clean EOF");
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_fails_a_stuck_partial_request() {
    let conns = Conns::default();
    let server = builder(&conns)
        .request_timeout(SHORT)
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    let started = Instant::now();
    sock.write_all(b"never finished").await.unwrap();
    let (got, _) = read_to_end(&mut sock).await;
    assert!(got.is_empty());
    assert!(started.elapsed() >= SHORT - Duration::from_millis(20));
    drop(sock);
    let err = within(
        "connection_lost",
        conns.session(1).await.connection_lost().wait(),
    )
    .await
    .unwrap_err();
    assert!(err.is_request_timeout(), "{err}");
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_clocks_each_request_not_a_busy_connection() {
    let conns = Conns::default();
    let timeout = Duration::from_millis(400);
    let server = builder(&conns)
        .request_timeout(timeout)
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    // Each write finishes one request and starts the next, so a request is always in
    // flight, but none for longer than a step: the connection must survive.
    sock.write_all(b"r0").await.unwrap();
    let step = Duration::from_millis(150);
    for i in 1..=5 {
        tokio::time::sleep(step).await; // pacing the client, not synchronising
        sock.write_all(format!("\nr{i}").as_bytes()).await.unwrap();
        assert_eq!(
            read_n(&mut sock, 3).await,
            format!("r{}\n", i - 1).as_bytes()
        );
    }
    sock.write_all(b"\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 3).await, b"r5\n");
    assert_eq!(conns.session(1).await.processed(), 6);
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_leaves_an_idle_connection_open() {
    let conns = Conns::default();
    let server = builder(&conns)
        .request_timeout(SHORT)
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"one\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 4).await, b"one\n");
    assert_stays_open(&mut sock).await;
    sock.write_all(b"two\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 4).await, b"two\n");
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeouts_disable_idle_and_request_timeouts() {
    let conns = Conns::default();
    let server = builder(&conns)
        .keep_alive(Duration::ZERO)
        .request_timeout(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let mut idle = TcpStream::connect(server.address()).await.unwrap();
    idle.write_all(b"x\n").await.unwrap();
    assert_eq!(read_n(&mut idle, 2).await, b"x\n");
    let mut busy = TcpStream::connect(server.address()).await.unwrap();
    busy.write_all(b"half").await.unwrap();
    let (a, b) = tokio::join!(assert_stays_open(&mut idle), assert_stays_open(&mut busy));
    let ((), ()) = (a, b);
    busy.write_all(b"\n").await.unwrap();
    assert_eq!(read_n(&mut busy, 5).await, b"half\n");
    idle.write_all(b"y\n").await.unwrap();
    assert_eq!(read_n(&mut idle, 2).await, b"y\n");
    drop((idle, busy));
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_per_connection_closes_after_the_last_response() {
    let conns = Conns::default();
    let server = builder(&conns)
        .max_requests_per_connection(2)
        .start()
        .await
        .unwrap();
    // One at a time.
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"a\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 2).await, b"a\n");
    sock.write_all(b"b\n").await.unwrap();
    expect_reply_then_eof(&mut sock, b"b\n").await;
    // Pipelined: the third request is not answered.
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"1\n2\n3\n").await.unwrap();
    expect_reply_then_eof(&mut sock, b"1\n2\n").await;
    assert_eq!(conns.session(2).await.processed(), 2);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_max_requests_serves_n_sessions_then_stops() {
    let conns = Conns::default();
    let server = builder(&conns)
        .max_requests(3)
        .shutdown_timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let addr = server.address();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(b"1\n").await.unwrap();
    assert_eq!(read_n(&mut first, 2).await, b"1\n");
    roundtrip(addr, b"2\n", b"2\n").await;
    // The third session reaches the limit; the server stops accepting at once, but
    // still serves it, even when its request comes after the limit took effect.
    let mut third = TcpStream::connect(addr).await.unwrap();
    wait_until("the limit to take effect", || server.is_closing()).await;
    third.write_all(b"3\n").await.unwrap();
    expect_reply_then_eof(&mut third, b"3\n").await;
    drop(third);
    // The idle first session was closed by the drain.
    let (_, end) = read_to_end(&mut first).await;
    end.expect("clean EOF");
    drop(first);

    let report = within("stopped", server.stopped().wait()).await.unwrap();
    assert_eq!(report.forced, 0);
    assert_eq!(server.sessions(), 3);
    assert_eq!(server.requests_processed(), 3);
    assert_eq!(server.connected(), 0);
    // A fourth client is refused, or at least never served.
    if let Ok(mut fourth) = TcpStream::connect(addr).await {
        let _ = fourth.write_all(b"4\n").await;
        let (got, _) = read_to_end(&mut fourth).await;
        assert!(got.is_empty());
    }
    assert_eq!(server.sessions(), 3);
}
