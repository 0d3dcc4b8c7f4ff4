//! `quasar serve http`: the HTTP/1.1 + WebSocket demo routes of `quasar_http::demo`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use quasar_http::server::{builder, ServerConfig};
use quasar_net::pubsub::Broker;
use quasar_net::TcpServer;
use serde::{Deserialize, Serialize};

use super::{DemoServer, Listen, Running, Start, TcpFlags, TcpSettings};

/// The HTTP demo server.
pub(crate) struct Http;

/// The `[http]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct HttpSection {
    #[serde(flatten)]
    tcp: TcpSettings,
    /// From a request's first byte to the end of its head, in seconds (slowloris).
    header_timeout: f64,
    /// Requests per connection (0 = no limit).
    max_requests: u64,
    /// The `/chat` room's pub/sub broker: `memory` (this process) or `redis://HOST:PORT`
    /// (every process on that Redis shares the room).
    pubsub: String,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            // A whole request: head, body, handler and response.
            tcp: TcpSettings {
                request_timeout: 60.0,
                ..TcpSettings::on(8070)
            },
            header_timeout: 10.0,
            max_requests: 0,
            pubsub: "memory".to_owned(),
        }
    }
}

/// Flags of `quasar serve http`.
#[derive(Debug, clap::Args)]
pub(crate) struct HttpFlags {
    #[command(flatten)]
    tcp: TcpFlags,
    /// Requests per connection; the last response says `Connection: close` (0 = no limit).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// The `/chat` room's broker: `memory`, or `redis://HOST:PORT` to share the room with
    /// every `quasar serve http` on that Redis (or `quasar serve resp`).
    #[arg(long, value_name = "URL")]
    pubsub: Option<String>,
}

impl DemoServer for Http {
    const NAME: &'static str = "http";
    const ABOUT: &'static str = "HTTP/1.1 and WebSocket demo routes";
    type Section = HttpSection;
    type Flags = HttpFlags;

    fn apply(f: HttpFlags, s: &mut HttpSection) {
        f.tcp.apply(&mut s.tcp);
        s.max_requests = f.max_requests.unwrap_or(s.max_requests);
        if let Some(url) = f.pubsub {
            s.pubsub = url;
        }
    }

    fn listen(s: &HttpSection) -> Listen<'_> {
        Listen::Tcp(&s.tcp)
    }

    fn validate(s: &HttpSection) -> Result<(), String> {
        let v = s.header_timeout;
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "header_timeout must be a non-negative number of seconds, got {v}"
            ));
        }
        if s.pubsub != "memory" && !is_redis_url(&s.pubsub) {
            return Err(format!(
                "pubsub must be `memory` or a redis:// (rediss://) URL, got {:?}",
                s.pubsub
            ));
        }
        Ok(())
    }

    /// `/info` reports the server's own `info()`.
    async fn start(s: &HttpSection, at: Start<'_>) -> quasar_net::Result<Running> {
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
        let broker = if is_redis_url(&s.pubsub) {
            quasar_redis::pubsub::RedisBroker::open(&s.pubsub)
                .await
                .map_err(|e| {
                    quasar_net::Error::config(format!("--pubsub {}: {e}", s.pubsub))
                })?
        } else {
            // One room per process, whatever the number of listeners.
            static MEMORY: OnceLock<Broker> = OnceLock::new();
            MEMORY.get_or_init(Broker::in_process).clone()
        };
        let app = quasar_http::demo::app_with_broker(info, broker);
        let builder = at.configure(builder(app, config));
        let server = at.start_tcp(builder).await?;
        let _ = me.set(server.clone());
        Ok(Running::Tcp(server))
    }
}

fn is_redis_url(url: &str) -> bool {
    url.starts_with("redis://") || url.starts_with("rediss://")
}
