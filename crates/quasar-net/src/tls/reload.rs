//! Replacing a running server's certificate.
//!
//! pulsar read `cert_file`/`key_file` once; a long-running quasar server renews its
//! certificate in place. The acceptor holds its rustls configuration in an
//! [`arc_swap::ArcSwap`]: each handshake loads the current configuration (one atomic
//! load, no lock on the accept path), and a reload stores a new one. Connections made
//! before the reload keep the session they negotiated; only new handshakes see the new
//! certificate. A reload that fails (a half-written file) leaves the old configuration
//! in place, so a bad renewal never takes a serving server down.
//!
//! `quasar serve` calls [`TlsAcceptor::reload_from`] on `SIGHUP`.
//!
//! # Examples
//!
//! ```no_run
//! # fn main() -> quasar_net::Result<()> {
//! use quasar_net::tls::TlsAcceptor;
//!
//! let settings = TlsAcceptor::builder().cert_files("cert.pem", "key.pem");
//! let acceptor = settings.build()?;
//! // ... later, after the files were renewed:
//! acceptor.reload_from(&settings)?;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use rustls::ServerConfig;

use super::{TlsAcceptor, TlsAcceptorBuilder};
use crate::Result;

impl TlsAcceptor {
    /// Makes new handshakes use `config`; live connections are untouched.
    pub fn reload(&self, config: Arc<ServerConfig>) {
        self.config.store(config);
    }

    /// Re-reads `settings`' files and, if they are valid, makes new handshakes use them.
    ///
    /// # Errors
    ///
    /// [`Error::is_config`](crate::Error::is_config) naming the bad file; the current
    /// configuration stays in place.
    pub fn reload_from(&self, settings: &TlsAcceptorBuilder) -> Result<()> {
        self.reload(settings.server_config()?);
        Ok(())
    }
}
