//! Basic authentication: from a URL's user info, or set on a request by a call.
//!
//! The rules and an example are on the type.

use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Uri};

/// Authentication headers on `http::request::Builder`; and how the client does Basic.
///
/// `http://user:pass@host/` makes [`HttpClient`](crate::client::HttpClient) send
/// `Authorization: Basic base64(user:pass)` (percent-escapes in the user info decoded first)
/// unless the request already has an `Authorization` header; the user info itself never
/// goes on the wire. [`RequestBuilderExt::basic_auth`] sets the header on an
/// `http::request::Builder`. Redirects keep `Authorization` within one origin only.
///
/// Digest (RFC 7616): [`RequestBuilderExt::digest_auth`] attaches credentials that the
/// client uses to answer a `401`'s `WWW-Authenticate: Digest` challenge (one more round
/// trip; `MD5`, `SHA-256` and their `-sess` forms, `qop=auth`).
///
/// # Examples
///
/// ```
/// use quasar_http::client::RequestBuilderExt;
///
/// let req = http::Request::get("http://127.0.0.1/private")
///     .basic_auth("aladdin", Some("open sesame"))
///     .body(bytes::Bytes::new())?;
/// assert_eq!(req.headers()["authorization"], "Basic YWxhZGRpbjpvcGVuIHNlc2FtZQ==");
/// # Ok::<(), http::Error>(())
/// ```
pub trait RequestBuilderExt {
    /// Sets `Authorization: Basic` for `user` and `password` (none: `user:`).
    fn basic_auth(self, user: &str, password: Option<&str>) -> Self;

    /// Sets `Authorization: Bearer token`.
    fn bearer_auth(self, token: &str) -> Self;

    /// Attaches Digest credentials: the request goes without `Authorization`, and a `401`
    /// with a `WWW-Authenticate: Digest` challenge is answered by sending it once more with
    /// the computed `Authorization: Digest` (through [`HttpClient::request`]; the
    /// credentials follow redirects within the same origin only).
    ///
    /// [`HttpClient::request`]: crate::client::HttpClient::request
    fn digest_auth(self, user: &str, password: &str) -> Self;
}

impl RequestBuilderExt for http::request::Builder {
    fn digest_auth(self, user: &str, password: &str) -> Self {
        self.extension(crate::client::digest::DigestCredentials {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        self.header(AUTHORIZATION, basic_value(user, password))
    }

    fn bearer_auth(self, token: &str) -> Self {
        let value = format!("Bearer {token}");
        match HeaderValue::from_str(&value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                self.header(AUTHORIZATION, v)
            }
            // Not a valid header value: the builder records the error for `body()`.
            Err(_) => self.header(AUTHORIZATION, value),
        }
    }
}

/// `Basic base64(user:password)`, marked sensitive so that it is not logged.
pub(crate) fn basic_value(user: &str, password: Option<&str>) -> HeaderValue {
    let raw = format!("{user}:{}", password.unwrap_or(""));
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| unreachable!("base64 is visible ASCII"));
    value.set_sensitive(true);
    value
}

/// The `Authorization` value the user info of `uri` asks for, if it has any.
pub(crate) fn from_userinfo(uri: &Uri) -> Option<HeaderValue> {
    let authority = uri.authority()?.as_str();
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some(basic_value(&decode(user), pass.map(decode).as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_becomes_basic() {
        let uri: Uri = "http://al%40x:p%3Aw@h.test:8/p".parse().unwrap();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("al@x:p:w")
        );
        assert_eq!(from_userinfo(&uri).unwrap(), expected.as_str());
        let uri: Uri = "http://solo@h/".parse().unwrap();
        assert_eq!(from_userinfo(&uri).unwrap(), "Basic c29sbzo=");
        assert!(from_userinfo(&"http://h/".parse().unwrap()).is_none());
        assert!(basic_value("a", None).is_sensitive());
    }
}
