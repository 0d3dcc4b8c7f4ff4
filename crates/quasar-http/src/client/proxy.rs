//! HTTP proxies: which requests go through one, and the `CONNECT` tunnel.
//!
//! The rules and an example are on the type.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use http::{HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::no_proxy::NoProxy;
use crate::client::target::Target;
use crate::client::ClientError;

/// The port of a proxy URL without one (curl's default).
pub const DEFAULT_PROXY_PORT: u16 = 1080;
/// The largest `CONNECT` response head read from a proxy.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// HTTP proxies: which requests go through one, and the `CONNECT` tunnel.
///
/// A [`Proxy`] is an `http://` proxy URL with a scope: [`Proxy::http`] for `http://` and
/// `ws://` URLs, [`Proxy::https`] for `https://` and `wss://`, [`Proxy::all`] for both. Plain
/// `http://` requests go to the proxy in absolute form (`GET http://host/path HTTP/1.1`) on
/// connections to the proxy shared by every target; `https://`, `ws://` and `wss://` open a
/// `CONNECT host:port` tunnel first, then run TLS and/or the WebSocket handshake inside it,
/// so the proxy sees neither the request nor (for TLS) the bytes. Credentials in the proxy
/// URL (`http://user:pass@proxy:3128`) are sent as `Proxy-Authorization: Basic` on both.
///
/// [`HttpClientBuilder::proxy_from_env`](crate::client::HttpClientBuilder::proxy_from_env)
/// reads `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` as curl does (lower case
/// wins over upper case; `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set, since a CGI
/// program gets request headers as `HTTP_*` variables: the "httpoxy" attack).
///
/// # Examples
///
/// ```
/// use quasar_http::client::{HttpClient, NoProxy, Proxy};
///
/// let client = HttpClient::builder()
///     .proxy(Proxy::all("http://user:secret@127.0.0.1:3128")?.no_proxy(NoProxy::parse("localhost")))
///     .build()?;
/// # drop(client);
/// # Ok::<(), quasar_http::client::ClientError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    scope: Scope,
    /// The proxy's host as in its URL (IPv6 in brackets) and port.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Basic ...` from the URL's user info or [`Proxy::basic_auth`].
    pub(crate) auth: Option<HeaderValue>,
    no_proxy: NoProxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Http,
    Https,
    All,
}

impl Proxy {
    /// A proxy for every URL (`http`, `https`, `ws`, `wss`).
    ///
    /// `url` is `http://[user:password@]host[:port]` (port 1080 by default); a URL without
    /// a scheme is taken as `http://`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidProxy`] for a URL that does not parse, has no host or uses
    /// another scheme than `http` (TLS to the proxy itself and SOCKS are not supported).
    pub fn all(url: &str) -> Result<Proxy, ClientError> {
        Proxy::parse(url, Scope::All)
    }

    /// A proxy for `http://` and `ws://` URLs only.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn http(url: &str) -> Result<Proxy, ClientError> {
        Proxy::parse(url, Scope::Http)
    }

    /// A proxy for `https://` and `wss://` URLs only.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn https(url: &str) -> Result<Proxy, ClientError> {
        Proxy::parse(url, Scope::Https)
    }

    /// Hosts this proxy is not used for (see [`NoProxy`]).
    pub fn no_proxy(mut self, rules: NoProxy) -> Self {
        self.no_proxy = rules;
        self
    }

    /// Sends `Proxy-Authorization: Basic` with these credentials (replacing any from the URL).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some(crate::client::auth::basic_value(user, Some(password)));
        self
    }

    /// The proxy's `host:port`.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn parse(raw: &str, scope: Scope) -> Result<Proxy, ClientError> {
        let bad = |why: &str| ClientError::InvalidProxy(format!("`{raw}`: {why}"));
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" {
            return Err(bad("only http:// proxies are supported"));
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(h) => h.to_string(),
            None => return Err(bad("no host")),
        };
        let auth = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy();
            let pass = url
                .password()
                .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy());
            Some(crate::client::auth::basic_value(&user, pass.as_deref()))
        };
        Ok(Proxy {
            scope,
            host,
            port: url.port().unwrap_or(DEFAULT_PROXY_PORT),
            auth,
            no_proxy: NoProxy::default(),
        })
    }

    fn serves(&self, target: &Target) -> bool {
        let scope_ok = match self.scope {
            Scope::All => true,
            Scope::Http => !target.is_tls(),
            Scope::Https => target.is_tls(),
        };
        scope_ok && !self.no_proxy.matches(&target.host, target.port)
    }

    /// Resolves the proxy's address.
    pub(crate) async fn resolve(&self) -> Result<SocketAddr, ClientError> {
        let target = Target {
            scheme: "http".into(),
            host: self.host.clone(),
            port: self.port,
        };
        target.resolve().await
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the credentials.
        f.debug_struct("Proxy")
            .field("scope", &self.scope)
            .field("authority", &self.authority())
            .field("auth", &self.auth.is_some())
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// The proxies of a client: the first that serves a URL wins, unless `no_proxy` says direct.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proxies {
    list: Vec<Arc<Proxy>>,
    no_proxy: NoProxy,
}

impl Proxies {
    pub(crate) fn push(&mut self, proxy: Proxy) {
        self.list.push(Arc::new(proxy));
    }

    /// Adds the proxies named by environment-style variables; see the module docs.
    pub(crate) fn extend_from_vars<I, K, V>(&mut self, vars: I) -> Result<(), ClientError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().trim().to_owned()))
            .collect();
        let get = |name: &str| {
            vars.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.as_str())
        };
        let cgi = vars.iter().any(|(k, _)| k == "REQUEST_METHOD");
        let either = |lower: &str, upper: &str| get(lower).or_else(|| get(upper));
        let http = if cgi {
            get("http_proxy")
        } else {
            either("http_proxy", "HTTP_PROXY")
        };
        if let Some(url) = http {
            self.push(Proxy::http(url)?);
        }
        if let Some(url) = either("https_proxy", "HTTPS_PROXY") {
            self.push(Proxy::https(url)?);
        }
        if let Some(url) = either("all_proxy", "ALL_PROXY") {
            self.push(Proxy::all(url)?);
        }
        if let Some(list) = either("no_proxy", "NO_PROXY") {
            self.no_proxy = NoProxy::parse(list);
        }
        Ok(())
    }

    /// The proxy `target` goes through, if any.
    pub(crate) fn select(&self, target: &Target) -> Option<&Arc<Proxy>> {
        if self.list.is_empty() || self.no_proxy.matches(&target.host, target.port) {
            return None;
        }
        self.list.iter().find(|p| p.serves(target))
    }
}

/// Asks the proxy on `stream` for a tunnel to `authority` (`host:port`) and reads its answer.
///
/// # Errors
///
/// [`ClientError::ProxyConnect`] (as the engine error's source) for a non-2xx answer; a
/// protocol error for an answer that is not HTTP, too long, or followed by bytes the
/// tunnel's peer could not have sent yet; I/O errors as they come.
pub(crate) async fn connect_tunnel(
    stream: &mut TcpStream,
    authority: &str,
    auth: Option<&HeaderValue>,
) -> quasar_net::Result<()> {
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n").into_bytes();
    if let Some(auth) = auth {
        req.extend_from_slice(b"proxy-authorization: ");
        req.extend_from_slice(auth.as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    stream.write_all(&req).await?;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(quasar_net::Error::protocol(
                "the proxy closed the connection before answering CONNECT",
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let code = res.code.unwrap_or(0);
                let status = StatusCode::from_u16(code).map_err(|_| {
                    quasar_net::Error::protocol(format!("CONNECT answered with status {code}"))
                })?;
                if !status.is_success() {
                    return Err(quasar_net::Error::protocol_with(
                        "proxy refused CONNECT",
                        ClientError::ProxyConnect(status),
                    ));
                }
                if buf.len() > len {
                    return Err(quasar_net::Error::protocol(
                        "the proxy sent bytes after its CONNECT answer",
                    ));
                }
                return Ok(());
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_CONNECT_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(quasar_net::Error::protocol(
                    "the proxy's CONNECT answer is too long",
                ))
            }
            Err(e) => {
                return Err(quasar_net::Error::protocol(format!(
                    "the proxy's CONNECT answer is not HTTP: {e}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::target::parse_url;
    use base64::Engine as _;

    fn target(url: &str) -> Target {
        Target::of(&parse_url(url).unwrap()).unwrap()
    }

    #[test]
    fn proxy_urls() {
        let p = Proxy::all("http://u%40x:p%3Ass@[::1]:3128").unwrap();
        assert_eq!(p.authority(), "[::1]:3128");
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("u@x:p:ss")
        );
        assert_eq!(p.auth.as_ref().unwrap(), expected.as_str());
        let p = Proxy::http("proxy.test").unwrap();
        assert_eq!(
            (p.authority().as_str(), p.auth.is_none()),
            ("proxy.test:1080", true)
        );
        assert!(matches!(
            Proxy::all("socks5://h:1"),
            Err(ClientError::InvalidProxy(_))
        ));
        assert!(matches!(
            Proxy::all("http://"),
            Err(ClientError::InvalidProxy(_))
        ));
        assert!(!format!("{:?}", Proxy::all("http://u:secret@h").unwrap()).contains("secret"));
    }

    #[test]
    fn env_selection_follows_curl() {
        let mut p = Proxies::default();
        p.extend_from_vars([
            ("HTTP_PROXY", "http://upper:1"),
            ("http_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://secure:2"),
            ("no_proxy", "direct.test"),
        ])
        .unwrap();
        assert_eq!(p.select(&target("http://a/")).unwrap().host, "lower");
        assert_eq!(p.select(&target("ws://a/")).unwrap().host, "lower");
        assert_eq!(p.select(&target("wss://a/")).unwrap().host, "secure");
        assert!(p.select(&target("https://x.direct.test/")).is_none());

        let mut cgi = Proxies::default();
        cgi.extend_from_vars([("HTTP_PROXY", "http://evil:1"), ("REQUEST_METHOD", "GET")])
            .unwrap();
        assert!(cgi.select(&target("http://a/")).is_none());

        let mut all = Proxies::default();
        all.extend_from_vars([("ALL_PROXY", "h:9"), ("https_proxy", "")])
            .unwrap();
        assert_eq!(all.select(&target("https://a/")).unwrap().port, 9);
        assert!(Proxies::default().select(&target("http://a/")).is_none());
    }
}
