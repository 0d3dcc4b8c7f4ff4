//! rustls streams as [`Transport`]s, and handshake failures as typed errors.

use std::io;

use tokio::net::TcpStream;

use crate::transport::{Transport, TransportInfo};
use crate::Error;

/// The server side: socket options apply to the TCP socket underneath, and the
/// connection learns the ALPN protocol and SNI name the client negotiated.
impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp_stream(&self) -> Option<&TcpStream> {
        Some(self.get_ref().0)
    }

    fn transport_info(&self) -> TransportInfo {
        let session = self.get_ref().1;
        TransportInfo::default()
            .with_alpn(session.alpn_protocol().map(<[u8]>::to_vec))
            .with_sni(session.server_name().map(str::to_owned))
    }
}

/// The client side: the ALPN protocol the server chose.
impl Transport for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp_stream(&self) -> Option<&TcpStream> {
        Some(self.get_ref().0)
    }

    fn transport_info(&self) -> TransportInfo {
        TransportInfo::default().with_alpn(self.get_ref().1.alpn_protocol().map(<[u8]>::to_vec))
    }
}

/// A failed handshake as an [`Error::is_tls`] error whose source is the
/// `rustls::Error` itself when rustls raised it (so callers can match on
/// `InvalidCertificate(UnknownIssuer)` and the like), or the I/O error otherwise (the
/// peer closed mid-handshake).
pub(super) fn handshake_error(what: &str, err: io::Error) -> Error {
    if !err.get_ref().is_some_and(|e| e.is::<rustls::Error>()) {
        return Error::tls(what, err);
    }
    let Some(inner) = err.into_inner() else {
        return Error::tls(what, "handshake failed");
    };
    match inner.downcast::<rustls::Error>() {
        Ok(cause) => {
            let hint = match *cause {
                // The first bytes were not a TLS record: most likely plaintext.
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                    " (not TLS: a plaintext peer?)"
                }
                _ => "",
            };
            Error::tls(format!("{what}{hint}"), *cause)
        }
        Err(other) => Error::tls(what, other),
    }
}

/// The `rustls::Error` behind `err`, if a TLS handshake failed for a reason rustls
/// named (unknown issuer, expired, wrong host name, alert from the peer).
pub fn rustls_error(err: &Error) -> Option<&rustls::Error> {
    use std::error::Error as _;
    err.source()?.downcast_ref::<rustls::Error>()
}
