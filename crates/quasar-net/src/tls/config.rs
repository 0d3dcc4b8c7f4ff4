//! Loading TLS material from PEM: certificate chains, private keys, CA bundles.
//!
//! Parsing is `rustls-pki-types`' PEM reader; this file only adds the errors a user can
//! act on: every failure names the file (or "in-memory PEM") and says what was wrong
//! with it, as an [`Error::is_config`] error. Keys may be PKCS#8 (`BEGIN PRIVATE KEY`),
//! PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
//!
//! # Examples
//!
//! ```
//! use quasar_net::tls::PemSource;
//!
//! let missing = PemSource::file("/nonexistent/cert.pem");
//! let err = missing.certificates().unwrap_err();
//! assert!(err.is_config());
//! assert!(err.to_string().contains("/nonexistent/cert.pem"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ConfigBuilder, RootCertStore, WantsVerifier, WantsVersions};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Result};

/// Largest PEM input read from a file: far above any real chain or CA bundle (the
/// system bundle is ~200 KiB), and a bound on what a mistyped path (a disk image, a
/// device) can make us read.
pub const MAX_PEM_BYTES: u64 = 16 * 1024 * 1024;

/// Where PEM text comes from: a file (read again on every [`reload`](super::TlsAcceptor::reload_from))
/// or bytes held in memory.
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A PEM file, read when the configuration is built.
    File(PathBuf),
    /// PEM text in memory.
    Bytes(Vec<u8>),
}

/// A TLS protocol version a side accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

// ===== impl PemSource =====

impl PemSource {
    /// PEM text from the file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> PemSource {
        PemSource::File(path.into())
    }

    /// PEM text in memory.
    pub fn bytes(pem: impl Into<Vec<u8>>) -> PemSource {
        PemSource::Bytes(pem.into())
    }

    /// The certificates in this PEM, in order (a chain: leaf first).
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] naming the source when it cannot be read, is not PEM, or
    /// holds no certificate.
    pub fn certificates(&self) -> Result<Vec<CertificateDer<'static>>> {
        let pem = self.read("certificate")?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.error("certificate", e))?;
        if certs.is_empty() {
            return Err(self.error("certificate", "no CERTIFICATE block found"));
        }
        Ok(certs)
    }

    /// The first private key in this PEM (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] naming the source when it cannot be read or holds no key.
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>> {
        let pem = self.read("private key")?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| self.error("private key", e))
    }

    /// A root store holding every certificate in this PEM (a CA bundle).
    ///
    /// # Errors
    ///
    /// As [`certificates`](Self::certificates), or when a certificate is not a usable
    /// trust anchor.
    pub fn root_store(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        for cert in self.certificates()? {
            roots
                .add(cert)
                .map_err(|e| self.error("CA certificate", e))?;
        }
        Ok(roots)
    }

    fn read(&self, what: &str) -> Result<Vec<u8>> {
        match self {
            PemSource::Bytes(b) => Ok(b.clone()),
            PemSource::File(path) => read_bounded(path).map_err(|e| self.error(what, e)),
        }
    }

    fn error(&self, what: &str, cause: impl fmt::Display) -> Error {
        Error::config(format!("TLS {what} {self}: {cause}"))
    }
}

impl fmt::Display for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(p) => write!(f, "file {}", p.display()),
            PemSource::Bytes(_) => f.write_str("in-memory PEM"),
        }
    }
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(p) => f.debug_tuple("File").field(p).finish(),
            // Never print key material.
            PemSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
        }
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_PEM_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_PEM_BYTES} bytes"
        )));
    }
    Ok(buf)
}

// ===== impl TlsVersion =====

impl TlsVersion {
    /// Every version rustls supports: 1.3 and 1.2.
    pub const ALL: &'static [TlsVersion] = &[TlsVersion::Tls13, TlsVersion::Tls12];

    fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// The provider every configuration here uses: the process default when the application
/// installed one (`CryptoProvider::install_default`, rustls' way for a program to choose its
/// crypto for every library at once), else `aws-lc-rs`. Named explicitly rather than left to
/// rustls' crate-feature guess, so a process that links a second provider never hits rustls'
/// "no process-level provider" panic.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// What both sides negotiate the same way: the protocol versions and the ALPN list.
/// The acceptor's and the connector's builders each hold one.
#[derive(Debug, Clone)]
pub(crate) struct Protocols {
    pub(crate) alpn: Vec<Vec<u8>>,
    pub(crate) versions: Vec<TlsVersion>,
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols {
            alpn: Vec::new(),
            versions: TlsVersion::ALL.to_vec(),
        }
    }
}

/// Generates a TLS builder's `alpn` and `versions` setters over its `protocols:
/// Protocols` field, each with the doc given (what a side does with them differs).
macro_rules! protocol_setters {
    ($(#[$alpn:meta])* alpn; $(#[$versions:meta])* versions;) => {
        $(#[$alpn])*
        pub fn alpn<I, P>(mut self, protocols: I) -> Self
        where
            I: IntoIterator<Item = P>,
            P: AsRef<[u8]>,
        {
            self.protocols.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
            self
        }

        $(#[$versions])*
        pub fn versions(mut self, versions: &[$crate::tls::TlsVersion]) -> Self {
            self.protocols.versions = versions.to_vec();
            self
        }
    };
}
pub(crate) use protocol_setters;

impl Protocols {
    pub(crate) fn alpn(&self) -> Vec<Vec<u8>> {
        self.alpn.clone()
    }

    /// A rustls builder for `side` ("server" or "client") on `provider` with these
    /// versions.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`] when no version is enabled or the provider supports none.
    pub(crate) fn builder<S: rustls::ConfigSide>(
        &self,
        side: &str,
        provider: &Arc<CryptoProvider>,
        start: impl FnOnce(Arc<CryptoProvider>) -> ConfigBuilder<S, WantsVersions>,
    ) -> Result<ConfigBuilder<S, WantsVerifier>> {
        if self.versions.is_empty() {
            return Err(Error::config("TLS: no protocol version enabled"));
        }
        let versions: Vec<_> = self.versions.iter().map(|v| v.rustls()).collect();
        start(Arc::clone(provider))
            .with_protocol_versions(&versions)
            .map_err(|e| config_error(&format!("{side} versions"), e))
    }
}

/// A rustls builder error (inconsistent versions and provider) as a config error.
pub(crate) fn config_error(what: &str, cause: impl fmt::Display) -> Error {
    Error::config(format!("TLS {what}: {cause}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_pem_input_is_a_config_error() {
        let src = PemSource::bytes(b"hello".to_vec());
        let err = src.certificates().unwrap_err();
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains("in-memory PEM"), "{err}");
        assert!(src.private_key().unwrap_err().is_config());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let src = PemSource::bytes(b"-----BEGIN PRIVATE KEY-----secret".to_vec());
        assert!(!format!("{src:?}").contains("secret"));
    }
}
