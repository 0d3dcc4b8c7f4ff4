//! quasar-net's pub/sub broker through Redis (`quasar_redis::pubsub::RedisBroker`), against
//! a real `redis-server` and against quasar's own RESP server (what `quasar serve resp`
//! runs): two brokers sharing messages in order, patterns, the local drop-oldest policy,
//! unsubscribe on drop (one upstream subscription per broker, gone with the last local one),
//! and the server restarting under a broker.

use crate::client_support;
use crate::server_support;

use std::collections::HashMap;
use std::time::Duration;

use client_support::within;
use quasar_net::pubsub::Broker;
use quasar_redis::client::{cmd, RedisClient};
use quasar_redis::pubsub::RedisBroker;
use quasar_redis::server::RespServerConfig;

async fn broker(url: &str, capacity: usize) -> Broker {
    RedisBroker::connect(RedisClient::new(url).unwrap(), capacity)
        .await
        .unwrap()
}

/// Two brokers (two "processes") on one server: every subscription of both receives every
/// message of one publisher, in order.
async fn two_brokers_share_messages(url: &str) {
    let a = broker(url, 1024).await;
    let b = broker(url, 1024).await;
    assert_eq!(a.backend_name(), "redis");
    let mut a1 = a.subscribe("room").await.unwrap();
    let mut a2 = a.subscribe("room").await.unwrap();
    let mut b1 = b.subscribe("room").await.unwrap();
    let mut bp = b.psubscribe("ro?m").await.unwrap();

    // Redis counts subscribed connections: a's (one for both locals), b's, b's pattern.
    assert_eq!(a.publish("room", "0").await.unwrap(), 3);
    for i in 1..500 {
        a.publish("room", i.to_string()).await.unwrap();
    }
    for (name, sub) in [
        ("a1", &mut a1),
        ("a2", &mut a2),
        ("b1", &mut b1),
        ("bp", &mut bp),
    ] {
        for i in 0..500 {
            let m = within(name, sub.recv()).await.unwrap();
            assert_eq!(&*m.channel, "room");
            assert_eq!(&m.payload[..], i.to_string().as_bytes(), "{name}: in order");
        }
        assert_eq!(sub.try_recv(), None, "{name}: nothing twice");
    }
    assert_eq!(bp.topic().name(), "ro?m");
    // Pattern messages carry their pattern; a message for another channel reaches only it.
    assert_eq!(b.publish("roam", "p").await.unwrap(), 1);
    let m = within("the pattern message", bp.recv()).await.unwrap();
    assert_eq!(
        (&*m.channel, m.pattern.as_deref(), &m.payload[..]),
        ("roam", Some("ro?m"), &b"p"[..])
    );
    assert_eq!(a.stats().subscriptions, 2);
    assert_eq!(b.stats().subscriptions, 2);
}

/// Publishes on `channel` until the count of receivers Redis reports is `n`.
async fn until_receivers(client: &RedisClient, channel: &str, n: i64) {
    within("the upstream subscription count", async {
        loop {
            if client.publish(channel, "probe").await.unwrap() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// The broker holds one upstream subscription per topic, dropped with the last local one.
async fn dropping_the_last_local_subscription_unsubscribes(url: &str) {
    let client = RedisClient::new(url).unwrap();
    let broker = broker(url, 16).await;
    let s1 = broker.subscribe("news").await.unwrap();
    let s2 = broker.subscribe("news").await.unwrap();
    let p = broker.psubscribe("new*").await.unwrap();
    assert_eq!(client.publish("news", "x").await.unwrap(), 2);
    drop(s1);
    assert_eq!(broker.subscribers("news"), 1);
    until_receivers(&client, "news", 2).await;
    drop(s2);
    assert_eq!(broker.subscribers("news"), 0);
    until_receivers(&client, "news", 1).await;
    drop(p);
    until_receivers(&client, "news", 0).await;
    // Subscribing again after the unsubscribe works.
    let mut again = broker.subscribe("news").await.unwrap();
    assert_eq!(broker.publish("news", "back").await.unwrap(), 1);
    let m = within("the message", again.recv()).await.unwrap();
    assert_eq!(&m.payload[..], b"back");
}

/// A local subscriber that stops reading loses its oldest messages; the others get all.
async fn a_stalled_local_subscriber_drops_oldest(url: &str) {
    let broker = broker(url, 4).await;
    let mut reader = broker.subscribe("c").await.unwrap();
    let stalled = broker.subscribe("c").await.unwrap();
    for i in 0..50 {
        broker.publish("c", i.to_string()).await.unwrap();
        let m = within("the reader's message", reader.recv()).await.unwrap();
        assert_eq!(&m.payload[..], i.to_string().as_bytes());
    }
    assert_eq!((stalled.queued(), stalled.dropped()), (4, 46));
    assert_eq!(broker.stats().dropped, 46);
}

#[tokio::test]
async fn redis_server_two_brokers_share_messages_in_order() {
    let server = client_support::start();
    two_brokers_share_messages(&server.url("")).await;
}

#[tokio::test]
async fn redis_server_resp3_two_brokers_share_messages_in_order() {
    let server = client_support::start();
    two_brokers_share_messages(&server.url("?protocol=resp3")).await;
}

#[tokio::test]
async fn redis_server_pubsub_numsub_follows_local_subscriptions() {
    let server = client_support::start();
    let url = server.url("");
    let client = RedisClient::new(&url).unwrap();
    let numsub = |channel: &'static str| {
        let client = client.clone();
        async move {
            let counts: HashMap<String, i64> = cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query(&client)
                .await
                .unwrap();
            counts[channel]
        }
    };
    let broker = broker(&url, 16).await;
    let locals: Vec<_> = futures_util::future::join_all((0..5).map(|_| broker.subscribe("room")))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(broker.subscribers("room"), 5);
    assert_eq!(numsub("room").await, 1, "one connection for five locals");
    drop(locals);
    within("NUMSUB to go back to 0", async {
        while numsub("room").await != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    dropping_the_last_local_subscription_unsubscribes(&url).await;
}

#[tokio::test]
async fn redis_server_stalled_subscriber_drops_oldest() {
    let server = client_support::start();
    a_stalled_local_subscriber_drops_oldest(&server.url("")).await;
}

#[tokio::test]
async fn redis_restart_brings_the_subscriptions_back() {
    let mut server = client_support::start();
    let url = server.url("");
    let broker = broker(&url, 1024).await;
    let mut channel = broker.subscribe("room").await.unwrap();
    let mut pattern = broker.psubscribe("ro*").await.unwrap();
    broker.publish("room", "before").await.unwrap();
    assert_eq!(
        &within("before", channel.recv()).await.unwrap().payload[..],
        b"before"
    );
    assert_eq!(
        &within("before", pattern.recv()).await.unwrap().payload[..],
        b"before"
    );

    server.restart();

    // Publishes while the broker reconnects are lost (the documented window) or fail while
    // the server is down; once Redis counts both subscriptions again, nothing more is lost.
    let publisher = RedisClient::new(&url).unwrap();
    within("the subscriptions to come back", async {
        loop {
            if let Ok(2) = publisher.publish("room", "probe").await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    for i in 0..100 {
        assert_eq!(broker.publish("room", i.to_string()).await.unwrap(), 2);
    }
    for sub in [&mut channel, &mut pattern] {
        let mut got = Vec::new();
        while got.len() < 100 {
            let m = within("the messages after the restart", sub.recv())
                .await
                .unwrap();
            if &m.payload[..] != b"probe" {
                got.push(String::from_utf8(m.payload.to_vec()).unwrap());
            }
        }
        let expected: Vec<String> = (0..100).map(|i: i32| i.to_string()).collect();
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn quasar_resp_server_two_brokers_share_messages_in_order() {
    let server = server_support::start_server(RespServerConfig::default()).await;
    two_brokers_share_messages(&format!("redis://{}", server.address())).await;
}

#[tokio::test]
async fn quasar_resp_server_unsubscribes_with_the_last_local_subscription() {
    let server = server_support::start_server(RespServerConfig::default()).await;
    dropping_the_last_local_subscription_unsubscribes(&format!("redis://{}", server.address()))
        .await;
}

#[tokio::test]
async fn quasar_resp_server_stalled_subscriber_drops_oldest() {
    let server = server_support::start_server(RespServerConfig::default()).await;
    a_stalled_local_subscriber_drops_oldest(&format!("redis://{}", server.address())).await;
}
