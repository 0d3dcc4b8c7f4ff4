//! The server side: a TLS [`Acceptor`] for `TcpServer`.
//!
//! [`TlsAcceptor`] shakes hands in the connection's own task, under the server's
//! handshake timeout (`TcpServerBuilder::handshake_timeout`, 10 s by default), so a
//! client that connects and says nothing neither blocks `accept` nor holds a slot past
//! the timeout. A failed handshake (untrusted client certificate, a plaintext client on
//! the TLS port) drops that connection only; the server logs it once at debug level and
//! goes on.
//!
//! The rustls configuration sits behind an atomically swapped pointer: every handshake
//! takes the current one, and [`TlsAcceptor::reload`] replaces it without touching the
//! connections already made.
//!
//! # Examples
//!
//! See the [module documentation](super) for a server and a client.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::config::{config_error, provider, PemSource, Protocols};
use super::handshake_error;
use crate::transport::Acceptor;
use crate::{Error, Result};

/// A TLS acceptor: plug it into `TcpServerBuilder::acceptor`.
///
/// Cloning shares the configuration: keep a clone to [`reload`](Self::reload) the
/// certificate of a running server.
#[derive(Clone)]
pub struct TlsAcceptor {
    pub(super) config: Arc<ArcSwap<ServerConfig>>,
}

/// Builds a [`TlsAcceptor`]'s configuration from PEM certificates and keys; reusable, so
/// the same builder re-reads its files on [`TlsAcceptor::reload_from`].
#[derive(Debug, Clone)]
pub struct TlsAcceptorBuilder {
    chain: Option<PemSource>,
    key: Option<PemSource>,
    client_ca: Option<PemSource>,
    client_cert_optional: bool,
    protocols: Protocols,
}

// ===== impl TlsAcceptor =====

impl TlsAcceptor {
    /// A builder with no certificate yet, TLS 1.2 and 1.3, no ALPN, no client auth.
    pub fn builder() -> TlsAcceptorBuilder {
        TlsAcceptorBuilder {
            chain: None,
            key: None,
            client_ca: None,
            client_cert_optional: false,
            protocols: Protocols::default(),
        }
    }

    /// An acceptor over a rustls configuration built elsewhere.
    pub fn from_config(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config: Arc::new(ArcSwap::new(config)),
        }
    }

    /// The configuration new handshakes use now.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }
}

impl Acceptor for TlsAcceptor {
    type Io = TlsStream<TcpStream>;

    async fn accept(&self, stream: TcpStream) -> Result<TlsStream<TcpStream>> {
        // The core logs a failed handshake once, at debug, with the session and peer.
        tokio_rustls::TlsAcceptor::from(self.config.load_full())
            .accept(stream)
            .await
            .map_err(|e| handshake_error("handshake with client", e))
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.config.load();
        f.debug_struct("TlsAcceptor")
            .field("alpn", &config.alpn_protocols.len())
            .finish()
    }
}

// ===== impl TlsAcceptorBuilder =====

impl TlsAcceptorBuilder {
    /// The server's certificate chain (leaf first) and private key, as PEM files.
    pub fn cert_files(
        self,
        chain: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.cert(PemSource::file(chain), PemSource::file(key))
    }

    /// The server's certificate chain and private key from any [`PemSource`].
    pub fn cert(mut self, chain: PemSource, key: PemSource) -> Self {
        self.chain = Some(chain);
        self.key = Some(key);
        self
    }

    /// Requires every client to present a certificate signed by a CA in `ca` (mTLS).
    pub fn client_ca(mut self, ca: PemSource) -> Self {
        self.client_ca = Some(ca);
        self
    }

    /// With [`client_ca`](Self::client_ca): a client may also connect with no
    /// certificate (one it does present must still verify).
    pub fn client_cert_optional(mut self, optional: bool) -> Self {
        self.client_cert_optional = optional;
        self
    }

    super::config::protocol_setters! {
        /// The ALPN protocols offered, in order of preference (`["h2", "http/1.1"]`). A
        /// client that offers ALPN and shares none of them is refused.
        alpn;
        /// The protocol versions accepted (default: 1.3 and 1.2).
        versions;
    }

    /// Reads the PEM sources and builds the rustls configuration.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] naming the file that is missing, unreadable or invalid, or
    /// when the key does not match the certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let (Some(chain), Some(key)) = (&self.chain, &self.key) else {
            return Err(Error::config("TLS: no server certificate and key given"));
        };
        let certs = chain.certificates()?;
        let key = key.private_key()?;
        let provider = provider();
        let builder =
            self.protocols
                .builder("server", &provider, ServerConfig::builder_with_provider)?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let roots = Arc::new(ca.root_store()?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = if self.client_cert_optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| config_error(&format!("client CA {ca}"), e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| config_error(&format!("certificate {chain}"), e))?;
        config.alpn_protocols = self.protocols.alpn();
        Ok(Arc::new(config))
    }

    /// Builds the acceptor.
    ///
    /// # Errors
    ///
    /// As [`server_config`](Self::server_config).
    pub fn build(&self) -> Result<TlsAcceptor> {
        Ok(TlsAcceptor::from_config(self.server_config()?))
    }
}
