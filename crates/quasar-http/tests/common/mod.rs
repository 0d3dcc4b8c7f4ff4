//! Shared helpers of the server tests: start a server, talk raw bytes to it.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use quasar_http::server::{builder, Handler, ServerConfig};
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const T: Duration = Duration::from_secs(10);

pub async fn start(handler: impl Handler, config: ServerConfig) -> TcpServer {
    start_with(handler, config, |b| b).await
}

pub async fn start_with(
    handler: impl Handler,
    config: ServerConfig,
    edit: impl FnOnce(
        quasar_net::TcpServerBuilder<quasar_http::server::HttpFactory>,
    ) -> quasar_net::TcpServerBuilder<quasar_http::server::HttpFactory>,
) -> TcpServer {
    edit(builder(handler, config).bind("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
        .expect("server starts")
}

pub async fn demo(config: ServerConfig) -> TcpServer {
    start(quasar_http::demo::app(|| serde_json::json!({})), config).await
}

/// Sends `req` and reads until the peer closes.
pub async fn roundtrip_close(server: &TcpServer, req: &[u8]) -> String {
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(req).await.unwrap();
    read_to_close(&mut tcp).await
}

pub async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(T, tcp.read_to_end(&mut out))
        .await
        .expect("peer closes in time")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until `out` holds `n` complete responses (heads with Content-Length bodies).
pub async fn read_responses(tcp: &mut TcpStream, n: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if count_complete(&out) >= n {
            return String::from_utf8_lossy(&out).into_owned();
        }
        let k = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .expect("responses in time")
            .unwrap();
        assert!(k > 0, "closed early: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..k]);
    }
}

/// Complete Content-Length-framed responses at the front of `data`.
pub fn count_complete(mut data: &[u8]) -> usize {
    let mut n = 0;
    loop {
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            return n;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        if data.len() < end + 4 + len {
            return n;
        }
        data = &data[end + 4 + len..];
        n += 1;
    }
}

pub fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

/// Whether the peer has closed (EOF within a short wait).
pub async fn is_closed(tcp: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// The Python that imports `websockets`: `QUASAR_PYTHON`, else the older `QUASAR_WS_PYTHON`,
/// else `python3`. Fails saying what to install when it cannot.
pub fn python_with_websockets() -> String {
    let python = ["QUASAR_PYTHON", "QUASAR_WS_PYTHON"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok())
        .unwrap_or_else(|| "python3".into());
    let has = std::process::Command::new(&python)
        .args(["-c", "import websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has,
        "{python} cannot import websockets: `python3 -m venv VENV && \
         VENV/bin/pip install -r scripts/requirements-test.txt`, then set \
         QUASAR_PYTHON=VENV/bin/python (.ci/run does both)"
    );
    python
}

/// A throw-away CA and a server certificate it signed, in PEM.
pub struct Pki {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// A fresh CA and a server certificate for `names` (host names or IP addresses).
pub fn pki(names: &[&str]) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };

    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap()
        .pem();
    Pki {
        ca,
        cert,
        key: key.serialize_pem(),
    }
}

/// A TLS acceptor serving `cert` and `key` (PEM), offering ALPN http/1.1.
pub fn tls_acceptor(cert: &str, key: &str) -> quasar_net::tls::TlsAcceptor {
    use quasar_net::tls::{PemSource, TlsAcceptor};

    TlsAcceptor::builder()
        .cert(
            PemSource::bytes(cert.to_owned()),
            PemSource::bytes(key.to_owned()),
        )
        .alpn(["http/1.1"])
        .build()
        .unwrap()
}
