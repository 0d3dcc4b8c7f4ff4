//! The configuration of `quasar serve`, in layers, each overriding the one before:
//!
//! 1. each demo server's defaults, from its own code (`Default` of its section; listed
//!    with comments in `crates/quasar/quasar.toml`);
//! 2. a file given with `--config FILE`, which may set any subset of fields;
//! 3. environment variables `QUASAR_<SECTION>_<FIELD>`, upper case, e.g.
//!    `QUASAR_ECHO_BIND=localhost:9000`, `QUASAR_UDP_ECHO_WORKERS=2`,
//!    `QUASAR_HTTP_TLS_CERT=cert.pem`;
//! 4. command-line flags (each server's
//!    [`DemoServer::apply`](crate::serve::DemoServer::apply)).
//!
//! Merging is figment's; an unknown section or key in a file is an error naming it and the
//! file. A `QUASAR_<SECTION>_…` variable that names no field is ignored with a warning
//! (other tools use the `QUASAR_` prefix too).

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::serve::metrics::{self, MetricsSection};
use crate::serve::registry_sections;

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

/// Every server's default section, in registry order, then `[metrics]`:
/// `{section: {field: value}}`.
pub(crate) fn defaults() -> toml::Table {
    let metrics = toml::Table::try_from(MetricsSection::default()).unwrap_or_default();
    registry_sections()
        .chain([(metrics::SECTION.to_string(), metrics)])
        .map(|(section, table)| (section, toml::Value::Table(table)))
        .collect()
}

/// Default, then `file`, then the environment: everything but the flags, to be read
/// section by section. Returns the layers and the environment variables that were ignored.
pub(crate) fn layers(file: Option<&Path>) -> Result<(Figment, Vec<String>), String> {
    let defaults = defaults();
    let mut figment = Figment::from(Serialized::defaults(&defaults));
    if let Some(path) = file {
        check_file(path, &defaults)?;
        figment = figment.merge(Toml::file_exact(path));
    }
    let fields = fields(&defaults);
    let mut ignored = Vec::new();
    for key in std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()) {
        if let Some(rest) = key.strip_prefix(ENV_PREFIX) {
            if env_key(rest, &fields).is_none() && section_of(rest, &fields).is_some() {
                ignored.push(key);
            }
        }
    }
    let env = Env::prefixed(ENV_PREFIX)
        .filter_map(move |k| env_key(k.as_str(), &fields).map(figment::value::Uncased::from));
    Ok((figment.merge(env), ignored))
}

/// Every problem figment reports, each with its source.
pub(crate) fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Refuses a file that does not parse or names a section or key no server has, naming
/// the key and the file (figment would name the layer the merged section came from).
fn check_file(path: &Path, defaults: &toml::Table) -> Result<(), String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("configuration file {shown} not found or unreadable: {e}"))?;
    let file: toml::Table = toml::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    for (section, value) in &file {
        let Some(toml::Value::Table(known)) = defaults.get(section) else {
            return Err(format!("unknown section `{section}` in {shown}"));
        };
        let toml::Value::Table(keys) = value else {
            return Err(format!(
                "`{section}` in {shown} must be a table ([{section}])"
            ));
        };
        if let Some(key) = keys.keys().find(|k| !known.contains_key(*k)) {
            return Err(format!(
                "unknown field `{key}` in section [{section}] of {shown}"
            ));
        }
    }
    Ok(())
}

/// `(SECTION, [FIELD])` of the defaults, upper-cased as in variable names.
fn fields(defaults: &toml::Table) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = defaults
        .iter()
        .map(|(name, section)| {
            let keys = section
                .as_table()
                .map(|t| t.keys().map(|k| k.to_uppercase()).collect())
                .unwrap_or_default();
            (name.to_uppercase(), keys)
        })
        .collect();
    // Longest section first: `UDP_ECHO_…` must not be read as section `UDP`.
    out.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    out
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

    /// The defaults with `text` merged over them, as `[echo]`'s JSON.
    fn section(text: &str, name: &str) -> Result<serde_json::Value, String> {
        Figment::from(Serialized::defaults(defaults()))
            .merge(Toml::string(text))
            .extract_inner::<serde_json::Value>(name)
            .map_err(describe)
    }

    #[test]
    fn defaults_have_the_documented_ports() {
        let d = defaults();
        assert_eq!(d["echo"]["bind"].as_str(), Some("127.0.0.1:8060"));
        assert_eq!(d["echo"]["keep_alive"].as_float(), Some(15.0));
        assert_eq!(d["udp_echo"]["bind"].as_str(), Some("127.0.0.1:8060"));
        assert_eq!(d["http"]["bind"].as_str(), Some("127.0.0.1:8070"));
        assert_eq!(d["resp"]["bind"].as_str(), Some("127.0.0.1:6410"));
        assert_eq!(d["resp"]["databases"].as_integer(), Some(16));
    }

    #[test]
    fn a_partial_file_keeps_every_other_default() {
        let echo = section("[echo]\nbind = \"127.0.0.1:9000\"\n", "echo").unwrap();
        assert_eq!(echo["bind"], "127.0.0.1:9000");
        assert_eq!(echo["keep_alive"], 15.0);
        let udp = section("[echo]\nbind = \"127.0.0.1:9000\"\n", "udp_echo").unwrap();
        assert_eq!(udp["max_datagram_size"], 65536);
    }

    #[test]
    fn unknown_sections_and_keys_are_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("quasar-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        for (text, needle) in [
            ("[echo]\nbogus = 1\n", "bogus"),
            ("[nope]\nbind = \"a:1\"\n", "nope"),
            ("bind = \"a:1\"\n", "bind"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = check_file(&path, &defaults()).unwrap_err();
            assert!(err.contains(needle) && err.contains("bad.toml"), "{err}");
        }
        std::fs::write(
            &path,
            "[echo]\ntls_cert = \"c.pem\"\nmemory_budget = \"1MiB\"\n",
        )
        .unwrap();
        assert_eq!(check_file(&path, &defaults()), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_documented_defaults_in_quasar_toml_are_the_defaults() {
        // quasar.toml is read by people, not by the program: it must not drift from the
        // code. It may leave settings out; every one it lists has the code's value.
        let listed: toml::Table = toml::from_str(include_str!("../quasar.toml")).unwrap();
        let code = defaults();
        for (section, fields) in &listed {
            let Some(toml::Value::Table(known)) = code.get(section) else {
                panic!("quasar.toml lists [{section}], which no server has");
            };
            for (key, value) in fields.as_table().unwrap() {
                let same = match (value, known.get(key)) {
                    (toml::Value::Integer(i), Some(toml::Value::Float(f))) => *i as f64 == *f,
                    (v, Some(k)) => v == k,
                    (_, None) => false,
                };
                assert!(
                    same,
                    "quasar.toml [{section}] {key} = {value}, the code says {:?}",
                    known.get(key)
                );
            }
        }
    }

    #[test]
    fn variable_names_map_to_fields() {
        let f = fields(&defaults());
        assert_eq!(env_key("ECHO_BIND", &f).as_deref(), Some("echo.bind"));
        assert_eq!(
            env_key("UDP_ECHO_MAX_DATAGRAM_SIZE", &f).as_deref(),
            Some("udp_echo.max_datagram_size")
        );
        assert_eq!(
            env_key("HTTP_MAX_CONNECTIONS", &f).as_deref(),
            Some("http.max_connections")
        );
        assert_eq!(
            env_key("RESP_TLS_CLIENT_CA", &f).as_deref(),
            Some("resp.tls_client_ca")
        );
        assert_eq!(
            env_key("ECHO_MEMORY_BUDGET", &f).as_deref(),
            Some("echo.memory_budget")
        );
        assert_eq!(env_key("ECHO_CMD", &f), None);
        assert_eq!(env_key("WS_PYTHON", &f), None);
        assert!(section_of("ECHO_CMD", &f).is_some());
        assert!(section_of("WS_PYTHON", &f).is_none());
    }
}
