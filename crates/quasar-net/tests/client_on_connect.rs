//! `ClientBuilder::on_connect`: a session handshake runs once per new connection, before
//! any caller gets it, and a failing handshake fails the connect.

use crate::core_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use core_support::within;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::{Client, Error, TcpServer};

#[tokio::test]
async fn the_hook_runs_once_per_connection_before_the_first_request() {
    let server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .start()
        .await
        .unwrap();
    let addr = server.address();
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&runs);
    let client = Client::builder(EchoClientFactory::default())
        .pool_size(1)
        .on_connect(move |conn| {
            let seen = Arc::clone(&seen);
            async move {
                let reply = conn.request(Bytes::from_static(b"hello")).await?;
                assert_eq!(reply, "hello");
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .build()
        .unwrap();
    for i in 0..3 {
        let msg = format!("m{i}");
        let reply = within("a request", client.request(addr, Bytes::from(msg.clone()))).await;
        assert_eq!(reply.unwrap(), msg);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one pooled connection, one handshake"
    );
    let _unpooled = client.create_connection(addr).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "create_connection runs the hook too"
    );
    client.close().await;
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_failing_hook_fails_the_request_and_frees_the_slot() {
    let server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .start()
        .await
        .unwrap();
    let addr = server.address();
    let client = Client::builder(EchoClientFactory::default())
        .pool_size(1)
        .on_connect(|_conn| async { Err(Error::aborted("handshake refused")) })
        .build()
        .unwrap();
    for _ in 0..2 {
        let err = within("a request", client.request(addr, Bytes::from_static(b"x")))
            .await
            .unwrap_err();
        assert!(err.is_aborted(), "{err:?}");
    }
    assert_eq!(client.pool(addr).unwrap().in_use(), 0);
    within("the server to see the aborted connections go", async {
        while !server.connections().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    client.close().await;
    server.close(Duration::from_secs(1)).await;
}
