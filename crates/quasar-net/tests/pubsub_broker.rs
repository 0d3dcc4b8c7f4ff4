//! The in-process pub/sub broker: ordering per publisher across threads, pattern
//! subscriptions, the drop-oldest policy for a subscriber that stops reading, unsubscribe
//! on drop, and close.

use std::collections::HashMap;
use std::time::Duration;

use quasar_net::pubsub::{Broker, Topic};

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_publishers_messages_arrive_in_its_order_at_every_subscriber() {
    const PUBLISHERS: usize = 4;
    const EACH: usize = 2_000;
    // Room for everything: this test is about order, not the slow-subscriber policy.
    let broker = Broker::in_process_with(PUBLISHERS * EACH);
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut sub = broker.subscribe("feed").await.unwrap();
        readers.push(tokio::spawn(async move {
            let mut next = [0usize; PUBLISHERS];
            for _ in 0..PUBLISHERS * EACH {
                let m = within("a message", sub.recv()).await.unwrap();
                let text = std::str::from_utf8(&m.payload).unwrap();
                let (p, i) = text.split_once(':').unwrap();
                let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
                assert_eq!(i, next[p], "publisher {p}'s messages in order");
                next[p] += 1;
            }
            assert_eq!(sub.dropped(), 0);
            next
        }));
    }
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let broker = broker.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    let n = broker.publish("feed", format!("{p}:{i}")).await.unwrap();
                    assert_eq!(n, 3);
                }
            })
        })
        .collect();
    for p in publishers {
        p.await.unwrap();
    }
    for r in readers {
        assert_eq!(r.await.unwrap(), [EACH; PUBLISHERS]);
    }
    assert_eq!(broker.stats().delivered, (3 * PUBLISHERS * EACH) as u64);
}

#[tokio::test]
async fn patterns_follow_redis_glob_rules() {
    let broker = Broker::in_process();
    let mut news = broker.psubscribe("news.*").await.unwrap();
    let mut hallo = broker.psubscribe("h[^e]llo").await.unwrap();
    let mut exact = broker.subscribe("news.sport").await.unwrap();
    assert_eq!(news.topic(), &Topic::Pattern("news.*".into()));

    assert_eq!(broker.publish("news.sport", "goal").await.unwrap(), 2);
    assert_eq!(broker.publish("news", "no dot").await.unwrap(), 0);
    assert_eq!(broker.publish("news.weather", "rain").await.unwrap(), 1);
    assert_eq!(broker.publish("hallo", "a").await.unwrap(), 1);
    assert_eq!(broker.publish("hello", "e").await.unwrap(), 0);

    let m = news.recv().await.unwrap();
    assert_eq!(
        (&*m.channel, m.pattern.as_deref(), &m.payload[..]),
        ("news.sport", Some("news.*"), &b"goal"[..])
    );
    let m = news.recv().await.unwrap();
    assert_eq!(
        (&*m.channel, &m.payload[..]),
        ("news.weather", &b"rain"[..])
    );
    assert_eq!(news.try_recv(), None);
    let m = exact.recv().await.unwrap();
    assert_eq!((m.pattern, &m.payload[..]), (None, &b"goal"[..]));
    assert_eq!(exact.try_recv(), None);
    let m = hallo.recv().await.unwrap();
    assert_eq!(
        (&*m.channel, m.pattern.as_deref()),
        ("hallo", Some("h[^e]llo"))
    );
    assert_eq!(hallo.try_recv(), None);

    assert!(Topic::Pattern("a\\*".into()).matches("a*"));
    assert!(!Topic::Pattern("a\\*".into()).matches("ab"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_loses_its_oldest_messages_and_delays_nobody() {
    let broker = Broker::in_process_with(8);
    let mut reader = broker.subscribe("room").await.unwrap();
    let stalled = broker.subscribe("room").await.unwrap();
    let mut stalled_pattern = broker.psubscribe("ro*").await.unwrap();
    // Each message is read by `reader` before the next is published: the publisher never
    // waits on the two that do not read.
    for i in 0..100u32 {
        assert_eq!(broker.publish("room", i.to_string()).await.unwrap(), 3);
        let m = within("the reader's message", reader.recv()).await.unwrap();
        assert_eq!(&m.payload[..], i.to_string().as_bytes());
    }
    assert_eq!(reader.dropped(), 0);
    assert_eq!(stalled.queued(), 8);
    assert_eq!(stalled.dropped(), 92);
    assert_eq!(stalled_pattern.dropped(), 92);
    assert_eq!(broker.stats().dropped, 184);
    // What is left is the newest eight, in order.
    let kept: Vec<String> = std::iter::from_fn(|| stalled_pattern.try_recv())
        .map(|m| String::from_utf8(m.payload.to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (92..100).map(|i: u32| i.to_string()).collect();
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    let broker = Broker::in_process();
    let a = broker.subscribe("c").await.unwrap();
    let b = broker.subscribe("c").await.unwrap();
    let p = broker.psubscribe("c*").await.unwrap();
    assert_eq!(broker.subscribers("c"), 2);
    let stats = broker.stats();
    assert_eq!(
        (stats.channels, stats.patterns, stats.subscriptions),
        (1, 1, 3)
    );
    drop(a);
    assert_eq!(broker.subscribers("c"), 1);
    assert_eq!(broker.publish("c", "x").await.unwrap(), 2);
    drop(b);
    drop(p);
    assert_eq!(broker.subscribers("c"), 0);
    assert_eq!(broker.publish("c", "x").await.unwrap(), 0);
    let stats = broker.stats();
    assert_eq!(
        (stats.channels, stats.patterns, stats.subscriptions),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_waiting_subscriber_is_woken_and_close_ends_the_stream() {
    let broker = Broker::in_process();
    let mut sub = broker.subscribe("c").await.unwrap();
    let waiter = tokio::spawn(async move {
        let mut got = HashMap::new();
        while let Some(m) = sub.recv().await {
            *got.entry(m.payload).or_insert(0) += 1;
        }
        got
    });
    tokio::task::yield_now().await;
    broker.publish("c", "one").await.unwrap();
    broker.publish("c", "two").await.unwrap();
    broker.close();
    let got = within("the stream to end", waiter).await.unwrap();
    assert_eq!(got.len(), 2, "queued messages are read before the end");
}

#[test]
fn a_broker_and_its_subscriptions_go_to_any_worker() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn movable<T: Send + 'static>() {}
    shareable::<Broker>();
    movable::<quasar_net::pubsub::Subscription>();
}
