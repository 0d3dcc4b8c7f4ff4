//! Many tasks on few multiplexed connections, and cancelled or timed-out commands, against a
//! real redis-server: every caller gets its own reply and the connection stays in sync.

use crate::client_support;

use std::time::Duration;

use client_support::within;
use quasar_redis::client::{cmd, RedisClient, RedisError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_on_two_connections_get_their_own_replies() {
    let server = client_support::start();
    let client = RedisClient::builder(&server.url(""))
        .unwrap()
        .pool_size(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let key = format!("key:{i}");
                let value = format!("value {i} {}", "x".repeat(i % 50));
                client.set(&key, &value).await.unwrap();
                let n = client.incr("counter").await.unwrap();
                let got: String = client.get(&key).await.unwrap();
                assert_eq!(got, value, "a reply reached the wrong task");
                n
            })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(within("a task", task).await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=1000).collect::<Vec<i64>>(),
        "each INCR seen once"
    );
    let sessions = client.shared_client().sessions();
    assert!((1..=2).contains(&sessions), "sessions {sessions}");
    let pool = client.shared_client().pool(server.addr()).unwrap();
    assert_eq!(pool.in_use(), 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_commands_do_not_desynchronise_the_connection() {
    let server = client_support::start();
    let client = RedisClient::builder(&server.url(""))
        .unwrap()
        .pool_size(1)
        .build()
        .unwrap();
    for i in 0..100 {
        client.set(format!("k{i}"), i).await.unwrap();
    }
    for round in 0..20 {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let got: i64 = client.get(format!("k{i}")).await.unwrap();
                    assert_eq!(got, i, "round {round}: a reply reached the wrong task");
                })
            })
            .collect();
        // Abort every third task at some point of its life: before, during or after sending.
        tokio::task::yield_now().await;
        for (i, task) in tasks.iter().enumerate() {
            if i % 3 == round % 3 {
                task.abort();
            }
        }
        for task in tasks {
            match task.await {
                Ok(()) => {}
                Err(e) => assert!(e.is_cancelled(), "{e}"),
            }
        }
    }
    // Plain futures dropped mid-flight, too.
    for i in 0..100 {
        let get = client.get::<i64>(format!("k{i}"));
        let _ = tokio::time::timeout(Duration::from_micros(50), get).await;
    }
    for i in 0..100 {
        assert_eq!(client.get::<i64>(format!("k{i}")).await.unwrap(), i);
    }
    assert_eq!(
        client.shared_client().sessions(),
        1,
        "the one connection stayed"
    );
    client.close().await;
}

#[tokio::test]
async fn a_timed_out_command_fails_and_later_commands_get_their_replies() {
    let server = client_support::start();
    let client = RedisClient::builder(&server.url(""))
        .unwrap()
        .pool_size(1)
        .timeout(Some(Duration::from_millis(1000)))
        .build()
        .unwrap();
    client.set("k", "v").await.unwrap();
    // WAIT for a replica that does not exist holds the connection for 1.5 s: past the
    // timeout, and answered before twice the timeout (when the connection would be taken
    // for dead and closed), with half a second to spare either side for a loaded machine.
    let err = cmd("WAIT")
        .arg(1)
        .arg(1500)
        .query::<i64>(&client)
        .await
        .unwrap_err();
    assert!(matches!(err, RedisError::Timeout), "{err}");
    assert!(err.is_timeout());
    // Queued behind the WAIT: arrives once it ends, with its own reply (not WAIT's 0).
    let slow = RedisClient::clone(&client);
    let got = within("GET after WAIT", async move {
        loop {
            match slow.get::<String>("k").await {
                Ok(v) => return v,
                Err(RedisError::Timeout) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert_eq!(got, "v");
    assert_eq!(client.shared_client().sessions(), 1);
    client.close().await;
}
