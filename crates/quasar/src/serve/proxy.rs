//! `quasar serve proxy`: a forward HTTP proxy (pulsar's `examples/proxyserver`), the
//! library's [`ForwardProxy`]. Absolute-form requests are forwarded over pooled
//! keep-alive upstream connections, `CONNECT host:port` opens a relayed tunnel, and the
//! safety rules are squid's: `CONNECT` only to `--connect-ports` (default 443), only to
//! `--allow`ed hosts (default any), optional `--auth user:pass`.

use std::time::Duration;

use quasar_http::proxy::{ForwardProxy, PortRule};
use quasar_http::server::ServerConfig;
use quasar_http::Limits;
use quasar_net::TcpServer;
use serde::{Deserialize, Serialize};

use super::{DemoServer, Listen, Running, Start, TcpFlags, TcpSettings};

/// The forward proxy.
pub(crate) struct Proxy;

/// The `[proxy]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct ProxySection {
    #[serde(flatten)]
    tcp: TcpSettings,
    /// Ports `CONNECT` may reach: `*` or a comma-separated list.
    connect_ports: String,
    /// Destination host patterns allowed, comma-separated (`*.example.com`, `10.0.0.1`);
    /// empty allows any.
    allow: String,
    /// `user:pass` required as Basic proxy credentials; empty requires none.
    auth: String,
    /// Seconds to wait for an upstream's TCP handshake (then 504).
    connect_timeout: f64,
    /// Seconds to wait for an upstream's response head (then 504).
    response_timeout: f64,
    /// From a request's first byte to the end of its head, in seconds (slowloris).
    header_timeout: f64,
}

impl Default for ProxySection {
    fn default() -> Self {
        ProxySection {
            tcp: TcpSettings {
                // A tunnel (an SSH or TLS session) may sit idle for minutes, and a large
                // body may take longer than any fixed request time: the progress
                // timeouts close a transfer that stops moving.
                keep_alive: 300.0,
                request_timeout: 0.0,
                ..TcpSettings::on(8080)
            },
            connect_ports: "443".into(),
            allow: String::new(),
            auth: String::new(),
            connect_timeout: 10.0,
            response_timeout: 60.0,
            header_timeout: 10.0,
        }
    }
}

/// Flags of `quasar serve proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProxyFlags {
    #[command(flatten)]
    tcp: TcpFlags,
    /// Ports CONNECT may reach: `*` (any) or a list like 443,8443.
    #[arg(long, value_name = "PORTS")]
    connect_ports: Option<String>,
    /// Destination hosts allowed, comma-separated patterns (`*.example.com`, `127.0.0.1`);
    /// unset allows any.
    #[arg(long, value_name = "PATTERNS")]
    allow: Option<String>,
    /// Require Basic proxy credentials `user:pass` (others get 407).
    #[arg(long, value_name = "USER:PASS")]
    auth: Option<String>,
    /// Seconds to wait for an upstream's TCP handshake.
    #[arg(long, value_name = "SECONDS")]
    connect_timeout: Option<f64>,
    /// Seconds to wait for an upstream's response head.
    #[arg(long, value_name = "SECONDS")]
    response_timeout: Option<f64>,
}

fn seconds(name: &str, v: f64) -> Result<Duration, String> {
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("--{name} must be a positive number of seconds, got {v}"));
    }
    Ok(Duration::from_secs_f64(v))
}

impl DemoServer for Proxy {
    const NAME: &'static str = "proxy";
    const ABOUT: &'static str =
        "a forward HTTP proxy with CONNECT tunnels (pulsar's proxyserver)";
    type Section = ProxySection;
    type Flags = ProxyFlags;

    fn apply(f: ProxyFlags, s: &mut ProxySection) {
        f.tcp.apply(&mut s.tcp);
        if let Some(v) = f.connect_ports {
            s.connect_ports = v;
        }
        if let Some(v) = f.allow {
            s.allow = v;
        }
        if let Some(v) = f.auth {
            s.auth = v;
        }
        s.connect_timeout = f.connect_timeout.unwrap_or(s.connect_timeout);
        s.response_timeout = f.response_timeout.unwrap_or(s.response_timeout);
    }

    fn listen(s: &ProxySection) -> Listen<'_> {
        Listen::Tcp(&s.tcp)
    }

    fn validate(s: &ProxySection) -> Result<(), String> {
        s.connect_ports
            .parse::<PortRule>()
            .map_err(|e| format!("--connect-ports: {e}"))?;
        if !s.auth.is_empty() && !s.auth.contains(':') {
            return Err("--auth must be USER:PASS".into());
        }
        seconds("connect-timeout", s.connect_timeout)?;
        seconds("response-timeout", s.response_timeout)?;
        let v = s.header_timeout;
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "header_timeout must be a non-negative number of seconds, got {v}"
            ));
        }
        Ok(())
    }

    async fn start(s: &ProxySection, at: Start<'_>) -> quasar_net::Result<Running> {
        let ports = s
            .connect_ports
            .parse::<PortRule>()
            .map_err(quasar_net::Error::config)?;
        let allow = s
            .allow
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from);
        let mut builder = ForwardProxy::builder()
            .connect_ports(ports)
            .allow(allow)
            .connect_timeout(Duration::from_secs_f64(s.connect_timeout))
            .response_timeout(Duration::from_secs_f64(s.response_timeout))
            .server_config(ServerConfig {
                limits: Limits {
                    max_body: u64::MAX,
                    ..Limits::default()
                },
                header_timeout: Duration::from_secs_f64(s.header_timeout),
                server_name: None,
                ..ServerConfig::default()
            });
        if let Some((user, pass)) = s.auth.split_once(':') {
            builder = builder.auth(user, pass);
        }
        let proxy = builder.build();
        let server = at.start_tcp(at.configure(TcpServer::builder(proxy))).await?;
        Ok(Running::Tcp(server))
    }
}
