//! The configuration of `quasar serve`, in layers, each overriding the one before:
//!
//! 1. the embedded default (`crates/quasar/quasar.toml`);
//! 2. a file given with `--config FILE`, which may set any subset of fields;
//! 3. environment variables `QUASAR_<SECTION>_<FIELD>`, upper case, e.g.
//!    `QUASAR_ECHO_BIND=localhost:9000`, `QUASAR_UDP_ECHO_WORKERS=2`,
//!    `QUASAR_HTTP_MAX_CONNECTIONS=100`;
//! 4. command-line flags.
//!
//! Merging is figment's; an unknown key in a file is an error naming the key and the
//! file. A `QUASAR_<SECTION>_…` variable that names no field is ignored with a warning
//! (other tools use the `QUASAR_` prefix too).

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::bind::Bind;

/// The embedded default configuration (`crates/quasar/quasar.toml`).
pub(crate) const DEFAULT_CONFIG: &str = include_str!("../quasar.toml");

/// Every demo server's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EchoSection {
    pub(crate) bind: Bind,
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UdpEchoSection {
    pub(crate) bind: Bind,
    /// Echo each datagram unchanged instead of line by line.
    #[serde(default)]
    pub(crate) raw: bool,
    pub(crate) workers: usize,
    pub(crate) max_datagram_size: usize,
    pub(crate) batching: bool,
}

/// Reads a string field that an environment variable may have given as a number or a
/// boolean (figment types variable values: `QUASAR_RESP_REQUIREPASS=123` arrives as 123).
pub(crate) fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        S(String),
        U(u64),
        I(i64),
        F(f64),
        B(bool),
    }
    Ok(match Any::deserialize(d)? {
        Any::S(s) => s,
        Any::U(n) => n.to_string(),
        Any::I(n) => n.to_string(),
        Any::F(n) => n.to_string(),
        Any::B(b) => b.to_string(),
    })
}

/// Where the environment layer's variables start.
pub(crate) const ENV_PREFIX: &str = "QUASAR_";

impl Config {
    /// Parses one configuration text over the embedded default.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<Config, String> {
        Figment::from(Toml::string(DEFAULT_CONFIG))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| e.to_string())
    }

    /// The embedded default.
    pub(crate) fn embedded() -> Config {
        Figment::from(Toml::string(DEFAULT_CONFIG))
            .extract()
            .expect("the embedded configuration parses (tested)")
    }

    /// Default, then `file`, then the environment: everything but the flags.
    /// Returns the configuration and the environment variables that were ignored.
    pub(crate) fn load(file: Option<&Path>) -> Result<(Config, Vec<String>), String> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(format!("configuration file {} not found", path.display()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let fields = Config::fields();
        let mut ignored = Vec::new();
        for (key, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
            if let Some(rest) = key.strip_prefix(ENV_PREFIX) {
                if env_key(rest, &fields).is_none() && section_of(rest, &fields).is_some() {
                    ignored.push(key);
                }
            }
        }
        let env = Env::prefixed(ENV_PREFIX)
            .filter_map(move |k| env_key(k.as_str(), &fields).map(figment::value::Uncased::from));
        let config = figment.merge(env).extract::<Config>().map_err(|e| {
            // figment reports every problem; name each with its source.
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok((config, ignored))
    }

    /// `(section, [fields])` of the embedded default, upper-cased as in variable names.
    fn fields() -> Vec<(String, Vec<String>)> {
        let value = serde_json::to_value(Config::embedded()).unwrap_or_default();
        let mut out = Vec::new();
        if let Some(sections) = value.as_object() {
            for (name, section) in sections {
                let keys = section
                    .as_object()
                    .map(|o| o.keys().map(|k| k.to_uppercase()).collect())
                    .unwrap_or_default();
                out.push((name.to_uppercase(), keys));
            }
        }
        // Longest section first: `UDP_ECHO_…` must not be read as section `UDP`.
        out.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        out
    }
}

/// The section a variable name (without the prefix) starts with, and the rest.
fn section_of<'a>(
    rest: &str,
    fields: &'a [(String, Vec<String>)],
) -> Option<(&'a str, &'a [String], String)> {
    let upper = rest.to_uppercase();
    fields.iter().find_map(|(section, keys)| {
        let field = upper.strip_prefix(section.as_str())?.strip_prefix('_')?;
        Some((section.as_str(), keys.as_slice(), field.to_string()))
    })
}

/// `ECHO_MAX_CONNECTIONS` -> `echo.max_connections`, if that names a field.
fn env_key(rest: &str, fields: &[(String, Vec<String>)]) -> Option<String> {
    let (section, keys, field) = section_of(rest, fields)?;
    keys.contains(&field)
        .then(|| format!("{}.{}", section.to_lowercase(), field.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_parses_with_the_documented_ports() {
        let cfg = Config::embedded();
        assert_eq!(cfg.echo.bind.to_string(), "127.0.0.1:8060");
        assert_eq!(cfg.echo.keep_alive, 15.0);
        assert_eq!(cfg.udp_echo.bind.to_string(), "127.0.0.1:8060");
        assert_eq!(cfg.resp.bind.to_string(), "127.0.0.1:6410");
        assert_eq!(cfg.resp.databases, 16);
    }

    #[test]
    fn a_partial_file_keeps_every_other_default() {
        let cfg = Config::parse("[echo]\nbind = \"127.0.0.1:9000\"\n").unwrap();
        assert_eq!(cfg.echo.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(cfg.echo.keep_alive, 15.0);
        assert_eq!(cfg.udp_echo.max_datagram_size, 65536);
        assert_eq!(cfg.resp.bind.to_string(), "127.0.0.1:6410");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::parse("[echo]\nbogus = 1\n").unwrap_err();
        assert!(err.contains("bogus"), "{err}");
        let err = Config::parse("[nope]\nbind = \"a:1\"\n").unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn variable_names_map_to_fields() {
        let f = Config::fields();
        assert_eq!(env_key("ECHO_BIND", &f).as_deref(), Some("echo.bind"));
        assert_eq!(
            env_key("UDP_ECHO_MAX_DATAGRAM_SIZE", &f).as_deref(),
            Some("udp_echo.max_datagram_size")
        );
        assert_eq!(
            env_key("HTTP_MAX_CONNECTIONS", &f).as_deref(),
            Some("http.max_connections")
        );
        assert_eq!(env_key("ECHO_CMD", &f), None);
        assert_eq!(env_key("WS_PYTHON", &f), None);
        assert!(section_of("ECHO_CMD", &f).is_some());
        assert!(section_of("WS_PYTHON", &f).is_none());
    }
}
