//! TLS end to end: the echo protocol over `TlsAcceptor`/`TlsConnector` with the
//! project's own client; certificates are made per test with rcgen (nothing on disk
//! that could expire).
#![cfg(feature = "tls")]

use crate::core_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerConsumer, EchoServerFactory};
use quasar_net::tls::rustls::{CertificateError, Error as RustlsError};
use quasar_net::tls::{
    rustls_error, PemSource, TlsAcceptor, TlsAcceptorBuilder, TlsConnector, TlsConnectorBuilder,
    TlsManager, TlsVersion,
};
use quasar_net::transport::{Connector, TransportInfo};
use quasar_net::{
    ClientConnection, ClientConnectionBuilder, Connection, ConnectionConfig, ConsumerFactory,
    Error, Pool, TcpServer,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use core_support::{within, WAIT};

// ===== certificates =====

/// A throw-away certificate authority.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    fn leaf_with(&self, names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "quasar test");
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer).unwrap().pem();
        Leaf {
            cert,
            key: key.serialize_pem(),
        }
    }

    fn source(&self) -> PemSource {
        PemSource::bytes(self.pem.clone())
    }
}

impl Leaf {
    fn sources(&self) -> (PemSource, PemSource) {
        (
            PemSource::bytes(self.cert.clone()),
            PemSource::bytes(self.key.clone()),
        )
    }
}

fn server_settings(leaf: &Leaf) -> TlsAcceptorBuilder {
    let (cert, key) = leaf.sources();
    TlsAcceptor::builder().cert(cert, key)
}

fn client_settings(ca: &Ca) -> TlsConnectorBuilder {
    TlsConnector::builder()
        .platform_roots(false)
        .ca(ca.source())
        .server_name("localhost")
}

// ===== servers and clients =====

/// An echo factory that records what each connection's transport negotiated.
#[derive(Clone)]
struct Recording {
    inner: EchoServerFactory,
    seen: Arc<Mutex<Vec<TransportInfo>>>,
}

impl ConsumerFactory for Recording {
    type Consumer = EchoServerConsumer;

    fn build(&self, conn: &Connection) -> EchoServerConsumer {
        self.seen
            .lock()
            .unwrap()
            .push(conn.transport_info().clone());
        self.inner.build(conn)
    }
}

struct Server {
    server: TcpServer,
    seen: Arc<Mutex<Vec<TransportInfo>>>,
}

const MIB: usize = 1024 * 1024;

async fn start(acceptor: TlsAcceptor) -> Server {
    start_with(acceptor, Duration::from_secs(10)).await
}

async fn start_with(acceptor: TlsAcceptor, handshake_timeout: Duration) -> Server {
    let echo = EchoConfig::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let factory = Recording {
        inner: EchoServerFactory::new(echo),
        seen: Arc::clone(&seen),
    };
    let server = TcpServer::builder(factory)
        .bind("127.0.0.1:0".parse().unwrap())
        .acceptor(acceptor)
        .handshake_timeout(handshake_timeout)
        .connection_config(|c| {
            let marks = c.get_water_marks();
            c.water_marks(marks.with_cap(echo.write_buffer_cap(marks.high())).unwrap());
        })
        .start()
        .await
        .expect("server starts");
    Server { server, seen }
}

fn client_config(in_flight: usize) -> ConnectionConfig {
    let mut config = ConnectionConfig::default();
    let marks = config.get_water_marks();
    config
        .water_marks(marks.with_cap(4 * MIB).unwrap())
        .max_in_flight(in_flight);
    config
}

async fn connect(
    connector: &TlsConnector,
    server: &Server,
) -> quasar_net::Result<ClientConnection<Bytes, Bytes>> {
    within(
        "a TLS connection",
        ClientConnectionBuilder::new(EchoClientFactory::with_max_message_size(2 * MIB))
            .config(client_config(128))
            .connect_with(connector, server.server.address()),
    )
    .await
}

async fn echo(conn: &ClientConnection<Bytes, Bytes>, msg: &str) -> quasar_net::Result<Bytes> {
    within("an echo", conn.request(Bytes::from(msg.to_owned()))).await
}

fn certificate_error(err: &Error) -> CertificateError {
    assert!(err.is_tls(), "not a TLS error: {err:?}");
    match rustls_error(err) {
        Some(RustlsError::InvalidCertificate(e)) => e.clone(),
        other => panic!("not a certificate error: {other:?} in {err}"),
    }
}

/// A plain echo over a fresh TLS connection, proving the server still serves.
async fn assert_serves(connector: &TlsConnector, server: &Server) {
    let conn = connect(connector, server)
        .await
        .expect("next client connects");
    assert_eq!(echo(&conn, "still here").await.unwrap(), "still here");
}

// ===== tests =====

#[tokio::test]
async fn echo_over_tls_reports_alpn_and_sni_on_both_sides() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let acceptor = server_settings(&leaf)
        .alpn(["echo/1", "h2"])
        .build()
        .unwrap();
    let server = start(acceptor).await;
    let connector = client_settings(&ca).alpn(["echo/1"]).build().unwrap();

    let conn = connect(&connector, &server).await.unwrap();
    assert_eq!(echo(&conn, "hello").await.unwrap(), "hello");

    assert_eq!(
        conn.connection().transport_info().alpn.as_deref(),
        Some(&b"echo/1"[..])
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0].alpn.as_deref(), Some(&b"echo/1"[..]));
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn client_without_alpn_sees_none_and_plain_tcp_reports_nothing() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let conn = connect(&client_settings(&ca).build().unwrap(), &server)
        .await
        .unwrap();
    assert_eq!(echo(&conn, "x").await.unwrap(), "x");
    assert_eq!(conn.connection().transport_info().alpn, None);

    let plain = ClientConnectionBuilder::new(EchoClientFactory::default());
    let echo_server = TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let conn = plain.connect(echo_server.address()).await.unwrap();
    assert_eq!(echo(&conn, "y").await.unwrap(), "y");
    assert_eq!(
        conn.connection().transport_info(),
        &TransportInfo::default()
    );
}

#[tokio::test]
async fn a_certificate_for_the_ip_address_verifies_without_a_server_name() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["127.0.0.1"])).build().unwrap()).await;
    let connector = TlsConnector::builder()
        .platform_roots(false)
        .ca(ca.source())
        .build()
        .unwrap();
    let conn = connect(&connector, &server).await.unwrap();
    assert_eq!(echo(&conn, "by ip").await.unwrap(), "by ip");
}

#[tokio::test]
async fn hundred_pipelined_messages_come_back_in_order() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let conn = connect(&client_settings(&ca).build().unwrap(), &server)
        .await
        .unwrap();
    let calls = (0..100).map(|i| {
        let conn = conn.clone();
        async move { conn.request(Bytes::from(format!("message {i}"))).await }
    });
    let replies = within("100 echoes", futures_util::future::join_all(calls)).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), format!("message {i}"));
    }
}

#[tokio::test]
async fn one_mib_message_is_echoed_whole() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let conn = connect(&client_settings(&ca).build().unwrap(), &server)
        .await
        .unwrap();
    let message: Vec<u8> = (0..MIB).map(|i| b'a' + (i % 26) as u8).collect();
    let reply = within("a 1 MiB echo", conn.request(Bytes::from(message.clone())))
        .await
        .unwrap();
    assert_eq!(reply.len(), MIB);
    assert!(reply == message);
}

#[tokio::test]
async fn tls_1_2_and_1_3_both_work_and_a_version_mismatch_is_refused() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost"]);
    let server = start(server_settings(&leaf).build().unwrap()).await;
    for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
        let connector = client_settings(&ca).versions(&[version]).build().unwrap();
        let conn = connect(&connector, &server).await.unwrap();
        assert_eq!(echo(&conn, "v").await.unwrap(), "v", "{version:?}");
    }

    let only13 = start(
        server_settings(&leaf)
            .versions(&[TlsVersion::Tls13])
            .build()
            .unwrap(),
    )
    .await;
    let only12 = client_settings(&ca)
        .versions(&[TlsVersion::Tls12])
        .build()
        .unwrap();
    let err = connect(&only12, &only13).await.unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert_serves(&client_settings(&ca).build().unwrap(), &only13).await;
}

#[tokio::test]
async fn wrong_host_name_is_refused_with_a_typed_error() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let connector = client_settings(&ca)
        .server_name("other.example")
        .build()
        .unwrap();
    let err = connect(&connector, &server).await.unwrap_err();
    assert!(
        matches!(
            certificate_error(&err),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        "{err}"
    );
    assert_serves(&client_settings(&ca).build().unwrap(), &server).await;
}

#[tokio::test]
async fn untrusted_ca_is_refused() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let stranger = Ca::new("someone else");
    let err = connect(&client_settings(&stranger).build().unwrap(), &server)
        .await
        .unwrap_err();
    assert_eq!(certificate_error(&err), CertificateError::UnknownIssuer);
    // The platform's roots do not know a test CA either.
    let platform = TlsConnector::builder()
        .server_name("localhost")
        .build()
        .unwrap();
    let err = connect(&platform, &server).await.unwrap_err();
    assert_eq!(certificate_error(&err), CertificateError::UnknownIssuer);
    assert_serves(&client_settings(&ca).build().unwrap(), &server).await;
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let ca = Ca::new("test CA");
    let expired = ca.leaf_with(&["localhost"], |p| {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    });
    let server = start(server_settings(&expired).build().unwrap()).await;
    let err = connect(&client_settings(&ca).build().unwrap(), &server)
        .await
        .unwrap_err();
    assert!(
        matches!(
            certificate_error(&err),
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn mutual_tls_serves_a_client_with_a_certificate_and_refuses_one_without() {
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let acceptor = server_settings(&ca.leaf(&["localhost"]))
        .client_ca(client_ca.source())
        .build()
        .unwrap();
    let server = start(acceptor).await;

    let (cert, key) = client_ca.leaf(&["client.test"]).sources();
    let with_cert = client_settings(&ca).client_cert(cert, key).build().unwrap();
    let conn = connect(&with_cert, &server).await.unwrap();
    assert_eq!(echo(&conn, "mtls").await.unwrap(), "mtls");

    // TLS 1.3 clients finish their side before the server checks theirs, so the refusal
    // may surface on the first request rather than at connect.
    let without = client_settings(&ca).build().unwrap();
    let refused = match connect(&without, &server).await {
        Err(err) => err,
        Ok(conn) => echo(&conn, "let me in").await.unwrap_err(),
    };
    let _ = refused;

    let (cert, key) = Ca::new("rogue").leaf(&["client.test"]).sources();
    let rogue = client_settings(&ca).client_cert(cert, key).build().unwrap();
    assert!(match connect(&rogue, &server).await {
        Err(_) => true,
        Ok(conn) => echo(&conn, "let me in").await.is_err(),
    });

    assert_serves(&with_cert, &server).await;
}

#[tokio::test]
async fn optional_client_certificates_admit_anonymous_clients() {
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let acceptor = server_settings(&ca.leaf(&["localhost"]))
        .client_ca(client_ca.source())
        .client_cert_optional(true)
        .build()
        .unwrap();
    let server = start(acceptor).await;
    let conn = connect(&client_settings(&ca).build().unwrap(), &server)
        .await
        .unwrap();
    assert_eq!(echo(&conn, "anon").await.unwrap(), "anon");
}

#[tokio::test]
async fn plaintext_client_on_the_tls_port_is_closed_and_the_next_client_served() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let mut plain = TcpStream::connect(server.server.address()).await.unwrap();
    plain.write_all(b"hello\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    // The server may answer with a TLS alert record before closing; never with an echo.
    let _ = within("the server to close", plain.read_to_end(&mut buf)).await;
    assert!(!buf.windows(5).any(|w| w == b"hello"), "{buf:?}");
    assert_serves(&client_settings(&ca).build().unwrap(), &server).await;
}

#[tokio::test]
async fn a_client_that_stalls_the_handshake_is_closed_at_the_handshake_timeout() {
    let ca = Ca::new("test CA");
    let timeout = Duration::from_millis(300);
    let server = start_with(
        server_settings(&ca.leaf(&["localhost"])).build().unwrap(),
        timeout,
    )
    .await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.server.address()).await.unwrap();
    // Meanwhile the server goes on handshaking with others.
    assert_serves(&client_settings(&ca).build().unwrap(), &server).await;
    let mut buf = Vec::new();
    let _ = within("the handshake timeout", silent.read_to_end(&mut buf)).await;
    let waited = started.elapsed();
    assert!(buf.is_empty(), "{buf:?}");
    assert!(waited >= timeout, "closed after {waited:?}");
    assert!(waited < WAIT, "closed after {waited:?}");
}

#[tokio::test]
async fn client_handshake_timeout_is_a_timeout_error() {
    // A listener that accepts and never answers the ClientHello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(WAIT).await;
        drop(sock);
    });
    let ca = Ca::new("test CA");
    let connector = client_settings(&ca)
        .handshake_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = within("the client's handshake timeout", connector.connect(addr))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    hold.abort();
}

#[tokio::test]
async fn reload_keeps_old_connections_and_new_ones_see_the_new_certificate() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let acceptor = server_settings(&old_ca.leaf(&["localhost"]))
        .build()
        .unwrap();
    let server = start(acceptor.clone()).await;
    let trusts_old = client_settings(&old_ca).build().unwrap();
    let trusts_new = client_settings(&new_ca).build().unwrap();

    let old_conn = connect(&trusts_old, &server).await.unwrap();
    assert_eq!(echo(&old_conn, "before").await.unwrap(), "before");
    assert!(connect(&trusts_new, &server).await.is_err());

    acceptor
        .reload_from(&server_settings(&new_ca.leaf(&["localhost"])))
        .unwrap();

    assert_eq!(echo(&old_conn, "after").await.unwrap(), "after");
    let new_conn = connect(&trusts_new, &server).await.unwrap();
    assert_eq!(echo(&new_conn, "new").await.unwrap(), "new");
    let err = connect(&trusts_old, &server).await.unwrap_err();
    assert_eq!(certificate_error(&err), CertificateError::UnknownIssuer);
}

#[tokio::test]
async fn a_failed_reload_keeps_the_current_certificate() {
    let ca = Ca::new("test CA");
    let acceptor = server_settings(&ca.leaf(&["localhost"])).build().unwrap();
    let server = start(acceptor.clone()).await;
    let broken = TlsAcceptor::builder().cert_files("/nonexistent/cert.pem", "/nonexistent/key.pem");
    let err = acceptor.reload_from(&broken).unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    assert_serves(&client_settings(&ca).build().unwrap(), &server).await;
}

#[tokio::test]
async fn quit_closes_with_close_notify_so_the_client_sees_a_clean_eof() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let connector = client_settings(&ca).build().unwrap();
    let mut tls = connector.connect(server.server.address()).await.unwrap();
    tls.write_all(b"QUIT\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    // tokio-rustls reports a close without close_notify as an UnexpectedEof error.
    within("a clean close", tls.read_to_end(&mut out))
        .await
        .expect("close_notify, then EOF");
    assert_eq!(out, b"QUIT\r\n\r\n");
}

#[tokio::test]
async fn server_close_sends_close_notify_to_idle_clients() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let connector = client_settings(&ca).build().unwrap();
    let mut tls = connector.connect(server.server.address()).await.unwrap();
    tls.write_all(b"one\r\n\r\n").await.unwrap();
    let mut reply = [0u8; 7];
    within("an echo", tls.read_exact(&mut reply)).await.unwrap();
    let closing = tokio::spawn(async move { server.server.close(Duration::from_secs(5)).await });
    let mut out = Vec::new();
    within("a clean close", tls.read_to_end(&mut out))
        .await
        .expect("close_notify, then EOF");
    assert!(out.is_empty());
    drop(tls);
    within("the server to close", closing).await.unwrap();
}

#[tokio::test]
async fn a_tls_pool_reuses_its_connections() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let manager = TlsManager::new(
        server.server.address(),
        client_settings(&ca).build().unwrap(),
        ClientConnectionBuilder::new(EchoClientFactory::default()),
    );
    let pool = Pool::builder(manager).pool_size(2).build().unwrap();
    let calls = (0..20).map(|i| {
        let pool = pool.clone();
        async move {
            let conn = pool.connect().await?;
            conn.request(Bytes::from(format!("pooled {i}"))).await
        }
    });
    let replies = within("20 pooled echoes", futures_util::future::join_all(calls)).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), format!("pooled {i}"));
    }
    assert!(server.seen.lock().unwrap().len() >= 20);
    assert!(server.server.info().clients.processed_clients <= 2);
}

/// A `Client` pools TLS connections by address *and* connector identity: an idle,
/// verified connection is never handed to a request made with other settings.
#[tokio::test]
async fn a_client_keys_its_tls_pools_by_address_and_connector() {
    let ca = Ca::new("test CA");
    let server = start(server_settings(&ca.leaf(&["localhost"])).build().unwrap()).await;
    let addr = server.server.address();
    let client = quasar_net::Client::builder(EchoClientFactory::default())
        .pool_size(1)
        .build()
        .unwrap();
    let trusted = client_settings(&ca).build().unwrap();
    for i in 0..3 {
        let conn = within(
            "a pooled TLS connection",
            client.connect_tls(addr, &trusted),
        )
        .await
        .unwrap();
        let msg = format!("pooled {i}");
        assert_eq!(conn.request(Bytes::from(msg.clone())).await.unwrap(), msg);
    }
    // A clone is the same identity: the idle connection is reused.
    let clone = trusted.clone();
    let conn = within("the clone's connection", client.connect_tls(addr, &clone))
        .await
        .unwrap();
    assert_eq!(conn.request(Bytes::from("clone")).await.unwrap(), "clone");
    drop(conn);
    assert_eq!(client.sessions(), 1);

    // Another CA: a pool of its own, so its handshake runs and fails.
    let other_ca = Ca::new("other CA");
    let untrusted = client_settings(&other_ca).build().unwrap();
    let err = within("the untrusted pool", client.connect_tls(addr, &untrusted))
        .await
        .unwrap_err();
    assert_eq!(certificate_error(&err), CertificateError::UnknownIssuer);
    // Same configuration, another server name: its own pool too.
    let renamed = trusted.with_server_name("elsewhere.example").unwrap();
    let err = within("the renamed pool", client.connect_tls(addr, &renamed))
        .await
        .unwrap_err();
    assert!(
        matches!(
            certificate_error(&err),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        "{err}"
    );
    // Plaintext to the TLS port: a plain pool, never the TLS connection.
    let plain = within(
        "a plaintext request",
        client.request(addr, Bytes::from("plain")),
    )
    .await;
    assert!(plain.is_err(), "plaintext answered by a TLS connection");
    let mut addrs = client.pool_addresses();
    addrs.dedup();
    assert_eq!(client.pool_addresses().len(), 4, "{addrs:?}");
    // The first pool still serves from its idle connection.
    let conn = within("the first pool again", client.connect_tls(addr, &trusted))
        .await
        .unwrap();
    assert_eq!(conn.request(Bytes::from("again")).await.unwrap(), "again");
    drop(conn);
    client.close().await;
}

#[test]
fn missing_and_mismatched_files_are_config_errors_naming_the_file() {
    let err = TlsAcceptor::builder()
        .cert_files("/nonexistent/chain.pem", "/nonexistent/key.pem")
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/chain.pem"), "{err}");

    let ca = Ca::new("test CA");
    let a = ca.leaf(&["localhost"]);
    let b = ca.leaf(&["localhost"]);
    let err = TlsAcceptor::builder()
        .cert(
            PemSource::bytes(a.cert.clone()),
            PemSource::bytes(b.key.clone()),
        )
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");

    let err = TlsConnector::builder()
        .platform_roots(false)
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    let err = client_settings(&ca)
        .server_name("not a host name!")
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
}
