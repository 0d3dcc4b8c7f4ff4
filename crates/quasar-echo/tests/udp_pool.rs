//! pulsar's echoudp client: a pool of connected UDP endpoints, through the same `Pool`
//! that pools TCP connections.

use std::time::Duration;

use quasar_echo::udp::EchoUdpConfig;
use quasar_net::UdpClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_udp_endpoints_each_get_their_own_replies() {
    let server = EchoUdpConfig::default()
        .server()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let client = UdpClient::builder()
        .request_timeout(Duration::from_secs(2))
        .build();
    let pool = client.pool(server.address(), 5).unwrap();
    let calls = (0..40).map(|i| {
        let pool = pool.clone();
        async move {
            let mut ep = pool.connect().await.unwrap();
            ep.start_request();
            let msg = format!("datagram {i}");
            let reply = ep
                .request(msg.as_bytes(), Duration::from_secs(2))
                .await
                .unwrap();
            ep.finish_request();
            assert_eq!(reply, msg.as_bytes());
        }
    });
    futures_util::future::join_all(calls).await;
    assert_eq!(pool.in_use(), 0);
    assert!(
        pool.available() >= 1 && pool.available() <= 5,
        "{}",
        pool.available()
    );
    assert!(
        client.sessions() <= 5,
        "at most pool_size endpoints, got {}",
        client.sessions()
    );
    assert_eq!(server.requests_processed(), 40);
    pool.close().await;
    assert_eq!(pool.available(), 0);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_whose_server_went_away_is_not_handed_out_again() {
    let server = EchoUdpConfig::default()
        .server()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let addr = server.address();
    let client = UdpClient::builder()
        .request_timeout(Duration::from_millis(300))
        .build();
    let pool = client.pool(addr, 1).unwrap();
    {
        let mut ep = pool.connect().await.unwrap();
        assert_eq!(
            ep.request(b"ping", Duration::from_secs(2)).await.unwrap(),
            &b"ping"[..]
        );
    }
    server.close(Duration::from_secs(1)).await;
    // The next request is refused by the kernel (ICMP port unreachable): the endpoint
    // closes itself and the pool replaces it on the following checkout.
    {
        let mut ep = pool.connect().await.unwrap();
        ep.start_request();
        let err = ep
            .request(b"anyone?", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(
            err.is_timeout() || err.is_connection_lost() || err.is_io(),
            "{err}"
        );
    }
    assert_eq!(pool.in_use(), 0);
    let ep = pool.connect().await.unwrap();
    assert!(!ep.is_closed(), "a fresh endpoint replaces the dead one");
    assert_eq!(client.sessions(), 2);
}
