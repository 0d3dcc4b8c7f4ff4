//! Session, request and byte counters, and the `info()` snapshots built from them.

use crate::core_support;

use std::time::Duration;

use core_support::{read_n, wait_until, within, Conns, LineEcho};
use quasar_net::TcpServer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn start(conns: &Conns, workers: usize) -> TcpServer {
    TcpServer::builder(conns.record(|| LineEcho))
        .name("counted")
        .workers(workers)
        .keep_alive(Duration::from_secs(15))
        .start()
        .await
        .expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_requests_and_processed_count_known_traffic() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    assert_eq!((server.sessions(), server.requests_processed()), (0, 0));

    // Client 1: three pipelined requests in one write.
    let mut one = TcpStream::connect(server.address()).await.unwrap();
    one.write_all(b"a\nbb\nccc\n").await.unwrap();
    assert_eq!(read_n(&mut one, 9).await, b"a\nbb\nccc\n");
    // Client 2: two requests, one at a time.
    let mut two = TcpStream::connect(server.address()).await.unwrap();
    for line in [&b"x\n"[..], b"y\n"] {
        two.write_all(line).await.unwrap();
        assert_eq!(read_n(&mut two, 2).await, line);
    }

    assert_eq!(server.sessions(), 2);
    assert_eq!(server.requests_processed(), 5);
    let (c1, c2) = (conns.session(1).await, conns.session(2).await);
    assert_eq!((c1.session(), c1.processed()), (1, 3));
    assert_eq!((c2.session(), c2.processed()), (2, 2));
    let info = c1.info();
    assert_eq!((info.bytes_read, info.bytes_written), (9, 9));
    assert_eq!(info.peer, one.local_addr().unwrap());
    assert_eq!(info.local, server.address());
    assert!(!info.closed && !info.write_paused);

    // A request split across writes is still one request.
    two.write_all(b"spl").await.unwrap();
    wait_until("the partial request to start", || c2.processed() == 3).await;
    two.write_all(b"it\n").await.unwrap();
    assert_eq!(read_n(&mut two, 6).await, b"split\n");
    assert_eq!(c2.processed(), 3);
    assert_eq!(server.requests_processed(), 6);

    drop((one, two));
    within("close", server.close(Duration::from_secs(2))).await;
    assert_eq!((server.sessions(), server.requests_processed()), (2, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_reports_clients_sockets_and_keep_alive() {
    let conns = Conns::default();
    let server = start(&conns, 0).await;
    let mut one = TcpStream::connect(server.address()).await.unwrap();
    let mut two = TcpStream::connect(server.address()).await.unwrap();
    one.write_all(b"1\n2\n").await.unwrap();
    read_n(&mut one, 4).await;
    two.write_all(b"3\n").await.unwrap();
    read_n(&mut two, 2).await;
    assert_eq!(server.connected(), 2);

    drop(two);
    conns
        .session(2)
        .await
        .connection_lost()
        .wait()
        .await
        .unwrap();
    wait_until("the closed connection to leave", || server.connected() == 1).await;

    let info = server.info();
    assert_eq!(info.server.name, "counted");
    assert_eq!(info.server.sockets, vec![server.address()]);
    assert_eq!(info.server.keep_alive, 15.0);
    assert_eq!(info.server.max_requests, 0);
    assert_eq!(info.server.workers, 0);
    assert!(info.server.uptime_in_seconds >= 0.0);
    assert_eq!(info.clients.processed_clients, 2);
    assert_eq!(info.clients.connected_clients, 1);
    assert_eq!(info.clients.requests_processed, 3);

    let json = serde_json::to_value(&info).expect("info serialises");
    assert_eq!(json["clients"]["processed_clients"], 2);
    assert_eq!(json["clients"]["connected_clients"], 1);
    assert_eq!(json["clients"]["requests_processed"], 3);
    assert_eq!(json["server"]["keep_alive"], 15.0);
    assert_eq!(
        json["server"]["sockets"][0],
        server.address().to_string().as_str()
    );

    let conn =
        serde_json::to_value(conns.session(1).await.info()).expect("connection info serialises");
    assert_eq!(conn["session"], 1);
    assert_eq!(conn["processed"], 2);
    assert_eq!(conn["bytes_read"], 4);
    assert_eq!(conn["closed"], false);

    drop(one);
    within("close", server.close(Duration::from_secs(2))).await;
    assert_eq!(server.info().clients.connected_clients, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_lists_one_socket_per_worker_and_counts_across_them() {
    let conns = Conns::default();
    let server = start(&conns, 2).await;
    let info = server.info();
    assert_eq!(info.server.workers, 2);
    assert_eq!(info.server.sockets, vec![server.address(); 2]);
    for i in 0..6u8 {
        let mut sock = TcpStream::connect(server.address()).await.unwrap();
        sock.write_all(&[b'a' + i, b'\n']).await.unwrap();
        assert_eq!(read_n(&mut sock, 2).await, [b'a' + i, b'\n']);
    }
    assert_eq!(server.info().clients.processed_clients, 6);
    assert_eq!(server.info().clients.requests_processed, 6);
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_holds_extra_clients_until_one_leaves() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| LineEcho))
        .max_connections(1)
        .start()
        .await
        .unwrap();
    let mut first = TcpStream::connect(server.address()).await.unwrap();
    first.write_all(b"1\n").await.unwrap();
    assert_eq!(read_n(&mut first, 2).await, b"1\n");

    // Accepted and queued under the default `wait` policy (queue-time limit 10 s), but
    // not served while the one slot is taken.
    let mut second = TcpStream::connect(server.address()).await.unwrap();
    second.write_all(b"2\n").await.unwrap();
    let mut buf = [0u8; 2];
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::io::AsyncReadExt::read(&mut second, &mut buf),
    )
    .await;
    assert!(early.is_err(), "served past the limit: {early:?}");
    assert_eq!((server.sessions(), server.connected()), (1, 1));
    // The second connection found the limit reached: counted (and warned) once.
    wait_until("one wait counted", || {
        server.info().clients.max_connections_waits == 1
    })
    .await;

    drop(first);
    assert_eq!(read_n(&mut second, 2).await, b"2\n");
    assert_eq!(server.sessions(), 2);
    assert_eq!(server.info().clients.max_connections_waits, 1);
    drop(second);
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_totals_keep_growing_after_connections_end() {
    let conns = Conns::default();
    let server = start(&conns, 2).await;
    let mut one = TcpStream::connect(server.address()).await.unwrap();
    one.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_n(&mut one, 6).await, b"hello\n");
    // The written count follows the socket write the client has already seen.
    wait_until("live bytes counted", || {
        let live = server.info().clients;
        (live.bytes_read, live.bytes_written) == (6, 6)
    })
    .await;
    drop(one);
    wait_until("the connection ended", || server.connected() == 0).await;
    let ended = server.info().clients;
    assert_eq!((ended.bytes_read, ended.bytes_written), (6, 6));
    assert_eq!((ended.write_paused_clients, ended.accept_backoffs), (0, 0));
    within("close", server.close(Duration::from_secs(2))).await;
}
