//! `quasar serve resp`: pulsar's `pulsards`, a Redis-protocol key-value server
//! (`redis-cli -p 6410`).

use std::time::Duration;

use quasar_net::TcpServer;
use quasar_redis::server::{parse_memory, MaxMemoryPolicy, RespServerConfig, RespServerFactory};
use serde::{Deserialize, Serialize};

use super::{DemoServer, Listen, Running, Start, TcpFlags, TcpSettings};

/// The RESP server.
pub(crate) struct Resp;

/// The `[resp]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct RespSection {
    #[serde(flatten)]
    tcp: TcpSettings,
    /// Empty: no password.
    #[serde(deserialize_with = "crate::config::lenient_string")]
    requirepass: String,
    databases: usize,
    /// Redis's maxmemory: bytes or `100mb`-style; "0" = no limit.
    #[serde(deserialize_with = "crate::config::lenient_string")]
    maxmemory: String,
    /// `noeviction` or `allkeys-lru`.
    maxmemory_policy: String,
}

impl Default for RespSection {
    fn default() -> Self {
        RespSection {
            // As Redis: `timeout 0` keeps idle clients, and no per-command timeout (the
            // progress timeouts still apply), for blocking commands.
            tcp: TcpSettings {
                keep_alive: 0.0,
                request_timeout: 0.0,
                ..TcpSettings::on(6410)
            },
            requirepass: String::new(),
            databases: quasar_redis::server::DEFAULT_DATABASES,
            maxmemory: "0".into(),
            maxmemory_policy: "noeviction".into(),
        }
    }
}

/// Flags of `quasar serve resp`.
#[derive(Debug, clap::Args)]
pub(crate) struct RespFlags {
    #[command(flatten)]
    tcp: TcpFlags,
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

impl DemoServer for Resp {
    const NAME: &'static str = "resp";
    const ABOUT: &'static str = "pulsar's pulsards: a Redis-protocol key-value server";
    type Section = RespSection;
    type Flags = RespFlags;

    fn apply(f: RespFlags, s: &mut RespSection) {
        f.tcp.apply(&mut s.tcp);
        if let Some(p) = f.requirepass {
            s.requirepass = p;
        }
        if let Some(m) = f.maxmemory {
            s.maxmemory = m;
        }
        if let Some(p) = f.maxmemory_policy {
            s.maxmemory_policy = p;
        }
    }

    fn listen(s: &RespSection) -> Listen<'_> {
        Listen::Tcp(&s.tcp)
    }

    fn validate(s: &RespSection) -> Result<(), String> {
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

    async fn start(s: &RespSection, at: Start<'_>) -> quasar_net::Result<Running> {
        let mut config = RespServerConfig::default();
        config.requirepass = (!s.requirepass.is_empty()).then(|| s.requirepass.clone());
        config.databases = s.databases;
        // Checked by `validate`.
        config.maxmemory = parse_memory(&s.maxmemory).unwrap_or(0);
        config.maxmemory_policy = s.maxmemory_policy.parse().unwrap_or_default();
        let keep_alive = Duration::from_secs_f64(s.tcp.keep_alive);
        let request_timeout = Duration::from_secs_f64(s.tcp.request_timeout);
        let builder = at
            .configure(TcpServer::builder(RespServerFactory::new(config.clone())))
            .connection_config(|c| {
                // RESP's connection settings reset the request timeout; the section's
                // timeouts go back on after them.
                config.apply_to(c);
                c.keep_alive(keep_alive);
                c.request_timeout(request_timeout);
            });
        at.start_tcp(builder).await.map(Running::Tcp)
    }
}
