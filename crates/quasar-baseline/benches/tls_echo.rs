//! Echo over TLS next to plain TCP, same process, same client: a timed loop, reported
//! as a ratio (not asserted). `cargo bench -p quasar-baseline --bench tls_echo`.
//!
//! 64-byte framed echo messages on one connection, handshake excluded, at pipeline
//! depth 1 and 16; then new TLS connections per second (handshake included).

use std::time::{Duration, Instant};

use bytes::Bytes;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::tls::{PemSource, TlsAcceptor, TlsConnector};
use quasar_net::transport::{Connector, TcpConnector};
use quasar_net::{ClientConnectionBuilder, ConnectionConfig, TcpServer};

const RUN: Duration = Duration::from_secs(2);

async fn requests_per_second<C: Connector>(connector: &C, server: &TcpServer, depth: usize) -> f64 {
    let mut config = ConnectionConfig::default();
    config.max_in_flight(depth);
    let conn = ClientConnectionBuilder::new(EchoClientFactory::default())
        .config(config)
        .connect_with(connector, server.address())
        .await
        .expect("connect");
    let msg = Bytes::from(vec![b'x'; 64]);
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < RUN {
        let calls = (0..depth).map(|_| conn.request(msg.clone()));
        for r in futures_util::future::join_all(calls).await {
            r.expect("echo");
            done += 1;
        }
    }
    done as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let factory = EchoServerFactory::new(EchoConfig::default());
    let plain = TcpServer::builder(factory)
        .start()
        .await
        .expect("plain server");
    let acceptor = TlsAcceptor::builder()
        .cert(
            PemSource::bytes(cert_pem.clone()),
            PemSource::bytes(key_pem),
        )
        .build()
        .expect("acceptor");
    let tls = TcpServer::builder(factory)
        .acceptor(acceptor)
        .start()
        .await
        .expect("tls server");
    let connector = TlsConnector::builder()
        .platform_roots(false)
        .ca(PemSource::bytes(cert_pem))
        .server_name("localhost")
        .build()
        .expect("connector");

    for depth in [1, 16] {
        let p = requests_per_second(&TcpConnector, &plain, depth).await;
        let t = requests_per_second(&connector, &tls, depth).await;
        println!(
            "echo 64 B, pipeline {depth:2}: plain {p:9.0} req/s, tls {t:9.0} req/s, tls/plain {:.2}",
            t / p
        );
    }
    let start = Instant::now();
    let mut handshakes = 0u64;
    while start.elapsed() < RUN {
        let _stream = connector.connect(tls.address()).await.expect("handshake");
        handshakes += 1;
    }
    println!(
        "new TLS connections (ECDSA P-256, TLS 1.3): {:.0}/s",
        handshakes as f64 / start.elapsed().as_secs_f64()
    );
}
