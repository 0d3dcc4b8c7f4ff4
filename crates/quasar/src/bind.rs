//! `bind`: one or more `host:port` addresses, host names allowed.
//!
//! Written as `"127.0.0.1:8060"`, `"localhost:9000"`, `"a:1,b:2"` (flags, environment)
//! or a TOML list `["a:1", "b:2"]`. Names resolve when the server starts, and every
//! resolved address gets its own listener: `localhost:9000` usually listens on both
//! `127.0.0.1:9000` and `[::1]:9000`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Most addresses one `bind` may name (each becomes a listener).
pub(crate) const MAX_BIND_ADDRESSES: usize = 16;

/// The addresses a server listens on, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bind(Vec<String>);

impl Bind {
    /// Resolves every address (DNS for host names); duplicates are dropped.
    pub(crate) fn resolve(&self) -> Result<Vec<SocketAddr>, String> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for spec in &self.0 {
            let addrs = spec
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve bind address {spec:?}: {e}"))?;
            for a in addrs {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        if out.is_empty() {
            return Err(format!("bind {self} resolves to no address"));
        }
        if out.len() > MAX_BIND_ADDRESSES {
            return Err(format!(
                "bind {self} gives {} addresses; at most {MAX_BIND_ADDRESSES}",
                out.len()
            ));
        }
        Ok(out)
    }
}

impl From<SocketAddr> for Bind {
    fn from(a: SocketAddr) -> Bind {
        Bind(vec![a.to_string()])
    }
}

fn check(spec: &str) -> Result<String, String> {
    let spec = spec.trim();
    // `host:port`: the port is after the last colon (IPv6 literals are bracketed).
    let (host, port) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("bind address {spec:?} needs a port (host:port)"))?;
    if host.is_empty() {
        return Err(format!("bind address {spec:?} needs a host (host:port)"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("bind address {spec:?}: bad port {port:?}"))?;
    Ok(spec.to_string())
}

impl FromStr for Bind {
    type Err = String;

    fn from_str(s: &str) -> Result<Bind, String> {
        let list = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(check)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err("bind needs at least one host:port".into());
        }
        if list.len() > MAX_BIND_ADDRESSES {
            return Err(format!("at most {MAX_BIND_ADDRESSES} bind addresses"));
        }
        Ok(Bind(list))
    }
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum Written {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Bind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bind, D::Error> {
        let text = match Written::deserialize(d)? {
            Written::One(s) => s,
            Written::Many(v) => v.join(","),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Bind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => Written::One(one.clone()),
            many => Written::Many(many.to_vec()),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lists_and_literals_parse_and_resolve() {
        let b: Bind = "localhost:0".parse().unwrap();
        let addrs = b.resolve().unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        let b: Bind = "127.0.0.1:1, [::1]:2".parse().unwrap();
        assert_eq!(b.to_string(), "127.0.0.1:1,[::1]:2");
        assert_eq!(b.resolve().unwrap().len(), 2);
    }

    #[test]
    fn bad_addresses_are_errors_naming_them() {
        for bad in ["localhost", "localhost:99999", ":80", "", " , "] {
            let err = bad.parse::<Bind>().unwrap_err();
            assert!(err.contains("bind"), "{bad}: {err}");
        }
        let b: Bind = "no-such-host.invalid:1".parse().unwrap();
        assert!(b.resolve().unwrap_err().contains("no-such-host.invalid"));
    }

    #[test]
    fn toml_takes_a_string_or_a_list() {
        #[derive(Deserialize)]
        struct T {
            bind: Bind,
        }
        let one: T = toml::from_str("bind = \"a:1\"").unwrap();
        assert_eq!(one.bind.to_string(), "a:1");
        let two: T = toml::from_str("bind = [\"a:1\", \"b:2\"]").unwrap();
        assert_eq!(two.bind.to_string(), "a:1,b:2");
        assert!(toml::from_str::<T>("bind = \"a\"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panic(text in "\\PC{0,40}") {
            if let Ok(b) = text.parse::<Bind>() {
                // What parsed prints back to the same list.
                proptest::prop_assert_eq!(b.to_string().parse::<Bind>(), Ok(b.clone()));
            }
        }

        #[test]
        fn host_port_lists_round_trip(hosts in proptest::collection::vec("[a-z0-9.]{1,12}", 1..5), port in 0u16..) {
            let text = hosts.iter().map(|h| format!("{h}:{port}")).collect::<Vec<_>>().join(",");
            let b: Bind = text.parse().unwrap();
            proptest::prop_assert_eq!(b.to_string(), text);
        }
    }
}
