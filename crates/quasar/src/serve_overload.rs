//! Overload flags of the TCP servers of `quasar serve` (part of [`ServerArgs`](crate::server_args::ServerArgs)):
//! the memory budget and what happens at `--max-connections` (see docs/overload.md).

use std::sync::OnceLock;
use std::time::Duration;

use quasar_net::server::OverflowPolicy;
use quasar_net::transport::Acceptor;
use quasar_net::{ConsumerFactory, TcpServerBuilder};

/// Overload protection flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct OverloadArgs {
    /// Server-wide budget for bytes held for peers (unfinished requests + queued
    /// output), e.g. `512MiB`, `64KiB`, `1000000`; 0 turns it off (default 512MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_budget: Option<usize>,
    /// At --max-connections: `wait` for a slot (up to --max-queue-time) or `reject` at
    /// once with the protocol's busy reply (default wait).
    #[arg(long, value_name = "POLICY")]
    overflow: Option<OverflowPolicy>,
    /// Longest wait for a slot in seconds under `--overflow wait` (0 = unbounded; default 10).
    #[arg(long, value_name = "SECS")]
    max_queue_time: Option<f64>,
}

static ARGS: OnceLock<OverloadArgs> = OnceLock::new();

impl OverloadArgs {
    /// Keeps the flags for [`apply`] (set once, from the parsed command line).
    pub(crate) fn remember(&self) {
        let _ = ARGS.set(self.clone());
    }
}

/// Applies the remembered flags (if any) to a server builder.
pub(crate) fn apply<F: ConsumerFactory, A: Acceptor>(
    mut b: TcpServerBuilder<F, A>,
) -> TcpServerBuilder<F, A> {
    let Some(a) = ARGS.get() else { return b };
    if let Some(bytes) = a.memory_budget {
        b = b.memory_budget(bytes);
    }
    if let Some(p) = a.overflow {
        b = b.overflow_policy(p);
    }
    if let Some(s) = a.max_queue_time.filter(|s| s.is_finite() && *s >= 0.0) {
        b = b.max_queue_time(Duration::from_secs_f64(s));
    }
    b
}

/// `512MiB`, `64KiB`, `2GiB`, `1000` (bytes).
fn parse_size(s: &str) -> Result<usize, String> {
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
        .ok_or_else(|| format!("size `{s}` too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
