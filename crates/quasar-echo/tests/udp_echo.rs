//! The UDP echo protocol over real loopback sockets, on the portable path, the batched
//! path (with and without GSO: the multi-line and fifty-peer replies form runs of
//! equal-size datagrams that GSO merges) and with two workers.

use std::time::Duration;

use quasar_echo::udp::{echo, echo_lines, EchoUdpConfig};
use quasar_net::udp::{DatagramServer, UdpEndpoint, BATCHING_AVAILABLE};

const TIMEOUT: Duration = Duration::from_secs(5);
/// How long "no reply" is waited for.
const SILENCE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy)]
enum Mode {
    Portable,
    Batched,
    BatchedNoGso,
    TwoWorkers,
}

async fn start(mode: Mode, config: EchoUdpConfig) -> DatagramServer {
    let b = config.server();
    let b = match mode {
        Mode::Portable => b.batching(false),
        Mode::Batched => b.batching(true),
        Mode::BatchedNoGso => b.batching(true).gso(false),
        Mode::TwoWorkers => b.workers(2),
    };
    let server = b.start().await.expect("server starts");
    let batched = !matches!(mode, Mode::Portable) && BATCHING_AVAILABLE;
    assert_eq!(server.info().server.batching, batched);
    assert_eq!(
        server.info().server.gso,
        batched && !matches!(mode, Mode::BatchedNoGso)
    );
    server
}

async fn endpoint(server: &DatagramServer) -> UdpEndpoint {
    UdpEndpoint::connect(server.address(), TIMEOUT)
        .await
        .expect("endpoint")
}

async fn ping_and_large(mode: Mode) {
    let server = start(mode, EchoUdpConfig::default()).await;
    let mut ep = endpoint(&server).await;
    assert_eq!(
        &echo(&mut ep, b"ciao luca\n", TIMEOUT).await.unwrap()[..],
        b"ciao luca"
    );
    assert_eq!(
        &echo(&mut ep, b"no newline", TIMEOUT).await.unwrap()[..],
        b"no newline"
    );
    // pulsar's test_large: 2**13 bytes, no newline inside, round-trips intact.
    let large: Vec<u8> = (0..8192u32).map(|i| b'a' + (i % 26) as u8).collect();
    let reply = echo(&mut ep, &large, TIMEOUT).await.unwrap();
    assert_eq!(reply.len(), 8192);
    assert_eq!(&reply[..], &large[..]);
    server.close(Duration::from_secs(1)).await;
    let info = server.info().datagrams;
    assert_eq!(info.received, 3);
    assert_eq!(info.sent, 3);
    assert_eq!(info.requests_processed, 3);
}

#[tokio::test]
async fn ping_and_8kib_datagrams_round_trip_on_the_portable_path() {
    ping_and_large(Mode::Portable).await;
}

#[tokio::test]
async fn ping_and_8kib_datagrams_round_trip_on_the_batched_path() {
    ping_and_large(Mode::Batched).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_8kib_datagrams_round_trip_with_two_workers() {
    ping_and_large(Mode::TwoWorkers).await;
}

async fn multi_line(mode: Mode) {
    let server = start(mode, EchoUdpConfig::default()).await;
    let mut ep = endpoint(&server).await;
    let replies = echo_lines(&mut ep, b"one\n\ntwo\nthree", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(replies, vec![&b"one"[..], &b"two"[..], &b"three"[..]]);
    // Nothing more than one reply per non-empty line.
    assert!(ep.recv(SILENCE).await.unwrap_err().is_timeout());
    // A datagram of separators only is echoed with nothing.
    ep.send(b"\n\n\n").await.unwrap();
    assert!(ep.recv(SILENCE).await.unwrap_err().is_timeout());
    server.close(Duration::from_secs(1)).await;
    let info = server.info().datagrams;
    assert_eq!(info.received, 2);
    assert_eq!(info.sent, 3);
}

#[tokio::test]
async fn a_multi_line_datagram_gets_one_reply_per_line_on_the_portable_path() {
    multi_line(Mode::Portable).await;
}

#[tokio::test]
async fn a_multi_line_datagram_gets_one_reply_per_line_on_the_batched_path() {
    multi_line(Mode::Batched).await;
}

#[tokio::test]
async fn a_multi_line_datagram_gets_one_reply_per_line_on_the_batched_path_without_gso() {
    multi_line(Mode::BatchedNoGso).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_line_datagram_gets_one_reply_per_line_with_two_workers() {
    multi_line(Mode::TwoWorkers).await;
}

async fn fifty_peers(mode: Mode) {
    let server = start(mode, EchoUdpConfig::default()).await;
    let addr = server.address();
    let mut tasks = Vec::new();
    for peer in 0..50 {
        tasks.push(tokio::spawn(async move {
            let mut ep = UdpEndpoint::connect(addr, TIMEOUT).await.unwrap();
            for round in 0..4 {
                let datagram = format!("peer{peer}-round{round}-a\npeer{peer}-round{round}-b\n");
                let replies = echo_lines(&mut ep, datagram.as_bytes(), TIMEOUT)
                    .await
                    .unwrap();
                assert_eq!(
                    replies,
                    vec![
                        format!("peer{peer}-round{round}-a").into_bytes(),
                        format!("peer{peer}-round{round}-b").into_bytes(),
                    ],
                    "peer {peer} got someone else's replies"
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    server.close(Duration::from_secs(1)).await;
    let info = server.info().datagrams;
    assert_eq!(info.received, 200);
    assert_eq!(info.sent, 400);
    assert_eq!(info.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_peers_each_get_only_their_own_replies_on_the_portable_path() {
    fifty_peers(Mode::Portable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_peers_each_get_only_their_own_replies_on_the_batched_path() {
    fifty_peers(Mode::Batched).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_peers_each_get_only_their_own_replies_on_the_batched_path_without_gso() {
    fifty_peers(Mode::BatchedNoGso).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_peers_each_get_only_their_own_replies_with_two_workers() {
    fifty_peers(Mode::TwoWorkers).await;
}

async fn oversize(mode: Mode) {
    let config = EchoUdpConfig {
        max_datagram_size: 1024,
        ..EchoUdpConfig::default()
    };
    let server = start(mode, config).await;
    let mut ep = endpoint(&server).await;
    // Exactly the maximum is echoed.
    let at_max = vec![b'm'; 1024];
    assert_eq!(echo(&mut ep, &at_max, TIMEOUT).await.unwrap().len(), 1024);
    // One byte over, and far over, are dropped without a reply.
    for len in [1025, 4000] {
        ep.send(&vec![b'x'; len]).await.unwrap();
        assert!(
            ep.recv(SILENCE).await.unwrap_err().is_timeout(),
            "{len} bytes echoed"
        );
    }
    // The socket keeps serving.
    assert_eq!(
        &echo(&mut ep, b"after", TIMEOUT).await.unwrap()[..],
        b"after"
    );
    server.close(Duration::from_secs(1)).await;
    let info = server.info().datagrams;
    assert_eq!(info.oversize, 2);
    assert_eq!(info.received, 4);
    assert_eq!(
        info.requests_processed, 2,
        "oversize datagrams are not handled"
    );
    assert_eq!(info.sent, 2);
}

#[tokio::test]
async fn an_oversize_datagram_is_counted_and_dropped_on_the_portable_path() {
    oversize(Mode::Portable).await;
}

#[tokio::test]
async fn an_oversize_datagram_is_counted_and_dropped_on_the_batched_path() {
    oversize(Mode::Batched).await;
}

#[tokio::test]
async fn raw_mode_echoes_each_datagram_unchanged_newlines_and_all() {
    let config = EchoUdpConfig {
        raw: true,
        ..EchoUdpConfig::default()
    };
    let server = start(Mode::Portable, config).await;
    let mut ep = endpoint(&server).await;
    let payload = b"one\ntwo\n\nthree\n";
    assert_eq!(&echo(&mut ep, payload, TIMEOUT).await.unwrap()[..], payload);
    // One reply only: the next request gets its own echo, not a leftover line.
    assert_eq!(&echo(&mut ep, b"x\ny", TIMEOUT).await.unwrap()[..], b"x\ny");
}

/// The reflection attack of issue 12: one 65,506-byte datagram of 32,753 one-byte lines
/// used to come back as 32,753 datagrams. Now at most `max_replies_per_datagram` leave.
#[tokio::test]
async fn one_datagram_of_many_lines_is_not_a_packet_reflector() {
    let server = start(Mode::Batched, EchoUdpConfig::default()).await;
    let ep = endpoint(&server).await;
    let attack = b"x\n".repeat(32_753);
    ep.send(&attack).await.unwrap();
    let mut ep = ep;
    let mut got = 0;
    while ep.recv(SILENCE).await.is_ok() {
        got += 1;
    }
    assert_eq!(got, quasar_net::udp::DEFAULT_MAX_REPLIES_PER_DATAGRAM);
    let info = server.info();
    assert_eq!(
        info.datagrams.replies_dropped,
        32_753 - quasar_net::udp::DEFAULT_MAX_REPLIES_PER_DATAGRAM as u64
    );
    server.close(TIMEOUT).await;
}
