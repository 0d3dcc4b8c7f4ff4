//! The client side: a TLS [`Connector`] for `ClientConnectionBuilder::connect_with` and
//! [`TlsManager`](super::TlsManager) pools.
//!
//! [`TlsConnector`] verifies the server by default: its chain must lead to a trusted root
//! and name the host. The trusted roots are the platform's (`rustls-native-certs`: the
//! system CA bundle, read once per process), or Mozilla's bundled in `webpki-roots` when
//! the platform has none, plus any CA file added with
//! [`ca`](TlsConnectorBuilder::ca). The name checked and sent with SNI is
//! [`server_name`](TlsConnectorBuilder::server_name), or the IP address connected to.
//!
//! # Examples
//!
//! See the [module documentation](super).

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::config::{config_error, provider, PemSource, Protocols};
use super::handshake_error;
use crate::transport::Connector;
use crate::{Error, Result};

/// Time a client allows the TLS handshake after TCP connected.
pub const DEFAULT_CLIENT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS connector: TCP connect, then a verified TLS handshake.
///
/// Cheap to clone (the rustls configuration is shared).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    handshake_timeout: Duration,
}

/// Builds a [`TlsConnector`].
#[derive(Debug, Clone)]
#[must_use = "builder does nothing itself; call build()"]
pub struct TlsConnectorBuilder {
    server_name: Option<String>,
    platform_roots: bool,
    cas: Vec<PemSource>,
    client_cert: Option<(PemSource, PemSource)>,
    protocols: Protocols,
    insecure: bool,
    handshake_timeout: Duration,
}

// ===== impl TlsConnector =====

impl TlsConnector {
    /// A builder: platform roots, TLS 1.2 and 1.3, no ALPN, no client certificate.
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder {
            server_name: None,
            platform_roots: true,
            cas: Vec::new(),
            client_cert: None,
            protocols: Protocols::default(),
            insecure: false,
            handshake_timeout: DEFAULT_CLIENT_HANDSHAKE_TIMEOUT,
        }
    }

    /// A connector over a rustls configuration built elsewhere; `server_name` as in
    /// [`TlsConnectorBuilder::server_name`].
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] when `server_name` is not a DNS name or IP address.
    pub fn from_config(config: Arc<ClientConfig>, server_name: Option<&str>) -> Result<Self> {
        Ok(TlsConnector {
            config,
            server_name: server_name.map(parse_server_name).transpose()?,
            handshake_timeout: DEFAULT_CLIENT_HANDSHAKE_TIMEOUT,
        })
    }

    /// This connector with another server name (verified and sent with SNI), sharing
    /// its configuration: a client reaching many hosts with one set of TLS settings makes
    /// one connector and derives one per host, and [`Client`](crate::Client) pools them
    /// apart by name.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] when `name` is not a DNS name or IP address.
    pub fn with_server_name(&self, name: &str) -> Result<Self> {
        Ok(TlsConnector {
            config: Arc::clone(&self.config),
            server_name: Some(parse_server_name(name)?),
            handshake_timeout: self.handshake_timeout,
        })
    }

    /// The name verified and sent with SNI, if one was set.
    pub fn server_name(&self) -> Option<String> {
        self.server_name.as_ref().map(|n| n.to_str().into_owned())
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

/// Which pool a [`TlsConnector`]'s connections may go to: its configuration (by
/// identity: rustls configurations cannot be compared), server name and handshake
/// timeout. Holding the `Arc` keeps the configuration alive, so its address is never
/// reused by another while the key exists.
#[derive(Clone)]
pub(crate) struct TlsIdentity {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    handshake_timeout: Duration,
}

impl TlsConnector {
    /// The key of this connector's pools in a [`Client`](crate::Client).
    pub(crate) fn identity(&self) -> TlsIdentity {
        TlsIdentity {
            config: Arc::clone(&self.config),
            server_name: self.server_name.clone(),
            handshake_timeout: self.handshake_timeout,
        }
    }
}

impl PartialEq for TlsIdentity {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
            && self.server_name == other.server_name
            && self.handshake_timeout == other.handshake_timeout
    }
}

impl Eq for TlsIdentity {}

impl std::hash::Hash for TlsIdentity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.config).hash(state);
        self.server_name.hash(state);
        self.handshake_timeout.hash(state);
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("config", &Arc::as_ptr(&self.config))
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl Connector for TlsConnector {
    type Io = TlsStream<TcpStream>;

    async fn connect(&self, addr: SocketAddr) -> Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::connect(addr, e))?;
        let name = self
            .server_name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
        let handshake =
            tokio_rustls::TlsConnector::from(Arc::clone(&self.config)).connect(name, tcp);
        let done = if self.handshake_timeout.is_zero() {
            handshake.await
        } else {
            tokio::time::timeout(self.handshake_timeout, handshake)
                .await
                .map_err(|_| Error::timeout(format!("TLS handshake with {addr}")))?
        };
        done.map_err(|e| handshake_error(&format!("handshake with {addr}"), e))
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .field("alpn", &self.config.alpn_protocols.len())
            .finish()
    }
}

// ===== impl TlsConnectorBuilder =====

impl TlsConnectorBuilder {
    /// The host name to verify in the server's certificate and send with SNI
    /// (default: the IP address connected to, verified against the certificate's IP
    /// names, and no SNI).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Trusts the CAs in `ca` too (a private CA).
    pub fn ca(mut self, ca: PemSource) -> Self {
        self.cas.push(ca);
        self
    }

    /// Whether to trust the platform's roots (default true); off, only the
    /// [`ca`](Self::ca) files are trusted.
    pub fn platform_roots(mut self, on: bool) -> Self {
        self.platform_roots = on;
        self
    }

    /// Presents this certificate chain and key when the server asks (mTLS).
    pub fn client_cert(mut self, chain: PemSource, key: PemSource) -> Self {
        self.client_cert = Some((chain, key));
        self
    }

    super::config::protocol_setters! {
        /// The ALPN protocols offered, in order of preference.
        alpn;
        /// The protocol versions offered (default: 1.3 and 1.2).
        versions;
    }

    /// Time allowed for the handshake after TCP connected (default 10 s; zero: none).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Accepts any server certificate without verifying it: **no protection against a
    /// man in the middle**. For load tests against a self-signed server only.
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.insecure = on;
        self
    }

    /// Reads the PEM sources and builds the connector.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] naming the file that is missing or invalid, an invalid
    /// server name, or no trusted root at all.
    pub fn build(&self) -> Result<TlsConnector> {
        let provider = provider();
        let builder =
            self.protocols
                .builder("client", &provider, ClientConfig::builder_with_provider)?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(super::insecure::AcceptAnyServer::new(provider))
        } else {
            let mut roots = if self.platform_roots {
                platform_roots().clone()
            } else {
                RootCertStore::empty()
            };
            for ca in &self.cas {
                roots.roots.extend(ca.root_store()?.roots);
            }
            if roots.is_empty() {
                return Err(Error::config("TLS client: no trusted root certificate"));
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.certificates()?, key.private_key()?)
                .map_err(|e| config_error(&format!("client certificate {chain}"), e))?,
        };
        config.alpn_protocols = self.protocols.alpn();
        Ok(TlsConnector {
            config: Arc::new(config),
            server_name: self
                .server_name
                .as_deref()
                .map(parse_server_name)
                .transpose()?,
            handshake_timeout: self.handshake_timeout,
        })
    }
}

fn parse_server_name(name: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned())
        .map_err(|e| config_error(&format!("server name {name:?}"), e))
}

/// The platform's trusted roots, read once per process (the system bundle is a few
/// hundred certificates: too slow to parse on every connector), or Mozilla's when the
/// platform has none (a minimal container).
fn platform_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::debug!("no platform root certificates: using webpki-roots");
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}
