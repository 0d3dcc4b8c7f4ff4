//! [`RespServerConfig`]: the server's settings and the connection settings they imply.

use std::time::Duration;

use quasar_net::ConnectionConfig;

use crate::Limits;

/// Redis's default number of databases.
pub const DEFAULT_DATABASES: usize = 16;
/// Shards of the keyspace: enough that workers rarely wait on each other's locks, few
/// enough that `EXEC` and `KEYS` (which lock them all) stay cheap.
pub const DEFAULT_SHARDS: usize = 64;
/// Largest command (and bulk argument) a client may send: 64 MiB. Redis allows 512 MiB
/// bulks within a 1 GiB query buffer; a smaller default keeps one client from holding
/// that much memory in its read buffer.
pub const DEFAULT_MAX_COMMAND_LEN: usize = 64 * 1024 * 1024;
/// The write queue's hard cap: 32 MiB, Redis's hard output-buffer limit for pub/sub
/// clients. Replies larger than the queue's room are queued whole (see
/// docs/resp-server.md); the cap bounds what publishers can pile onto a slow subscriber.
pub const DEFAULT_OUTPUT_CAP: usize = 32 * 1024 * 1024;
/// How often the active expiry sweep runs (Redis's `hz` 10).
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Settings of the RESP server.
///
/// # Examples
///
/// ```
/// use quasar_redis::server::RespServerConfig;
///
/// let mut config = RespServerConfig::default();
/// config.requirepass = Some("secret".into());
/// assert_eq!(config.databases, 16);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RespServerConfig {
    /// The password `AUTH` must give before other commands (Redis's `requirepass`).
    pub requirepass: Option<String>,
    /// Databases `SELECT` can choose from.
    pub databases: usize,
    /// Keyspace shards (each a mutex).
    pub shards: usize,
    /// Decoder caps per connection.
    pub limits: Limits,
    /// Period of the active expiry sweep.
    pub sweep_interval: Duration,
    /// The write queue's hard cap per connection.
    pub output_cap: usize,
}

impl Default for RespServerConfig {
    fn default() -> Self {
        let limits = Limits {
            max_bulk_len: DEFAULT_MAX_COMMAND_LEN,
            max_frame_len: DEFAULT_MAX_COMMAND_LEN,
            ..Limits::default()
        };
        RespServerConfig {
            requirepass: None,
            databases: DEFAULT_DATABASES,
            shards: DEFAULT_SHARDS,
            limits,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            output_cap: DEFAULT_OUTPUT_CAP,
        }
    }
}

impl RespServerConfig {
    /// Adjusts a server's connection settings for Redis clients: no request timeout (a
    /// `BLPOP` may wait forever), a read buffer that holds the largest command, and a
    /// write cap of [`output_cap`](Self::output_cap). Call it from
    /// `TcpServerBuilder::connection_config`.
    pub fn apply_to(&self, c: &mut ConnectionConfig) {
        c.request_timeout(Duration::ZERO);
        // Room for the largest frame plus the next pipelined command's start.
        let _ = c.max_read_buffer(self.limits.max_frame_len.saturating_add(64 * 1024));
        let marks = c.get_water_marks();
        if let Ok(m) = marks.with_cap(self.output_cap.max(marks.high())) {
            c.water_marks(m);
        }
    }
}
