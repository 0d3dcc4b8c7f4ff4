//! TLS for every TCP protocol, server and client, on rustls (feature `tls`, on by default).
//!
//! TLS is a transport plug-in: [`TlsAcceptor`] goes into `TcpServerBuilder::acceptor`,
//! [`TlsConnector`] into `ClientConnectionBuilder::connect_with` or a [`TlsManager`]
//! pool, and every consumer (echo, HTTP, RESP) runs over it unchanged; consumers stay
//! sans-IO and never see TLS. The handshake runs in the connection's own task under the
//! server's handshake timeout. What it negotiated (ALPN protocol, SNI name) is
//! [`Connection::transport_info`](crate::Connection::transport_info).
//!
//! - [`TlsAcceptor`]: certificate chain and key from PEM, ALPN, optional client
//!   certificates against a CA (mTLS), certificate [reload](TlsAcceptor::reload) at run time.
//! - [`TlsConnector`]: verifies the server against the platform's roots and any extra CA,
//!   sends SNI and ALPN, can present a client certificate.
//! - [`PemSource`]: PEM files or bytes (PKCS#8, PKCS#1 and SEC1 keys).
//! - Failures are [`Error::is_tls`](crate::Error::is_tls) with the `rustls::Error` as
//!   the source ([`rustls_error`]); bad files are `is_config` errors naming the file.
//!
//! The crypto is rustls' `aws-lc-rs` provider, or the process default provider when the
//! application installed one. Graceful closes send `close_notify`.
//!
//! # Examples
//!
//! An echo server over TLS with a self-signed certificate, and a client that trusts it:
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quasar_net::tls::{PemSource, TlsAcceptor, TlsConnector};
//! use quasar_net::{ClientConnectionBuilder, Context, Progress, ProtocolConsumer, Result, TcpServer};
//!
//! struct Echo;
//! impl ProtocolConsumer for Echo {
//!     type Request = ();
//!     type Response = ();
//!     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
//!         cx.write(&buf.split())?;
//!         Ok(Progress::Finished(()))
//!     }
//! }
//! # struct Once(Option<Bytes>);
//! # impl ProtocolConsumer for Once {
//! #     type Request = Bytes;
//! #     type Response = Bytes;
//! #     fn start_request(&mut self, cx: &mut Context<'_, Bytes, Bytes>, req: Bytes) -> Result<()> {
//! #         let n = req.len(); self.0 = Some(req); cx.write_bytes(self.0.clone().unwrap_or_default()); let _ = n; Ok(())
//! #     }
//! #     fn data_received(&mut self, _cx: &mut Context<'_, Bytes, Bytes>, buf: &mut BytesMut) -> Result<Progress<Bytes>> {
//! #         let want = self.0.as_ref().map_or(0, |b| b.len());
//! #         if buf.len() < want { return Ok(Progress::NeedMore); }
//! #         Ok(Progress::Finished(buf.split_to(want).freeze()))
//! #     }
//! # }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
//!
//! let acceptor = TlsAcceptor::builder()
//!     .cert(PemSource::bytes(cert_pem.clone()), PemSource::bytes(key_pem))
//!     .build()?;
//! let server = TcpServer::builder(|| Echo).acceptor(acceptor).start().await?;
//!
//! let connector = TlsConnector::builder()
//!     .server_name("localhost")
//!     .ca(PemSource::bytes(cert_pem))
//!     .build()?;
//! let conn = ClientConnectionBuilder::new(|| Once(None))
//!     .connect_with(&connector, server.address())
//!     .await?;
//! assert_eq!(conn.request(Bytes::from("hello")).await?, "hello");
//! # server.close(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

mod acceptor;
mod config;
mod connector;
mod insecure;
mod manager;
mod reload;
mod stream;

pub use acceptor::{TlsAcceptor, TlsAcceptorBuilder};
pub use config::{PemSource, TlsVersion, MAX_PEM_BYTES};
pub(crate) use connector::TlsIdentity;
pub use connector::{TlsConnector, TlsConnectorBuilder, DEFAULT_CLIENT_HANDSHAKE_TIMEOUT};
pub use manager::TlsManager;
pub use stream::rustls_error;

/// The rustls crate this module is built on, for matching on `rustls::Error` causes
/// and building configurations by hand.
pub use rustls;
/// The tokio-rustls crate whose streams are this module's transports.
pub use tokio_rustls;

use stream::handshake_error;
