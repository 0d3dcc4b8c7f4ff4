//! `quasar_net::metrics`: a server's and a pool's numbers in the Prometheus text format,
//! moving with known traffic.

#![cfg(feature = "metrics")]

use crate::core_support;

use std::time::Duration;

use bytes::Bytes;
use core_support::{wait_until, within};
use prometheus_client::registry::Registry;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::metrics::Metrics;
use quasar_net::{Client, TcpServer};

fn scrape(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

/// The value of the one sample line starting with `series` (name and labels).
fn value(text: &str, series: &str) -> u64 {
    let mut lines = text
        .lines()
        .filter(|l| l.starts_with(&format!("{series} ")));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert!(lines.next().is_none(), "{series} twice in\n{text}");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_pool_counters_follow_known_traffic() {
    let server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .name("echo-a")
        .start()
        .await
        .unwrap();
    let other = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .name("echo-b")
        .start()
        .await
        .unwrap();
    let client = Client::builder(EchoClientFactory::default())
        .pool_size(2)
        .build()
        .unwrap();
    let metrics = Metrics::new();
    metrics.add_server(&server);
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    // Added after registering: still scraped.
    metrics.add_server(&other);
    metrics.add_pool("echo-a", &client.pool(server.address()).unwrap());

    let before = scrape(&registry);
    assert_eq!(
        value(&before, r#"quasar_server_requests_total{server="echo-a"}"#),
        0
    );
    assert_eq!(
        value(&before, r#"quasar_pool_checkouts_total{pool="echo-a"}"#),
        0
    );
    // One HELP/TYPE per family, however many servers.
    assert_eq!(
        before
            .matches("# TYPE quasar_server_connections gauge")
            .count(),
        1
    );
    assert!(before.ends_with("# EOF\n"), "{before}");

    for i in 0..3 {
        let reply = within(
            "request",
            client.request(server.address(), Bytes::from(format!("m{i}"))),
        );
        assert_eq!(reply.await.unwrap(), format!("m{i}"));
    }
    // "m0" + "\r\n\r\n": 6 bytes each way per request; the written count lags the
    // client's read by a moment.
    wait_until("bytes counted", || {
        value(
            &scrape(&registry),
            r#"quasar_server_written_bytes_total{server="echo-a"}"#,
        ) == 18
    })
    .await;
    let after = scrape(&registry);
    assert_eq!(
        value(&after, r#"quasar_server_requests_total{server="echo-a"}"#),
        3
    );
    assert_eq!(
        value(&after, r#"quasar_server_read_bytes_total{server="echo-a"}"#),
        18
    );
    assert_eq!(
        value(&after, r#"quasar_server_sessions_total{server="echo-a"}"#),
        1
    );
    assert_eq!(
        value(&after, r#"quasar_server_connections{server="echo-a"}"#),
        1
    );
    assert_eq!(
        value(&after, r#"quasar_server_requests_total{server="echo-b"}"#),
        0
    );
    assert_eq!(
        value(&after, r#"quasar_pool_checkouts_total{pool="echo-a"}"#),
        3
    );
    assert_eq!(value(&after, r#"quasar_pool_in_use{pool="echo-a"}"#), 0);
    assert_eq!(value(&after, r#"quasar_pool_size{pool="echo-a"}"#), 2);

    client.close().await;
    server.close(Duration::from_secs(1)).await;
    other.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_events_are_labelled_by_kind() {
    use tokio::io::AsyncWriteExt;
    let server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .name("echo-t")
        .request_timeout(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let metrics = Metrics::new();
    metrics.add_server(&server);
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let series = r#"quasar_server_abuse_events_total{server="echo-t",kind="request_timeout"}"#;
    assert_eq!(value(&scrape(&registry), series), 0);

    // Half a message, then silence: the request timeout closes it.
    let mut peer = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    peer.write_all(b"half a message").await.unwrap();
    wait_until("the request timeout", || {
        value(&scrape(&registry), series) == 1
    })
    .await;
    let text = scrape(&registry);
    assert_eq!(
        value(
            &text,
            r#"quasar_server_abuse_events_total{server="echo-t",kind="reset"}"#
        ),
        0
    );
    assert!(text.contains("quasar_server_memory_held_bytes{server=\"echo-t\"}"));
    server.close(Duration::from_secs(1)).await;
}
