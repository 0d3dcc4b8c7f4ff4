//! UdpClient and UdpEndpoint over real loopback sockets: timeouts, refused peers, late
//! replies, hooks and counters, batched send and receive.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quasar_net::udp::{DatagramConsumer, DatagramContext, DatagramServer, UdpClient, UdpEndpoint};
use quasar_net::{Error, Result};

const TIMEOUT: Duration = Duration::from_secs(5);

struct Echo;

impl DatagramConsumer for Echo {
    fn datagram_received(
        &mut self,
        cx: &mut DatagramContext<'_>,
        data: &[u8],
        _peer: SocketAddr,
    ) -> Result<()> {
        cx.reply(data)
    }
}

async fn echo_server() -> DatagramServer {
    DatagramServer::builder(|| Echo).start().await.unwrap()
}

#[tokio::test]
async fn a_request_to_a_silent_peer_times_out() {
    // Bound, so no ICMP error comes back, and never read.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut ep = UdpEndpoint::connect(silent.local_addr().unwrap(), TIMEOUT)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = ep
        .request(b"hello?", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(!ep.is_closed(), "a timeout says nothing about the endpoint");
    // The client's own request uses its configured timeout.
    let client = UdpClient::builder()
        .request_timeout(Duration::from_millis(100))
        .build();
    let err = client
        .request(silent.local_addr().unwrap(), b"hello?")
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn a_refused_datagram_closes_the_endpoint() {
    let gone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = gone.local_addr().unwrap();
    drop(gone);
    let mut ep = UdpEndpoint::connect(addr, TIMEOUT).await.unwrap();
    assert!(!ep.is_closed());
    // Loopback answers a closed port with ICMP port unreachable at once.
    let err = ep.request(b"anyone?", TIMEOUT).await.unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    assert!(ep.is_closed(), "a pool would now discard this endpoint");
    let err = ep.send(b"again").await.unwrap_err();
    assert!(err.is_closed(), "{err:?}");
}

#[tokio::test]
async fn a_late_reply_is_never_taken_for_the_next_request() {
    // A peer that answers its first datagram late and the others at once.
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = peer.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        let mut first = true;
        loop {
            let (n, from) = peer.recv_from(&mut buf).await.unwrap();
            if first {
                first = false;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            peer.send_to(&buf[..n], from).await.unwrap();
        }
    });
    let mut ep = UdpEndpoint::connect(addr, TIMEOUT).await.unwrap();
    let err = ep
        .request(b"first", Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    tokio::time::sleep(Duration::from_millis(400)).await; // "first" is now queued
    assert_eq!(
        &ep.request(b"second", TIMEOUT).await.unwrap()[..],
        b"second"
    );
}

#[tokio::test]
async fn the_client_counts_endpoints_and_requests_and_fires_its_hooks() {
    let server = echo_server().await;
    let (pre, post) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (p1, p2) = (Arc::clone(&pre), Arc::clone(&post));
    let client = UdpClient::builder()
        .on_pre_request(move |_| {
            p1.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .on_post_request(move |ev| {
            assert!(ev.error.is_none());
            p2.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .build();
    let mut a = client.endpoint(server.address()).await.unwrap();
    let mut b = client.endpoint(server.address()).await.unwrap();
    assert_eq!((a.session(), b.session()), (1, 2));
    assert_eq!(&a.request(b"1", TIMEOUT).await.unwrap()[..], b"1");
    assert_eq!(&a.request(b"2", TIMEOUT).await.unwrap()[..], b"2");
    assert_eq!(&b.request(b"3", TIMEOUT).await.unwrap()[..], b"3");
    assert_eq!(client.sessions(), 2);
    assert_eq!(client.requests_processed(), 3);
    assert_eq!(a.requests_processed(), 2);
    assert_eq!(pre.load(Ordering::SeqCst), 3);
    assert_eq!(post.load(Ordering::SeqCst), 3);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_pre_request_abort_fails_the_client_request_unsent() {
    let server = echo_server().await;
    let client = UdpClient::builder()
        .on_pre_request(|_| Err(Error::aborted("not today").into()))
        .build();
    let mut ep = client.endpoint(server.address()).await.unwrap();
    let err = ep.request(b"x", TIMEOUT).await.unwrap_err();
    assert!(err.is_aborted(), "{err:?}");
    server.close(Duration::from_secs(1)).await;
    assert_eq!(server.info().datagrams.received, 0);
}

#[tokio::test]
async fn batched_send_and_receive_move_many_datagrams_in_order() {
    let server = echo_server().await;
    let ep = UdpEndpoint::connect(server.address(), TIMEOUT)
        .await
        .unwrap();
    let msgs: Vec<Vec<u8>> = (0..100u32)
        .map(|i| format!("msg-{i:03}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    ep.send_batch(&refs).await.unwrap();
    let slot = 64;
    let mut buf = vec![0u8; slot * 32];
    let mut lens = [0usize; 32];
    let mut got = Vec::new();
    while got.len() < msgs.len() {
        let n = tokio::time::timeout(TIMEOUT, ep.recv_batch(&mut buf, slot, &mut lens))
            .await
            .expect("replies in time")
            .unwrap();
        assert!(n >= 1);
        for i in 0..n {
            got.push(buf[i * slot..][..lens[i]].to_vec());
        }
    }
    // One socket on each side, loopback: order is kept.
    assert_eq!(got, msgs);
    server.close(Duration::from_secs(1)).await;
}
