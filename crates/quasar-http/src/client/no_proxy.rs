//! `no_proxy`: the hosts a client reaches directly although a proxy is set, with curl's rules.
//!
//! The rules and an example are on the type.

use std::net::IpAddr;

/// `no_proxy`: the hosts a client reaches directly although a proxy is set, with curl's rules.
///
/// The list is comma (or space) separated; each entry is one of:
///
/// - `*`: every host goes direct;
/// - a host name, with or without a leading dot: `example.com` and `.example.com` both match
///   `example.com` and any name under it (`www.example.com`), never `myexample.com`;
/// - an IP address (`127.0.0.1`, `::1`, `[::1]`), matched exactly, or a CIDR block
///   (`10.0.0.0/8`, `fd00::/8`);
/// - any of those followed by `:port` (`[::1]:8080` for IPv6), which then matches that port only.
///
/// Names are compared without case and without a trailing dot. A name never matches an IP
/// entry nor an IP a name entry: no resolution happens here (curl does the same).
///
/// # Examples
///
/// ```
/// use quasar_http::client::NoProxy;
///
/// let rules = NoProxy::parse("localhost, .internal.test,10.0.0.0/8, api.test:8443");
/// assert!(rules.matches("LOCALHOST", 80));
/// assert!(rules.matches("db.internal.test", 5432));
/// assert!(rules.matches("internal.test", 80));
/// assert!(rules.matches("10.1.2.3", 80));
/// assert!(rules.matches("api.test", 8443));
/// assert!(!rules.matches("api.test", 443));
/// assert!(!rules.matches("example.com", 80));
/// assert!(NoProxy::parse("*").matches("anything", 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: HostRule,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    /// A lower-case domain without leading or trailing dots.
    Domain(String),
    /// An address and how many leading bits must match.
    Net(IpAddr, u8),
}

impl NoProxy {
    /// Parses a `no_proxy` value. Entries that are neither a name, an IP, a CIDR block nor
    /// `*` (an empty one, a bad port, a prefix too long) are skipped.
    pub fn parse(list: &str) -> NoProxy {
        let mut rules = NoProxy::default();
        for raw in list.split([',', ' ', '\t']) {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            if raw == "*" {
                rules.all = true;
                continue;
            }
            if let Some(entry) = Entry::parse(raw) {
                rules.entries.push(entry);
            }
        }
        rules
    }

    /// Whether a request to `host` (a name, an IP, or a bracketed IPv6 literal) on `port`
    /// goes direct.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.');
        let ip = host.parse::<IpAddr>().ok();
        let name = host.to_ascii_lowercase();
        self.entries.iter().any(|e| {
            if e.port.is_some_and(|p| p != port) {
                return false;
            }
            match (&e.host, ip) {
                (HostRule::Net(net, bits), Some(ip)) => in_net(ip, *net, *bits),
                (HostRule::Domain(d), None) => {
                    name == *d
                        || (name.len() > d.len()
                            && name.ends_with(d.as_str())
                            && name.as_bytes()[name.len() - d.len() - 1] == b'.')
                }
                _ => false,
            }
        })
    }

    /// Whether the list is empty (no entry and no `*`).
    pub fn is_empty(&self) -> bool {
        !self.all && self.entries.is_empty()
    }
}

impl Entry {
    fn parse(raw: &str) -> Option<Entry> {
        let (host, port) = split_port(raw)?;
        let host = host.trim_start_matches('.').trim_end_matches('.');
        if host.is_empty() {
            return None;
        }
        let rule = if let Some((addr, bits)) = host.split_once('/') {
            let ip = addr.parse::<IpAddr>().ok()?;
            let bits: u8 = bits.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return None;
            }
            HostRule::Net(ip, bits)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostRule::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
        } else {
            HostRule::Domain(host.to_ascii_lowercase())
        };
        Some(Entry { host: rule, port })
    }
}

/// `host[:port]`, `[v6][:port]`, or a bare IPv6 address (several colons, no port).
fn split_port(raw: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = raw.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        if after.is_empty() {
            return Some((host, None));
        }
        let port = after.strip_prefix(':')?;
        return Some((host, Some(port.parse().ok()?)));
    }
    match raw.matches(':').count() {
        0 => Some((raw, None)),
        1 => {
            let (host, port) = raw.split_once(':')?;
            Some((host, Some(port.parse().ok()?)))
        }
        _ => Some((raw, None)),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_rules() {
        let n = NoProxy::parse(" example.com ,.dot.test,bad:port, 127.0.0.1,::1,[fe80::1]:81, 192.168.0.0/16 ,h.test.:9");
        assert!(n.matches("example.com", 1));
        assert!(n.matches("www.Example.COM.", 1));
        assert!(!n.matches("myexample.com", 1));
        assert!(n.matches("dot.test", 1));
        assert!(n.matches("a.b.dot.test", 1));
        assert!(n.matches("127.0.0.1", 8080));
        assert!(!n.matches("127.0.0.2", 8080));
        assert!(n.matches("[::1]", 1));
        assert!(n.matches("::1", 1));
        assert!(n.matches("[fe80::1]", 81));
        assert!(!n.matches("[fe80::1]", 80));
        assert!(n.matches("192.168.44.5", 1));
        assert!(!n.matches("192.169.0.1", 1));
        assert!(n.matches("h.test", 9));
        assert!(!n.matches("h.test", 10));
        // A name is never compared with an IP rule, nor an IP with a name rule.
        assert!(!NoProxy::parse("localhost").matches("127.0.0.1", 1));
        assert!(!NoProxy::parse("127.0.0.1").matches("localhost", 1));
    }

    #[test]
    fn stars_empties_and_junk() {
        assert!(NoProxy::parse("a, *").matches("z", 1));
        assert!(NoProxy::parse("").is_empty());
        assert!(NoProxy::parse(" , ,").is_empty());
        assert!(NoProxy::parse("h:x, 10.0.0.0/33, [::1").is_empty());
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8", 1));
    }
}
