//! The settings every TCP server of `quasar serve` shares: where it listens, its workers,
//! its timeouts, its connection limit, TLS and overload protection.
//!
//! [`TcpSettings`] is flattened into each server's section (`#[serde(flatten)]`), so a
//! shared key has one type, one default rule and one validation; [`TcpFlags`] is
//! flattened into each server's flags, so every server gets a shared flag with the same
//! name and help. Flags are the last configuration layer: [`TcpFlags::apply`] overrides
//! the fields a flag was given for and keeps the file/environment value of every other.

use std::net::SocketAddr;
use std::time::Duration;

use quasar_net::{ConsumerFactory, TcpServerBuilder};
use serde::{Deserialize, Serialize};

use super::overload::{OverloadFlags, OverloadSettings};
use super::tls::{TlsFlags, TlsSettings};
use crate::bind::Bind;

/// The shared part of a TCP server's section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub(crate) struct TcpSettings {
    /// Addresses to listen on.
    pub(crate) bind: Bind,
    /// 0 = one multi-thread runtime; N = N current-thread workers.
    pub(crate) workers: usize,
    /// Idle timeout between requests in seconds (0 disables it).
    pub(crate) keep_alive: f64,
    /// Timeout of a request in flight in seconds (0 disables it).
    pub(crate) request_timeout: f64,
    /// Most connections open at once (0 = no limit).
    pub(crate) max_connections: usize,
    #[serde(flatten)]
    pub(crate) tls: TlsSettings,
    #[serde(flatten)]
    pub(crate) overload: OverloadSettings,
}

impl TcpSettings {
    /// Settings listening on `bind` with the common defaults: 15 s keep-alive (pulsar's
    /// `SocketServer`), 30 s request timeout, 10,000 connections, no TLS, quasar-net's
    /// overload defaults. A server changes what differs for it.
    ///
    /// ```ignore
    /// let tcp = TcpSettings { request_timeout: 60.0, ..TcpSettings::on(8070) };
    /// ```
    pub(crate) fn on(port: u16) -> TcpSettings {
        TcpSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], port)).into(),
            workers: 0,
            keep_alive: 15.0,
            request_timeout: 30.0,
            max_connections: 10_000,
            tls: TlsSettings::default(),
            overload: OverloadSettings::default(),
        }
    }

    /// Checks the numbers; the message names the flag.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("keep-alive", self.keep_alive),
            ("request-timeout", self.request_timeout),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!(
                    "--{name} must be a non-negative number of seconds, got {v}"
                ));
            }
        }
        self.overload.validate()
    }

    /// Applies the shared settings (all but the address, set per listener) to a builder;
    /// a server's own settings go on after them.
    pub(crate) fn configure<F: ConsumerFactory>(
        &self,
        b: TcpServerBuilder<F>,
    ) -> TcpServerBuilder<F> {
        self.overload
            .apply(b)
            .keep_alive(Duration::from_secs_f64(self.keep_alive))
            .request_timeout(Duration::from_secs_f64(self.request_timeout))
            .max_connections(self.max_connections)
            .workers(self.workers)
    }
}

/// Flags shared by the TCP servers.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct TcpFlags {
    /// Addresses to listen on, host:port, comma-separated (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    bind: Option<Bind>,
    /// Current-thread worker runtimes with SO_REUSEPORT listeners (0 = one multi-thread runtime).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Idle timeout between requests in seconds (0 disables it).
    #[arg(long, value_name = "SECS")]
    keep_alive: Option<f64>,
    /// Timeout of a request in flight, response included, in seconds (0 disables it;
    /// the progress timeouts still close a peer that stops moving bytes).
    #[arg(long, value_name = "SECS")]
    request_timeout: Option<f64>,
    /// Most connections open at once (0 = no limit); see --overflow.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    #[command(flatten)]
    tls: TlsFlags,
    #[command(flatten)]
    overload: OverloadFlags,
}

impl TcpFlags {
    /// Overrides the fields a flag was given for.
    pub(crate) fn apply(self, s: &mut TcpSettings) {
        if let Some(b) = self.bind {
            s.bind = b;
        }
        s.workers = self.workers.unwrap_or(s.workers);
        s.keep_alive = self.keep_alive.unwrap_or(s.keep_alive);
        s.request_timeout = self.request_timeout.unwrap_or(s.request_timeout);
        s.max_connections = self.max_connections.unwrap_or(s.max_connections);
        self.tls.apply(&mut s.tls);
        self.overload.apply(&mut s.overload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: TcpFlags,
    }

    #[test]
    fn given_flags_override_and_the_rest_stay() {
        let cli = Cli::parse_from([
            "x",
            "--keep-alive",
            "9",
            "--max-connections",
            "7",
            "--overflow",
            "reject",
        ]);
        let mut s = TcpSettings::on(1);
        cli.server.apply(&mut s);
        assert_eq!(
            (s.bind.to_string().as_str(), s.keep_alive, s.request_timeout),
            ("127.0.0.1:1", 9.0, 30.0)
        );
        assert_eq!(s.max_connections, 7);
        assert_eq!(
            s.overload.overflow,
            quasar_net::server::OverflowPolicy::Reject
        );
        assert_eq!(
            s.overload.memory_budget,
            OverloadSettings::default().memory_budget
        );
    }

    #[test]
    fn overload_and_tls_flags_parse_in_the_shared_struct() {
        let cli = Cli::try_parse_from([
            "x",
            "--memory-budget",
            "64MiB",
            "--overflow",
            "reject",
            "--max-queue-time",
            "2",
        ]);
        assert!(cli.is_ok());
        assert!(Cli::try_parse_from(["x", "--memory-budget", "lots"]).is_err());
        assert!(
            Cli::try_parse_from(["x", "--tls-cert", "a.pem"]).is_err(),
            "needs --tls-key"
        );
    }

    #[test]
    fn the_shared_keys_sit_flat_in_a_section() {
        let text = toml::to_string(&TcpSettings::on(9)).unwrap();
        for key in [
            "bind",
            "keep_alive",
            "tls_cert",
            "tls_client_ca",
            "memory_budget",
        ] {
            assert!(
                text.contains(&format!("\n{key} = ")) || text.starts_with(key),
                "{text}"
            );
        }
        assert_eq!(
            toml::from_str::<TcpSettings>(&text).unwrap(),
            TcpSettings::on(9)
        );
    }

    #[test]
    fn negative_durations_are_refused_naming_the_flag() {
        let mut s = TcpSettings::on(1);
        s.request_timeout = -1.0;
        assert!(s.validate().unwrap_err().contains("--request-timeout"));
        let mut s = TcpSettings::on(1);
        s.overload.max_queue_time = f64::NAN;
        assert!(s.validate().unwrap_err().contains("--max-queue-time"));
    }
}
