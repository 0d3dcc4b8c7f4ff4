//! Overload settings of every TCP server of `quasar serve`: the memory budget and what
//! happens at `max_connections` (see docs/overload.md). Keys `memory_budget`, `overflow`,
//! `max_queue_time`; flags `--memory-budget`, `--overflow`, `--max-queue-time`.

use std::time::Duration;

use quasar_net::server::{OverflowPolicy, DEFAULT_MAX_QUEUE_TIME};
use quasar_net::transport::Acceptor;
use quasar_net::{ConsumerFactory, TcpServerBuilder, DEFAULT_MEMORY_BUDGET};
use serde::{Deserialize, Serialize};

/// The overload part of a TCP server's section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub(crate) struct OverloadSettings {
    /// Server-wide budget for bytes held for peers; 0 turns it off.
    #[serde(deserialize_with = "memory_budget")]
    pub(crate) memory_budget: Size,
    /// At `max_connections`: `wait` for a slot or `reject` with the busy reply.
    #[serde(with = "policy")]
    pub(crate) overflow: OverflowPolicy,
    /// Longest wait for a slot in seconds under `wait` (0 = unbounded).
    pub(crate) max_queue_time: f64,
}

impl Default for OverloadSettings {
    /// quasar-net's own defaults, so that `config show` prints what a server does.
    fn default() -> Self {
        OverloadSettings {
            memory_budget: Size(DEFAULT_MEMORY_BUDGET),
            overflow: OverflowPolicy::default(),
            max_queue_time: DEFAULT_MAX_QUEUE_TIME.as_secs_f64(),
        }
    }
}

/// Overload protection flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct OverloadFlags {
    /// Server-wide budget for bytes held for peers (unfinished requests + queued
    /// output), e.g. `512MiB`, `64KiB`, `1000000`; 0 turns it off.
    #[arg(long, value_name = "SIZE")]
    memory_budget: Option<Size>,
    /// At --max-connections: `wait` for a slot (up to --max-queue-time) or `reject` at
    /// once with the protocol's busy reply.
    #[arg(long, value_name = "POLICY")]
    overflow: Option<OverflowPolicy>,
    /// Longest wait for a slot in seconds under `--overflow wait` (0 = unbounded).
    #[arg(long, value_name = "SECS")]
    max_queue_time: Option<f64>,
}

impl OverloadFlags {
    /// Overrides the settings a flag was given for.
    pub(crate) fn apply(self, s: &mut OverloadSettings) {
        s.memory_budget = self.memory_budget.unwrap_or(s.memory_budget);
        s.overflow = self.overflow.unwrap_or(s.overflow);
        s.max_queue_time = self.max_queue_time.unwrap_or(s.max_queue_time);
    }
}

impl OverloadSettings {
    /// Checks the numbers; the message names the flag.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let t = self.max_queue_time;
        if !t.is_finite() || t < 0.0 {
            return Err(format!(
                "--max-queue-time must be a non-negative number of seconds, got {t}"
            ));
        }
        Ok(())
    }

    /// Applies the settings to a server builder.
    pub(crate) fn apply<F: ConsumerFactory, A: Acceptor>(
        &self,
        b: TcpServerBuilder<F, A>,
    ) -> TcpServerBuilder<F, A> {
        b.memory_budget(self.memory_budget.0)
            .overflow_policy(self.overflow)
            .max_queue_time(Duration::from_secs_f64(self.max_queue_time))
    }
}

/// A number of bytes, written `512MiB`, `64KiB`, `2GiB` or `1000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size(pub(crate) usize);

const UNITS: [(&str, usize); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: usize = num.parse().map_err(|_| format!("bad size `{s}`"))?;
        let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(format!("bad size unit in `{s}` (use B, KiB, MiB, GiB)")),
        };
        n.checked_mul(mult)
            .map(Size)
            .ok_or_else(|| format!("size `{s}` too large"))
    }
}

impl std::fmt::Display for Size {
    /// The largest unit that divides the size, so `config show` reads back the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        match UNITS.iter().find(|(_, m)| n > 0 && n % m == 0) {
            Some((unit, m)) => write!(f, "{}{unit}", n / m),
            None => write!(f, "{n}"),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A [`Size`] whose error names the key: serde loses the path inside a flattened struct.
fn memory_budget<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
    crate::config::lenient_string(d)?
        .parse()
        .map_err(|e| serde::de::Error::custom(format!("memory_budget: {e}")))
}

/// [`OverflowPolicy`] as its name.
mod policy {
    use quasar_net::server::OverflowPolicy;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(p: &OverflowPolicy, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OverflowPolicy, D::Error> {
        crate::config::lenient_string(d)?
            .parse()
            .map_err(|e: quasar_net::Error| serde::de::Error::custom(format!("overflow: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(s: &str) -> Result<usize, String> {
        s.parse::<Size>().map(|s| s.0)
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512MiB"), Ok(512 << 20));
        assert_eq!(size("64k"), Ok(64 << 10));
        assert_eq!(size("1000"), Ok(1000));
        assert_eq!(size("0"), Ok(0));
        assert!(size("12XB").is_err());
        assert!(size("MiB").is_err());
        assert!(size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn sizes_print_in_the_largest_whole_unit_and_read_back() {
        for (n, text) in [
            (512 << 20, "512MiB"),
            (3 << 30, "3GiB"),
            (1536, "1536"),
            (0, "0"),
        ] {
            assert_eq!(Size(n).to_string(), text);
            assert_eq!(size(text), Ok(n));
        }
    }

    #[test]
    fn the_defaults_are_quasar_nets_and_read_back_from_toml() {
        let d = OverloadSettings::default();
        let text = toml::to_string(&d).unwrap();
        assert!(text.contains("memory_budget = \"512MiB\""), "{text}");
        assert!(text.contains("overflow = \"wait\""), "{text}");
        assert_eq!(toml::from_str::<OverloadSettings>(&text).unwrap(), d);
        let s: OverloadSettings =
            toml::from_str("memory_budget = 4096\noverflow = \"reject\"\nmax_queue_time = 2")
                .unwrap();
        assert_eq!(
            (s.memory_budget.0, s.overflow),
            (4096, OverflowPolicy::Reject)
        );
        assert!(toml::from_str::<OverloadSettings>(
            "memory_budget = 1\noverflow = \"later\"\nmax_queue_time = 2"
        )
        .is_err());
    }
}
