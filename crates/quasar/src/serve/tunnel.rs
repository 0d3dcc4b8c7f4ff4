//! `quasar serve tunnel --upstream HOST:PORT`: a TCP relay to one upstream, the core of
//! pulsar's `StreamTunnel`. Each client connection dials the upstream at accept (a
//! server-first upstream's banner reaches the client before it speaks), bytes go both
//! ways with back-pressure, a half-close travels through, and a pair that stops making
//! progress is closed by the write-stall rule. Not started by plain `quasar serve`: it
//! needs an upstream.

use std::time::Duration;

use quasar_net::relay::Tunnel as TunnelFactory;
use quasar_net::{ConnectionConfig, TcpServer};
use serde::{Deserialize, Serialize};

use super::{DemoServer, Listen, Running, Start, TcpFlags, TcpSettings};

/// The TCP tunnel.
pub(crate) struct Tunnel;

/// The `[tunnel]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct TunnelSection {
    #[serde(flatten)]
    tcp: TcpSettings,
    /// Where to relay to (`host:port`); required.
    upstream: String,
    /// Seconds to wait for the upstream's handshake.
    connect_timeout: f64,
}

impl Default for TunnelSection {
    fn default() -> Self {
        TunnelSection {
            // A relayed session (a shell, a database client) may sit idle for minutes.
            tcp: TcpSettings {
                keep_alive: 300.0,
                ..TcpSettings::on(8062)
            },
            upstream: String::new(),
            connect_timeout: 10.0,
        }
    }
}

/// Flags of `quasar serve tunnel`.
#[derive(Debug, clap::Args)]
pub(crate) struct TunnelFlags {
    #[command(flatten)]
    tcp: TcpFlags,
    /// Where to relay to, `host:port` (required here, in the file or in
    /// `QUASAR_TUNNEL_UPSTREAM`).
    #[arg(long, value_name = "HOST:PORT")]
    upstream: Option<String>,
    /// Seconds to wait for the upstream's handshake.
    #[arg(long, value_name = "SECONDS")]
    connect_timeout: Option<f64>,
}

impl DemoServer for Tunnel {
    const NAME: &'static str = "tunnel";
    const ABOUT: &'static str = "a TCP relay to --upstream HOST:PORT (pulsar's StreamTunnel)";
    const STARTS_BY_DEFAULT: bool = false;
    type Section = TunnelSection;
    type Flags = TunnelFlags;

    fn apply(f: TunnelFlags, s: &mut TunnelSection) {
        f.tcp.apply(&mut s.tcp);
        if let Some(upstream) = f.upstream {
            s.upstream = upstream;
        }
        s.connect_timeout = f.connect_timeout.unwrap_or(s.connect_timeout);
    }

    fn listen(s: &TunnelSection) -> Listen<'_> {
        Listen::Tcp(&s.tcp)
    }

    fn validate(s: &TunnelSection) -> Result<(), String> {
        if s.upstream.is_empty() {
            return Err("the tunnel needs --upstream HOST:PORT".into());
        }
        if !s.upstream.contains(':') {
            return Err(format!("--upstream must be HOST:PORT, got {:?}", s.upstream));
        }
        if !s.connect_timeout.is_finite() || s.connect_timeout <= 0.0 {
            return Err("--connect-timeout must be a positive number of seconds".into());
        }
        Ok(())
    }

    async fn start(s: &TunnelSection, at: Start<'_>) -> quasar_net::Result<Running> {
        // The upstream side of each pair lives as long as the client side may.
        let mut upstream = ConnectionConfig::default();
        upstream.keep_alive(Duration::from_secs_f64(s.tcp.keep_alive));
        let tunnel = TunnelFactory::new(s.upstream.clone())
            .connect_timeout(Duration::from_secs_f64(s.connect_timeout))
            .upstream_config(upstream);
        let builder = at.configure(TcpServer::builder(tunnel));
        at.start_tcp(builder).await.map(Running::Tcp)
    }
}
