//! Typed helpers for string and key commands on [`RedisClient`].
//!
//! Each helper builds its [`Cmd`] and converts the reply; anything not covered
//! here is one `cmd("NAME").arg(..).query::<T>(&client)` away. Value-returning helpers are
//! generic over the reply type (`Option<String>`, `Option<Bytes>`, `Option<i64>`...).
//!
//! Every helper has the errors of [`RedisClient::query`] and is cancel safe as
//! [`RedisClient::send`] is.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use quasar_redis::client::{RedisClient, SetOptions};
//! # async fn run() -> quasar_redis::client::RedisResult<()> {
//! let client = RedisClient::new("redis://127.0.0.1:6379")?;
//! client.set("greeting", "hello").await?;
//! let old: Option<String> = client
//!     .set_with("greeting", "bye", SetOptions::new().ex(Duration::from_secs(60)).get())
//!     .await?;
//! assert_eq!(old.as_deref(), Some("hello"));
//! assert_eq!(client.incr_by("hits", 5).await?, 5);
//! # Ok(()) }
//! ```

use std::time::Duration;

use futures_util::Stream;

use super::cmd::{cmd, Cmd, ToArg};
use super::error::RedisResult;
use super::from_frame::FromFrame;
use super::redis_client::RedisClient;

/// Options of `SET`: expiry (`EX`/`PX`), condition (`NX`/`XX`) and `GET`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    expiry: Option<Expiry>,
    condition: Option<bool>,
    get: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Ex(u64),
    Px(u64),
    KeepTtl,
}

impl SetOptions {
    /// No option: a plain `SET`.
    pub fn new() -> SetOptions {
        SetOptions::default()
    }

    /// `EX seconds` (whole seconds, rounded down, at least 1).
    pub fn ex(mut self, ttl: Duration) -> SetOptions {
        self.expiry = Some(Expiry::Ex(ttl.as_secs().max(1)));
        self
    }

    /// `PX milliseconds` (at least 1).
    pub fn px(mut self, ttl: Duration) -> SetOptions {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.expiry = Some(Expiry::Px(ms.max(1)));
        self
    }

    /// `KEEPTTL`: keep the key's time to live.
    pub fn keep_ttl(mut self) -> SetOptions {
        self.expiry = Some(Expiry::KeepTtl);
        self
    }

    /// `NX`: only set a key that does not exist.
    pub fn nx(mut self) -> SetOptions {
        self.condition = Some(true);
        self
    }

    /// `XX`: only set a key that exists.
    pub fn xx(mut self) -> SetOptions {
        self.condition = Some(false);
        self
    }

    /// `GET`: reply with the old value.
    pub fn get(mut self) -> SetOptions {
        self.get = true;
        self
    }

    fn apply(self, mut c: Cmd) -> Cmd {
        match self.expiry {
            Some(Expiry::Ex(s)) => c = c.arg("EX").arg(s),
            Some(Expiry::Px(ms)) => c = c.arg("PX").arg(ms),
            Some(Expiry::KeepTtl) => c = c.arg("KEEPTTL"),
            None => {}
        }
        match self.condition {
            Some(true) => c = c.arg("NX"),
            Some(false) => c = c.arg("XX"),
            None => {}
        }
        if self.get {
            c = c.arg("GET");
        }
        c
    }
}

/// A duration as whole milliseconds for `PEXPIRE`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisClient {
    // ===== strings =====

    /// `GET key`.
    pub async fn get<T: FromFrame>(&self, key: impl ToArg) -> RedisResult<T> {
        self.query(cmd("GET").arg(key)).await
    }

    /// `SET key value`.
    pub async fn set(&self, key: impl ToArg, value: impl ToArg) -> RedisResult<()> {
        self.query(cmd("SET").arg(key).arg(value)).await
    }

    /// `SET key value [EX|PX|KEEPTTL] [NX|XX] [GET]`. The reply is `OK` or a null when
    /// `NX`/`XX` prevented the write (read it as `bool` or `Option<String>`), or the old
    /// value with `GET`.
    pub async fn set_with<T: FromFrame>(
        &self,
        key: impl ToArg,
        value: impl ToArg,
        options: SetOptions,
    ) -> RedisResult<T> {
        self.query(options.apply(cmd("SET").arg(key).arg(value)))
            .await
    }

    /// `MGET keys...`.
    pub async fn mget<T: FromFrame, K: ToArg>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> RedisResult<Vec<T>> {
        self.query(cmd("MGET").args(keys)).await
    }

    /// `MSET key value [key value...]`.
    pub async fn mset<K: ToArg, V: ToArg>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> RedisResult<()> {
        let mut c = cmd("MSET");
        for (k, v) in pairs {
            c.push_arg(k).push_arg(v);
        }
        self.query(c).await
    }

    /// `INCR key`: the new value.
    pub async fn incr(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("INCR").arg(key)).await
    }

    /// `INCRBY key by`: the new value.
    pub async fn incr_by(&self, key: impl ToArg, by: i64) -> RedisResult<i64> {
        self.query(cmd("INCRBY").arg(key).arg(by)).await
    }

    /// `DECR key`: the new value.
    pub async fn decr(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("DECR").arg(key)).await
    }

    /// `DECRBY key by`: the new value.
    pub async fn decr_by(&self, key: impl ToArg, by: i64) -> RedisResult<i64> {
        self.query(cmd("DECRBY").arg(key).arg(by)).await
    }

    /// `INCRBYFLOAT key by`: the new value.
    pub async fn incr_by_float(&self, key: impl ToArg, by: f64) -> RedisResult<f64> {
        self.query(cmd("INCRBYFLOAT").arg(key).arg(by)).await
    }

    /// `APPEND key value`: the new length.
    pub async fn append(&self, key: impl ToArg, value: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("APPEND").arg(key).arg(value)).await
    }

    /// `STRLEN key`.
    pub async fn strlen(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("STRLEN").arg(key)).await
    }

    // ===== keys =====

    /// `DEL keys...`: how many existed.
    pub async fn del<K: ToArg>(&self, keys: impl IntoIterator<Item = K>) -> RedisResult<i64> {
        self.query(cmd("DEL").args(keys)).await
    }

    /// `EXISTS keys...`: how many exist (a key named twice counts twice).
    pub async fn exists<K: ToArg>(&self, keys: impl IntoIterator<Item = K>) -> RedisResult<i64> {
        self.query(cmd("EXISTS").args(keys)).await
    }

    /// `EXPIRE key seconds`: whether the key exists.
    pub async fn expire(&self, key: impl ToArg, ttl: Duration) -> RedisResult<bool> {
        self.query(cmd("EXPIRE").arg(key).arg(ttl.as_secs())).await
    }

    /// `PEXPIRE key milliseconds`: whether the key exists.
    pub async fn pexpire(&self, key: impl ToArg, ttl: Duration) -> RedisResult<bool> {
        self.query(cmd("PEXPIRE").arg(key).arg(millis(ttl))).await
    }

    /// `TTL key`: seconds left, `-1` without expiry, `-2` for a missing key.
    pub async fn ttl(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("TTL").arg(key)).await
    }

    /// `PTTL key`: milliseconds left, `-1` without expiry, `-2` for a missing key.
    pub async fn pttl(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("PTTL").arg(key)).await
    }

    /// `PERSIST key`: whether an expiry was removed.
    pub async fn persist(&self, key: impl ToArg) -> RedisResult<bool> {
        self.query(cmd("PERSIST").arg(key)).await
    }

    /// `PUBLISH channel message`: how many subscribers received it.
    pub async fn publish(&self, channel: impl ToArg, message: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("PUBLISH").arg(channel).arg(message)).await
    }

    /// `SCAN` as a stream of key names: each page is fetched when the previous one is used
    /// up, `MATCH pattern` filters on the server (`None`: every key) and `COUNT` hints the
    /// page size. A key may be returned more than once, as Redis documents.
    pub fn scan(
        &self,
        pattern: Option<&str>,
        count: usize,
    ) -> impl Stream<Item = RedisResult<String>> + Send + 'static {
        super::scan::scan(self.clone(), pattern.map(str::to_owned), count)
    }
}
