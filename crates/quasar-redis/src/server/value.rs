//! The values a key can hold: strings, hashes, lists, sets and sorted sets.
//!
//! Keys and members are [`Bytes`] copied out of the read buffer (a slice would keep the
//! whole read buffer alive for as long as the key lives).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bytes::Bytes;
use indexmap::IndexMap;

/// The hasher of the keyspace's maps: foldhash, several times cheaper than std's SipHash
/// on short keys, with a random seed per process and map so key collisions cannot be
/// planned from outside (see docs/resp-server.md).
pub(crate) type Hasher = foldhash::fast::RandomState;
/// A `HashMap` with the keyspace's hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, Hasher>;
/// A `HashSet` with the keyspace's hasher.
pub(crate) type FastSet<K> = HashSet<K, Hasher>;

/// Aggregates up to this many elements are measured exactly by
/// [`Value::estimate_size`]; longer ones are extrapolated from this many.
pub(crate) const EXACT_UP_TO: usize = 32;

/// One key's value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Str(Bytes),
    /// Insertion-ordered like Redis's small (listpack) hashes, so `HGETALL` replies in the
    /// order fields were added; `HDEL` swaps the last field into the hole.
    Hash(IndexMap<Bytes, Bytes, Hasher>),
    List(VecDeque<Bytes>),
    Set(FastSet<Bytes>),
    ZSet(ZSet),
}

impl Value {
    /// The name `TYPE` replies with.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Whether an aggregate lost its last element (Redis deletes such keys).
    pub(crate) fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.len() == 0,
        }
    }

    /// An estimate of the bytes the value holds, for `used_memory` and `--maxmemory`:
    /// exact (by [`approx_size`](Self::approx_size)) up to [`EXACT_UP_TO`] elements, and
    /// beyond that the first [`EXACT_UP_TO`] elements' average times the length, so
    /// accounting for a push onto a long list stays O(1).
    pub(crate) fn estimate_size(&self) -> usize {
        let len = match self {
            Value::Str(s) => return s.len(),
            Value::Hash(h) => h.len(),
            Value::List(l) => l.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
        };
        if len <= EXACT_UP_TO {
            return self.approx_size();
        }
        let sample: usize = match self {
            Value::Str(_) => 0,
            Value::Hash(h) => h
                .iter()
                .take(EXACT_UP_TO)
                .map(|(k, v)| k.len() + v.len() + 16)
                .sum(),
            Value::List(l) => l.iter().take(EXACT_UP_TO).map(|v| v.len() + 8).sum(),
            Value::Set(s) => s.iter().take(EXACT_UP_TO).map(|v| v.len() + 16).sum(),
            Value::ZSet(z) => z
                .scores
                .keys()
                .take(EXACT_UP_TO)
                .map(|m| 2 * m.len() + 40)
                .sum(),
        };
        sample / EXACT_UP_TO * len
    }

    /// A rough count of the bytes the value holds (every element visited).
    pub(crate) fn approx_size(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Hash(h) => h.iter().map(|(k, v)| k.len() + v.len() + 16).sum(),
            Value::List(l) => l.iter().map(|v| v.len() + 8).sum(),
            Value::Set(s) => s.iter().map(|v| v.len() + 16).sum(),
            Value::ZSet(z) => z.scores.keys().map(|m| 2 * m.len() + 40).sum(),
        }
    }
}

/// A score with a total order (scores are never NaN: `ZADD` and `ZINCRBY` refuse it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Score(pub(crate) f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set: a member -> score map and a (score, member) index in Redis's order.
///
/// Redis uses a skip list, which also answers ranks in O(log n); a `BTreeSet` has no rank
/// query, so `ZRANK` and index ranges walk the index (O(rank)). See docs/resp-server.md.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZSet {
    scores: FastMap<Bytes, f64>,
    order: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }

    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score; returns the previous one.
    pub(crate) fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        let old = self.scores.insert(member.clone(), score);
        if let Some(o) = old {
            self.order.remove(&(Score(o), member.clone()));
        }
        self.order.insert((Score(score), member));
        old
    }

    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove_entry(member) {
            Some((m, s)) => {
                self.order.remove(&(Score(s), m));
                true
            }
            None => false,
        }
    }

    /// Members in ascending (score, member) order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// The 0-based rank of `member` in ascending order.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let key = (Score(score), Bytes::copy_from_slice(member));
        Some(self.order.range(..key).count())
    }
}
