//! Forwarding absolute-form requests: the proxy's rules, the header rewrite both ways,
//! and the answers the proxy gives itself.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as _;

use super::rules::host_allowed;
use super::stats::ProxyStats;
use super::upstream::{self, Outgoing};
use super::Shared;
use crate::body::Body;
use crate::server::{Handler, ResponseFuture};

thread_local! {
    /// The client address of the request being dispatched on this thread. The server
    /// calls [`Handler::call`] synchronously from its consumer's `data_received`, which
    /// [`ProxyConsumer`](super::ProxyConsumer) wraps with [`with_peer`]: the handler learns
    /// the address for `X-Forwarded-For` without a per-connection handler.
    static PEER: Cell<Option<SocketAddr>> = const { Cell::new(None) };
}

/// Runs `f` with `peer` as the current client address.
pub(crate) fn with_peer<R>(peer: SocketAddr, f: impl FnOnce() -> R) -> R {
    let before = PEER.replace(Some(peer));
    let r = f();
    PEER.set(before);
    r
}

/// `Proxy-Connection` is not in the `http` crate's constants.
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Removes the hop-by-hop headers (RFC 9110 §7.6.1), and those `Connection` names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        PROXY_CONNECTION,
        KEEP_ALIVE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
}

/// An answer of the proxy itself: `status` with a one-line text body.
pub(crate) fn answer(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    let mut resp = Response::new(Body::from(text.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `407` asking for Basic credentials.
pub(crate) fn auth_required() -> Response<Body> {
    let mut resp = answer(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "proxy credentials required\n",
    );
    resp.headers_mut().insert(
        header::PROXY_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"quasar proxy\""),
    );
    resp
}

/// Whether `headers` carry the credentials `shared` wants (or none are wanted).
pub(crate) fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(expected) = &shared.auth else {
        return true;
    };
    headers
        .get_all(header::PROXY_AUTHORIZATION)
        .iter()
        .any(|v| credentials_match(v.as_bytes(), expected.as_bytes()))
}

/// `Basic` is case-insensitive; the token is compared in full whatever the first
/// difference, so the time taken says nothing about how much of it was right.
fn credentials_match(given: &[u8], expected: &[u8]) -> bool {
    let split = |v: &'_ [u8]| -> Option<(Vec<u8>, Vec<u8>)> {
        let v = v.trim_ascii();
        let sp = v.iter().position(|&b| b == b' ')?;
        Some((v[..sp].to_ascii_lowercase(), v[sp..].trim_ascii().to_vec()))
    };
    let (Some((scheme, token)), Some((_, want))) = (split(given), split(expected)) else {
        return false;
    };
    if scheme != b"basic" || token.len() != want.len() {
        return false;
    }
    token
        .iter()
        .zip(&want)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Whether a request carries this proxy's own `Via`: it came round again.
pub(crate) fn looped(shared: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get_all(header::VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|hop| {
            hop.split_whitespace()
                .nth(1)
                .is_some_and(|name| name.eq_ignore_ascii_case(&shared.via_token))
        })
}

/// Serves every absolute-form request the proxy's server reads.
pub(crate) struct ForwardHandler {
    shared: Arc<Shared>,
}

impl ForwardHandler {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        ForwardHandler { shared }
    }

    fn refuse(&self, status: StatusCode, text: &str) -> ResponseFuture {
        ProxyStats::add(&self.shared.stats.inner.refused, 1);
        let resp = if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            auth_required()
        } else {
            answer(status, text)
        };
        Box::pin(std::future::ready(resp))
    }
}

impl Handler for ForwardHandler {
    fn call(&self, request: Request<Body>) -> ResponseFuture {
        let shared = &self.shared;
        let (mut parts, body) = request.into_parts();
        if parts.uri.scheme().is_none() {
            return self.refuse(
                StatusCode::BAD_REQUEST,
                "this is a forward proxy: send absolute-form requests (GET http://host/path) or CONNECT\n",
            );
        }
        if looped(shared, &parts.headers) {
            return self.refuse(
                StatusCode::LOOP_DETECTED,
                "request looped back to this proxy\n",
            );
        }
        if !authorized(shared, &parts.headers) {
            return self.refuse(StatusCode::PROXY_AUTHENTICATION_REQUIRED, "");
        }
        if parts.uri.scheme() != Some(&http::uri::Scheme::HTTP) {
            return self.refuse(
                StatusCode::BAD_REQUEST,
                "only http:// URLs are forwarded; https:// goes through CONNECT\n",
            );
        }
        let Some(authority) = parts.uri.authority().cloned() else {
            return self.refuse(StatusCode::BAD_REQUEST, "absolute URL without a host\n");
        };
        if authority.as_str().contains('@') {
            return self.refuse(
                StatusCode::BAD_REQUEST,
                "credentials in the URL are not forwarded\n",
            );
        }
        let host = authority.host();
        if host.is_empty() {
            return self.refuse(StatusCode::BAD_REQUEST, "absolute URL without a host\n");
        }
        if !host_allowed(&shared.allow, host) {
            return self.refuse(
                StatusCode::FORBIDDEN,
                "destination not allowed by this proxy\n",
            );
        }
        ProxyStats::add(&shared.stats.inner.requests, 1);
        let port = authority.port_u16().unwrap_or(80);
        let key = format!("{host}:{port}");

        // The request head as it goes upstream.
        let had_length = parts.headers.contains_key(header::CONTENT_LENGTH);
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::CONTENT_LENGTH);
        // `100 Continue` is the server's business towards the client; the body is
        // already on its way when the upstream would answer it.
        parts.headers.remove(header::EXPECT);
        // RFC 9112 §3.2.2: a proxy replaces Host with the target's authority.
        if let Ok(v) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(header::HOST, v);
        }
        if let Some(peer) = PEER.get() {
            let ip = peer.ip().to_string();
            let value = match parts
                .headers
                .get(&X_FORWARDED_FOR)
                .and_then(|v| v.to_str().ok())
            {
                Some(before) => format!("{before}, {ip}"),
                None => ip,
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                parts.headers.insert(X_FORWARDED_FOR, v);
            }
        }
        parts.headers.append(header::VIA, shared.via.clone());
        let length = body.size_hint().exact();
        let chunked = length.is_none();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = BytesMut::with_capacity(256);
        head.put_slice(parts.method.as_str().as_bytes());
        head.put_u8(b' ');
        head.put_slice(if path.is_empty() {
            b"/"
        } else {
            path.as_bytes()
        });
        head.put_slice(b" HTTP/1.1\r\n");
        for (name, value) in &parts.headers {
            head.put_slice(name.as_str().as_bytes());
            head.put_slice(b": ");
            head.put_slice(value.as_bytes());
            head.put_slice(b"\r\n");
        }
        match length {
            Some(n) if n > 0 || had_length => {
                head.put_slice(b"content-length: ");
                head.put_slice(itoa::Buffer::new().format(n).as_bytes());
                head.put_slice(b"\r\n");
            }
            Some(_) => {}
            None => head.put_slice(b"transfer-encoding: chunked\r\n"),
        }
        head.put_slice(b"\r\n");
        let out = Outgoing {
            key,
            method: parts.method,
            head,
            body,
            chunked,
        };
        let shared = Arc::clone(shared);
        Box::pin(async move {
            match upstream::exchange(&shared, out).await {
                Ok((mut parts, body)) => {
                    strip_hop_by_hop(&mut parts.headers);
                    parts.headers.remove(header::CONTENT_LENGTH);
                    parts.headers.append(header::VIA, shared.via.clone());
                    Response::from_parts(parts, body)
                }
                Err(e) => {
                    tracing::debug!(error = ?e, "forwarded request failed");
                    let (status, text) = e.answer();
                    let mut resp = answer(status, text);
                    if status == StatusCode::BAD_REQUEST {
                        resp.headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    resp
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_go() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("connection", "keep-alive, x-secret"),
            ("proxy-connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("x-secret", "1"),
            ("x-kept", "2"),
        ] {
            h.append(n, HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn credentials_compare_scheme_case_insensitively_and_token_exactly() {
        let want = b"Basic YWxpY2U6c2VjcmV0";
        assert!(credentials_match(b"basic YWxpY2U6c2VjcmV0", want));
        assert!(credentials_match(b"BASIC   YWxpY2U6c2VjcmV0 ", want));
        assert!(!credentials_match(b"Basic YWxpY2U6c2VjcmV1", want));
        assert!(!credentials_match(b"Bearer YWxpY2U6c2VjcmV0", want));
        assert!(!credentials_match(b"Basic", want));
    }
}
