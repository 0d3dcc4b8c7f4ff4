//! `TcpServer::close(deadline)`: stop accepting, close idle connections at once, let
//! requests in flight finish, force-close stragglers at the deadline, and report it.

use crate::core_support;

use std::time::{Duration, Instant};

use core_support::{
    expect_reply_then_eof, read_n, read_to_end, wait_until, within, Conns, LineEcho,
};
use quasar_net::{CloseReport, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn start(conns: &Conns, workers: usize) -> TcpServer {
    TcpServer::builder(conns.record(|| LineEcho))
        .workers(workers)
        .start()
        .await
        .unwrap()
}

/// A client that made one request and now waits (an idle keep-alive connection).
async fn idle_client(server: &TcpServer) -> TcpStream {
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"idle\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 5).await, b"idle\n");
    sock
}

/// A client whose request has started but not finished.
async fn busy_client(server: &TcpServer, conns: &Conns) -> TcpStream {
    let session = server.sessions() + 1;
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"hal").await.unwrap();
    wait_until("the request to start", || {
        conns.get(session).is_some_and(|c| c.processed() == 1)
    })
    .await;
    sock
}

async fn in_flight_request_finishes_and_idle_ones_close_at_once(workers: usize) {
    let conns = Conns::default();
    let server = start(&conns, workers).await;
    let mut idle = idle_client(&server).await;
    let mut busy = busy_client(&server, &conns).await;
    assert_eq!(server.connected(), 2);

    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close(Duration::from_secs(5)).await }
    });
    // The idle connection is closed while the busy one is still waiting for its bytes.
    let (got, end) = read_to_end(&mut idle).await;
    assert!(got.is_empty());
    end.expect("clean EOF");
    drop(idle);
    assert!(!closing.is_finished());
    assert!(server.is_closing());
    // Listeners close asynchronously (on each worker's runtime), so a connect may still
    // land in a backlog; it is never served.
    if let Ok(mut late) = TcpStream::connect(server.address()).await {
        let _ = late.write_all(b"late\n").await;
        let (got, _) = read_to_end(&mut late).await;
        assert!(got.is_empty(), "a connection made while closing was served");
    }

    // The rest of the request, and one more that must not be answered.
    busy.write_all(b"f\nafter close\n").await.unwrap();
    expect_reply_then_eof(&mut busy, b"half\n").await;
    drop(busy);

    let report = within("close", closing).await.unwrap();
    let expected = CloseReport {
        closed_idle: 1,
        finished_in_flight: 1,
        forced: 0,
    };
    assert_eq!(report, expected);
    assert_eq!(server.stopped().get().unwrap().unwrap(), expected);
    assert_eq!(server.connected(), 0);
    assert_eq!(
        server.requests_processed(),
        2,
        "the request after close never started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_finishes_and_idle_connections_close_at_once() {
    in_flight_request_finishes_and_idle_ones_close_at_once(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_finishes_and_idle_connections_close_at_once_with_two_workers() {
    in_flight_request_finishes_and_idle_ones_close_at_once(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn straggler_past_the_deadline_is_force_closed_and_counted() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    let mut idle = idle_client(&server).await;
    let mut straggler = busy_client(&server, &conns).await;

    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close(deadline).await }
    });
    let (_, end) = read_to_end(&mut idle).await;
    end.expect("the idle one closes cleanly");
    drop(idle);

    let report = within("close", closing).await.unwrap();
    let took = started.elapsed();
    assert!(took >= deadline, "{took:?}");
    assert!(took < deadline + Duration::from_secs(1), "{took:?}");
    assert_eq!(
        report,
        CloseReport {
            closed_idle: 1,
            finished_in_flight: 0,
            forced: 1,
        }
    );
    assert_eq!(server.connected(), 0);
    // Nothing was written to the straggler, and the forced close reset it.
    let (got, end) = read_to_end(&mut straggler).await;
    assert!(got.is_empty(), "{got:?}");
    assert!(end.is_err(), "a forced close resets the connection");
    let err = conns
        .session(2)
        .await
        .connection_lost()
        .wait()
        .await
        .unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_still_writing_its_response_is_counted_once_when_forced() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| LineEcho))
        .listener(core_support::listener_with_small_buffers())
        .start()
        .await
        .unwrap();
    // The request is finished, but its 200 KiB echo cannot leave: the client never reads.
    let mut slow = core_support::connect_with_small_buffers(server.address()).await;
    let line = [vec![b'x'; 200 * 1024 - 1], vec![b'\n']].concat();
    let (_rd, mut wr) = slow.split();
    within("the request", wr.write_all(&line)).await.unwrap();
    let conn = conns.session(1).await;
    wait_until("the response to stall", || conn.is_write_paused()).await;

    let report = within("close", server.close(Duration::from_millis(300))).await;
    assert_eq!(
        report,
        CloseReport {
            closed_idle: 0,
            finished_in_flight: 0,
            forced: 1,
        },
        "one connection, counted once"
    );
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_honours_its_deadline_when_an_idle_peer_never_closes_its_side() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    // This client never reads its EOF nor closes: the server's graceful close of the
    // idle connection waits for it, but not past the server's deadline.
    let _idle = idle_client(&server).await;
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let report = within("close", server.close(deadline)).await;
    let took = started.elapsed();
    assert!(took < deadline + Duration::from_secs(1), "{took:?}");
    assert_eq!(report.closed_idle, 1);
    assert_eq!(server.connected(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sent_a_byte_is_closed_at_once() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    let mut silent = TcpStream::connect(server.address()).await.unwrap();
    wait_until("the accept", || server.connected() == 1).await;
    // A long deadline: the close must not wait for it.
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close(Duration::from_secs(30)).await }
    });
    let (got, end) = read_to_end(&mut silent).await;
    assert!(got.is_empty());
    end.expect("a clean EOF, not a reset");
    drop(silent);
    let report = within("close", closing).await.unwrap();
    assert_eq!(report.closed_idle, 1);
    assert_eq!(report.forced, 0);
    assert_eq!(report.finished_in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_twice_reports_the_same_close() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    let idle = idle_client(&server).await;
    drop(idle);
    let (a, b) = tokio::join!(
        server.close(Duration::from_secs(1)),
        server.close(Duration::from_secs(1))
    );
    assert_eq!(a, b);
    assert_eq!(within("wait", server.wait()).await, a);
    assert_eq!(server.close(Duration::from_secs(1)).await, a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_one_connection_from_its_handle_flushes_then_ends_cleanly() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    let mut sock = idle_client(&server).await;
    let conn = conns.session(1).await;
    let closing = tokio::spawn(async move { conn.close().await });
    let (got, end) = read_to_end(&mut sock).await;
    assert!(got.is_empty());
    end.expect("clean EOF");
    drop(sock);
    within("the close", closing)
        .await
        .unwrap()
        .expect("a requested close is clean");
    // The server goes on.
    core_support::roundtrip(server.address(), b"next\n", b"next\n").await;
    let report = within("close", server.close(Duration::from_secs(1))).await;
    assert_eq!(report.forced, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_one_connection_from_its_handle_resets_it() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    let mut sock = busy_client(&server, &conns).await;
    let conn = conns.session(1).await;
    conn.abort();
    let (got, end) = read_to_end(&mut sock).await;
    assert!(got.is_empty());
    assert!(end.is_err(), "an abort resets the connection");
    let err = within("connection_lost", conn.connection_lost().wait())
        .await
        .unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(conn.is_closed());
    within("close", server.close(Duration::from_secs(1))).await;
}
