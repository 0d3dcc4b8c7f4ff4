//! `quasar serve http`: the HTTP/1.1 + WebSocket demo server (quasar_http::demo).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use quasar_http::server::{builder, ServerConfig};
use quasar_net::TcpServer;
use serde::Deserialize;

/// The `[http]` section of quasar.toml.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HttpSection {
    pub(crate) bind: crate::bind::Bind,
    pub(crate) workers: usize,
    pub(crate) keep_alive: f64,
    pub(crate) request_timeout: f64,
    pub(crate) header_timeout: f64,
    pub(crate) max_connections: usize,
    pub(crate) max_requests: u64,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            bind: SocketAddr::from(([127, 0, 0, 1], 8070)).into(),
            workers: 0,
            keep_alive: 15.0,
            request_timeout: 60.0,
            header_timeout: 10.0,
            max_connections: 10000,
            max_requests: 0,
        }
    }
}

/// Flags of `quasar serve http`.
#[derive(Debug, clap::Args)]
pub(crate) struct HttpArgs {
    #[command(flatten)]
    pub(crate) server: crate::server_args::ServerArgs,
    /// Requests per connection; the last response says `Connection: close` (0 = no limit).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
}

impl HttpArgs {
    pub(crate) fn apply(self, s: &mut HttpSection) {
        self.server.apply(crate::server_args::common_of!(s));
        s.max_requests = self.max_requests.unwrap_or(s.max_requests);
    }
}

/// Checks the section's numbers.
pub(crate) fn validate(s: &HttpSection) -> Result<(), String> {
    for (name, v) in [
        ("keep-alive", s.keep_alive),
        ("request-timeout", s.request_timeout),
        ("header-timeout", s.header_timeout),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "http {name} must be a non-negative number of seconds, got {v}"
            ));
        }
    }
    Ok(())
}

/// Starts the demo HTTP server; `/info` reports the server's own `info()`.
pub(crate) async fn start_http(
    s: &HttpSection,
    addr: SocketAddr,
    tls: Option<&crate::serve_tls::Tls>,
) -> quasar_net::Result<TcpServer> {
    let me: Arc<OnceLock<TcpServer>> = Arc::new(OnceLock::new());
    let info = {
        let me = me.clone();
        move || match me.get() {
            Some(server) => serde_json::to_value(server.info()).unwrap_or_default(),
            None => serde_json::Value::Null,
        }
    };
    let config = ServerConfig {
        max_requests: s.max_requests,
        header_timeout: Duration::from_secs_f64(s.header_timeout),
        ..ServerConfig::default()
    };
    let builder = crate::serve_overload::apply(builder(quasar_http::demo::app(info), config))
        .name("http")
        .bind(addr)
        .keep_alive(Duration::from_secs_f64(s.keep_alive))
        .request_timeout(Duration::from_secs_f64(s.request_timeout))
        .max_connections(s.max_connections)
        .workers(s.workers);
    let server = crate::serve_tls::start(builder, tls, "http").await?;
    let _ = me.set(server.clone());
    Ok(server)
}
