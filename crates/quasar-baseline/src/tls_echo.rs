//! The hand-written TLS echo: tokio-rustls with no framework, the floor quasar's echo over
//! `TlsAcceptor` is compared with.
//!
//! Accept, hand the socket to a task, shake hands there (10 s limit, as quasar), then the same
//! read/`write_all` loop as `tcp_echo.rs` on the TLS stream. Same rustls build and `ring`
//! provider as quasar-net, so the comparison measures the plumbing, not the crypto.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::shutdown;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves TLS echo on `bind` with the PEM certificate chain `cert` and key `key` until
/// SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr, cert: &Path, key: &Path) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(config(cert, key)?));
    let listener = TcpListener::bind(bind).await?;
    shutdown::announce("tls-echo", listener.local_addr()?);
    tokio::select! {
        () = accept_loop(listener, acceptor) => Ok(()),
        () = shutdown::signal() => Ok(()),
    }
}

fn config(cert: &Path, key: &Path) -> io::Result<ServerConfig> {
    let bad = |what: &Path, e: rustls_pki_types::pem::Error| {
        io::Error::other(format!("{}: {e}", what.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream, acceptor.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn echo(stream: TcpStream, acceptor: TlsAcceptor) {
    let _ = stream.set_nodelay(true);
    let Ok(Ok(mut tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
    else {
        return;
    };
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match tls.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if tls.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = tls.shutdown().await;
}
