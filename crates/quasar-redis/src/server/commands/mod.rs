//! The command table: each command's arity, flags and key positions (as Redis declares
//! them), and the handlers of the commands that work on the keyspace.
//!
//! Keyspace handlers are plain functions over an [`Exec`]: the locked shards and the reply
//! writer. Commands about the connection itself (`SELECT`, `MULTI`, `SUBSCRIBE`, ...)
//! have no handler here; the session runs them.

use std::sync::OnceLock;

use bytes::Bytes;

use super::reply::Reply;
use super::store::Keyspace;

pub(crate) mod args;
mod hashes;
mod keys;
pub(crate) mod lists;
mod sets;
mod strings;
mod zsets;

/// What a keyspace handler works with.
#[derive(Debug)]
pub(crate) struct Exec<'a, 'k> {
    pub(crate) ks: &'a mut Keyspace<'k>,
    pub(crate) r: Reply<'a>,
}

/// A keyspace command's handler.
pub(crate) type Handler = fn(&mut Exec<'_, '_>, &[Bytes]);

/// Modifies its keys (wakes `WATCH`ers).
pub(crate) const WRITE: u8 = 1;
/// Needs every shard locked.
pub(crate) const ALL: u8 = 2;
/// Allowed in RESP2 subscribed mode.
pub(crate) const PUBSUB: u8 = 4;
/// Runs at once even inside `MULTI` (transaction control).
pub(crate) const TX: u8 = 8;
/// Allowed before `AUTH`.
pub(crate) const NOAUTH: u8 = 16;
/// Refused inside `MULTI`.
pub(crate) const NO_MULTI: u8 = 32;
/// May add memory: refused with `-OOM` over `maxmemory` (Redis's `denyoom`).
pub(crate) const DENYOOM: u8 = 64;
/// Changes its keys only through `Keyspace::set`/`remove`, which keep `used_memory` right:
/// no re-measuring of its keys after it ran (a map lookup per key saved on every `SET`).
pub(crate) const SIZED: u8 = 128;

/// One command's description.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Lower-case name, as in error messages.
    pub(crate) name: &'static str,
    /// Redis's arity: `n` exactly n arguments (name included), `-n` at least n.
    pub(crate) arity: i32,
    pub(crate) flags: u8,
    pub(crate) first: i32,
    pub(crate) last: i32,
    pub(crate) step: i32,
    /// `None`: a connection command run by the session.
    pub(crate) run: Option<Handler>,
}

impl Spec {
    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let a = i64::from(self.arity);
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }

    /// This command's position in [`COMMANDS`] (every `Spec` lives there).
    pub(crate) fn index(&'static self) -> usize {
        let at = self as *const Spec as usize;
        (at - COMMANDS.as_ptr() as usize) / std::mem::size_of::<Spec>()
    }

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The key of a command that names exactly one (`first == last`, like `GET`), so its
    /// one shard is locked directly; `None` for every other command.
    pub(crate) fn single_key<'b>(&self, args: &'b [Bytes]) -> Option<&'b Bytes> {
        if self.first > 0 && self.first == self.last {
            args.get(self.first as usize)
        } else {
            None
        }
    }

    /// The key arguments of `args`, from the first/last/step positions.
    pub(crate) fn keys<'b>(&self, args: &'b [Bytes]) -> impl Iterator<Item = &'b Bytes> + 'b {
        let n = args.len() as i32;
        let last = if self.last < 0 {
            n + self.last
        } else {
            self.last
        };
        let (first, step) = (self.first, self.step.max(1));
        let range = if first > 0 && last >= first && last < n {
            (first..=last).step_by(step as usize)
        } else {
            #[allow(clippy::reversed_empty_ranges)]
            (1..=0).step_by(1)
        };
        range.map(move |i| &args[i as usize])
    }
}

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $first:expr, $last:expr, $step:expr, $run:expr) => {
        Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first: $first,
            last: $last,
            step: $step,
            run: $run,
        }
    };
}

const W: u8 = WRITE;
/// A write that may add memory.
const WM: u8 = WRITE | DENYOOM;
/// A string write: may add memory, sized by `Keyspace::set`.
const WMS: u8 = WM | SIZED;

/// Every command this server knows.
pub(crate) static COMMANDS: &[Spec] = &[
    // Connection and server.
    spec!("ping", -1, PUBSUB, 0, 0, 0, None),
    spec!("echo", 2, 0, 0, 0, 0, None),
    spec!("hello", -1, NOAUTH | NO_MULTI, 0, 0, 0, None),
    spec!("auth", -2, NOAUTH | NO_MULTI, 0, 0, 0, None),
    spec!("select", 2, 0, 0, 0, 0, None),
    spec!("quit", -1, NOAUTH | PUBSUB | TX, 0, 0, 0, None),
    spec!("reset", 1, NOAUTH | PUBSUB | TX, 0, 0, 0, None),
    spec!("info", -1, 0, 0, 0, 0, None),
    spec!("client", -2, 0, 0, 0, 0, None),
    spec!("command", -1, 0, 0, 0, 0, None),
    spec!("config", -2, 0, 0, 0, 0, None),
    // Transactions.
    spec!("multi", 1, TX, 0, 0, 0, None),
    spec!("exec", 1, TX, 0, 0, 0, None),
    spec!("discard", 1, TX, 0, 0, 0, None),
    spec!("watch", -2, TX, 1, -1, 1, None),
    spec!("unwatch", 1, 0, 0, 0, 0, None),
    // Pub/sub.
    spec!("publish", 3, 0, 0, 0, 0, None),
    spec!("subscribe", -2, PUBSUB | NO_MULTI, 0, 0, 0, None),
    spec!("unsubscribe", -1, PUBSUB | NO_MULTI, 0, 0, 0, None),
    spec!("psubscribe", -2, PUBSUB | NO_MULTI, 0, 0, 0, None),
    spec!("punsubscribe", -1, PUBSUB | NO_MULTI, 0, 0, 0, None),
    // Blocking pops (the session blocks; inside MULTI they do not block).
    spec!("blpop", -3, W, 1, -2, 1, None),
    spec!("brpop", -3, W, 1, -2, 1, None),
    // Keys.
    spec!("del", -2, W, 1, -1, 1, Some(keys::del)),
    spec!("unlink", -2, W, 1, -1, 1, Some(keys::del)),
    spec!("exists", -2, 0, 1, -1, 1, Some(keys::exists)),
    spec!("type", 2, 0, 1, 1, 1, Some(keys::type_)),
    spec!("expire", -3, W, 1, 1, 1, Some(keys::expire)),
    spec!("pexpire", -3, W, 1, 1, 1, Some(keys::pexpire)),
    spec!("expireat", -3, W, 1, 1, 1, Some(keys::expireat)),
    spec!("pexpireat", -3, W, 1, 1, 1, Some(keys::pexpireat)),
    spec!("ttl", 2, 0, 1, 1, 1, Some(keys::ttl)),
    spec!("pttl", 2, 0, 1, 1, 1, Some(keys::pttl)),
    spec!("persist", 2, W, 1, 1, 1, Some(keys::persist)),
    spec!("keys", 2, ALL, 0, 0, 0, Some(keys::keys)),
    spec!("scan", -2, ALL, 0, 0, 0, Some(keys::scan)),
    spec!("rename", 3, W, 1, 2, 1, Some(keys::rename)),
    spec!("dbsize", 1, ALL, 0, 0, 0, Some(keys::dbsize)),
    spec!("flushdb", -1, ALL | W, 0, 0, 0, Some(keys::flushdb)),
    spec!("flushall", -1, ALL | W, 0, 0, 0, Some(keys::flushall)),
    // Strings.
    spec!("get", 2, 0, 1, 1, 1, Some(strings::get)),
    spec!("set", -3, WMS, 1, 1, 1, Some(strings::set)),
    spec!("getdel", 2, W | SIZED, 1, 1, 1, Some(strings::getdel)),
    spec!("mget", -2, 0, 1, -1, 1, Some(strings::mget)),
    spec!("mset", -3, WMS, 1, -1, 2, Some(strings::mset)),
    spec!("msetnx", -3, WMS, 1, -1, 2, Some(strings::msetnx)),
    spec!("incr", 2, WMS, 1, 1, 1, Some(strings::incr)),
    spec!("decr", 2, WMS, 1, 1, 1, Some(strings::decr)),
    spec!("incrby", 3, WMS, 1, 1, 1, Some(strings::incrby)),
    spec!("decrby", 3, WMS, 1, 1, 1, Some(strings::decrby)),
    spec!("incrbyfloat", 3, WMS, 1, 1, 1, Some(strings::incrbyfloat)),
    spec!("append", 3, WMS, 1, 1, 1, Some(strings::append)),
    spec!("strlen", 2, 0, 1, 1, 1, Some(strings::strlen)),
    spec!("getrange", 4, 0, 1, 1, 1, Some(strings::getrange)),
    spec!("setrange", 4, WMS, 1, 1, 1, Some(strings::setrange)),
    // Hashes.
    spec!("hset", -4, WM, 1, 1, 1, Some(hashes::hset)),
    spec!("hmset", -4, WM, 1, 1, 1, Some(hashes::hset)),
    spec!("hget", 3, 0, 1, 1, 1, Some(hashes::hget)),
    spec!("hmget", -3, 0, 1, 1, 1, Some(hashes::hmget)),
    spec!("hdel", -3, W, 1, 1, 1, Some(hashes::hdel)),
    spec!("hgetall", 2, 0, 1, 1, 1, Some(hashes::hgetall)),
    spec!("hincrby", 4, WM, 1, 1, 1, Some(hashes::hincrby)),
    spec!("hlen", 2, 0, 1, 1, 1, Some(hashes::hlen)),
    spec!("hexists", 3, 0, 1, 1, 1, Some(hashes::hexists)),
    spec!("hstrlen", 3, 0, 1, 1, 1, Some(hashes::hstrlen)),
    spec!("hkeys", 2, 0, 1, 1, 1, Some(hashes::hkeys)),
    spec!("hvals", 2, 0, 1, 1, 1, Some(hashes::hvals)),
    // Lists.
    spec!("lpush", -3, WM, 1, 1, 1, Some(lists::lpush)),
    spec!("rpush", -3, WM, 1, 1, 1, Some(lists::rpush)),
    spec!("lpop", -2, W, 1, 1, 1, Some(lists::lpop)),
    spec!("rpop", -2, W, 1, 1, 1, Some(lists::rpop)),
    spec!("lrange", 4, 0, 1, 1, 1, Some(lists::lrange)),
    spec!("llen", 2, 0, 1, 1, 1, Some(lists::llen)),
    spec!("lindex", 3, 0, 1, 1, 1, Some(lists::lindex)),
    spec!("lrem", 4, W, 1, 1, 1, Some(lists::lrem)),
    spec!("ltrim", 4, W, 1, 1, 1, Some(lists::ltrim)),
    // Sets.
    spec!("sadd", -3, WM, 1, 1, 1, Some(sets::sadd)),
    spec!("srem", -3, W, 1, 1, 1, Some(sets::srem)),
    spec!("smembers", 2, 0, 1, 1, 1, Some(sets::smembers)),
    spec!("sismember", 3, 0, 1, 1, 1, Some(sets::sismember)),
    spec!("scard", 2, 0, 1, 1, 1, Some(sets::scard)),
    spec!("sinter", -2, 0, 1, -1, 1, Some(sets::sinter)),
    spec!("sunion", -2, 0, 1, -1, 1, Some(sets::sunion)),
    spec!("sdiff", -2, 0, 1, -1, 1, Some(sets::sdiff)),
    // Sorted sets.
    spec!("zadd", -4, WM, 1, 1, 1, Some(zsets::zadd)),
    spec!("zincrby", 4, WM, 1, 1, 1, Some(zsets::zincrby)),
    spec!("zrange", -4, 0, 1, 1, 1, Some(zsets::zrange)),
    spec!("zrangebyscore", -4, 0, 1, 1, 1, Some(zsets::zrangebyscore)),
    spec!("zrank", 3, 0, 1, 1, 1, Some(zsets::zrank)),
    spec!("zscore", 3, 0, 1, 1, 1, Some(zsets::zscore)),
    spec!("zrem", -3, W, 1, 1, 1, Some(zsets::zrem)),
    spec!("zcard", 2, 0, 1, 1, 1, Some(zsets::zcard)),
];

/// The longest command name.
const MAX_NAME: usize = 16;

/// Finds a command by name, ignoring case.
///
/// Runs for every command, so it neither hashes nor allocates: the names are grouped by
/// length, and the few of the right length are compared case-insensitively in place.
/// The name of the command at `index` in [`COMMANDS`]; `"NULL"` (as `CLIENT LIST` shows
/// a connection that ran none) for any other index.
pub(crate) fn name_at(index: usize) -> &'static str {
    COMMANDS.get(index).map_or("NULL", |s| s.name)
}

pub(crate) fn lookup(name: &[u8]) -> Option<&'static Spec> {
    // Bucketed by length and first letter: most buckets hold one command, so a name is
    // compared once (by length alone, `get` shared its bucket with a dozen others).
    static BUCKETS: OnceLock<Vec<Vec<&'static Spec>>> = OnceLock::new();
    let buckets = BUCKETS.get_or_init(|| {
        let mut v: Vec<Vec<&'static Spec>> = vec![Vec::new(); (MAX_NAME + 1) * LETTERS];
        for s in COMMANDS {
            if let Some(bucket) = v.get_mut(bucket_of(s.name.as_bytes())) {
                bucket.push(s);
            }
        }
        v
    });
    buckets
        .get(bucket_of(name))?
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
        .copied()
}

/// Letters a bucket is told apart by, plus one for any other first byte.
const LETTERS: usize = 27;

fn bucket_of(name: &[u8]) -> usize {
    let letter = match name.first() {
        Some(&c) if c.is_ascii_alphabetic() => usize::from(c.to_ascii_lowercase() - b'a'),
        _ => LETTERS - 1,
    };
    name.len().saturating_mul(LETTERS).saturating_add(letter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_any_case_and_keys_follow_the_positions() {
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuchcommandatall").is_none());
        assert!(lookup(b"").is_none());
        for spec in COMMANDS {
            assert!(
                spec.name.len() <= MAX_NAME,
                "{} is longer than MAX_NAME",
                spec.name
            );
            let upper = spec.name.to_ascii_uppercase();
            assert!(std::ptr::eq(lookup(upper.as_bytes()).unwrap(), spec));
        }
        let args: Vec<Bytes> = ["MSET", "a", "1", "b", "2"]
            .into_iter()
            .map(Bytes::from)
            .collect();
        let keys: Vec<_> = lookup(b"mset").unwrap().keys(&args).collect();
        assert_eq!(keys, [&args[1], &args[3]]);
        // A command with one key position locks that key's shard directly: the same key
        // `keys` names, for any number of arguments.
        for spec in COMMANDS {
            for n in 0..6 {
                let args: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("a{i}"))).collect();
                let keys: Vec<_> = spec.keys(&args).collect();
                match spec.single_key(&args) {
                    Some(k) => assert_eq!(keys, [k], "{}", spec.name),
                    None => assert!(spec.first != spec.last || keys.is_empty(), "{}", spec.name),
                }
            }
        }
        let args: Vec<Bytes> = ["BLPOP", "a", "b", "0"]
            .into_iter()
            .map(Bytes::from)
            .collect();
        let keys: Vec<_> = lookup(b"blpop").unwrap().keys(&args).collect();
        assert_eq!(keys, [&args[1], &args[2]]);
    }
}
