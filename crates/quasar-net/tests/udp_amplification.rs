//! The anti-amplification cap over real loopback sockets: one datagram can cause at most
//! `max_replies_per_datagram` datagrams and `max_reply_ratio` times its wire size, for
//! synchronous and spawned replies, on both I/O paths; what is dropped is counted.

use std::net::SocketAddr;
use std::time::Duration;

use quasar_net::udp::{
    DatagramConsumer, DatagramContext, DatagramServer, Reply, UdpEndpoint,
    DEFAULT_MAX_REPLIES_PER_DATAGRAM, UDP_WIRE_OVERHEAD,
};
use quasar_net::Result;

const TIMEOUT: Duration = Duration::from_secs(5);
const SILENCE: Duration = Duration::from_millis(300);

/// `fan:N` -> N one-byte replies; `big:N` -> one reply of N bytes; `spawn:N` -> N
/// one-byte replies from a spawned future, after one synchronous reply.
struct Fan;

fn arg(data: &[u8], prefix: &str) -> Option<usize> {
    std::str::from_utf8(data.strip_prefix(prefix.as_bytes())?)
        .ok()?
        .parse()
        .ok()
}

impl DatagramConsumer for Fan {
    fn datagram_received(
        &mut self,
        cx: &mut DatagramContext<'_>,
        data: &[u8],
        _peer: SocketAddr,
    ) -> Result<()> {
        if let Some(n) = arg(data, "fan:") {
            for _ in 0..n {
                cx.reply(b"x")?;
            }
        } else if let Some(n) = arg(data, "big:") {
            cx.reply(&vec![b'b'; n])?;
        } else if let Some(n) = arg(data, "spawn:") {
            cx.reply(b"s")?;
            cx.spawn_reply(
                async move { Ok((0..n).fold(Reply::empty(), |r, _| r.send(&b"y"[..]))) },
            )?;
        }
        Ok(())
    }
}

/// Sends `req` and counts the datagrams that come back until a silence.
async fn replies_to(ep: &mut UdpEndpoint, req: &[u8]) -> Vec<usize> {
    ep.send(req).await.unwrap();
    let mut got = Vec::new();
    while let Ok(d) = ep.recv(SILENCE).await {
        got.push(d.len());
    }
    got
}

async fn fan_out_is_capped(batching: bool) {
    let server = DatagramServer::builder(|| Fan)
        .batching(batching)
        .start()
        .await
        .unwrap();
    let mut ep = UdpEndpoint::connect(server.address(), TIMEOUT)
        .await
        .unwrap();
    // 1,000 replies asked for; a 8-byte request pays for 3 * 36 = 108 wire bytes = three
    // 1-byte replies (29 each), fewer than the count cap.
    let got = replies_to(&mut ep, b"fan:1000").await;
    assert_eq!(got.len(), 3, "{got:?}");
    // And again: the budget is per datagram, not used up.
    assert_eq!(replies_to(&mut ep, b"fan:1000").await.len(), 3);
    let info = server.info();
    assert_eq!(info.datagrams.replies_dropped, 2 * 997);
    assert_eq!(info.datagrams.sent, 6);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn fan_out_is_capped_by_bytes_on_the_portable_path() {
    fan_out_is_capped(false).await;
}

#[tokio::test]
async fn fan_out_is_capped_by_bytes_on_the_batched_path() {
    fan_out_is_capped(true).await;
}

#[tokio::test]
async fn the_count_cap_binds_for_large_requests() {
    let server = DatagramServer::builder(|| Fan).start().await.unwrap();
    let mut ep = UdpEndpoint::connect(server.address(), TIMEOUT)
        .await
        .unwrap();
    // Leading zeros make the request large enough for the byte bound not to bind.
    let req = format!("fan:{:0>2000}", 1000);
    let got = replies_to(&mut ep, req.as_bytes()).await;
    assert_eq!(got.len(), DEFAULT_MAX_REPLIES_PER_DATAGRAM);
    assert_eq!(
        server.info().datagrams.replies_dropped,
        (1000 - DEFAULT_MAX_REPLIES_PER_DATAGRAM) as u64
    );
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_reply_larger_than_the_ratio_is_dropped_and_a_smaller_one_sent() {
    let server = DatagramServer::builder(|| Fan).start().await.unwrap();
    let mut ep = UdpEndpoint::connect(server.address(), TIMEOUT)
        .await
        .unwrap();
    // "big:74" is a 6-byte request (34 on the wire), which pays for 102 wire bytes: a
    // 74-byte payload, not one byte more.
    let fits = 3 * (6 + UDP_WIRE_OVERHEAD) - UDP_WIRE_OVERHEAD;
    assert_eq!(fits, 74);
    assert_eq!(
        replies_to(&mut ep, format!("big:{fits}").as_bytes()).await,
        [fits]
    );
    assert!(replies_to(&mut ep, format!("big:{}", fits + 1).as_bytes())
        .await
        .is_empty());
    assert_eq!(server.info().datagrams.replies_dropped, 1);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn spawned_replies_share_the_budget_of_their_datagram() {
    let server = DatagramServer::builder(|| Fan)
        .max_reply_ratio(0)
        .max_replies_per_datagram(5)
        .start()
        .await
        .unwrap();
    let mut ep = UdpEndpoint::connect(server.address(), TIMEOUT)
        .await
        .unwrap();
    // One synchronous reply + four of the spawned hundred.
    assert_eq!(replies_to(&mut ep, b"spawn:100").await.len(), 5);
    let info = server.info();
    assert_eq!(info.datagrams.replies_dropped, 96);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn zero_turns_the_cap_off() {
    let server = DatagramServer::builder(|| Fan)
        .max_reply_ratio(0)
        .max_replies_per_datagram(0)
        .start()
        .await
        .unwrap();
    let mut ep = UdpEndpoint::connect(server.address(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(replies_to(&mut ep, b"fan:40").await.len(), 40);
    assert_eq!(server.info().datagrams.replies_dropped, 0);
    server.close(Duration::from_secs(1)).await;
}
