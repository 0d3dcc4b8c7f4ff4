//! DatagramServer behaviour over real loopback sockets: lifecycle, bind errors, hooks and
//! counters, max_requests, workers, spawned replies and their bound.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quasar_net::udp::{
    DatagramConsumer, DatagramContext, DatagramServer, DatagramServerBuilder, Reply, UdpEndpoint,
};
use quasar_net::{Error, Result};

const TIMEOUT: Duration = Duration::from_secs(5);
const SILENCE: Duration = Duration::from_millis(300);
const SLOW: Duration = Duration::from_millis(600);

/// Echoes every datagram; `fail` is an error; `slow` replies from a spawned future after
/// 600 ms; `hang` spawns a future that never resolves.
struct Test;

impl DatagramConsumer for Test {
    fn datagram_received(
        &mut self,
        cx: &mut DatagramContext<'_>,
        data: &[u8],
        _peer: SocketAddr,
    ) -> Result<()> {
        match data {
            b"fail" => Err(Error::protocol("asked to fail")),
            b"slow" => cx.spawn_reply(async {
                tokio::time::sleep(SLOW).await;
                Ok(Reply::datagram(&b"slow done"[..]))
            }),
            b"hang" => cx.spawn_reply(std::future::pending()),
            _ => cx.reply(data),
        }
    }
}

fn builder(batching: bool) -> DatagramServerBuilder<fn() -> Test> {
    DatagramServer::builder((|| Test) as fn() -> Test).batching(batching)
}

async fn endpoint(addr: SocketAddr) -> UdpEndpoint {
    UdpEndpoint::connect(addr, TIMEOUT).await.expect("endpoint")
}

async fn closed_server_stops_answering(batching: bool) {
    let server = builder(batching).start().await.unwrap();
    assert!(server.started().is_fired());
    let mut ep = endpoint(server.address()).await;
    assert_eq!(&ep.request(b"hi", TIMEOUT).await.unwrap()[..], b"hi");
    assert!(!server.stopped().is_fired());
    let report = server.close(Duration::from_secs(1)).await;
    assert_eq!(report.forced, 0);
    assert!(server.is_closing());
    assert!(server.stopped().is_fired());
    assert_eq!(server.wait().await, report);
    // The port is closed: loopback answers with ICMP port unreachable, or at worst silence.
    let err = ep.request(b"anyone?", SILENCE).await.unwrap_err();
    assert!(err.is_connection_lost() || err.is_timeout(), "{err}");
    // A second close returns the same report at once.
    assert_eq!(server.close(Duration::from_secs(1)).await, report);
}

#[tokio::test]
async fn a_closed_server_stops_answering_and_fires_stop_on_the_portable_path() {
    closed_server_stops_answering(false).await;
}

#[tokio::test]
async fn a_closed_server_stops_answering_and_fires_stop_on_the_batched_path() {
    closed_server_stops_answering(true).await;
}

#[tokio::test]
async fn binding_a_used_address_returns_a_bind_error() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = builder(true).bind(addr).start().await.unwrap_err();
    assert!(err.is_bind(), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    // With workers every socket uses SO_REUSEPORT, which a plain socket does not share.
    let err = builder(true)
        .bind(addr)
        .workers(2)
        .start()
        .await
        .unwrap_err();
    assert!(err.is_bind(), "{err:?}");
}

#[tokio::test]
async fn invalid_settings_are_config_errors() {
    let err = builder(true).max_pending(0).start().await.unwrap_err();
    assert!(err.is_config());
    let err = builder(true)
        .max_datagram_size(0)
        .start()
        .await
        .unwrap_err();
    assert!(err.is_config());
}

#[derive(Default)]
struct Seen {
    pre: AtomicUsize,
    post: AtomicUsize,
    post_errors: AtomicUsize,
    data: AtomicUsize,
    requests: Mutex<Vec<(u64, u64)>>,
}

fn with_hooks(
    b: DatagramServerBuilder<fn() -> Test>,
    seen: &Arc<Seen>,
) -> DatagramServerBuilder<fn() -> Test> {
    let (s1, s2, s3) = (Arc::clone(seen), Arc::clone(seen), Arc::clone(seen));
    b.on_pre_request(move |ev| {
        s1.pre.fetch_add(1, Ordering::SeqCst);
        s1.requests.lock().unwrap().push((ev.session, ev.request));
        Ok(())
    })
    .on_post_request(move |ev| {
        s2.post.fetch_add(1, Ordering::SeqCst);
        if ev.error.is_some() {
            s2.post_errors.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    })
    .on_data_received(move |_ev| {
        s3.data.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
}

async fn hooks_and_counters(batching: bool) {
    let seen = Arc::new(Seen::default());
    let server = with_hooks(builder(batching), &seen).start().await.unwrap();
    let mut ep = endpoint(server.address()).await;
    for msg in [&b"a"[..], b"b", b"c", b"d"] {
        assert_eq!(&ep.request(msg, TIMEOUT).await.unwrap()[..], msg);
    }
    ep.send(b"fail").await.unwrap();
    assert!(ep.recv(SILENCE).await.unwrap_err().is_timeout());
    server.close(Duration::from_secs(1)).await;

    // pulsar never fired these for UDP: here every datagram fires both.
    assert_eq!(seen.pre.load(Ordering::SeqCst), 5);
    assert_eq!(seen.post.load(Ordering::SeqCst), 5);
    assert_eq!(seen.post_errors.load(Ordering::SeqCst), 1);
    assert_eq!(seen.data.load(Ordering::SeqCst), 5);
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests, vec![(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]);
    let info = server.info();
    assert_eq!(info.datagrams.sessions, 1);
    assert_eq!(info.datagrams.received, 5);
    assert_eq!(info.datagrams.sent, 4);
    assert_eq!(info.datagrams.requests_processed, 5);
    assert_eq!(info.datagrams.errors, 1);
    assert_eq!(server.sessions(), 1);
    assert_eq!(server.requests_processed(), 5);
}

#[tokio::test]
async fn hooks_fire_for_every_datagram_and_counters_match_the_traffic_on_the_portable_path() {
    hooks_and_counters(false).await;
}

#[tokio::test]
async fn hooks_fire_for_every_datagram_and_counters_match_the_traffic_on_the_batched_path() {
    hooks_and_counters(true).await;
}

#[tokio::test]
async fn a_pre_request_abort_drops_the_datagram_and_reports_it_to_post_request() {
    let aborted = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&aborted);
    let server = builder(true)
        .on_pre_request(|ev| {
            if ev.request == 1 {
                return Err(Error::aborted("first datagram refused").into());
            }
            Ok(())
        })
        .on_post_request(move |ev| {
            if ev.error.is_some_and(Error::is_aborted) {
                a.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
        .start()
        .await
        .unwrap();
    let mut ep = endpoint(server.address()).await;
    ep.send(b"refused").await.unwrap();
    assert!(ep.recv(SILENCE).await.unwrap_err().is_timeout());
    assert_eq!(
        &ep.request(b"accepted", TIMEOUT).await.unwrap()[..],
        b"accepted"
    );
    server.close(Duration::from_secs(1)).await;
    assert_eq!(aborted.load(Ordering::SeqCst), 1);
    assert_eq!(server.info().datagrams.sent, 1);
}

async fn max_requests_stops(workers: usize) {
    let server = builder(true)
        .workers(workers)
        .max_requests(3)
        .start()
        .await
        .unwrap();
    assert_eq!(server.info().server.max_requests, 3);
    // Several peers, so that with workers the datagrams spread over both sockets.
    let mut eps = Vec::new();
    for _ in 0..3 {
        eps.push(endpoint(server.address()).await);
    }
    for (i, ep) in eps.iter_mut().enumerate() {
        let msg = format!("m{i}");
        assert_eq!(
            &ep.request(msg.as_bytes(), TIMEOUT).await.unwrap()[..],
            msg.as_bytes()
        );
    }
    // The third datagram reached the limit: the server stops by itself.
    let report = tokio::time::timeout(TIMEOUT, server.wait())
        .await
        .expect("server stopped after max_requests");
    assert_eq!(report.forced, 0);
    assert!(server.stopped().is_fired());
    let err = eps[0].request(b"one more", SILENCE).await.unwrap_err();
    assert!(err.is_connection_lost() || err.is_timeout(), "{err}");
    assert_eq!(server.requests_processed(), 3);
}

#[tokio::test]
async fn max_requests_stops_the_server_after_that_many_datagrams() {
    max_requests_stops(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_counts_datagrams_across_two_workers() {
    max_requests_stops(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_bind_one_port_twice_and_share_the_counters() {
    let seen = Arc::new(Seen::default());
    let server = with_hooks(builder(true), &seen)
        .workers(2)
        .start()
        .await
        .unwrap();
    let addrs = server.addresses().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[0], addrs[1], "both workers serve the same port");
    assert_eq!(server.sessions(), 2, "one session per bound socket");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let addr = server.address();
        tasks.push(tokio::spawn(async move {
            let mut ep = endpoint(addr).await;
            let msg = format!("w{i}");
            assert_eq!(
                &ep.request(msg.as_bytes(), TIMEOUT).await.unwrap()[..],
                msg.as_bytes()
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    server.close(Duration::from_secs(1)).await;
    let info = server.info().datagrams;
    assert_eq!(
        (info.received, info.sent, info.requests_processed),
        (20, 20, 20)
    );
    assert_eq!(seen.pre.load(Ordering::SeqCst), 20);
    assert_eq!(seen.post.load(Ordering::SeqCst), 20);
    let sessions: std::collections::BTreeSet<u64> =
        seen.requests.lock().unwrap().iter().map(|r| r.0).collect();
    assert!(sessions.is_subset(&[1, 2].into()), "{sessions:?}");
}

#[tokio::test]
async fn several_addresses_are_bound_and_served() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = builder(true).bind(any).bind(any).start().await.unwrap();
    let addrs = server.addresses().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0].port(), addrs[1].port());
    assert_eq!(server.sessions(), 2);
    for addr in addrs {
        let mut ep = endpoint(addr).await;
        assert_eq!(&ep.request(b"x", TIMEOUT).await.unwrap()[..], b"x");
    }
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_prebound_socket_is_served() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let server = builder(true).socket(sock).start().await.unwrap();
    assert_eq!(server.addresses(), &[addr]);
    let mut ep = endpoint(addr).await;
    assert_eq!(&ep.request(b"mine", TIMEOUT).await.unwrap()[..], b"mine");
    server.close(Duration::from_secs(1)).await;
}

async fn spawned_reply_does_not_block(batching: bool) {
    let seen = Arc::new(Seen::default());
    let server = with_hooks(builder(batching), &seen).start().await.unwrap();
    let mut slow = endpoint(server.address()).await;
    let mut fast = endpoint(server.address()).await;
    let started = Instant::now();
    slow.send(b"slow").await.unwrap();
    assert_eq!(&fast.request(b"fast", TIMEOUT).await.unwrap()[..], b"fast");
    assert!(
        started.elapsed() < SLOW - Duration::from_millis(100),
        "the fast reply waited for the slow one: {:?}",
        started.elapsed()
    );
    assert_eq!(server.info().datagrams.pending, 1);
    assert_eq!(
        seen.post.load(Ordering::SeqCst),
        1,
        "slow request not finished yet"
    );
    assert_eq!(&slow.recv(TIMEOUT).await.unwrap()[..], b"slow done");
    assert!(started.elapsed() >= SLOW);
    server.close(Duration::from_secs(1)).await;
    assert_eq!(
        seen.post.load(Ordering::SeqCst),
        2,
        "post_request fired when the reply resolved"
    );
    assert_eq!(server.info().datagrams.pending, 0);
}

#[tokio::test]
async fn a_spawned_reply_does_not_block_other_datagrams_on_the_portable_path() {
    spawned_reply_does_not_block(false).await;
}

#[tokio::test]
async fn a_spawned_reply_does_not_block_other_datagrams_on_the_batched_path() {
    spawned_reply_does_not_block(true).await;
}

#[tokio::test]
async fn close_lets_spawned_replies_finish_until_the_deadline_then_drops_them() {
    let server = builder(true).start().await.unwrap();
    let mut slow = endpoint(server.address()).await;
    let hang = endpoint(server.address()).await;
    slow.send(b"slow").await.unwrap();
    hang.send(b"hang").await.unwrap();
    // Both datagrams were handled (their futures are pending) before closing.
    let deadline = Instant::now() + TIMEOUT;
    while server.info().datagrams.pending < 2 {
        assert!(Instant::now() < deadline, "datagrams not handled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = server.close(SLOW + Duration::from_millis(400)).await;
    assert_eq!(report.finished_in_flight, 1);
    assert_eq!(report.forced, 1);
    // The slow reply was sent during the drain.
    assert_eq!(&slow.recv(TIMEOUT).await.unwrap()[..], b"slow done");
}

#[tokio::test]
async fn max_pending_bounds_spawned_replies_and_stops_reading_meanwhile() {
    let server = builder(true).max_pending(2).start().await.unwrap();
    let mut eps = Vec::new();
    for _ in 0..5 {
        let ep = endpoint(server.address()).await;
        ep.send(b"slow").await.unwrap();
        eps.push(ep);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let info = server.info().datagrams;
    assert_eq!(info.pending, 2, "{info:?}");
    assert_eq!(
        info.received, 2,
        "the socket stopped reading at the bound: {info:?}"
    );
    // As futures resolve, the rest are read and answered.
    for ep in &mut eps {
        assert_eq!(&ep.recv(TIMEOUT).await.unwrap()[..], b"slow done");
    }
    server.close(Duration::from_secs(1)).await;
    assert_eq!(server.info().datagrams.received, 5);
}

#[tokio::test]
async fn info_serialises_with_its_sections() {
    let server = builder(true).name("echo-udp").start().await.unwrap();
    let v = serde_json::to_value(server.info()).unwrap();
    assert_eq!(v["server"]["name"], "echo-udp");
    assert_eq!(v["server"]["sockets"][0], server.address().to_string());
    assert!(v["server"]["uptime_in_seconds"].is_number());
    assert_eq!(v["datagrams"]["sessions"], 1);
    assert_eq!(v["datagrams"]["received"], 0);
    server.close(Duration::from_secs(1)).await;
}
