//! TLS flags of `quasar serve`, shared by every TCP server: `--tls-cert FILE --tls-key
//! FILE [--tls-client-ca FILE] [--tls-alpn P,...]`.
//!
//! The files are read before anything listens, so a missing or unreadable one is an
//! error naming it (exit 2), never a server that fails each handshake. `SIGHUP` re-reads
//! them and swaps the certificate in for new handshakes; live connections keep theirs,
//! and a bad file leaves the current certificate in place (logged as a warning).

use std::path::PathBuf;

use quasar_net::tls::{TlsAcceptor, TlsAcceptorBuilder};
use quasar_net::{ConsumerFactory, TcpServer, TcpServerBuilder};

/// The TLS flags of one TCP server.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct TlsArgs {
    /// Serve over TLS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by a CA in this PEM file (mTLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// ALPN protocols to offer, comma-separated, most preferred first.
    #[arg(
        long,
        value_name = "PROTOS",
        value_delimiter = ',',
        requires = "tls_cert"
    )]
    tls_alpn: Vec<String>,
}

/// A server's TLS acceptor and the settings that rebuild it on `SIGHUP`.
#[derive(Debug, Clone)]
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    settings: TlsAcceptorBuilder,
}

impl TlsArgs {
    /// As [`load`](Self::load), printing a bad file's error for exit code 2.
    pub(crate) fn load_or_exit(&self) -> Result<Option<Tls>, std::process::ExitCode> {
        self.load().map_err(|msg| {
            eprintln!("quasar: {msg}");
            std::process::ExitCode::from(2)
        })
    }

    /// The acceptor these flags ask for, if any, with every file read and checked.
    pub(crate) fn load(&self) -> Result<Option<Tls>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut settings = TlsAcceptor::builder()
            .cert_files(cert, key)
            .alpn(&self.tls_alpn);
        if let Some(ca) = &self.tls_client_ca {
            settings = settings.client_ca(quasar_net::tls::PemSource::file(ca));
        }
        let acceptor = settings.build().map_err(|e| e.to_string())?;
        Ok(Some(Tls { acceptor, settings }))
    }
}

/// Starts `builder` over TLS when `tls` is set, over plain TCP otherwise; with TLS,
/// `SIGHUP` reloads the certificate from then on (installed before the caller announces
/// the address: a SIGHUP with no handler kills the process).
pub(crate) async fn start<F: ConsumerFactory>(
    builder: TcpServerBuilder<F>,
    tls: Option<&Tls>,
    server: &'static str,
) -> quasar_net::Result<TcpServer> {
    match tls {
        Some(tls) => {
            let started = builder.acceptor(tls.acceptor.clone()).start().await?;
            tls.reload_on_sighup(server);
            Ok(started)
        }
        None => builder.start().await,
    }
}

/// The transport word of a server's address line: `tls` or `tcp`.
pub(crate) fn transport(tls: Option<&Tls>) -> &'static str {
    if tls.is_some() {
        "tls"
    } else {
        "tcp"
    }
}

impl Tls {
    /// Reloads the certificate on every `SIGHUP` until the runtime stops.
    pub(crate) fn reload_on_sighup(&self, server: &'static str) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!(server, "cannot listen for SIGHUP: no certificate reload");
                return;
            };
            let tls = self.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    match tls.acceptor.reload_from(&tls.settings) {
                        Ok(()) => tracing::info!(server, "SIGHUP: TLS certificate reloaded"),
                        Err(e) => {
                            tracing::warn!(server, error = %e, "SIGHUP: TLS reload failed; keeping the current certificate")
                        }
                    }
                }
            });
        }
        #[cfg(not(unix))]
        let _ = server;
    }
}
