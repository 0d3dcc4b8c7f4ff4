//! Pub/sub through `RedisClient::subscribe`, in RESP2 and RESP3, against a real redis-server.

use crate::client_support;

use std::time::Duration;

use client_support::within;
use futures_util::StreamExt;
use quasar_redis::client::{cmd, Message, RedisClient};

async fn publish_and_receive(rest: &str) {
    let server = client_support::start();
    let client = RedisClient::new(&server.url(rest)).unwrap();
    let mut sub = client.subscribe(["news", "sport"]).await.unwrap();
    // Both channels are confirmed before subscribe returns: a publish now is received.
    assert_eq!(client.publish("news", "hello").await.unwrap(), 1);
    assert_eq!(client.publish("sport", &b"goal\xff"[..]).await.unwrap(), 1);
    assert_eq!(client.publish("other", "x").await.unwrap(), 0);
    let first = within("a message", sub.next()).await.unwrap();
    assert_eq!(
        first,
        Message {
            channel: "news".into(),
            pattern: None,
            payload: "hello".into()
        }
    );
    let second = within("a message", sub.next()).await.unwrap();
    assert_eq!(
        (second.channel.as_str(), &second.payload[..]),
        ("sport", &b"goal\xff"[..])
    );

    // Patterns, and messages published while a subscription change is in flight.
    let publisher = client.clone();
    let flood = tokio::spawn(async move {
        for i in 0..200 {
            publisher.publish("news", i.to_string()).await.unwrap();
        }
    });
    sub.psubscribe(["spo*"]).await.unwrap();
    flood.await.unwrap();
    let mut news = Vec::new();
    while news.len() < 200 {
        let m = within("the flood", sub.next()).await.unwrap();
        assert_eq!(m.channel, "news");
        news.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    let expected: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(
        news, expected,
        "every message, in order, none taken as a reply"
    );
    assert_eq!(
        client.publish("sport", "p").await.unwrap(),
        2,
        "channel and pattern"
    );
    let a = within("a message", sub.next()).await.unwrap();
    let b = within("a message", sub.next()).await.unwrap();
    let mut patterns = [a.pattern, b.pattern];
    patterns.sort();
    assert_eq!(patterns, [None, Some("spo*".to_string())]);

    sub.unsubscribe(["news"]).await.unwrap();
    sub.punsubscribe(["spo*"]).await.unwrap();
    assert_eq!(client.publish("news", "gone").await.unwrap(), 0);
    assert!(
        sub.unsubscribe(Vec::<&str>::new()).await.is_err(),
        "no channel: refused"
    );

    // The subscription's connection is outside both pools, and dropping it unsubscribes.
    let pool = client.shared_client().pool(server.addr()).unwrap();
    assert!(pool.in_use() + pool.available() <= 2);
    drop(sub);
    within("the subscription to go", async {
        loop {
            let n: i64 = cmd("PUBLISH")
                .arg("sport")
                .arg("x")
                .query(&client)
                .await
                .unwrap();
            if n == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    client.close().await;
}

#[tokio::test]
async fn resp2_subscriptions_receive_their_messages() {
    publish_and_receive("").await;
}

#[tokio::test]
async fn resp3_subscriptions_receive_their_messages() {
    publish_and_receive("?protocol=resp3").await;
}

#[tokio::test]
async fn a_subscription_stream_ends_when_the_server_goes() {
    let mut server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    let mut sub = client.subscribe(["c"]).await.unwrap();
    server.kill();
    assert_eq!(within("the stream to end", sub.next()).await, None);
}
