//! pulsar's `Echo` client over a real echo server: the pool accounting of
//! `test_connection_pool`, faults, and cancel safety.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use quasar_echo::client::EchoClient;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::{Client, TcpServer};

async fn echo_server(addr: SocketAddr) -> TcpServer {
    TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .bind(addr)
        .start()
        .await
        .expect("echo server starts")
}

/// Waits (bounded) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Three calls at once on a pool of two, as pulsar's `asyncio.gather`: two connections
/// busy, the third call queued for one of them.
///
/// That overlap is only guaranteed on a current-thread runtime, where the connection
/// drivers and the server run on the test's thread and so cannot answer a call while
/// `join_all` is still starting the others (pulsar's single event loop behaves the same).
/// On a multi-thread runtime a loaded machine may deschedule the test thread right after
/// a call is handed to its driver; the worker threads then finish the whole loopback
/// exchange, the call completes in its first poll and returns its connection before the
/// next call checks out, and all three run one after another on one connection. The
/// pool is right to reuse it, but the counts below then differ; the tests calling this
/// run on a current-thread runtime for that reason.
async fn three_concurrent(echo: &EchoClient, round: &str) {
    let calls = (0..3).map(|i| {
        let echo = echo.clone();
        let msg = format!("{round} {i}");
        async move { (msg.clone(), echo.echo(msg).await) }
    });
    for (msg, reply) in futures_util::future::join_all(calls).await {
        assert_eq!(reply.expect("echo"), msg.as_bytes());
    }
}

// Current-thread: see `three_concurrent`.
#[tokio::test(flavor = "current_thread")]
async fn pool_accounting_follows_pulsars_test_connection_pool() {
    let server = echo_server("127.0.0.1:0".parse().unwrap()).await;
    let echo = EchoClient::new(server.address(), 2).unwrap();
    let pool = echo.pool().unwrap();
    assert_eq!(pool.pool_size(), 2);
    assert_eq!((pool.in_use(), pool.available()), (0, 0));
    assert_eq!((echo.sessions(), echo.requests_processed()), (0, 0));

    assert_eq!(echo.echo("ciao luca").await.unwrap(), "ciao luca");
    assert_eq!((pool.in_use(), pool.available()), (0, 1));
    assert_eq!((echo.sessions(), echo.requests_processed()), (1, 1));

    assert_eq!(echo.echo("ciao luca 2").await.unwrap(), "ciao luca 2");
    assert_eq!(pool.available(), 1);
    assert_eq!((echo.sessions(), echo.requests_processed()), (1, 2));

    three_concurrent(&echo, "first").await;
    assert_eq!(
        pool.stats().waits,
        1,
        "the calls overlapped: the third one queued"
    );
    assert_eq!((pool.in_use(), pool.available()), (0, 2));
    assert_eq!((echo.sessions(), echo.requests_processed()), (2, 5));

    // Close one idle connection from the server side; the client notices the EOF.
    let victim = server
        .connections()
        .into_iter()
        .next()
        .expect("a server connection");
    victim.close().await.expect("clean close");
    eventually("the client to see the close", || pool.available() == 1).await;

    three_concurrent(&echo, "second").await;
    assert_eq!((pool.in_use(), pool.available()), (0, 2));
    assert_eq!((echo.sessions(), echo.requests_processed()), (3, 8));

    echo.close().await;
    assert_eq!((pool.in_use(), pool.available()), (0, 0));
    assert_eq!((echo.sessions(), echo.requests_processed()), (3, 8));
    assert!(echo.echo("late").await.unwrap_err().is_closed());
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_closes_the_connection_and_the_next_call_reconnects() {
    // pulsar issue #251: the synchronous client did not reconnect after QUIT.
    let server = echo_server("127.0.0.1:0".parse().unwrap()).await;
    let echo = EchoClient::new(server.address(), 1).unwrap();
    assert_eq!(echo.echo("ciao!").await.unwrap(), "ciao!");
    assert_eq!(echo.sessions(), 1);
    assert_eq!(echo.echo("QUIT").await.unwrap(), "QUIT");
    let pool = echo.pool().unwrap();
    eventually("QUIT's connection to close", || pool.available() == 0).await;
    assert_eq!(echo.echo("again").await.unwrap(), "again");
    assert_eq!(echo.sessions(), 2);
    echo.close().await;
}

// Current-thread: see `three_concurrent`.
#[tokio::test(flavor = "current_thread")]
async fn a_restarted_server_is_reconnected_to() {
    let first = echo_server("127.0.0.1:0".parse().unwrap()).await;
    let addr = first.address();
    let echo = EchoClient::new(addr, 2).unwrap();
    three_concurrent(&echo, "before").await;
    let pool = echo.pool().unwrap();
    assert_eq!(pool.available(), 2);
    first.close(Duration::from_secs(1)).await;
    eventually("idle connections to be seen closed", || {
        pool.available() == 0
    })
    .await;

    let second = echo_server(addr).await;
    three_concurrent(&echo, "after").await;
    assert_eq!(pool.in_use(), 0);
    assert_eq!(
        echo.sessions(),
        4,
        "two fresh connections replaced the dead ones"
    );
    echo.close().await;
    second.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_and_frees_the_slot() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let client = Client::builder(EchoClientFactory::default())
        .pool_size(1)
        .request_timeout(Duration::from_millis(200))
        .acquire_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let echo = EchoClient::from_client(addr, client);
    let err = echo.echo("anyone?").await.unwrap_err();
    assert!(err.is_connection_lost() || err.is_timeout(), "{err}");
    let pool = echo.pool().unwrap();
    assert_eq!(pool.in_use(), 0, "the slot came back");
    // The slot is usable again: the next call opens a new connection (and times out too).
    let err = echo.echo("still nobody?").await.unwrap_err();
    assert!(err.is_connection_lost() || err.is_timeout(), "{err}");
    assert_eq!(echo.sessions(), 2);
    assert_eq!(pool.in_use(), 0);
    echo.close().await;
    holder.abort();
}

#[tokio::test]
async fn connect_refused_names_the_address_and_cause() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let echo = EchoClient::new(addr, 2).unwrap();
    let err = echo.echo("hello").await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert_eq!(echo.pool().unwrap().in_use(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_lose_no_slot_and_never_reuse_a_half_used_connection() {
    let server = echo_server("127.0.0.1:0".parse().unwrap()).await;
    let echo = EchoClient::new(server.address(), 4).unwrap();
    // Deterministic pseudo-random cancellation points.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let cancelled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Every tenth call gets no real deadline, so completed calls are in the mix
        // however slow the machine; under load the short deadlines all fire (a run on
        // a loaded 2-core box saw all 300 cancelled when every call had one).
        let after = if i % 10 == 0 {
            Duration::from_secs(60)
        } else {
            Duration::from_micros(seed % 20_000)
        };
        let echo = echo.clone();
        let cancelled = cancelled.clone();
        tasks.push(tokio::spawn(async move {
            let msg = Bytes::from(format!(
                "message {i} {}",
                "x".repeat((i % 7) as usize * 100)
            ));
            match tokio::time::timeout(after, echo.echo(msg.clone())).await {
                // A request that completed must carry its own reply, never another's.
                Ok(Ok(reply)) => assert_eq!(reply, msg),
                Ok(Err(e)) => panic!("unexpected error {e}"),
                Err(_) => {
                    // dropped mid-flight
                    cancelled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let cancelled = cancelled.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (1..=270).contains(&cancelled),
        "the mix must hold cancelled calls and the 30 undeadlined ones, got {cancelled} cancelled"
    );
    let pool = echo.pool().unwrap();
    eventually("every slot back", || pool.in_use() == 0).await;
    // The pool still serves pool_size concurrent requests, each with its own reply.
    let calls = (0..4).map(|i| {
        let echo = echo.clone();
        async move { (i, echo.echo(format!("after {i}")).await.unwrap()) }
    });
    for (i, reply) in futures_util::future::join_all(calls).await {
        assert_eq!(reply, format!("after {i}").as_bytes());
    }
    assert_eq!(pool.in_use(), 0);
    echo.close().await;
    server.close(Duration::from_secs(1)).await;
}
