//! [`Keyspace`]: the shards one command locked, seen as one database.

use super::*;

/// The locked shards a command works on, seen as one database.
pub(crate) struct Keyspace<'a> {
    pub(super) store: &'a Store,
    /// Inline for the common case of one or two shards: no allocation per command.
    pub(super) guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    pub(crate) db: usize,
    pub(crate) now: u64,
    /// What an access stamps on a key for LRU: the time, or under `allkeys-lru` a
    /// command counter (milliseconds tie too often for many commands in a millisecond).
    pub(super) tick: u64,
}

impl std::fmt::Debug for Keyspace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("shards", &self.guards.len())
            .field("db", &self.db)
            .finish()
    }
}

// ===== impl Keyspace =====

impl<'a> Keyspace<'a> {
    pub(crate) fn store(&self) -> &'a Store {
        self.store
    }

    fn shard(&mut self, key: &[u8]) -> &mut Shard {
        if self.guards.len() == 1 {
            // Every key a command names is locked, so a single locked shard is the
            // key's shard: no need to hash the key again.
            debug_assert_eq!(self.store.shard_of(key), self.guards[0].0);
            return &mut self.guards[0].1;
        }
        let i = self.store.shard_of(key);
        let pos = self
            .guards
            .iter()
            .position(|(idx, _)| *idx == i)
            // Key positions come from the command table and every one is locked; a
            // handler naming another key is a bug in this crate, not bad input.
            .unwrap_or_else(|| panic!("shard {i} not locked for this command"));
        &mut self.guards[pos].1
    }

    /// The live entry of `key`, deleting it first if it has expired.
    pub(crate) fn get(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (db, now) = (self.db, self.now);
        let shard = self.shard(key);
        let expired = shard.dbs[db]
            .map
            .get(key)
            .is_some_and(|e| e.expire_at.is_some_and(|t| t <= now));
        if expired {
            let (k, e) = shard.dbs[db].map.remove_entry(key)?;
            shard.dbs[db].expires.swap_remove(&k);
            touch_watchers(&mut shard.watched, db, &k);
            self.store.shrink(e.size);
            self.store.stats.expired.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let tick = self.tick;
        let e = self.shard(key).dbs[db].map.get_mut(key)?;
        e.access = tick;
        Some(e)
    }

    /// Like [`get`](Self::get), counting a keyspace hit or miss.
    pub(crate) fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let stats = &self.store.stats;
        let e = self.get(key);
        let c = if e.is_some() {
            &stats.hits
        } else {
            &stats.misses
        };
        c.fetch_add(1, Ordering::Relaxed);
        e
    }

    /// Runs `f` on the live value of `key` (a hit or a miss counted as by
    /// [`lookup`](Self::lookup)), then brings the key's size accounting up to date: a
    /// read-modify-write such as `INCR` in one map lookup. The TTL is left as it is.
    pub(crate) fn modify<T>(&mut self, key: &[u8], f: impl FnOnce(&mut Value) -> T) -> Option<T> {
        let store = self.store;
        let e = self.lookup(key)?;
        let out = f(&mut e.value);
        let size = entry_size(key, &e.value);
        if size != e.size {
            store.shrink(e.size);
            store.grow(size);
            e.size = size;
        }
        Some(out)
    }

    pub(crate) fn exists(&mut self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Stores `value` under `key`, dropping any TTL unless `keep_ttl`.
    ///
    /// One map lookup for an existing key (the common `SET`/`INCR` overwrite): an expired
    /// entry is retired in place (counted, its watchers touched) and its slot reused.
    pub(crate) fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let (db, now, tick) = (self.db, self.now, self.tick);
        let size = entry_size(key, &value);
        let store = self.store;
        let shard = self.shard(key);
        let d = &mut shard.dbs[db];
        if let Some(e) = d.map.get_mut(key) {
            let expired = e.expire_at.is_some_and(|t| t <= now);
            if expired {
                // What `get` would have done on the way: the old key is gone, so no
                // TTL carries over and the new value is a new key.
                store.stats.expired.fetch_add(1, Ordering::Relaxed);
                touch_watchers(&mut shard.watched, db, &Bytes::copy_from_slice(key));
            }
            e.access = tick;
            e.value = value;
            // Overwrites of same-sized values (the common SET) touch no counter.
            if size != e.size {
                store.shrink(e.size);
                store.grow(size);
                e.size = size;
            }
            if (expired || !keep_ttl) && e.expire_at.take().is_some() {
                d.expires.swap_remove(key);
            }
            return;
        }
        let k = Bytes::copy_from_slice(key);
        store.grow(size);
        d.map.insert(
            k,
            Entry {
                value,
                expire_at: None,
                size,
                access: tick,
            },
        );
    }

    /// The value of `key`, created with `make` when missing.
    pub(crate) fn get_or_insert(&mut self, key: &[u8], make: impl FnOnce() -> Value) -> &mut Value {
        if !self.exists(key) {
            self.set(key, make(), false);
        }
        let db = self.db;
        let shard = self.shard(key);
        // Present: `set` just inserted it or `exists` saw it under the same lock.
        &mut shard.dbs[db]
            .map
            .get_mut(key)
            .unwrap_or_else(|| unreachable!("key inserted above"))
            .value
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let live = self.exists(key);
        let db = self.db;
        let shard = self.shard(key);
        let (k, e) = shard.dbs[db].map.remove_entry(key)?;
        if e.expire_at.is_some() {
            shard.dbs[db].expires.swap_remove(&k);
        }
        self.store.shrink(e.size);
        live.then_some(e)
    }

    /// Deletes `key` if its aggregate is now empty.
    pub(crate) fn drop_if_empty(&mut self, key: &[u8]) {
        if self.get(key).is_some_and(|e| e.value.is_empty_aggregate()) {
            self.remove(key);
        }
    }

    /// Sets (or with `None` clears) the expiry of a live key; returns whether it exists.
    pub(crate) fn set_expire(&mut self, key: &[u8], at: Option<u64>) -> bool {
        let db = self.db;
        let Some(e) = self.get(key) else {
            return false;
        };
        let had = e.expire_at.is_some();
        e.expire_at = at;
        let d = &mut self.shard(key).dbs[db];
        match (had, at) {
            (false, Some(_)) => {
                if let Some((k, _)) = d.map.get_key_value(key) {
                    let k = k.clone();
                    d.expires.insert(k);
                }
            }
            (true, None) => {
                d.expires.swap_remove(key);
            }
            _ => {}
        }
        true
    }

    /// Brings `key`'s share of `used_memory` up to date after a command changed its value
    /// in place (`APPEND`, `LPUSH`, `HSET`...).
    pub(crate) fn account(&mut self, key: &[u8]) {
        let db = self.db;
        let store = self.store;
        if let Some(e) = self.shard(key).dbs[db].map.get_mut(key) {
            let size = entry_size(key, &e.value);
            if size != e.size {
                store.shrink(e.size);
                store.grow(size);
                e.size = size;
            }
        }
    }

    /// Marks `key` as modified for `WATCH`.
    pub(crate) fn touch(&mut self, key: &Bytes) {
        let db = self.db;
        let shard = self.shard(key);
        touch_watchers(&mut shard.watched, db, key);
    }

    /// Every live key of the current database (all shards must be locked).
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&Bytes, &Entry)> + '_ {
        let (db, now) = (self.db, self.now);
        self.guards.iter().flat_map(move |(_, g)| {
            g.dbs[db]
                .map
                .iter()
                .filter(move |(_, e)| e.expire_at.is_none_or(|t| t > now))
        })
    }

    /// Live keys and keys with a TTL in `db`, for `DBSIZE` and `INFO keyspace`.
    pub(crate) fn counts(&self, db: usize) -> (usize, usize) {
        self.guards.iter().fold((0, 0), |(k, e), (_, g)| {
            (k + g.dbs[db].map.len(), e + g.dbs[db].expires.len())
        })
    }

    /// Empties `db` (or every database), waking its watchers.
    pub(crate) fn flush(&mut self, db: Option<usize>) {
        for (_, g) in self.guards.iter_mut() {
            let shard = &mut **g;
            for (i, d) in shard.dbs.iter_mut().enumerate() {
                if db.is_none_or(|x| x == i) {
                    let freed: usize = d.map.values().map(|e| e.size).sum();
                    self.store.shrink(freed);
                    *d = Db::default();
                }
            }
            for ((wdb, _), flags) in shard.watched.iter() {
                if db.is_none_or(|x| x == *wdb) {
                    flags.iter().for_each(|f| f.store(true, Ordering::Release));
                }
            }
        }
    }
}
