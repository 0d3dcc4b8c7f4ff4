//! `quasar serve proxy`: a forward HTTP proxy (pulsar's `examples/proxyserver`), the
//! library's [`ForwardProxy`]. Absolute-form requests are forwarded over pooled
//! keep-alive upstream connections, `CONNECT host:port` opens a relayed tunnel, and the
//! safety rules are squid's: `CONNECT` only to `--connect-ports` (default 443), only to
//! `--allow`ed hosts (default any), optional `--auth user:pass`.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use quasar_http::proxy::{ForwardProxy, PortRule, ProxyStats};
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
        let stats = proxy.stats();
        let server = at.start_tcp(at.configure(TcpServer::builder(proxy))).await?;
        PROXIES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((server.address().to_string(), stats));
        Ok(Running::Tcp(server))
    }
}

/// The counters of every proxy listener this process started, by address, for the
/// metrics endpoint (the proxy's own families beside the per-server ones every server has).
static PROXIES: Mutex<Vec<(String, ProxyStats)>> = Mutex::new(Vec::new());

/// Registers the proxies' families into `registry` (read at each scrape).
pub(crate) fn register_metrics(registry: &mut Registry) {
    registry.register_collector(Box::new(ProxyMetrics));
}

/// `quasar_proxy_*`: requests, tunnels, bytes relayed and upstream errors by kind, labelled
/// `listener="<address>"`.
#[derive(Debug)]
struct ProxyMetrics;

impl Collector for ProxyMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let proxies: Vec<_> = PROXIES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(addr, stats)| (addr.clone(), stats.snapshot()))
            .collect();
        if proxies.is_empty() {
            return Ok(());
        }
        type Read = fn(&quasar_http::proxy::ProxyStatsSnapshot) -> Vec<(&'static str, u64)>;
        let families: [(&str, &str, bool, &str, Read); 6] = [
            ("quasar_proxy_requests", "Absolute-form requests forwarded.", true, "", |s| {
                vec![("", s.requests)]
            }),
            ("quasar_proxy_tunnels", "CONNECT tunnels established.", true, "", |s| {
                vec![("", s.tunnels)]
            }),
            ("quasar_proxy_tunnels_open", "CONNECT tunnels open now.", false, "", |s| {
                vec![("", s.tunnels_open)]
            }),
            (
                "quasar_proxy_refused",
                "Requests refused by the proxy's rules (400, 403, 407, 508).",
                true,
                "",
                |s| vec![("", s.refused)],
            ),
            (
                "quasar_proxy_relayed_bytes",
                "Bytes relayed (tunnels and forwarded bodies), by direction.",
                true,
                "direction",
                |s| vec![("up", s.bytes_up), ("down", s.bytes_down)],
            ),
            (
                "quasar_proxy_upstream_errors",
                "Upstream failures by kind.",
                true,
                "kind",
                |s| {
                    let e = s.upstream_errors;
                    vec![
                        ("connect_failed", e.connect_failed),
                        ("connect_timeout", e.connect_timeout),
                        ("response_timeout", e.response_timeout),
                        ("bad_response", e.bad_response),
                        ("reset", e.reset),
                    ]
                },
            ),
        ];
        for (name, help, counter, key, read) in families {
            let kind = if counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            for (addr, snapshot) in &proxies {
                for (label, value) in read(snapshot) {
                    let mut labels = vec![("listener", addr.as_str())];
                    if !key.is_empty() {
                        labels.push((key, label));
                    }
                    let sample = metric.encode_family(&labels)?;
                    if counter {
                        ConstCounter::new(value).encode(sample)?;
                    } else {
                        ConstGauge::new(value as i64).encode(sample)?;
                    }
                }
            }
        }
        Ok(())
    }
}
