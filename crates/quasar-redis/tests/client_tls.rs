//! `rediss://`: the client over TLS to the RESP server behind quasar-net's `TlsAcceptor`,
//! with a CA and server certificate made per test by rcgen.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quasar_net::tls::{PemSource, TlsAcceptor};
use quasar_net::TcpServer;
use quasar_redis::client::{RedisClient, RedisError};
use quasar_redis::server::{RespServerConfig, RespServerFactory};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA (PEM) and a server certificate and key it signed for 127.0.0.1 and localhost.
fn certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "quasar test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_pem = ca.self_signed(&ca_key).expect("self-signed").pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("signed")
        .pem();
    (ca_pem, leaf, key.serialize_pem())
}

/// Writes `pem` to a fresh file in the temp directory.
fn pem_file(pem: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "quasar-redis-ca-{}-{}.pem",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, pem).expect("write CA file");
    path
}

async fn tls_server(cert: &str, key: &str) -> TcpServer {
    let acceptor = TlsAcceptor::builder()
        .cert(PemSource::bytes(cert), PemSource::bytes(key))
        .build()
        .expect("acceptor");
    let config = RespServerConfig::default();
    TcpServer::builder(RespServerFactory::new(config.clone()))
        .bind("127.0.0.1:0".parse().expect("addr"))
        .acceptor(acceptor)
        .connection_config(|c| config.apply_to(c))
        .start()
        .await
        .expect("server")
}

#[tokio::test]
async fn rediss_urls_speak_tls_for_commands_transactions_and_pubsub() {
    let (ca, cert, key) = certificates();
    let server = tls_server(&cert, &key).await;
    let ca_file = pem_file(&ca);
    let url = format!("rediss://127.0.0.1:{}/2", server.address().port());
    let client = RedisClient::builder(&url)
        .expect("url")
        .tls_ca_file(&ca_file)
        .client_name("tls-test")
        .build()
        .expect("client");
    assert!(client.url().is_tls());
    client.set("greeting", "hello").await.expect("SET");
    assert_eq!(
        client.get::<Option<String>>("greeting").await.expect("GET"),
        Some("hello".to_string())
    );
    // The handshake's SELECT ran over TLS too: the key is in database 2 only.
    let plain_db0 = client
        .query::<i64>(quasar_redis::client::cmd("DBSIZE"))
        .await
        .expect("DBSIZE");
    assert_eq!(plain_db0, 1);
    // Many commands in flight on the multiplexed TLS connections.
    let all = futures_util::future::join_all((0..200).map(|_| {
        let c = client.clone();
        async move { c.incr("counter").await.expect("INCR") }
    }))
    .await;
    assert_eq!(all.into_iter().max(), Some(200));
    // The exclusive pool (WATCH/MULTI/EXEC) goes through TLS as well.
    let mut ex = client.exclusive().await.expect("exclusive");
    ex.watch(&["counter"]).await.expect("WATCH");
    let replies = ex
        .exec(
            client
                .pipeline()
                .add_command(quasar_redis::client::cmd("INCR").arg("counter")),
        )
        .await
        .expect("EXEC");
    assert_eq!(replies, Some(vec![quasar_redis::Frame::Integer(201)]));
    drop(ex);
    // And a subscription's own connection.
    let mut sub = client.subscribe(["news"]).await.expect("SUBSCRIBE");
    let publisher = client.clone();
    let receivers: i64 = publisher.publish("news", "hi").await.expect("PUBLISH");
    assert_eq!(receivers, 1);
    use futures_util::StreamExt;
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("a message in time")
        .expect("a message");
    assert_eq!(&msg.payload[..], b"hi");
    let _ = std::fs::remove_file(ca_file);
}

#[tokio::test]
async fn an_untrusted_server_certificate_fails_as_a_tls_error() {
    let (_ca, cert, key) = certificates();
    let (other_ca, _, _) = certificates();
    let server = tls_server(&cert, &key).await;
    let ca_file = pem_file(&other_ca);
    let url = format!("rediss://127.0.0.1:{}", server.address().port());
    let client = RedisClient::builder(&url)
        .expect("url")
        .tls_ca_file(&ca_file)
        .build()
        .expect("client");
    match client.get::<Option<String>>("k").await {
        Err(RedisError::Net(e)) => assert!(e.is_tls() || e.is_connect(), "{e}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    let _ = std::fs::remove_file(ca_file);
}

#[tokio::test]
async fn a_missing_ca_file_is_a_build_error() {
    let err = RedisClient::builder("rediss://127.0.0.1:1")
        .expect("url")
        .tls_ca_file("/nonexistent/ca.pem")
        .build()
        .expect_err("no CA file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
