//! `HttpClient` over TLS against the crate's own server behind a `TlsAcceptor`: https
//! requests verified against a private CA, connection reuse, typed errors for an unknown
//! CA and a wrong host, plaintext and TLS pools kept apart, and `wss://`.

use crate::common;

use std::net::SocketAddr;

use common::{pki, tls_acceptor, Pki, T};
use quasar_http::client::{ClientError, HttpClient};
use quasar_http::server::ServerConfig;
use quasar_http::ws::{CloseCode, Message};
use quasar_net::tls::rustls::{CertificateError, Error as RustlsError};
use quasar_net::tls::{rustls_error, PemSource};
use quasar_net::TcpServer;

/// The demo app over TLS on `ip` (port chosen by the system), offering ALPN http/1.1.
async fn https_server(pki: &Pki, ip: std::net::IpAddr) -> TcpServer {
    let acceptor = tls_acceptor(&pki.cert, &pki.key);
    quasar_http::server::builder(
        quasar_http::demo::app(|| serde_json::json!({})),
        ServerConfig::default(),
    )
    .bind(SocketAddr::new(ip, 0))
    .acceptor(acceptor)
    .start()
    .await
    .expect("server starts")
}

fn client(pki: &Pki) -> HttpClient {
    HttpClient::builder()
        .ca(PemSource::bytes(pki.ca.clone()))
        .build()
        .unwrap()
}

async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(T, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} timed out"))
}

fn certificate_error(err: &ClientError) -> CertificateError {
    let ClientError::Tls(net) = err else {
        panic!("not a TLS error: {err:?}")
    };
    match rustls_error(net) {
        Some(RustlsError::InvalidCertificate(e)) => e.clone(),
        other => panic!("not a certificate error: {other:?} in {err}"),
    }
}

#[tokio::test]
async fn https_requests_are_verified_by_host_name_and_reuse_their_connection() {
    // Bind where "localhost" resolves first, so the URL can name the host: the name is
    // what the certificate is checked against and what SNI carries.
    let local = tokio::net::lookup_host(("localhost", 0))
        .await
        .unwrap()
        .next()
        .unwrap();
    let pki = pki(&["localhost"]);
    let server = https_server(&pki, local.ip()).await;
    let port = server.address().port();
    let client = client(&pki);

    let res = within("GET", client.get(&format!("https://localhost:{port}/"))).await;
    let res = res.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body()[..], b"Hello, World!");
    let res = within(
        "POST",
        client.post(&format!("https://localhost:{port}/echo"), "over tls"),
    )
    .await
    .unwrap();
    assert_eq!(&res.body()[..], b"over tls");
    assert_eq!(
        client.sessions(),
        1,
        "the second request reused the connection"
    );
    client.close().await;
    server.close(T).await;
}

#[tokio::test]
async fn an_unknown_ca_and_a_wrong_host_are_typed_tls_errors() {
    let pki_ = pki(&["127.0.0.1"]);
    let server = https_server(&pki_, [127, 0, 0, 1].into()).await;
    let url = format!("https://127.0.0.1:{}/", server.address().port());

    // The platform's roots do not know the test CA.
    let err = within("untrusted", HttpClient::new().get(&url))
        .await
        .unwrap_err();
    assert_eq!(certificate_error(&err), CertificateError::UnknownIssuer);

    // Trusted CA, but the certificate names another host.
    let other = pki(&["other.example"]);
    let server2 = https_server(&other, [127, 0, 0, 1].into()).await;
    let url2 = format!("https://127.0.0.1:{}/", server2.address().port());
    let err = within("wrong host", client(&other).get(&url2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            certificate_error(&err),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        "{err}"
    );

    // Verification off: served (load tests against self-signed servers).
    let insecure = HttpClient::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let res = within("insecure", insecure.get(&url2)).await.unwrap();
    assert_eq!(res.status(), 200);

    // A CA file that does not exist is a typed configuration error naming it.
    let err = HttpClient::builder()
        .ca(PemSource::file("/nonexistent/ca.pem"))
        .build()
        .unwrap_err();
    assert!(matches!(err, ClientError::TlsConfig(_)), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    server.close(T).await;
    server2.close(T).await;
}

#[tokio::test]
async fn plaintext_and_tls_to_one_address_never_share_a_connection() {
    let pki = pki(&["127.0.0.1"]);
    let server = https_server(&pki, [127, 0, 0, 1].into()).await;
    let port = server.address().port();
    let client = client(&pki);
    let res = within("https", client.get(&format!("https://127.0.0.1:{port}/")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // An idle TLS connection to this address is pooled; http:// must not take it.
    let plain = within("http", client.get(&format!("http://127.0.0.1:{port}/"))).await;
    assert!(plain.is_err(), "a plaintext request was served: {plain:?}");
    let res = within(
        "https again",
        client.get(&format!("https://127.0.0.1:{port}/")),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(client.pools_count(), 2);
    server.close(T).await;
}

#[tokio::test]
async fn a_websocket_over_wss_echoes() {
    let pki = pki(&["127.0.0.1"]);
    let server = https_server(&pki, [127, 0, 0, 1].into()).await;
    let client = client(&pki);
    let url = format!("wss://127.0.0.1:{}/ws", server.address().port());
    let mut ws = within("wss handshake", client.websocket(&url))
        .await
        .unwrap();
    ws.send(Message::Text("hello over wss".into()))
        .await
        .unwrap();
    let echoed = within("echo", ws.recv()).await.expect("a message").unwrap();
    assert_eq!(echoed, Message::Text("hello over wss".into()));
    within("close", ws.close(CloseCode::NORMAL, "bye"))
        .await
        .unwrap();
    server.close(T).await;
}
