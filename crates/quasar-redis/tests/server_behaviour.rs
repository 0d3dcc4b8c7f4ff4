//! Server behaviour across connections: pub/sub, blocking pops, expiry, workers sharing
//! one keyspace, transactions under concurrency, large replies, authentication.

use crate::server_support;

use std::time::Duration;

use quasar_redis::server::RespServerConfig;
use server_support::*;

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    let mut input = Vec::new();
    for i in 0..200 {
        input.extend_from_slice(format!("SET k{i} {i}\r\nGET k{i}\r\n").as_bytes());
    }
    c.send_raw(&input).await;
    for i in 0..200 {
        assert_eq!(c.read_raw().await, b"+OK\r\n");
        let v = i.to_string();
        assert_eq!(
            c.read_raw().await,
            format!("${}\r\n{v}\r\n", v.len()).as_bytes()
        );
    }
}

#[tokio::test]
async fn subscribers_receive_published_messages_and_patterns() {
    let server = start_server(RespServerConfig::default()).await;
    let mut sub = RawClient::connect(server.address()).await;
    let mut publisher = RawClient::connect(server.address()).await;
    assert_eq!(
        sub.call(&["SUBSCRIBE", "news", "alerts"]).await,
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    assert_eq!(
        sub.read_raw().await,
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\nalerts\r\n:2\r\n"
    );
    assert_eq!(
        sub.call(&["PSUBSCRIBE", "n*"]).await,
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n"
    );
    assert_eq!(publisher.call(&["PUBLISH", "news", "hi"]).await, b":2\r\n");
    assert_eq!(
        sub.read_raw().await,
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
    );
    assert_eq!(
        sub.read_raw().await,
        b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
    );
    // RESP2 subscribed mode refuses other commands; PING answers in pub/sub form.
    assert_eq!(
        sub.call(&["GET", "x"]).await,
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(sub.call(&["PING"]).await, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(
        sub.call(&["PUNSUBSCRIBE"]).await,
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:2\r\n"
    );
    sub.send(&[b"UNSUBSCRIBE"]).await;
    let mut rest = vec![sub.read_frame().await, sub.read_frame().await];
    rest.sort_by_key(|f| format!("{f:?}"));
    assert!(format!("{rest:?}").contains(":0") || format!("{rest:?}").contains("Integer(0)"));
    // Back to normal mode.
    assert_eq!(sub.call(&["GET", "x"]).await, b"$-1\r\n");
    assert_eq!(publisher.call(&["PUBLISH", "news", "hi"]).await, b":0\r\n");
}

#[tokio::test]
async fn a_closed_subscriber_is_forgotten() {
    let server = start_server(RespServerConfig::default()).await;
    let mut sub = RawClient::connect(server.address()).await;
    let mut publisher = RawClient::connect(server.address()).await;
    sub.call(&["SUBSCRIBE", "ch"]).await;
    assert_eq!(publisher.call(&["PUBLISH", "ch", "x"]).await, b":1\r\n");
    drop(sub);
    let mut n = Vec::new();
    for _ in 0..100 {
        n = publisher.call(&["PUBLISH", "ch", "x"]).await;
        if n == b":0\r\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(n, b":0\r\n");
}

#[tokio::test]
async fn blpop_waits_for_a_push_from_another_client_and_later_replies_follow_it() {
    let server = start_server(RespServerConfig::default()).await;
    let mut waiter = RawClient::connect(server.address()).await;
    let mut pusher = RawClient::connect(server.address()).await;
    waiter.send_raw(b"BLPOP q1 q2 0\r\nPING\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pusher.call(&["RPUSH", "q2", "job"]).await, b":1\r\n");
    assert_eq!(waiter.read_raw().await, b"*2\r\n$2\r\nq2\r\n$3\r\njob\r\n");
    assert_eq!(waiter.read_raw().await, b"+PONG\r\n");
    assert_eq!(pusher.call(&["EXISTS", "q2"]).await, b":0\r\n");
}

#[tokio::test]
async fn blpop_times_out_with_a_null_array() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    let t = std::time::Instant::now();
    assert_eq!(c.call(&["BRPOP", "nothing", "0.2"]).await, b"*-1\r\n");
    assert!(
        t.elapsed() >= Duration::from_millis(180),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn a_blocked_client_that_disconnects_stops_waiting() {
    let server = start_server(RespServerConfig::default()).await;
    let mut waiter = RawClient::connect(server.address()).await;
    waiter.send(&[b"BLPOP", b"q", b"0"]).await;
    let mut admin = RawClient::connect(server.address()).await;
    let blocked = |info: &[u8]| String::from_utf8_lossy(info).contains("blocked_clients:1");
    for _ in 0..100 {
        if blocked(&admin.call(&["INFO", "clients"]).await) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(blocked(&admin.call(&["INFO", "clients"]).await));
    drop(waiter);
    let mut info = Vec::new();
    for _ in 0..100 {
        info = admin.call(&["INFO", "clients"]).await;
        if String::from_utf8_lossy(&info).contains("blocked_clients:0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(String::from_utf8_lossy(&info).contains("blocked_clients:0"));
    // The push is not lost to the departed waiter.
    assert_eq!(admin.call(&["RPUSH", "q", "x"]).await, b":1\r\n");
    assert_eq!(admin.call(&["LLEN", "q"]).await, b":1\r\n");
}

#[tokio::test]
async fn expired_keys_vanish_on_access_and_by_the_active_sweep() {
    let mut config = RespServerConfig::default();
    config.sweep_interval = Duration::from_millis(20);
    let server = start_server(config).await;
    let mut c = RawClient::connect(server.address()).await;
    assert_eq!(c.call(&["SET", "lazy", "v", "PX", "50"]).await, b"+OK\r\n");
    for i in 0..300 {
        let k = format!("k{i}");
        assert_eq!(c.call(&["SET", &k, "v", "PX", "50"]).await, b"+OK\r\n");
    }
    assert_eq!(c.call(&["SET", "keep", "v"]).await, b"+OK\r\n");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(c.call(&["GET", "lazy"]).await, b"$-1\r\n");
    // DBSIZE counts keys not yet deleted: only the sweep brings it down to 1.
    let mut size = Vec::new();
    for _ in 0..200 {
        size = c.call(&["DBSIZE"]).await;
        if size == b":1\r\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(size, b":1\r\n");
    let info = String::from_utf8_lossy(&c.call(&["INFO", "stats"]).await).into_owned();
    assert!(info.contains("expired_keys:301"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_one_keyspace_and_transactions_stay_atomic() {
    let server = start_server_with(RespServerConfig::default(), 2).await;
    let addr = server.address();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(async move {
            let mut c = RawClient::connect(addr).await;
            for _ in 0..100 {
                c.send_raw(b"MULTI\r\nINCR a\r\nINCR b\r\nEXEC\r\n").await;
                assert_eq!(c.read_raw().await, b"+OK\r\n");
                assert_eq!(c.read_raw().await, b"+QUEUED\r\n");
                assert_eq!(c.read_raw().await, b"+QUEUED\r\n");
                // Both counters move together inside EXEC: a == b always.
                let reply = c.read_frame().await;
                match reply {
                    quasar_redis::Frame::Array(v) => assert_eq!(v[0], v[1]),
                    other => panic!("{other:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut c = RawClient::connect(addr).await;
    assert_eq!(
        c.call(&["MGET", "a", "b"]).await,
        b"*2\r\n$3\r\n400\r\n$3\r\n400\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_key_commands_across_shards_do_not_deadlock() {
    let server = start_server(RespServerConfig::default()).await;
    let addr = server.address();
    let mut tasks = Vec::new();
    for t in 0..4 {
        tasks.push(tokio::spawn(async move {
            let mut c = RawClient::connect(addr).await;
            for i in 0..200 {
                let (x, y) = if t % 2 == 0 { ("x", "y") } else { ("y", "x") };
                let k1 = format!("{x}{}", i % 7);
                let k2 = format!("{y}{}", i % 5);
                c.call(&["MSET", &k1, "1", &k2, "2"]).await;
                c.call(&["SUNION", &k1, &k2]).await;
                c.call(&["DEL", &k2, &k1]).await;
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("no deadlock");
}

#[tokio::test]
async fn large_replies_arrive_whole() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    let big = "x".repeat(3 * 1024 * 1024);
    assert_eq!(c.call(&["SET", "big", &big]).await, b"+OK\r\n");
    let reply = c.call(&["GET", "big"]).await;
    assert_eq!(reply.len(), big.len() + 12);
    assert!(reply.starts_with(b"$3145728\r\nxxx"));
    for i in 0..5000 {
        c.send(&[b"RPUSH", b"l", format!("element-{i}").as_bytes()])
            .await;
    }
    for i in 0..5000 {
        assert_eq!(c.read_raw().await, format!(":{}\r\n", i + 1).as_bytes());
    }
    let reply = c.call(&["LRANGE", "l", "0", "-1"]).await;
    assert!(reply.starts_with(b"*5000\r\n$9\r\nelement-0\r\n"));
    assert!(reply.ends_with(b"$12\r\nelement-4999\r\n"));
}

#[tokio::test]
async fn requirepass_gates_every_command_but_auth_and_hello() {
    let mut config = RespServerConfig::default();
    config.requirepass = Some("pw".into());
    let server = start_server(config).await;
    let mut c = RawClient::connect(server.address()).await;
    assert_eq!(
        c.call(&["GET", "k"]).await,
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        c.call(&["AUTH", "nope"]).await,
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.call(&["AUTH", "pw"]).await, b"+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]).await, b"$-1\r\n");
    let mut d = RawClient::connect(server.address()).await;
    let hello = d.call(&["HELLO", "3", "AUTH", "default", "pw"]).await;
    assert!(
        hello.starts_with(b"%7\r\n"),
        "{:?}",
        String::from_utf8_lossy(&hello)
    );
    assert_eq!(d.call(&["GET", "k"]).await, b"_\r\n");
}

#[tokio::test]
async fn client_list_shows_every_connection() {
    let server = start_server(RespServerConfig::default()).await;
    let mut a = RawClient::connect(server.address()).await;
    let mut b = RawClient::connect(server.address()).await;
    a.call(&["CLIENT", "SETNAME", "alpha"]).await;
    b.call(&["CLIENT", "SETNAME", "beta"]).await;
    let ida = a.call(&["CLIENT", "ID"]).await;
    let idb = b.call(&["CLIENT", "ID"]).await;
    assert_ne!(ida, idb);
    let list = String::from_utf8_lossy(&a.call(&["CLIENT", "LIST"]).await).into_owned();
    assert!(
        list.contains("name=alpha") && list.contains("name=beta"),
        "{list}"
    );
    assert_eq!(list.matches(" laddr=").count(), 2, "{list}");
    // Each line names that connection's last command (b's was CLIENT ID, a's is this
    // CLIENT LIST) and an idle time of 0 seconds, as Redis shows them.
    for line in list.lines().filter(|l| l.contains(" laddr=")) {
        assert!(line.contains(" idle=0 "), "{line}");
        assert!(line.contains(" cmd=client "), "{line}");
    }
    b.call(&["SET", "k", "v"]).await;
    let list = String::from_utf8_lossy(&a.call(&["CLIENT", "LIST"]).await).into_owned();
    let beta = list.lines().find(|l| l.contains("name=beta")).unwrap_or("");
    assert!(beta.contains(" cmd=set "), "{list}");
}

#[tokio::test]
async fn quit_answers_then_closes() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    c.send_raw(b"QUIT\r\nPING\r\n").await;
    assert_eq!(c.read_to_close().await, b"+OK\r\n");
}

#[tokio::test]
async fn a_multi_queue_is_capped_at_one_command_size() {
    let mut config = RespServerConfig::default();
    config.limits.max_frame_len = 1024;
    let server = start_server(config).await;
    let mut c = RawClient::connect(server.address()).await;
    let value = "v".repeat(600);
    assert_eq!(c.call(&["MULTI"]).await, b"+OK\r\n");
    assert_eq!(c.call(&["SET", "a", &value]).await, b"+QUEUED\r\n");
    assert_eq!(
        c.call(&["SET", "b", &value]).await,
        b"-ERR MULTI queue too large\r\n"
    );
    assert_eq!(
        c.call(&["EXEC"]).await,
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(c.call(&["EXISTS", "a"]).await, b":0\r\n");
}

#[tokio::test]
async fn scan_returns_every_stable_key_once_while_keys_come_and_go() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    for i in 0..1000 {
        c.send(&[b"SET", format!("k{i}").as_bytes(), b"v"]).await;
        c.send(&[b"SET", format!("d{i}").as_bytes(), b"v"]).await;
    }
    for _ in 0..2000 {
        assert_eq!(c.read_raw().await, b"+OK\r\n");
    }
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let reply = c.read_frame_after(&["SCAN", &cursor, "COUNT", "37"]).await;
        let quasar_redis::Frame::Array(parts) = reply else {
            panic!("{reply:?}")
        };
        let (quasar_redis::Frame::Bulk(next), quasar_redis::Frame::Array(keys)) =
            (&parts[0], &parts[1])
        else {
            panic!("{parts:?}")
        };
        for k in keys {
            let quasar_redis::Frame::Bulk(k) = k else {
                panic!("{k:?}")
            };
            *seen
                .entry(String::from_utf8_lossy(k).into_owned())
                .or_default() += 1;
        }
        // Churn between calls: delete some keys, add others.
        for j in 0..10 {
            let n = round * 10 + j;
            c.call(&["DEL", &format!("d{n}")]).await;
            c.call(&["SET", &format!("new{n}"), "v"]).await;
        }
        round += 1;
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            break;
        }
    }
    for i in 0..1000 {
        assert_eq!(seen.get(&format!("k{i}")), Some(&1), "k{i}");
    }
    assert!(seen.values().all(|&n| n == 1), "a key came back twice");
}

#[tokio::test]
async fn set_over_an_expired_key_makes_a_new_key_even_with_keepttl() {
    let mut config = RespServerConfig::default();
    // No active sweep during the test: the overwrite itself must find the key expired.
    config.sweep_interval = Duration::from_secs(3600);
    let server = start_server(config).await;
    let mut c = RawClient::connect(server.address()).await;
    assert_eq!(c.call(&["SET", "k", "v1", "PX", "30"]).await, b"+OK\r\n");
    assert_eq!(
        c.call(&["SET", "live", "v", "PX", "60000"]).await,
        b"+OK\r\n"
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(c.call(&["SET", "k", "v2", "KEEPTTL"]).await, b"+OK\r\n");
    assert_eq!(c.call(&["TTL", "k"]).await, b":-1\r\n");
    assert_eq!(c.call(&["GET", "k"]).await, b"$2\r\nv2\r\n");
    // A live key keeps its TTL through KEEPTTL and loses it through a plain SET.
    assert_eq!(c.call(&["SET", "live", "w", "KEEPTTL"]).await, b"+OK\r\n");
    let ttl = c.call(&["PTTL", "live"]).await;
    assert!(
        ttl.starts_with(b":5") && ttl.len() > 6,
        "{:?}",
        String::from_utf8_lossy(&ttl)
    );
    assert_eq!(c.call(&["SET", "live", "x"]).await, b"+OK\r\n");
    assert_eq!(c.call(&["TTL", "live"]).await, b":-1\r\n");
    let info = String::from_utf8_lossy(&c.call(&["INFO", "stats"]).await).into_owned();
    assert!(info.contains("expired_keys:1\r\n"), "{info}");
}
