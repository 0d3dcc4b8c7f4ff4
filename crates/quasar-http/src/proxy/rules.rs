//! Which destinations a proxy lets through: `CONNECT` ports and host patterns.

use std::fmt;
use std::str::FromStr;

/// The ports `CONNECT` may reach.
///
/// The default is squid's `SSL_ports`: `443` alone, so the proxy cannot be used to tunnel
/// to mail, SSH or database ports. [`PortRule::Any`] (`*` on the command line) lifts it.
///
/// # Examples
///
/// ```
/// use quasar_http::proxy::PortRule;
///
/// let rule: PortRule = "443,8443".parse().unwrap();
/// assert!(rule.allows(8443) && !rule.allows(22));
/// assert!("*".parse::<PortRule>().unwrap().allows(22));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRule {
    /// Any port.
    Any,
    /// These ports only.
    Only(Vec<u16>),
}

impl Default for PortRule {
    fn default() -> Self {
        PortRule::Only(vec![443])
    }
}

impl PortRule {
    /// Whether `CONNECT` may reach `port`.
    pub fn allows(&self, port: u16) -> bool {
        match self {
            PortRule::Any => true,
            PortRule::Only(ports) => ports.contains(&port),
        }
    }
}

impl FromStr for PortRule {
    type Err = String;

    /// `*`, or a comma-separated list of ports.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(PortRule::Any);
        }
        let ports = s
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<u16>()
                    .map_err(|_| format!("{p:?} is not a port (want `*` or a list like 443,8443)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PortRule::Only(ports))
    }
}

impl fmt::Display for PortRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRule::Any => f.write_str("*"),
            PortRule::Only(ports) => {
                for (i, p) in ports.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

/// A destination host pattern: `*` (any host), `*.example.com` (the domain's subdomains
/// and the domain itself), or an exact name or IP address. Matching ignores ASCII case.
///
/// # Examples
///
/// ```
/// use quasar_http::proxy::HostPattern;
///
/// let p = HostPattern::from("*.example.com");
/// assert!(p.matches("api.Example.com") && p.matches("example.com"));
/// assert!(!p.matches("badexample.com"));
/// assert!(HostPattern::from("127.0.0.1").matches("127.0.0.1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Lower-cased; `*` for any, `.suffix` for a domain, else exact.
    pattern: String,
}

impl HostPattern {
    /// Whether `host` (a name, an IPv4 address or a bracketed IPv6 one) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        let p = &self.pattern;
        if p == "*" {
            return true;
        }
        if let Some(domain) = p.strip_prefix('.') {
            if host.eq_ignore_ascii_case(domain) {
                return true;
            }
            return host.len() > p.len()
                && host.is_char_boundary(host.len() - p.len())
                && host[host.len() - p.len()..].eq_ignore_ascii_case(p);
        }
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .eq_ignore_ascii_case(p)
    }
}

impl From<&str> for HostPattern {
    fn from(s: &str) -> Self {
        let s = s.trim().to_ascii_lowercase();
        let pattern = if let Some(domain) = s.strip_prefix("*.") {
            format!(".{domain}")
        } else {
            s.trim_start_matches('[').trim_end_matches(']').to_owned()
        };
        HostPattern { pattern }
    }
}

impl From<String> for HostPattern {
    fn from(s: String) -> Self {
        HostPattern::from(s.as_str())
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pattern.strip_prefix('.') {
            Some(domain) => write!(f, "*.{domain}"),
            None => f.write_str(&self.pattern),
        }
    }
}

/// Whether `host` is allowed by `allow` (empty: any host).
pub(crate) fn host_allowed(allow: &[HostPattern], host: &str) -> bool {
    allow.is_empty() || allow.iter().any(|p| p.matches(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_match() {
        assert_eq!(PortRule::default(), PortRule::Only(vec![443]));
        assert_eq!("*".parse::<PortRule>().unwrap(), PortRule::Any);
        assert!("443,x".parse::<PortRule>().is_err());
        assert_eq!(
            "443, 8443".parse::<PortRule>().unwrap().to_string(),
            "443,8443"
        );
    }

    #[test]
    fn hosts_match_by_suffix_exact_or_any() {
        let any = HostPattern::from("*");
        assert!(any.matches("whatever"));
        let domain = HostPattern::from("*.Example.COM");
        assert!(domain.matches("a.b.example.com"));
        assert!(domain.matches("example.com."));
        assert!(!domain.matches("notexample.com"));
        assert!(HostPattern::from("[::1]").matches("[::1]"));
        assert!(!HostPattern::from("localhost").matches("localhost.evil"));
        assert!(host_allowed(&[], "x"));
        assert!(!host_allowed(&[HostPattern::from("a")], "b"));
    }
}
