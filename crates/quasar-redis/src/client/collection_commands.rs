//! Typed helpers for hashes, lists, sets and sorted sets on [`RedisClient`].
//!
//! A reasonable subset of each family; the rest is one `cmd("NAME")...query(&client)` away.
//! Every helper has the errors of [`RedisClient::query`] and is cancel safe as
//! [`RedisClient::send`] is. Blocking pops are on
//! [`ExclusiveConnection`](super::ExclusiveConnection).
//!
//! # Examples
//!
//! ```no_run
//! use std::collections::HashMap;
//! use quasar_redis::client::RedisClient;
//! # async fn run() -> quasar_redis::client::RedisResult<()> {
//! let client = RedisClient::new("redis://127.0.0.1:6379")?;
//! client.hset("user:1", "name", "ada").await?;
//! let user: HashMap<String, String> = client.hgetall("user:1").await?;
//! assert_eq!(user["name"], "ada");
//! client.zadd("board", "ada", 10.0).await?;
//! let top: Vec<(String, f64)> = client.zrange_withscores("board", 0, -1).await?;
//! assert_eq!(top, [("ada".to_string(), 10.0)]);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::hash::Hash;

use super::cmd::{cmd, ToArg};
use super::error::RedisResult;
use super::from_frame::{pairs, FromFrame};
use super::redis_client::RedisClient;

impl RedisClient {
    // ===== hashes =====

    /// `HSET key field value`: whether the field is new.
    pub async fn hset(
        &self,
        key: impl ToArg,
        field: impl ToArg,
        value: impl ToArg,
    ) -> RedisResult<bool> {
        self.query(cmd("HSET").arg(key).arg(field).arg(value)).await
    }

    /// `HSET key field value [field value...]`: how many fields are new.
    pub async fn hset_multiple<F: ToArg, V: ToArg>(
        &self,
        key: impl ToArg,
        fields: impl IntoIterator<Item = (F, V)>,
    ) -> RedisResult<i64> {
        let mut c = cmd("HSET").arg(key);
        for (f, v) in fields {
            c.push_arg(f).push_arg(v);
        }
        self.query(c).await
    }

    /// `HGET key field`.
    pub async fn hget<T: FromFrame>(&self, key: impl ToArg, field: impl ToArg) -> RedisResult<T> {
        self.query(cmd("HGET").arg(key).arg(field)).await
    }

    /// `HMGET key fields...`.
    pub async fn hmget<T: FromFrame, F: ToArg>(
        &self,
        key: impl ToArg,
        fields: impl IntoIterator<Item = F>,
    ) -> RedisResult<Vec<T>> {
        self.query(cmd("HMGET").arg(key).args(fields)).await
    }

    /// `HGETALL key`, as a map (RESP2 and RESP3 alike).
    pub async fn hgetall<K, V>(&self, key: impl ToArg) -> RedisResult<HashMap<K, V>>
    where
        K: FromFrame + Eq + Hash,
        V: FromFrame,
    {
        self.query(cmd("HGETALL").arg(key)).await
    }

    /// `HDEL key fields...`: how many were removed.
    pub async fn hdel<F: ToArg>(
        &self,
        key: impl ToArg,
        fields: impl IntoIterator<Item = F>,
    ) -> RedisResult<i64> {
        self.query(cmd("HDEL").arg(key).args(fields)).await
    }

    /// `HEXISTS key field`.
    pub async fn hexists(&self, key: impl ToArg, field: impl ToArg) -> RedisResult<bool> {
        self.query(cmd("HEXISTS").arg(key).arg(field)).await
    }

    /// `HSTRLEN key field`: the length of the field's value, 0 when the field or the key is
    /// missing.
    pub async fn hstrlen(&self, key: impl ToArg, field: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("HSTRLEN").arg(key).arg(field)).await
    }

    /// `HINCRBY key field by`: the new value.
    pub async fn hincr_by(&self, key: impl ToArg, field: impl ToArg, by: i64) -> RedisResult<i64> {
        self.query(cmd("HINCRBY").arg(key).arg(field).arg(by)).await
    }

    /// `HLEN key`.
    pub async fn hlen(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("HLEN").arg(key)).await
    }

    /// `HKEYS key`.
    pub async fn hkeys<T: FromFrame>(&self, key: impl ToArg) -> RedisResult<Vec<T>> {
        self.query(cmd("HKEYS").arg(key)).await
    }

    /// `HVALS key`.
    pub async fn hvals<T: FromFrame>(&self, key: impl ToArg) -> RedisResult<Vec<T>> {
        self.query(cmd("HVALS").arg(key)).await
    }

    // ===== lists =====

    /// `LPUSH key values...`: the new length.
    pub async fn lpush<V: ToArg>(
        &self,
        key: impl ToArg,
        values: impl IntoIterator<Item = V>,
    ) -> RedisResult<i64> {
        self.query(cmd("LPUSH").arg(key).args(values)).await
    }

    /// `RPUSH key values...`: the new length.
    pub async fn rpush<V: ToArg>(
        &self,
        key: impl ToArg,
        values: impl IntoIterator<Item = V>,
    ) -> RedisResult<i64> {
        self.query(cmd("RPUSH").arg(key).args(values)).await
    }

    /// `LPOP key`.
    pub async fn lpop<T: FromFrame>(&self, key: impl ToArg) -> RedisResult<Option<T>> {
        self.query(cmd("LPOP").arg(key)).await
    }

    /// `RPOP key`.
    pub async fn rpop<T: FromFrame>(&self, key: impl ToArg) -> RedisResult<Option<T>> {
        self.query(cmd("RPOP").arg(key)).await
    }

    /// `LRANGE key start stop` (inclusive; negative indexes count from the end).
    pub async fn lrange<T: FromFrame>(
        &self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> RedisResult<Vec<T>> {
        self.query(cmd("LRANGE").arg(key).arg(start).arg(stop))
            .await
    }

    /// `LLEN key`.
    pub async fn llen(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("LLEN").arg(key)).await
    }

    /// `LINDEX key index`.
    pub async fn lindex<T: FromFrame>(
        &self,
        key: impl ToArg,
        index: i64,
    ) -> RedisResult<Option<T>> {
        self.query(cmd("LINDEX").arg(key).arg(index)).await
    }

    /// `LREM key count value`: how many were removed.
    pub async fn lrem(&self, key: impl ToArg, count: i64, value: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("LREM").arg(key).arg(count).arg(value)).await
    }

    /// `LTRIM key start stop`.
    pub async fn ltrim(&self, key: impl ToArg, start: i64, stop: i64) -> RedisResult<()> {
        self.query(cmd("LTRIM").arg(key).arg(start).arg(stop)).await
    }

    // ===== sets =====

    /// `SADD key members...`: how many are new.
    pub async fn sadd<M: ToArg>(
        &self,
        key: impl ToArg,
        members: impl IntoIterator<Item = M>,
    ) -> RedisResult<i64> {
        self.query(cmd("SADD").arg(key).args(members)).await
    }

    /// `SREM key members...`: how many were removed.
    pub async fn srem<M: ToArg>(
        &self,
        key: impl ToArg,
        members: impl IntoIterator<Item = M>,
    ) -> RedisResult<i64> {
        self.query(cmd("SREM").arg(key).args(members)).await
    }

    /// `SMEMBERS key` (as a `Vec`, a `HashSet`...).
    pub async fn smembers<T: FromFrame>(&self, key: impl ToArg) -> RedisResult<T> {
        self.query(cmd("SMEMBERS").arg(key)).await
    }

    /// `SISMEMBER key member`.
    pub async fn sismember(&self, key: impl ToArg, member: impl ToArg) -> RedisResult<bool> {
        self.query(cmd("SISMEMBER").arg(key).arg(member)).await
    }

    /// `SCARD key`.
    pub async fn scard(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("SCARD").arg(key)).await
    }

    /// `SINTER keys...`.
    pub async fn sinter<T: FromFrame, K: ToArg>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> RedisResult<T> {
        self.query(cmd("SINTER").args(keys)).await
    }

    /// `SUNION keys...`.
    pub async fn sunion<T: FromFrame, K: ToArg>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> RedisResult<T> {
        self.query(cmd("SUNION").args(keys)).await
    }

    // ===== sorted sets =====

    /// `ZADD key score member`: whether the member is new.
    pub async fn zadd(&self, key: impl ToArg, member: impl ToArg, score: f64) -> RedisResult<bool> {
        self.query(cmd("ZADD").arg(key).arg(score).arg(member))
            .await
    }

    /// `ZADD key score member [score member...]`: how many members are new.
    pub async fn zadd_multiple<M: ToArg>(
        &self,
        key: impl ToArg,
        members: impl IntoIterator<Item = (M, f64)>,
    ) -> RedisResult<i64> {
        let mut c = cmd("ZADD").arg(key);
        for (m, score) in members {
            c.push_arg(score).push_arg(m);
        }
        self.query(c).await
    }

    /// `ZREM key members...`: how many were removed.
    pub async fn zrem<M: ToArg>(
        &self,
        key: impl ToArg,
        members: impl IntoIterator<Item = M>,
    ) -> RedisResult<i64> {
        self.query(cmd("ZREM").arg(key).args(members)).await
    }

    /// `ZSCORE key member`.
    pub async fn zscore(&self, key: impl ToArg, member: impl ToArg) -> RedisResult<Option<f64>> {
        self.query(cmd("ZSCORE").arg(key).arg(member)).await
    }

    /// `ZINCRBY key by member`: the new score.
    pub async fn zincr_by(&self, key: impl ToArg, member: impl ToArg, by: f64) -> RedisResult<f64> {
        self.query(cmd("ZINCRBY").arg(key).arg(by).arg(member))
            .await
    }

    /// `ZRANK key member`: the 0-based rank by ascending score.
    pub async fn zrank(&self, key: impl ToArg, member: impl ToArg) -> RedisResult<Option<i64>> {
        self.query(cmd("ZRANK").arg(key).arg(member)).await
    }

    /// `ZCARD key`.
    pub async fn zcard(&self, key: impl ToArg) -> RedisResult<i64> {
        self.query(cmd("ZCARD").arg(key)).await
    }

    /// `ZCOUNT key min max` (scores, inclusive).
    pub async fn zcount(&self, key: impl ToArg, min: f64, max: f64) -> RedisResult<i64> {
        self.query(cmd("ZCOUNT").arg(key).arg(min).arg(max)).await
    }

    /// `ZRANGE key start stop`: members by ascending score.
    pub async fn zrange<T: FromFrame>(
        &self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> RedisResult<Vec<T>> {
        self.query(cmd("ZRANGE").arg(key).arg(start).arg(stop))
            .await
    }

    /// `ZRANGE key start stop WITHSCORES`: members and scores by ascending score (RESP2's
    /// flat array and RESP3's pairs alike).
    pub async fn zrange_withscores<T: FromFrame>(
        &self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> RedisResult<Vec<(T, f64)>> {
        let frame = self
            .send(
                cmd("ZRANGE")
                    .arg(key)
                    .arg(start)
                    .arg(stop)
                    .arg("WITHSCORES"),
            )
            .await?;
        // RESP3 answers [[member, score], ...]; RESP2 a flat [member, score, ...].
        match frame {
            crate::Frame::Array(items)
                if items.iter().all(|i| matches!(i, crate::Frame::Array(_))) =>
            {
                items.into_iter().map(<(T, f64)>::from_frame).collect()
            }
            flat => pairs(flat),
        }
    }

    /// `ZRANGEBYSCORE key min max`: members with scores in `[min, max]`.
    pub async fn zrangebyscore<T: FromFrame>(
        &self,
        key: impl ToArg,
        min: f64,
        max: f64,
    ) -> RedisResult<Vec<T>> {
        self.query(cmd("ZRANGEBYSCORE").arg(key).arg(min).arg(max))
            .await
    }
}
