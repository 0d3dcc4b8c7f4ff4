//! `RedisClient` against a real redis-server: pulsar's store themes (strings, expiry, hashes,
//! lists, sets, sorted sets, pipelining, transactions), the session handshake, typed errors.

use crate::client_support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use client_support::within;
use futures_util::StreamExt;
use quasar_redis::client::{cmd, RedisClient, RedisError, SetOptions};
use quasar_redis::Frame;

#[tokio::test]
async fn strings_set_get_and_count() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    client.set("k", "v").await.unwrap();
    assert_eq!(
        client.get::<Option<String>>("k").await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(client.get::<Option<String>>("missing").await.unwrap(), None);
    let raw: Bytes = client.get("k").await.unwrap();
    assert_eq!(raw, "v");
    assert_eq!(client.append("k", "alue").await.unwrap(), 5);
    assert_eq!(client.strlen("k").await.unwrap(), 5);

    assert_eq!(client.incr("n").await.unwrap(), 1);
    assert_eq!(client.incr_by("n", 10).await.unwrap(), 11);
    assert_eq!(client.decr("n").await.unwrap(), 10);
    assert_eq!(client.decr_by("n", 3).await.unwrap(), 7);
    assert_eq!(client.incr_by_float("n", 0.5).await.unwrap(), 7.5);
    assert_eq!(client.get::<f64>("n").await.unwrap(), 7.5);

    client.mset([("a", "1"), ("b", "2")]).await.unwrap();
    let values: Vec<Option<i64>> = client.mget(["a", "nope", "b"]).await.unwrap();
    assert_eq!(values, [Some(1), None, Some(2)]);

    // SET's options: NX refuses an existing key, XX a missing one, GET returns the old value.
    let nx: bool = client
        .set_with("a", "x", SetOptions::new().nx())
        .await
        .unwrap();
    assert!(!nx);
    let xx: bool = client
        .set_with("fresh", "x", SetOptions::new().xx())
        .await
        .unwrap();
    assert!(!xx);
    let old: Option<String> = client
        .set_with("a", "3", SetOptions::new().get())
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some("1"));
    assert_eq!(client.get::<i64>("a").await.unwrap(), 3);

    // Binary-safe values.
    let blob: Vec<u8> = (0..=255).collect();
    client.set("blob", &blob[..]).await.unwrap();
    assert_eq!(client.get::<Vec<u8>>("blob").await.unwrap(), blob);
    client.close().await;
}

#[tokio::test]
async fn keys_expire_and_persist() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    client
        .set_with::<()>("t", "v", SetOptions::new().px(Duration::from_millis(100)))
        .await
        .unwrap();
    let pttl = client.pttl("t").await.unwrap();
    assert!((1..=100).contains(&pttl), "pttl {pttl}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.exists(["t"]).await.unwrap(), 0, "expired");
    assert_eq!(client.ttl("t").await.unwrap(), -2);

    client.set("p", "v").await.unwrap();
    assert_eq!(client.ttl("p").await.unwrap(), -1);
    assert!(client.expire("p", Duration::from_secs(100)).await.unwrap());
    assert!((90..=100).contains(&client.ttl("p").await.unwrap()));
    assert!(client.pexpire("p", Duration::from_secs(50)).await.unwrap());
    assert!(client.pttl("p").await.unwrap() <= 50_000);
    assert!(client.persist("p").await.unwrap());
    assert_eq!(client.ttl("p").await.unwrap(), -1);
    assert!(!client
        .expire("missing", Duration::from_secs(1))
        .await
        .unwrap());

    client
        .set_with::<()>("e", "v", SetOptions::new().ex(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(client.ttl("e").await.unwrap() > 20);
    assert_eq!(client.exists(["e", "p", "e", "zz"]).await.unwrap(), 3);
    assert_eq!(client.del(["e", "p", "zz"]).await.unwrap(), 2);
    client.close().await;
}

#[tokio::test]
async fn scan_streams_every_matching_key_across_pages() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    let keys: Vec<(String, i64)> = (0..250).map(|i| (format!("scan:{i}"), i)).collect();
    client.mset(keys.iter().map(|(k, v)| (k, v))).await.unwrap();
    client.set("other", "x").await.unwrap();
    let found: HashSet<String> = client
        .scan(Some("scan:*"), 20)
        .map(|k| k.unwrap())
        .collect()
        .await;
    assert_eq!(found.len(), 250);
    assert!(found.contains("scan:249") && !found.contains("other"));
    let all = client.scan(None, 1000).count().await;
    assert_eq!(all, 251);
    client.close().await;
}

#[tokio::test]
async fn hashes() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    assert!(client.hset("h", "a", "1").await.unwrap());
    assert!(
        !client.hset("h", "a", "2").await.unwrap(),
        "an existing field"
    );
    assert_eq!(
        client
            .hset_multiple("h", [("b", "3"), ("c", "4")])
            .await
            .unwrap(),
        2
    );
    assert_eq!(client.hget::<Option<i64>>("h", "a").await.unwrap(), Some(2));
    assert_eq!(client.hget::<Option<i64>>("h", "zz").await.unwrap(), None);
    let got: Vec<Option<String>> = client.hmget("h", ["c", "x"]).await.unwrap();
    assert_eq!(got, [Some("4".into()), None]);
    let all: HashMap<String, i64> = client.hgetall("h").await.unwrap();
    assert_eq!(
        all,
        HashMap::from([("a".into(), 2), ("b".into(), 3), ("c".into(), 4)])
    );
    assert!(client.hexists("h", "b").await.unwrap());
    assert_eq!(client.hstrlen("h", "b").await.unwrap(), 1);
    assert_eq!(client.hstrlen("h", "zz").await.unwrap(), 0);
    assert_eq!(client.hincr_by("h", "b", 7).await.unwrap(), 10);
    assert_eq!(client.hlen("h").await.unwrap(), 3);
    let mut fields: Vec<String> = client.hkeys("h").await.unwrap();
    fields.sort();
    assert_eq!(fields, ["a", "b", "c"]);
    assert_eq!(client.hvals::<i64>("h").await.unwrap().len(), 3);
    assert_eq!(client.hdel("h", ["a", "zz"]).await.unwrap(), 1);
    client.close().await;
}

#[tokio::test]
async fn lists() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    assert_eq!(client.rpush("l", ["b", "c"]).await.unwrap(), 2);
    assert_eq!(client.lpush("l", ["a"]).await.unwrap(), 3);
    assert_eq!(
        client.lrange::<String>("l", 0, -1).await.unwrap(),
        ["a", "b", "c"]
    );
    assert_eq!(client.llen("l").await.unwrap(), 3);
    assert_eq!(
        client.lindex::<String>("l", -1).await.unwrap().as_deref(),
        Some("c")
    );
    assert_eq!(
        client.lpop::<String>("l").await.unwrap().as_deref(),
        Some("a")
    );
    assert_eq!(
        client.rpop::<String>("l").await.unwrap().as_deref(),
        Some("c")
    );
    client.rpush("l", ["b", "x", "b"]).await.unwrap();
    assert_eq!(client.lrem("l", 0, "b").await.unwrap(), 3);
    client.rpush("l", ["1", "2", "3"]).await.unwrap();
    client.ltrim("l", 1, 2).await.unwrap();
    assert_eq!(client.lrange::<i64>("l", 0, -1).await.unwrap(), [1, 2]);
    assert_eq!(client.lpop::<String>("empty").await.unwrap(), None);
    client.close().await;
}

#[tokio::test]
async fn sets() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    assert_eq!(client.sadd("s1", ["a", "b", "c", "a"]).await.unwrap(), 3);
    client.sadd("s2", ["b", "c", "d"]).await.unwrap();
    assert!(client.sismember("s1", "a").await.unwrap());
    assert!(!client.sismember("s1", "d").await.unwrap());
    assert_eq!(client.scard("s1").await.unwrap(), 3);
    let inter: HashSet<String> = client.sinter(["s1", "s2"]).await.unwrap();
    assert_eq!(inter, HashSet::from(["b".into(), "c".into()]));
    let union: HashSet<String> = client.sunion(["s1", "s2"]).await.unwrap();
    assert_eq!(union.len(), 4);
    assert_eq!(client.srem("s1", ["a", "zz"]).await.unwrap(), 1);
    let members: HashSet<String> = client.smembers("s1").await.unwrap();
    assert_eq!(members, HashSet::from(["b".into(), "c".into()]));
    client.close().await;
}

#[tokio::test]
async fn sorted_sets() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    assert!(client.zadd("z", "a", 1.0).await.unwrap());
    assert_eq!(
        client
            .zadd_multiple("z", [("b", 2.5), ("c", 3.0)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(client.zscore("z", "b").await.unwrap(), Some(2.5));
    assert_eq!(client.zscore("z", "zz").await.unwrap(), None);
    assert_eq!(client.zincr_by("z", "a", 5.0).await.unwrap(), 6.0);
    assert_eq!(client.zrank("z", "a").await.unwrap(), Some(2));
    assert_eq!(client.zcard("z").await.unwrap(), 3);
    assert_eq!(client.zcount("z", 2.0, 3.0).await.unwrap(), 2);
    assert_eq!(
        client.zrange::<String>("z", 0, -1).await.unwrap(),
        ["b", "c", "a"]
    );
    let scored: Vec<(String, f64)> = client.zrange_withscores("z", 0, 0).await.unwrap();
    assert_eq!(scored, [("b".to_string(), 2.5)]);
    assert_eq!(
        client
            .zrangebyscore::<String>("z", 3.0, 10.0)
            .await
            .unwrap(),
        ["c", "a"]
    );
    assert_eq!(client.zrem("z", ["a", "zz"]).await.unwrap(), 1);
    client.close().await;
}

#[tokio::test]
async fn resp3_replies_convert_like_resp2_ones() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("?protocol=resp3")).unwrap();
    let hello: HashMap<String, Frame> = cmd("HELLO").query(&client).await.unwrap();
    assert_eq!(hello["proto"], Frame::Integer(3), "HELLO 3 ran on connect");
    client.hset("h", "f", "v").await.unwrap();
    let all: HashMap<String, String> = client.hgetall("h").await.unwrap();
    assert_eq!(all["f"], "v");
    client
        .zadd_multiple("z", [("a", 1.0), ("b", 2.0)])
        .await
        .unwrap();
    let scored: Vec<(String, f64)> = client.zrange_withscores("z", 0, -1).await.unwrap();
    assert_eq!(scored, [("a".to_string(), 1.0), ("b".to_string(), 2.0)]);
    assert_eq!(client.zscore("z", "b").await.unwrap(), Some(2.0));
    assert_eq!(client.get::<Option<String>>("none").await.unwrap(), None);
    client.close().await;
}

#[tokio::test]
async fn pipelines_return_every_reply_in_order() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    let (set, n, v): ((), i64, String) = client
        .pipeline()
        .add_command(cmd("SET").arg("p").arg("x"))
        .add_command(cmd("INCR").arg("c"))
        .add_command(cmd("GET").arg("p"))
        .query(&client)
        .await
        .unwrap();
    assert_eq!((set, n, v.as_str()), ((), 1, "x"));
    // A failing command does not hide the others' replies.
    let replies = client
        .pipeline()
        .add_command(cmd("INCR").arg("p"))
        .add_command(cmd("INCR").arg("c"))
        .execute(&client)
        .await
        .unwrap();
    assert!(replies[0].is_error());
    assert_eq!(replies[1], Frame::Integer(2));
    let err = client
        .pipeline()
        .add_command(cmd("INCR").arg("p"))
        .query::<Vec<i64>>(&client)
        .await
        .unwrap_err();
    assert!(err.is_server(), "{err}");
    // A big pipeline.
    let mut big = client.pipeline();
    for i in 0..1000 {
        big.push(cmd("RPUSH").arg("big").arg(i));
    }
    let lens: Vec<i64> = big.query(&client).await.unwrap();
    assert_eq!(lens, (1..=1000).collect::<Vec<_>>());
    client.close().await;
}

#[tokio::test]
async fn transactions_run_atomically_and_watch_aborts_on_change() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    // MULTI/EXEC as one pipeline, on the shared connection.
    let (a, b): (i64, i64) = client
        .pipeline()
        .add_command(cmd("INCR").arg("x"))
        .add_command(cmd("INCRBY").arg("x").arg(10))
        .atomic()
        .query(&client)
        .await
        .unwrap();
    assert_eq!((a, b), (1, 11));
    // A command refused at queue time aborts the whole transaction.
    let err = client
        .pipeline()
        .add_command(cmd("INCR").arg("x"))
        .add_command(cmd("NOSUCHCOMMAND"))
        .atomic()
        .execute(&client)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"), "{err}");
    assert_eq!(client.get::<i64>("x").await.unwrap(), 11, "nothing ran");

    // WATCH on an exclusive connection: untouched, EXEC runs.
    let mut conn = client.exclusive().await.unwrap();
    conn.watch(["x"]).await.unwrap();
    let x: i64 = conn.query(cmd("GET").arg("x")).await.unwrap();
    let tx = client
        .pipeline()
        .add_command(cmd("SET").arg("x").arg(x * 2));
    let done = conn.exec(tx).await.unwrap();
    assert_eq!(done, Some(vec![Frame::simple("OK")]));
    assert_eq!(client.get::<i64>("x").await.unwrap(), 22);
    // Changed by another client between WATCH and EXEC: EXEC does not run.
    conn.watch(["x"]).await.unwrap();
    client.set("x", "100").await.unwrap();
    let tx = client.pipeline().add_command(cmd("SET").arg("x").arg(0));
    assert_eq!(conn.exec(tx).await.unwrap(), None);
    assert_eq!(client.get::<i64>("x").await.unwrap(), 100);
    drop(conn);
    // The exclusive connection went back clean (EXEC ended the watch) and is reused.
    let pool = client.exclusive_client().pool(server.addr()).unwrap();
    assert_eq!((pool.in_use(), pool.available()), (0, 1));

    // A connection dropped while watching is closed, not reused with its watch.
    let mut conn = client.exclusive().await.unwrap();
    conn.watch(["x"]).await.unwrap();
    drop(conn);
    assert_eq!((pool.in_use(), pool.available()), (0, 0));
    client.close().await;
}

#[tokio::test]
async fn blocking_pops_wait_on_an_exclusive_connection() {
    let server = client_support::start();
    let client = RedisClient::builder(&server.url(""))
        .unwrap()
        .timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let mut conn = client.exclusive().await.unwrap();
    // Times out on the server: None (the client's timeout counts after the block time).
    let none: Option<(String, String)> =
        conn.blpop(["q"], Duration::from_millis(100)).await.unwrap();
    assert_eq!(none, None);
    let pusher = client.clone();
    let push = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        pusher.rpush("q2", ["job"]).await.unwrap();
    });
    // The shared pool keeps serving while the exclusive connection blocks.
    let popped: Option<(String, String)> = within(
        "BLPOP to return",
        conn.blpop(["q", "q2"], Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(popped, Some(("q2".into(), "job".into())));
    push.await.unwrap();
    client.rpush("q", ["a", "b"]).await.unwrap();
    let last: Option<(String, String)> = conn.brpop(["q"], Duration::ZERO).await.unwrap();
    assert_eq!(last, Some(("q".into(), "b".into())));
    // close() waits for checked-out connections: give it back first.
    drop(conn);
    client.close().await;
}

#[tokio::test]
async fn the_handshake_authenticates_selects_and_names_every_connection() {
    let server = client_support::start_with(&["--requirepass", "s3cret"]);
    let client = RedisClient::builder(&server.url("/3"))
        .unwrap()
        .client_name("quasar-test")
        .build()
        .unwrap();
    let err = client.get::<Option<String>>("k").await.unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    let url = format!("redis://:s3cret@127.0.0.1:{}/3", server.addr().port());
    let client = RedisClient::builder(&url)
        .unwrap()
        .client_name("quasar-test")
        .build()
        .unwrap();
    client.set("k", "in db 3").await.unwrap();
    let name: String = cmd("CLIENT").arg("GETNAME").query(&client).await.unwrap();
    assert_eq!(name, "quasar-test");
    let info: String = cmd("CLIENT").arg("INFO").query(&client).await.unwrap();
    assert!(info.contains(" db=3 "), "{info}");
    // The exclusive pool's connections get the same handshake.
    let mut conn = client.exclusive().await.unwrap();
    let v: String = conn.query(cmd("GET").arg("k")).await.unwrap();
    assert_eq!(v, "in db 3");
    drop(conn);

    let wrong = format!("redis://:nope@127.0.0.1:{}", server.addr().port());
    let err = RedisClient::new(&wrong)
        .unwrap()
        .get::<Option<String>>("k")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("WRONGPASS"), "{err}");
    client.close().await;
}

#[tokio::test]
async fn server_errors_are_typed() {
    let server = client_support::start();
    let client = RedisClient::new(&server.url("")).unwrap();
    client.rpush("list", ["x"]).await.unwrap();
    let err = client.get::<Option<String>>("list").await.unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    assert!(matches!(err, RedisError::Server(_)));
    let err = client.incr("list").await.unwrap_err();
    assert!(err.is_server());
    client.set("s", "abc").await.unwrap();
    let err = client.get::<i64>("s").await.unwrap_err();
    assert!(matches!(err, RedisError::Type(_)), "{err}");
    let err = cmd("NOSUCHCOMMAND").query::<()>(&client).await.unwrap_err();
    assert_eq!(err.code(), Some("ERR"));
    // The connection is fine after all that.
    assert_eq!(cmd("PING").query::<String>(&client).await.unwrap(), "PONG");
    client.close().await;
}
