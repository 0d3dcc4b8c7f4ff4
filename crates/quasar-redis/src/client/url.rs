//! [`RedisUrl`]: where the server is and how to open a session, from a `redis://` URL.
//!
//! `redis://[[user]:password@]host[:port][/db][?protocol=resp3&client_name=NAME]`. The port
//! defaults to 6379 and the database to 0; user and password are percent-decoded. Parsing
//! uses the `url` crate (IPv6 literals, percent-encoding and ports are its business).
//! `rediss://` is the same over TLS ([`RedisUrl::is_tls`]; the client verifies the server
//! against the platform's roots plus an optional CA file); `redis+unix://` is refused.
//!
//! # Examples
//!
//! ```
//! use quasar_redis::client::RedisUrl;
//!
//! let url = RedisUrl::parse("redis://:s%40cret@127.0.0.1:6380/2?client_name=api").unwrap();
//! assert_eq!((url.host(), url.port(), url.db()), ("127.0.0.1", 6380, 2));
//! assert_eq!(url.password(), Some("s@cret"));
//! assert_eq!(url.client_name(), Some("api"));
//! assert!(RedisUrl::parse("http://localhost").is_err());
//! ```

use std::fmt;

use percent_encoding::percent_decode_str;

use super::error::{RedisError, RedisResult};

/// The default Redis port.
pub const DEFAULT_PORT: u16 = 6379;

/// A parsed `redis://` or `rediss://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
    client_name: Option<String>,
    resp3: bool,
    tls: bool,
}

impl RedisUrl {
    /// Parses `url`.
    ///
    /// # Errors
    ///
    /// [`RedisError::Url`] for anything but `redis://host...`, a database that is not a
    /// non-negative integer, credentials that are not UTF-8 once decoded, or an unknown
    /// `protocol`.
    pub fn parse(url: &str) -> RedisResult<RedisUrl> {
        let bad = |what: &str| RedisError::Url(format!("{what} in {:?}", redact(url)));
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let tls = match parsed.scheme() {
            "redis" => false,
            "rediss" => true,
            _ => return Err(bad("scheme is not redis:// or rediss://")),
        };
        let host = match parsed.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err(bad("no host")),
        };
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("credentials are not UTF-8"))
        };
        let username = match parsed.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = parsed.password().map(decode).transpose()?;
        let db = match parsed.path().trim_start_matches('/') {
            "" => 0,
            db => db
                .parse::<i64>()
                .ok()
                .filter(|db| *db >= 0)
                .ok_or_else(|| bad("database is not a non-negative integer"))?,
        };
        let mut out = RedisUrl {
            host,
            port: parsed.port().unwrap_or(DEFAULT_PORT),
            username,
            password,
            db,
            client_name: None,
            resp3: false,
            tls,
        };
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "client_name" => out.client_name = Some(value.into_owned()),
                "protocol" => match &*value {
                    "resp2" | "2" => out.resp3 = false,
                    "resp3" | "3" => out.resp3 = true,
                    _ => return Err(bad("protocol is not resp2 or resp3")),
                },
                // Unknown options are ignored, as the redis crate does.
                _ => {}
            }
        }
        Ok(out)
    }

    /// Whether the URL is `rediss://`: TLS to the server.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host name or IP address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The ACL user name, if any.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The database index selected on every connection.
    pub fn db(&self) -> i64 {
        self.db
    }

    /// The `CLIENT SETNAME` given to every connection, if any.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// Whether connections switch to RESP3 with `HELLO 3`.
    pub fn is_resp3(&self) -> bool {
        self.resp3
    }

    /// Sets the `CLIENT SETNAME` of every connection.
    pub fn set_client_name(&mut self, name: impl Into<String>) {
        self.client_name = Some(name.into());
    }

    /// Chooses RESP3 (`HELLO 3`) or RESP2.
    pub fn set_resp3(&mut self, on: bool) {
        self.resp3 = on;
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("RedisUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .field("client_name", &self.client_name)
            .field("resp3", &self.resp3)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `url` without what lies between `://` and `@` (the credentials), for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_full_forms() {
        let u = RedisUrl::parse("redis://localhost").unwrap();
        assert_eq!((u.host(), u.port(), u.db()), ("localhost", 6379, 0));
        assert_eq!((u.username(), u.password()), (None, None));
        let u = RedisUrl::parse("redis://alice:pw@[::1]:7000/15?protocol=resp3").unwrap();
        assert_eq!((u.host(), u.port(), u.db()), ("::1", 7000, 15));
        assert_eq!((u.username(), u.password()), (Some("alice"), Some("pw")));
        assert!(u.is_resp3());
    }

    #[test]
    fn bad_urls_are_refused_without_leaking_the_password() {
        for bad in [
            "http://h",
            "redis://h/x",
            "redis://h/-1",
            "redis://h:99999",
            "redis://:pw@h/db?protocol=9",
            "no scheme",
        ] {
            let err = RedisUrl::parse(bad).unwrap_err();
            assert!(matches!(err, RedisError::Url(_)), "{bad}");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
        assert!(!format!("{:?}", RedisUrl::parse("redis://:pw@h").unwrap()).contains("pw"));
    }

    #[test]
    fn rediss_means_tls() {
        let url = RedisUrl::parse("rediss://u:p@cache.example:6380/3").unwrap();
        assert!(url.is_tls());
        assert_eq!(
            (url.host(), url.port(), url.db()),
            ("cache.example", 6380, 3)
        );
        assert!(!RedisUrl::parse("redis://h").unwrap().is_tls());
    }
}
