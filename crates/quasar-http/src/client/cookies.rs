//! The client's cookie jar: RFC 6265 storage and matching by the `cookie_store` crate.
//!
//! The rules and an example are on the type.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use cookie_store::CookieStore;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Uri};

use crate::client::ClientError;

/// The client's cookie jar: RFC 6265 storage and matching by the `cookie_store` crate.
///
/// With a jar ([`HttpClientBuilder::cookie_store`](crate::client::HttpClientBuilder::cookie_store)
/// or [`cookie_jar`](crate::client::HttpClientBuilder::cookie_jar)), every response's
/// `Set-Cookie` headers are stored under their domain and path with their expiry (redirect
/// responses included), and every request, each hop of a redirect chain included, carries
/// the unexpired cookies that match its URL in a `Cookie` header (longer paths first),
/// after any `Cookie` the caller set. `Secure` cookies are stored only from and sent only to `https`/`wss` (and loopback), `HttpOnly` ones are
/// kept as usual (this is an HTTP client), `Max-Age=0` or a past `Expires` deletes. `ws://`
/// and `wss://` URLs match as `http://` and `https://`.
///
/// A cookie that breaks the RFC's storage rules (a `Domain` the response's host is not in)
/// is dropped, as a browser does.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use quasar_http::client::{HttpClient, Jar};
///
/// let jar = Arc::new(Jar::default());
/// jar.add_cookie_str("session=abc; Path=/app", "http://127.0.0.1/login")?;
/// assert_eq!(jar.cookies("http://127.0.0.1/app/home").as_deref(), Some("session=abc"));
/// assert_eq!(jar.cookies("http://127.0.0.1/other"), None);
/// let client = HttpClient::builder().cookie_jar(Arc::clone(&jar)).build()?;
/// # drop(client);
/// # Ok::<(), quasar_http::client::ClientError>(())
/// ```
#[derive(Default)]
pub struct Jar {
    store: Mutex<CookieStore>,
}

impl Jar {
    /// A jar holding `store`'s cookies (loaded from a file with `cookie_store`'s own
    /// `load_json`, say).
    pub fn from_store(store: CookieStore) -> Jar {
        Jar {
            store: Mutex::new(store),
        }
    }

    /// Stores `cookie` (a `Set-Cookie` value) as if a response from `url` had set it.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] for a `url` that is not an absolute URL;
    /// [`ClientError::InvalidCookie`] for a cookie the RFC's rules refuse.
    pub fn add_cookie_str(&self, cookie: &str, url: &str) -> Result<(), ClientError> {
        let url = url::Url::parse(url).map_err(|_| ClientError::InvalidUrl(url.to_owned()))?;
        self.lock()
            .parse(cookie, &cookie_url(url))
            .map(|_| ())
            .map_err(|e| ClientError::InvalidCookie(e.to_string()))
    }

    /// The `Cookie` header a request to `url` would carry, if any cookie matches.
    pub fn cookies(&self, url: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        self.header_for_url(&cookie_url(url))
    }

    /// The store itself, locked: for iterating, removing, saving and loading cookies.
    pub fn store(&self) -> MutexGuard<'_, CookieStore> {
        self.lock()
    }

    /// The `Cookie` value for `uri`.
    pub(crate) fn header_for(&self, uri: &Uri) -> Option<HeaderValue> {
        let url = to_url(uri)?;
        HeaderValue::from_str(&self.header_for_url(&url)?).ok()
    }

    /// Stores the `Set-Cookie` headers of a response to `uri`.
    pub(crate) fn store_from(&self, uri: &Uri, headers: &HeaderMap) {
        let mut values = headers.get_all(SET_COOKIE).iter().peekable();
        if values.peek().is_none() {
            return;
        }
        let Some(url) = to_url(uri) else { return };
        let mut store = self.lock();
        for value in values {
            let Ok(text) = value.to_str() else { continue };
            if let Err(e) = store.parse(text, &url) {
                tracing::debug!(error = %e, "Set-Cookie dropped");
            }
        }
    }

    fn header_for_url(&self, url: &url::Url) -> Option<String> {
        let store = self.lock();
        let mut matching = store.matches(url);
        // RFC 6265 §5.4: longer paths first; then by name, so the header is stable.
        matching.sort_by(|a, b| {
            let (pa, pb): (&str, &str) = (a.path.as_ref(), b.path.as_ref());
            pb.len().cmp(&pa.len()).then_with(|| a.name().cmp(b.name()))
        });
        let mut out = String::new();
        for (name, value) in matching.iter().map(|c| c.name_value()) {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
        (!out.is_empty()).then_some(out)
    }

    fn lock(&self) -> MutexGuard<'_, CookieStore> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Jar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cookie values are credentials: count them, never print them.
        f.debug_struct("Jar")
            .field("cookies", &self.lock().iter_any().count())
            .finish()
    }
}

fn to_url(uri: &Uri) -> Option<url::Url> {
    url::Url::parse(&uri.to_string()).ok().map(cookie_url)
}

/// WebSocket URLs match cookies as their HTTP counterparts.
fn cookie_url(mut url: url::Url) -> url::Url {
    let scheme = match url.scheme() {
        "ws" => "http",
        "wss" => "https",
        _ => return url,
    };
    // Both schemes are special, so the change cannot be refused.
    let _ = url.set_scheme(scheme);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_headers_are_stored_and_matched() {
        let jar = Jar::default();
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("a=1; Path=/"));
        headers.append(SET_COOKIE, HeaderValue::from_static("b=2; Path=/x"));
        headers.append(SET_COOKIE, HeaderValue::from_static("gone=1; Max-Age=0"));
        headers.append(SET_COOKIE, HeaderValue::from_static("s=1; Secure"));
        let uri: Uri = "http://example.test/x/y".parse().unwrap();
        jar.store_from(&uri, &headers);
        // A `Secure` cookie set over plain http is refused; over https it is kept.
        let mut secure = HeaderMap::new();
        secure.append(SET_COOKIE, HeaderValue::from_static("s=1; Secure; Path=/"));
        jar.store_from(&"https://example.test/".parse().unwrap(), &secure);
        let get = |u: &str| jar.header_for(&u.parse().unwrap());
        assert_eq!(get("http://example.test/x/z").unwrap(), "b=2; a=1");
        assert_eq!(get("http://example.test/").unwrap(), "a=1");
        assert_eq!(get("ws://example.test/").unwrap(), "a=1");
        assert_eq!(get("https://example.test/").unwrap(), "a=1; s=1");
        assert!(get("http://other.test/").is_none());
        assert!(format!("{jar:?}").contains("cookies"));
    }

    #[test]
    fn bad_cookies_and_urls_are_typed_errors() {
        let jar = Jar::default();
        assert!(matches!(
            jar.add_cookie_str("a=1; Domain=other.test", "http://example.test/"),
            Err(ClientError::InvalidCookie(_))
        ));
        assert!(matches!(
            jar.add_cookie_str("a=1", "not a url"),
            Err(ClientError::InvalidUrl(_))
        ));
    }
}
