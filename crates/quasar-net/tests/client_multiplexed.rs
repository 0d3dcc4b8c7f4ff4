//! `Client` with `max_in_flight > 1`: callers share pooled connections (the pool's shared
//! checkout), requests are pipelined and replies reach their callers.

use crate::core_support;

use std::time::Duration;

use bytes::Bytes;
use core_support::within;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::{Client, TcpServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_share_pool_size_connections_and_get_their_own_replies() {
    let server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .start()
        .await
        .unwrap();
    let addr = server.address();
    let client = Client::builder(EchoClientFactory::default())
        .pool_size(2)
        .max_in_flight(16)
        .build()
        .unwrap();
    let calls = (0..200).map(|i| {
        let client = client.clone();
        async move {
            let msg = format!("message {i}");
            let reply = client
                .request(addr, Bytes::from(msg.clone()))
                .await
                .unwrap();
            assert_eq!(reply, msg, "a reply reached the wrong caller");
        }
    });
    within("200 calls", futures_util::future::join_all(calls)).await;
    assert!(client.sessions() <= 2, "sessions {}", client.sessions());
    assert_eq!(client.requests_processed(), 200);
    assert_eq!(server.sessions(), client.sessions());
    // A connection the server closes is replaced on the next call.
    for conn in server.connections() {
        conn.close().await.unwrap();
    }
    let pool = client.pool(addr).unwrap();
    within("the closes to be seen", async {
        while pool.available() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let reply = client
        .request(addr, Bytes::from_static(b"again"))
        .await
        .unwrap();
    assert_eq!(reply, "again");
    client.close().await;
    server.close(Duration::from_secs(1)).await;
}
