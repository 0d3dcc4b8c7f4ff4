//! The keyspace: databases split into shards by key hash, each behind its own mutex.
//!
//! A command locks the shards of the keys it names (sorted by index, so two commands
//! never wait on each other in opposite orders), runs synchronously, and drops the locks
//! before the reply leaves; no lock is ever held across an `.await`. Commands that see
//! every key (`KEYS`, `SCAN`, `DBSIZE`, `FLUSHDB`, `EXEC`) lock every shard.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use indexmap::IndexSet;
use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use super::value::{FastMap, Hasher, Value};

mod keyspace;

pub(crate) use keyspace::Keyspace;

/// Keys sampled per database per round of the active expiry sweep (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
pub(crate) const SWEEP_SAMPLE: usize = 20;
/// Rounds per shard and database per sweep: bounds one sweep's work even when most
/// sampled keys keep turning out expired.
pub(crate) const SWEEP_MAX_ROUNDS: usize = 16;

/// A key and its expiry (milliseconds since the Unix epoch).
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) expire_at: Option<u64>,
    /// What this key counts for in `used_memory` (see [`entry_size`]).
    size: usize,
    /// The last access (milliseconds since the Unix epoch), for `allkeys-lru`.
    access: u64,
}

/// Bookkeeping bytes counted per key on top of its name and value: the map slot, the
/// entry and the key's allocation, roughly (Redis's `dictEntry` + `robj` is about as big).
pub(crate) const KEY_OVERHEAD: usize = 48;
/// Keys sampled per eviction, like Redis's `maxmemory-samples` default.
pub(crate) const EVICTION_SAMPLES: usize = 5;

/// The estimated memory of a key holding `value`.
fn entry_size(key: &[u8], value: &Value) -> usize {
    key.len() + value.estimate_size() + KEY_OVERHEAD
}

/// One database's part of a shard.
#[derive(Debug, Default)]
pub(crate) struct Db {
    pub(crate) map: FastMap<Bytes, Entry>,
    /// The keys with a TTL, indexable so the sweep can sample them at random in O(1).
    expires: IndexSet<Bytes, Hasher>,
}

/// One shard: every database's keys that hash to it, and the `WATCH`ers of those keys.
#[derive(Debug)]
pub(crate) struct Shard {
    dbs: Vec<Db>,
    watched: HashMap<(usize, Bytes), Vec<Arc<AtomicBool>>>,
}

/// Counters shown by `INFO stats`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) evicted: AtomicU64,
}

/// Every database, sharded.
#[derive(Debug)]
pub(crate) struct Store {
    shards: Box<[Mutex<Shard>]>,
    hasher: Hasher,
    databases: usize,
    pub(crate) stats: Stats,
    /// The sum of every key's estimated size (`used_memory`).
    used: AtomicUsize,
    /// The eviction's random choices.
    seed: AtomicU64,
    /// Whether accesses are stamped from `clock` (`allkeys-lru`).
    lru: AtomicBool,
    clock: AtomicU64,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// ===== impl Store =====

impl Store {
    pub(crate) fn new(databases: usize, shards: usize) -> Store {
        let shards = (0..shards.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    dbs: (0..databases).map(|_| Db::default()).collect(),
                    watched: HashMap::new(),
                })
            })
            .collect();
        Store {
            shards,
            hasher: Default::default(),
            databases,
            stats: Stats::default(),
            used: AtomicUsize::new(0),
            seed: AtomicU64::new(0x2545_F491_4F6C_DD1D),
            lru: AtomicBool::new(false),
            clock: AtomicU64::new(0),
        }
    }

    /// The hasher behind shard choice and `SCAN`'s order (fixed for the store's life).
    pub(crate) fn scan_hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub(crate) fn databases(&self) -> usize {
        self.databases
    }

    pub(crate) fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) % self.shards.len() as u64) as usize
    }

    /// Locks the shards of `keys` in index order.
    pub(crate) fn lock<'k, I>(&self, db: usize, keys: I) -> Keyspace<'_>
    where
        I: IntoIterator<Item = &'k Bytes>,
    {
        self.lock_at(db, keys, now_ms())
    }

    /// [`lock`](Self::lock) with the clock read by the caller: a connection reads it once
    /// per batch of pipelined commands, as Redis caches its clock per event-loop turn.
    pub(crate) fn lock_at<'k, I>(&self, db: usize, keys: I, now: u64) -> Keyspace<'_>
    where
        I: IntoIterator<Item = &'k Bytes>,
    {
        let mut idx: SmallVec<[usize; 4]> = keys.into_iter().map(|k| self.shard_of(k)).collect();
        if idx.len() > 1 {
            idx.sort_unstable();
            idx.dedup();
        }
        self.lock_indices(db, idx, now)
    }

    /// Locks the one shard of `key`: what every single-key command (`GET`, `SET`,
    /// `INCR`...) needs, without collecting and sorting shard indices first.
    pub(crate) fn lock_one(&self, db: usize, key: &[u8], now: u64) -> Keyspace<'_> {
        let i = self.shard_of(key);
        let mut guards = SmallVec::new();
        guards.push((i, self.shards[i].lock()));
        self.keyspace(db, guards, now)
    }

    /// Locks every shard.
    pub(crate) fn lock_all(&self, db: usize) -> Keyspace<'_> {
        self.lock_indices(db, 0..self.shards.len(), now_ms())
    }

    fn lock_indices(
        &self,
        db: usize,
        idx: impl IntoIterator<Item = usize>,
        now: u64,
    ) -> Keyspace<'_> {
        let guards = idx
            .into_iter()
            .map(|i| (i, self.shards[i].lock()))
            .collect();
        self.keyspace(db, guards, now)
    }

    fn keyspace<'s>(
        &'s self,
        db: usize,
        guards: SmallVec<[(usize, MutexGuard<'s, Shard>); 2]>,
        now: u64,
    ) -> Keyspace<'s> {
        Keyspace {
            store: self,
            guards,
            db,
            now,
            tick: if self.lru.load(Ordering::Relaxed) {
                self.clock.fetch_add(1, Ordering::Relaxed)
            } else {
                now
            },
        }
    }

    /// Stamps accesses from a command counter, for `allkeys-lru`.
    pub(crate) fn use_lru_clock(&self) {
        self.lru.store(true, Ordering::Relaxed);
    }

    /// The estimated bytes held by every key (`INFO memory`'s `used_memory`).
    pub(crate) fn used_memory(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn grow(&self, n: usize) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }

    fn shrink(&self, n: usize) {
        // Every size subtracted was added before, so this never wraps.
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    /// `allkeys-lru`: evicts keys until the estimate is at most `limit`, each time the
    /// least recently used of [`EVICTION_SAMPLES`] keys sampled from one random shard and
    /// database (Redis's approximate LRU). Locks one shard at a time, so call it holding
    /// none. Returns false when nothing is left to evict and the estimate is still over.
    pub(crate) fn evict_to(&self, limit: usize) -> bool {
        // Bounded so that one command never spends long evicting.
        for _ in 0..1024 {
            if self.used_memory() <= limit {
                return true;
            }
            if !self.evict_one() {
                return self.used_memory() <= limit;
            }
        }
        self.used_memory() <= limit
    }

    /// Evicts one key; false when the store is empty.
    fn evict_one(&self) -> bool {
        let mut seed = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        // (access, shard, db, key) of the best victim so far.
        let mut best: Option<(u64, usize, usize, Bytes)> = None;
        let n = self.shards.len();
        let mut looked = 0;
        // Each sample from another random shard (one lock at a time): sampling within a
        // single shard would let a shard holding only recent keys lose one of them.
        while looked < n && (best.is_none() || looked < EVICTION_SAMPLES) {
            looked += 1;
            let si = (xorshift(&mut seed) % n as u64) as usize;
            let shard = self.shards[si].lock();
            let start = (xorshift(&mut seed) % self.databases.max(1) as u64) as usize;
            for d in 0..shard.dbs.len() {
                let dbi = (start + d) % shard.dbs.len();
                let map = &shard.dbs[dbi].map;
                if map.is_empty() {
                    continue;
                }
                // Iteration order follows key hashes, unrelated to access times: a key
                // near the front is as good a sample as any.
                let skip = (xorshift(&mut seed) % map.len().min(8) as u64) as usize;
                if let Some((k, e)) = map.iter().nth(skip) {
                    if best.as_ref().is_none_or(|b| e.access < b.0) {
                        best = Some((e.access, si, dbi, k.clone()));
                    }
                }
                break;
            }
        }
        let Some((_, si, dbi, victim)) = best else {
            return false;
        };
        let mut guard = self.shards[si].lock();
        let shard = &mut *guard;
        let db = &mut shard.dbs[dbi];
        // Gone meanwhile (deleted by a command): still progress, the caller checks again.
        if let Some(e) = db.map.remove(&victim) {
            if e.expire_at.is_some() {
                db.expires.swap_remove(&victim);
            }
            self.shrink(e.size);
            touch_watchers(&mut shard.watched, dbi, &victim);
            self.stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// One bounded pass of active expiry over every shard, like Redis's
    /// `activeExpireCycle`: sample keys with a TTL, delete the expired ones, and sample
    /// again while more than a quarter of a sample was expired.
    pub(crate) fn sweep(&self, seed: &mut u64) -> u64 {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let now = now_ms();
            let mut guard = shard.lock();
            let shard = &mut *guard;
            for (dbi, db) in shard.dbs.iter_mut().enumerate() {
                for _ in 0..SWEEP_MAX_ROUNDS {
                    let n = db.expires.len();
                    if n == 0 {
                        break;
                    }
                    let mut expired = 0;
                    for _ in 0..SWEEP_SAMPLE.min(n) {
                        let len = db.expires.len();
                        if len == 0 {
                            break;
                        }
                        let i = (xorshift(seed) % len as u64) as usize;
                        let Some(key) = db.expires.get_index(i).cloned() else {
                            break;
                        };
                        let dead = db
                            .map
                            .get(&key)
                            .is_none_or(|e| e.expire_at.is_some_and(|t| t <= now));
                        if dead {
                            if let Some(e) = db.map.remove(&key) {
                                self.shrink(e.size);
                            }
                            db.expires.swap_remove(&key);
                            touch_watchers(&mut shard.watched, dbi, &key);
                            expired += 1;
                        }
                    }
                    removed += expired as u64;
                    if expired * 4 <= SWEEP_SAMPLE.min(n) {
                        break;
                    }
                }
            }
        }
        self.stats.expired.fetch_add(removed, Ordering::Relaxed);
        removed
    }

    /// Registers `flag` to be set when `key` in `db` is modified.
    pub(crate) fn watch(&self, db: usize, key: &Bytes, flag: &Arc<AtomicBool>) {
        let mut shard = self.shards[self.shard_of(key)].lock();
        shard
            .watched
            .entry((db, key.clone()))
            .or_default()
            .push(flag.clone());
    }

    /// Removes `flag` from the watchers of `key`.
    pub(crate) fn unwatch(&self, db: usize, key: &Bytes, flag: &Arc<AtomicBool>) {
        let mut shard = self.shards[self.shard_of(key)].lock();
        let k = (db, key.clone());
        if let Some(list) = shard.watched.get_mut(&k) {
            list.retain(|f| !Arc::ptr_eq(f, flag));
            if list.is_empty() {
                shard.watched.remove(&k);
            }
        }
    }
}

fn touch_watchers(
    watched: &mut HashMap<(usize, Bytes), Vec<Arc<AtomicBool>>>,
    db: usize,
    key: &Bytes,
) {
    if watched.is_empty() {
        return;
    }
    if let Some(list) = watched.get(&(db, key.clone())) {
        for f in list {
            f.store(true, Ordering::Release);
        }
    }
}

/// A small xorshift generator for the sweep's samples (no need for a crate: the numbers
/// only spread the samples, they guard nothing).
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
