//! Redirect following: which responses redirect, and the request that follows one.
//!
//! 301, 302, 303, 307 and 308 with a `Location` redirect. 303 turns any method but HEAD into
//! a body-less GET; 301 and 302 do so for POST (what every browser and pulsar's client did);
//! 307 and 308 repeat the method and body. `Location` may be absolute, scheme-relative,
//! absolute-path or relative-path (RFC 3986 §5.2, without dot-segment removal). Credentials
//! (`Authorization`, `Cookie`, `Proxy-Authorization`) are dropped when the origin changes, and
//! `Host` is always recomputed from the new URI.

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION, PROXY_AUTHORIZATION,
    TRANSFER_ENCODING,
};
use http::{Method, Request, Response, StatusCode, Uri};

use crate::client::target::Target;
use crate::client::ClientError;

/// The request to send after `res` answered `req`, or `None` when `res` is final.
///
/// # Errors
///
/// [`ClientError::InvalidUrl`] for a `Location` that is not a URI.
pub(crate) fn follow(
    req: &Request<Bytes>,
    res: &Response<Bytes>,
) -> Result<Option<Request<Bytes>>, ClientError> {
    let status = res.status();
    let keeps_method = match status {
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
        StatusCode::SEE_OTHER => *req.method() == Method::HEAD,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => *req.method() != Method::POST,
        _ => return Ok(None),
    };
    let Some(location) = res.headers().get(LOCATION) else {
        return Ok(None);
    };
    let location = location.to_str().map_err(|_| {
        ClientError::InvalidUrl(String::from_utf8_lossy(location.as_bytes()).into())
    })?;
    let uri = resolve(req.uri(), location)?;

    let mut next = Request::new(if keeps_method {
        req.body().clone()
    } else {
        Bytes::new()
    });
    *next.method_mut() = if keeps_method {
        req.method().clone()
    } else {
        Method::GET
    };
    *next.headers_mut() = req.headers().clone();
    let headers = next.headers_mut();
    headers.remove(HOST);
    if !keeps_method {
        for name in [CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING] {
            headers.remove(name);
        }
    }
    let same_origin = match (Target::of(req.uri()), Target::of(&uri)) {
        (Ok(a), Ok(b)) => a.same_origin(&b),
        _ => false,
    };
    if !same_origin {
        for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
            headers.remove(name);
        }
    }
    *next.uri_mut() = uri;
    Ok(Some(next))
}

/// `location` resolved against `base`.
fn resolve(base: &Uri, location: &str) -> Result<Uri, ClientError> {
    let bad = || ClientError::InvalidUrl(location.to_owned());
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        // Relative path: replace the base path's last segment.
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    absolute.parse::<Uri>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(status: u16, location: &str) -> Response<Bytes> {
        Response::builder()
            .status(status)
            .header("location", location)
            .body(Bytes::new())
            .unwrap()
    }

    #[test]
    fn locations_resolve_against_the_request_uri() {
        let base: Uri = "http://h:1/a/b?q".parse().unwrap();
        for (loc, want) in [
            ("http://o/x", "http://o/x"),
            ("//o:2/y", "http://o:2/y"),
            ("/z?k=v", "http://h:1/z?k=v"),
            ("c", "http://h:1/a/c"),
        ] {
            assert_eq!(resolve(&base, loc).unwrap(), want.parse::<Uri>().unwrap());
        }
        assert!(resolve(&base, "http://bad host/").is_err());
    }

    #[test]
    fn see_other_turns_a_post_into_a_bodyless_get() {
        let req = Request::post("http://h/form")
            .header("content-type", "text/plain")
            .header("authorization", "secret")
            .body(Bytes::from_static(b"data"))
            .unwrap();
        let next = follow(&req, &redirect(303, "/done")).unwrap().unwrap();
        assert_eq!(next.method(), Method::GET);
        assert!(next.body().is_empty());
        assert!(!next.headers().contains_key(CONTENT_TYPE));
        assert_eq!(
            next.headers()[AUTHORIZATION],
            "secret",
            "same origin keeps credentials"
        );
    }

    #[test]
    fn temporary_redirects_repeat_method_and_body_but_not_credentials_across_origins() {
        let req = Request::put("http://h/x")
            .header("authorization", "secret")
            .body(Bytes::from_static(b"data"))
            .unwrap();
        let next = follow(&req, &redirect(307, "http://other/x"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (next.method(), &next.body()[..]),
            (&Method::PUT, &b"data"[..])
        );
        assert!(!next.headers().contains_key(AUTHORIZATION));
    }

    #[test]
    fn other_statuses_and_missing_locations_are_final() {
        let req = Request::get("http://h/").body(Bytes::new()).unwrap();
        assert!(follow(&req, &redirect(200, "/x")).unwrap().is_none());
        let res = Response::builder().status(302).body(Bytes::new()).unwrap();
        assert!(follow(&req, &res).unwrap().is_none());
    }
}
