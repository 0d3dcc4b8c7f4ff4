//! `quasar serve resp`: pulsar's `pulsards`, a Redis-protocol key-value server.
//!
//! Its settings come from the `[resp]` section of the configuration (optional: the
//! defaults below apply without it), then from flags.

use std::net::SocketAddr;
use std::time::Duration;

use quasar_net::TcpServer;
use quasar_redis::server::{parse_memory, MaxMemoryPolicy, RespServerConfig, RespServerFactory};
use serde::Deserialize;

/// The `[resp]` section of quasar.toml.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RespSection {
    pub(crate) bind: crate::bind::Bind,
    /// Idle timeout in seconds; 0 (Redis's `timeout 0`) keeps idle clients.
    pub(crate) keep_alive: f64,
    /// A command's timeout in seconds; 0 (the default, as Redis) for blocking commands.
    pub(crate) request_timeout: f64,
    pub(crate) max_connections: usize,
    pub(crate) workers: usize,
    /// Empty: no password.
    #[serde(deserialize_with = "crate::config::lenient_string")]
    pub(crate) requirepass: String,
    pub(crate) databases: usize,
    /// Redis's maxmemory: bytes or `100mb`-style; "0" = no limit.
    #[serde(deserialize_with = "crate::config::lenient_string")]
    pub(crate) maxmemory: String,
    /// `noeviction` or `allkeys-lru`.
    pub(crate) maxmemory_policy: String,
}

impl Default for RespSection {
    fn default() -> Self {
        RespSection {
            bind: SocketAddr::from(([127, 0, 0, 1], 6410)).into(),
            keep_alive: 0.0,
            request_timeout: 0.0,
            max_connections: 10000,
            workers: 0,
            requirepass: String::new(),
            databases: quasar_redis::server::DEFAULT_DATABASES,
            maxmemory: "0".into(),
            maxmemory_policy: "noeviction".into(),
        }
    }
}

/// Flags of `quasar serve resp`.
#[derive(Debug, clap::Args)]
pub(crate) struct RespArgs {
    #[command(flatten)]
    pub(crate) server: crate::server_args::ServerArgs,
    /// Password clients must give with AUTH (Redis's requirepass).
    #[arg(long, value_name = "PASSWORD")]
    requirepass: Option<String>,
    /// Most bytes of keys and values, by the server's estimate (`1mb`, `2gb`, bytes; 0 =
    /// no limit); past it writes evict or fail with -OOM (Redis's maxmemory).
    #[arg(long, value_name = "BYTES")]
    maxmemory: Option<String>,
    /// noeviction (refuse writes with -OOM) or allkeys-lru (evict by approximate LRU).
    #[arg(long, value_name = "POLICY")]
    maxmemory_policy: Option<String>,
}

impl RespArgs {
    pub(crate) fn apply(self, s: &mut RespSection) {
        self.server.apply(crate::server_args::common_of!(s));
        s.requirepass = self
            .requirepass
            .unwrap_or(std::mem::take(&mut s.requirepass));
        s.maxmemory = self.maxmemory.unwrap_or(std::mem::take(&mut s.maxmemory));
        s.maxmemory_policy = self
            .maxmemory_policy
            .unwrap_or(std::mem::take(&mut s.maxmemory_policy));
    }
}

/// Checks the section; the message names the flag.
pub(crate) fn validate(s: &RespSection) -> Result<(), String> {
    for (name, v) in [
        ("keep-alive", s.keep_alive),
        ("request-timeout", s.request_timeout),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "--{name} must be a non-negative number of seconds, got {v}"
            ));
        }
    }
    if s.databases == 0 || s.databases > 1024 {
        return Err(format!(
            "resp databases must be 1 to 1024, got {}",
            s.databases
        ));
    }
    parse_memory(&s.maxmemory).map_err(|e| format!("--maxmemory: {e}"))?;
    s.maxmemory_policy
        .parse::<MaxMemoryPolicy>()
        .map_err(|e| format!("--maxmemory-policy: {e}"))?;
    Ok(())
}

/// Starts the server.
pub(crate) async fn start(
    s: &RespSection,
    addr: SocketAddr,
    tls: Option<&crate::serve_tls::Tls>,
) -> quasar_net::Result<TcpServer> {
    let mut config = RespServerConfig::default();
    config.requirepass = (!s.requirepass.is_empty()).then(|| s.requirepass.clone());
    config.databases = s.databases;
    // Checked by `validate`.
    config.maxmemory = parse_memory(&s.maxmemory).unwrap_or(0);
    config.maxmemory_policy = s.maxmemory_policy.parse().unwrap_or_default();
    let keep_alive = Duration::from_secs_f64(s.keep_alive);
    let request_timeout = Duration::from_secs_f64(s.request_timeout);
    let builder =
        crate::serve_overload::apply(TcpServer::builder(RespServerFactory::new(config.clone())))
            .name("resp")
            .bind(addr)
            .max_connections(s.max_connections)
            .workers(s.workers)
            .connection_config(|c| {
                config.apply_to(c);
                c.keep_alive(keep_alive);
                c.request_timeout(request_timeout);
            });
    crate::serve_tls::start(builder, tls, "resp").await
}
