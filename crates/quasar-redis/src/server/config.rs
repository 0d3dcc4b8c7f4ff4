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
    /// The most bytes of keys and values (by the per-key estimate `INFO memory` shows as
    /// `used_memory`) before writes evict or are refused; 0: no limit. Redis's `maxmemory`.
    pub maxmemory: usize,
    /// What happens past [`maxmemory`](Self::maxmemory).
    pub maxmemory_policy: MaxMemoryPolicy,
}

/// What a write does when the keyspace is over `maxmemory` (Redis's `maxmemory-policy`;
/// the two policies this server has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MaxMemoryPolicy {
    /// Refuse commands that may add memory with Redis's `-OOM` error.
    #[default]
    NoEviction,
    /// Evict the least recently used keys, approximately (sampled), from every database.
    AllKeysLru,
}

impl MaxMemoryPolicy {
    /// Redis's name of the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            MaxMemoryPolicy::NoEviction => "noeviction",
            MaxMemoryPolicy::AllKeysLru => "allkeys-lru",
        }
    }
}

impl std::str::FromStr for MaxMemoryPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "noeviction" => Ok(MaxMemoryPolicy::NoEviction),
            "allkeys-lru" => Ok(MaxMemoryPolicy::AllKeysLru),
            other => Err(format!(
                "unknown maxmemory policy {other:?} (expected noeviction or allkeys-lru)"
            )),
        }
    }
}

/// Parses a Redis memory size: bytes, or a number with `k`/`kb`/`m`/`mb`/`g`/`gb` (any
/// case; `k` is 1000 and `kb` 1024, as in redis.conf).
///
/// # Examples
///
/// ```
/// use quasar_redis::server::parse_memory;
///
/// assert_eq!(parse_memory("1mb"), Ok(1024 * 1024));
/// assert_eq!(parse_memory("2k"), Ok(2000));
/// assert_eq!(parse_memory("100"), Ok(100));
/// assert!(parse_memory("lots").is_err());
/// ```
///
/// # Errors
///
/// A message naming the value when it is not a size.
pub fn parse_memory(text: &str) -> Result<usize, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: usize = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(format!("not a memory size: {text:?}")),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("not a memory size: {text:?}"))
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
            maxmemory: 0,
            maxmemory_policy: MaxMemoryPolicy::NoEviction,
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
