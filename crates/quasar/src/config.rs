//! The configuration of `quasar serve`: an embedded default, optionally replaced by a
//! file, then overridden by command-line flags.

use std::net::SocketAddr;

use serde::Deserialize;

/// The embedded default configuration (`crates/quasar/quasar.toml`).
pub(crate) const DEFAULT_CONFIG: &str = include_str!("../quasar.toml");

/// Every demo server's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) echo: EchoSection,
    pub(crate) udp_echo: UdpEchoSection,
    #[serde(default)]
    pub(crate) http: crate::serve_http::HttpSection,
    #[serde(default)]
    pub(crate) resp: crate::serve_resp::RespSection,
}

/// The TCP echo server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EchoSection {
    pub(crate) bind: SocketAddr,
    pub(crate) raw: bool,
    pub(crate) keep_alive: f64,
    pub(crate) request_timeout: f64,
    pub(crate) max_connections: usize,
    pub(crate) max_requests: u64,
    pub(crate) max_requests_per_connection: u64,
    pub(crate) max_message_size: usize,
    pub(crate) workers: usize,
}

/// The UDP echo server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UdpEchoSection {
    pub(crate) bind: SocketAddr,
    pub(crate) workers: usize,
    pub(crate) max_datagram_size: usize,
    pub(crate) batching: bool,
}

impl Config {
    /// Parses a configuration file's text.
    pub(crate) fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The embedded default.
    pub(crate) fn embedded() -> Config {
        Config::parse(DEFAULT_CONFIG).expect("the embedded configuration parses (tested)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_parses_with_the_documented_ports() {
        let cfg = Config::embedded();
        assert_eq!(cfg.echo.bind.port(), 8060);
        assert_eq!(cfg.echo.keep_alive, 15.0);
        assert_eq!(cfg.udp_echo.bind.port(), 8060);
        assert_eq!(cfg.resp.bind.port(), 6410);
        assert_eq!(cfg.resp.databases, 16);
    }

    #[test]
    fn a_file_without_a_resp_section_gets_its_defaults() {
        let text = DEFAULT_CONFIG.split("[resp]").next().unwrap();
        let cfg = Config::parse(text).unwrap();
        assert_eq!(cfg.resp.bind.port(), 6410);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::parse("[echo]\nbogus = 1\n").unwrap_err();
        assert!(err.contains("bogus"), "{err}");
    }
}
