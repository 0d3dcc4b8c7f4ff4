//! Where a URL points: its scheme checked, its host and port, and the resolved address.
//!
//! `http` and `ws` are plain TCP (port 80 by default), `https` and `wss` TLS (port 443).
//! Names resolve with [`tokio::net::lookup_host`] on every request: plaintext pools are
//! keyed by the resolved address, so two names for one server share a pool; TLS pools by
//! the address and the name verified, so they do not.

use std::net::SocketAddr;

use http::Uri;

use crate::client::ClientError;

/// The scheme, host and port of an absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Lower-case scheme: `http`, `ws`, `https` or `wss`.
    pub(crate) scheme: String,
    /// The host as it appears in the URL (IPv6 in brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Target {
    /// The target of `uri`, which must be absolute with a supported scheme.
    pub(crate) fn of(uri: &Uri) -> Result<Target, ClientError> {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(ClientError::InvalidUrl(uri.to_string()));
        };
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "ws" | "https" | "wss") {
            return Err(ClientError::UnsupportedScheme(scheme));
        }
        if authority.host().is_empty() {
            return Err(ClientError::InvalidUrl(uri.to_string()));
        }
        let default_port = if matches!(scheme.as_str(), "https" | "wss") {
            443
        } else {
            80
        };
        Ok(Target {
            scheme,
            host: authority.host().to_owned(),
            port: authority.port_u16().unwrap_or(default_port),
        })
    }

    /// Whether the connection runs over TLS (`https`, `wss`).
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.scheme.as_str(), "https" | "wss")
    }

    /// The host without IPv6 brackets: what TLS verifies (and sends with SNI for a name).
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// Resolves the host; the first address wins.
    pub(crate) async fn resolve(&self) -> Result<SocketAddr, ClientError> {
        let host = self.bare_host();
        let mut addrs = tokio::net::lookup_host((host, self.port))
            .await
            .map_err(|source| ClientError::Resolve {
                host: self.host.clone(),
                source,
            })?;
        addrs.next().ok_or_else(|| ClientError::Resolve {
            host: self.host.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })
    }

    /// Whether `other` names the same origin (credentials stay within one; a redirect
    /// from TLS to plaintext is another origin).
    pub(crate) fn same_origin(&self, other: &Target) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
            && self.is_tls() == other.is_tls()
    }
}

/// Parses `url` as an absolute URI.
pub(crate) fn parse_url(url: &str) -> Result<Uri, ClientError> {
    url.parse::<Uri>()
        .map_err(|_| ClientError::InvalidUrl(url.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_supported_scheme_and_a_host() {
        let t = Target::of(&parse_url("http://Example.test/x").unwrap()).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("Example.test", 80));
        let t = Target::of(&parse_url("ws://[::1]:9000/").unwrap()).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("[::1]", 9000));
        let t = Target::of(&parse_url("HTTPS://h/").unwrap()).unwrap();
        assert_eq!((t.port, t.is_tls()), (443, true));
        let t = Target::of(&parse_url("wss://[::1]/").unwrap()).unwrap();
        assert_eq!((t.bare_host(), t.port, t.is_tls()), ("::1", 443, true));
        assert!(!Target::of(&parse_url("ws://h/").unwrap()).unwrap().is_tls());
        assert!(matches!(
            Target::of(&parse_url("ftp://h/").unwrap()),
            Err(ClientError::UnsupportedScheme(s)) if s == "ftp"
        ));
        assert!(matches!(
            Target::of(&parse_url("/relative").unwrap()),
            Err(ClientError::InvalidUrl(_))
        ));
        assert!(matches!(
            parse_url("http://bad host/"),
            Err(ClientError::InvalidUrl(_))
        ));
    }

    #[tokio::test]
    async fn loopback_names_resolve() {
        let t = Target::of(&parse_url("http://127.0.0.1:8/").unwrap()).unwrap();
        assert_eq!(t.resolve().await.unwrap(), "127.0.0.1:8".parse().unwrap());
        let t = Target::of(&parse_url("http://[::1]:8/").unwrap()).unwrap();
        assert_eq!(t.resolve().await.unwrap(), "[::1]:8".parse().unwrap());
    }
}
