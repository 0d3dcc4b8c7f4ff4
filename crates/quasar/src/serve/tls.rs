//! TLS settings of every TCP server of `quasar serve`: `tls_cert`, `tls_key`,
//! `tls_client_ca` and `tls_alpn`, in the configuration file, as `QUASAR_<SECTION>_TLS_*`
//! variables and as `--tls-cert FILE --tls-key FILE [--tls-client-ca FILE] [--tls-alpn
//! P,...]` flags.
//!
//! The files are read before anything listens, so a missing or unreadable one is an
//! error naming it (exit 2), never a server that fails each handshake. `SIGHUP` re-reads
//! them and swaps the certificate in for new handshakes; live connections keep theirs,
//! and a bad file leaves the current certificate in place (logged as a warning).

use std::path::PathBuf;

use quasar_net::tls::{TlsAcceptor, TlsAcceptorBuilder};
use serde::{Deserialize, Serialize};

/// The TLS part of a TCP server's section; every field empty serves plain TCP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) struct TlsSettings {
    /// PEM certificate chain, leaf first; `""` = no TLS.
    #[serde(with = "empty_is_none")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    #[serde(with = "empty_is_none")]
    pub(crate) tls_key: Option<PathBuf>,
    /// CAs whose client certificates are required (mTLS); `""` = none asked.
    #[serde(with = "empty_is_none")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// ALPN protocols offered, most preferred first.
    #[serde(deserialize_with = "list_or_commas")]
    pub(crate) tls_alpn: Vec<String>,
}

/// The TLS flags of one TCP server (the last layer over [`TlsSettings`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct TlsFlags {
    /// Serve over TLS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    // The next two may add to a certificate of the file or the environment, so they do
    // not require --tls-cert here; `TlsSettings::load` refuses them without one.
    /// Require client certificates signed by a CA in this PEM file (mTLS).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// ALPN protocols to offer, comma-separated, most preferred first.
    #[arg(long, value_name = "PROTOS", value_delimiter = ',')]
    tls_alpn: Vec<String>,
}

impl TlsFlags {
    /// Overrides the settings a flag was given for.
    pub(crate) fn apply(self, s: &mut TlsSettings) {
        if self.tls_cert.is_some() {
            // A certificate named on the command line replaces the whole TLS setup of
            // the lower layers: a file's client CA must not outlive its certificate.
            *s = TlsSettings::default();
            s.tls_cert = self.tls_cert;
            s.tls_key = self.tls_key;
        }
        if self.tls_client_ca.is_some() {
            s.tls_client_ca = self.tls_client_ca;
        }
        if !self.tls_alpn.is_empty() {
            s.tls_alpn = self.tls_alpn;
        }
    }
}

/// A server's TLS acceptor and the settings that rebuild it on `SIGHUP`.
#[derive(Debug, Clone)]
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    settings: TlsAcceptorBuilder,
}

impl TlsSettings {
    /// The acceptor these settings ask for, if any, with every file read and checked.
    pub(crate) fn load(&self) -> Result<Option<Tls>, String> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => return Err("tls_cert (--tls-cert) needs tls_key".into()),
            (None, Some(_)) => return Err("tls_key (--tls-key) needs tls_cert".into()),
            (None, None) if self.tls_client_ca.is_some() => {
                return Err("tls_client_ca (--tls-client-ca) needs tls_cert".into())
            }
            (None, None) if !self.tls_alpn.is_empty() => {
                return Err("tls_alpn (--tls-alpn) needs tls_cert".into())
            }
            (None, None) => return Ok(None),
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

impl Tls {
    /// Reloads the certificate on every `SIGHUP` until the runtime stops. Installed
    /// before the address is announced: a SIGHUP with no handler kills the process.
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

/// A path written as a string, `""` meaning none: TOML has no null, and `config show`
/// must print every key so that each one can be found and set.
mod empty_is_none {
    use std::path::PathBuf;

    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(&p.to_string_lossy()),
            None => s.serialize_str(""),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        let s = crate::config::lenient_string(d)?;
        Ok((!s.is_empty()).then(|| PathBuf::from(s)))
    }
}

/// A TOML list, or one comma-separated string (as an environment variable gives it).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Written::deserialize(d)? {
        Written::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect(),
        Written::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        tls: TlsFlags,
    }

    #[test]
    fn half_a_setup_is_refused_naming_the_missing_key() {
        let cert_only = TlsSettings {
            tls_cert: Some("c.pem".into()),
            ..TlsSettings::default()
        };
        assert!(cert_only.load().unwrap_err().contains("tls_key"));
        let ca_only = TlsSettings {
            tls_client_ca: Some("ca.pem".into()),
            ..TlsSettings::default()
        };
        assert!(ca_only.load().unwrap_err().contains("tls_cert"));
        assert!(TlsSettings::default().load().unwrap().is_none());
    }

    #[test]
    fn a_flag_certificate_replaces_the_file_setup() {
        let mut s: TlsSettings = toml::from_str(
            "tls_cert = \"a.pem\"\ntls_key = \"a.key\"\n\
             tls_client_ca = \"ca.pem\"\ntls_alpn = \"h2,http/1.1\"",
        )
        .unwrap();
        assert_eq!(s.tls_alpn, ["h2", "http/1.1"]);
        let cli = Cli::parse_from(["x", "--tls-cert", "b.pem", "--tls-key", "b.key"]);
        cli.tls.apply(&mut s);
        assert_eq!(s.tls_cert.as_deref(), Some(std::path::Path::new("b.pem")));
        assert_eq!(s.tls_client_ca, None);
        assert!(Cli::try_parse_from(["x", "--tls-cert", "a.pem"]).is_err());
    }

    #[test]
    fn client_ca_and_alpn_flags_add_to_the_file_certificate() {
        let mut s: TlsSettings = toml::from_str(
            "tls_cert = \"a.pem\"\ntls_key = \"a.key\"\ntls_client_ca = \"\"\ntls_alpn = []",
        )
        .unwrap();
        let cli = Cli::parse_from(["x", "--tls-alpn", "h2", "--tls-client-ca", "ca.pem"]);
        cli.tls.apply(&mut s);
        assert_eq!(s.tls_cert.as_deref(), Some(std::path::Path::new("a.pem")));
        assert_eq!(
            s.tls_client_ca.as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
        assert_eq!(s.tls_alpn, ["h2"]);
        // With no certificate anywhere, they are refused when the server starts.
        let mut bare = TlsSettings::default();
        Cli::parse_from(["x", "--tls-alpn", "h2"])
            .tls
            .apply(&mut bare);
        assert!(bare.load().unwrap_err().contains("tls_cert"));
    }

    #[test]
    fn empty_paths_read_and_print_as_empty_strings() {
        let s: TlsSettings =
            toml::from_str("tls_cert = \"\"\ntls_key = \"\"\ntls_client_ca = \"\"\ntls_alpn = []")
                .unwrap();
        assert_eq!(s, TlsSettings::default());
        let text = toml::to_string(&s).unwrap();
        assert!(text.contains("tls_cert = \"\""), "{text}");
    }
}
