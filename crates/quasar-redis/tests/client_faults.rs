//! Faults against a real redis-server: killed mid-pipeline, restarted, `CLIENT KILL` of an
//! idle pooled connection, black-holed (stopped with SIGSTOP).

use crate::client_support;

use std::time::Duration;

use client_support::within;
use quasar_redis::client::{cmd, RedisClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_pipeline_fails_every_waiter_and_frees_the_pool() {
    let mut server = client_support::start();
    let client = RedisClient::builder(&server.url(""))
        .unwrap()
        .pool_size(2)
        .build()
        .unwrap();
    client.set("k", "v").await.unwrap();
    // Every command is a WAIT for a replica that does not exist: each holds its connection
    // for 10 s, so all 300 are still in flight, pipelined on the pool's connections, when
    // the server dies.
    let waiters: Vec<_> = (0..300)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { cmd("WAIT").arg(1).arg(10_000).query::<i64>(&client).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pool = client.shared_client().pool(server.addr()).unwrap();
    assert!(pool.in_use() > 0, "commands in flight");
    server.kill();
    for w in waiters {
        let err = within("every waiter", w).await.unwrap().unwrap_err();
        assert!(err.is_connection_lost(), "a typed connection error: {err}");
    }
    within("the pool to empty", async {
        while pool.in_use() != 0 || pool.available() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let err = client.get::<Option<String>>("k").await.unwrap_err();
    assert!(err.net_error().is_some_and(|e| e.is_connect()), "{err}");
    client.close().await;
}

#[tokio::test]
async fn after_a_restart_new_commands_succeed_on_new_connections() {
    let mut server = client_support::start();
    let client = RedisClient::builder(&server.url("/2"))
        .unwrap()
        .pool_size(2)
        .client_name("restarts")
        .build()
        .unwrap();
    client.set("before", "1").await.unwrap();
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { cmd("WAIT").arg(1).arg(10_000).query::<i64>(&client).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.restart();
    let err = within("the in-flight command", in_flight)
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.is_connection_lost(), "{err}");
    let pool = client.shared_client().pool(server.addr()).unwrap();
    within("the dead connections to leave the pool", async {
        while pool.available() != 0 || pool.in_use() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // A fresh server: the data is gone, the handshake ran again on the new connection.
    assert_eq!(client.get::<Option<String>>("before").await.unwrap(), None);
    client.set("after", "2").await.unwrap();
    let name: String = cmd("CLIENT").arg("GETNAME").query(&client).await.unwrap();
    assert_eq!(name, "restarts");
    let info: String = cmd("CLIENT").arg("INFO").query(&client).await.unwrap();
    assert!(info.contains(" db=2 "), "{info}");
    client.close().await;
}

#[tokio::test]
async fn a_killed_idle_connection_is_never_handed_out() {
    let server = client_support::start();
    let client = RedisClient::builder(&server.url(""))
        .unwrap()
        .pool_size(1)
        .build()
        .unwrap();
    let admin = RedisClient::new(&server.url("")).unwrap();
    let pool = client.shared_client().pool(server.addr()).unwrap();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let id: i64 = cmd("CLIENT").arg("ID").query(&client).await.unwrap();
        assert!(!ids.contains(&id), "a new connection each round");
        ids.push(id);
        let killed: i64 = cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query(&admin)
            .await
            .unwrap();
        assert_eq!(killed, 1);
        within("the pool to see the close", async {
            while pool.available() != 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        // The first command after the kill succeeds: it gets a new connection.
        assert_eq!(cmd("PING").query::<String>(&client).await.unwrap(), "PONG");
    }
    assert_eq!(client.shared_client().sessions(), 21);
    client.close().await;
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_server_times_commands_out_and_loses_no_slot() {
    let server = client_support::start();
    let client = RedisClient::builder(&server.url(""))
        .unwrap()
        .pool_size(2)
        .exclusive_pool_size(1)
        .timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    client.set("k", "v").await.unwrap();
    let mut tx = client.exclusive().await.unwrap();
    tx.query::<String>(cmd("PING")).await.unwrap();
    drop(tx);
    let pool = client.shared_client().pool(server.addr()).unwrap();
    let sessions = client.shared_client().sessions();
    assert_eq!(sessions, 1);

    server.pause(true);
    let sent = std::time::Instant::now();
    let waiters: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let res = client.get::<Option<String>>(&format!("k{i}")).await;
                (res, sent.elapsed())
            })
        })
        .collect();
    for w in waiters {
        let (res, at) = within("every command's timeout", w).await.unwrap();
        let err = res.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        // Each expires at its own deadline, never before (one timer per connection
        // serves them all).
        assert!(at >= Duration::from_millis(200), "timed out after {at:?}");
    }
    // The exclusive connection too: the checkout succeeds (the connection is idle in its
    // pool), the command times out, and the slot comes back.
    let mut tx = within("the exclusive checkout", client.exclusive())
        .await
        .unwrap();
    let err = within("the exclusive command", tx.query::<String>(cmd("PING")))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    drop(tx);
    let exclusive = client.exclusive_client().pool(server.addr()).unwrap();
    within("every slot back", async {
        while pool.in_use() != 0 || exclusive.in_use() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Still black-holed at twice the timeout: the multiplexed connections are taken for
    // dead and closed (their late replies are never read), and leave the pool.
    within("the dead connections closed", async {
        while pool.available() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    // Back from the hole: the next command gets a new connection and its own reply.
    server.pause(false);
    let got = within("a reply after the server continues", async {
        loop {
            match client.get::<String>("k").await {
                Ok(v) => return v,
                Err(e) if e.is_timeout() => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert_eq!(got, "v");
    assert!(
        client.shared_client().sessions() > sessions,
        "a new connection"
    );
    assert_eq!(pool.in_use(), 0, "no slot lost");
    client.close().await;
}
