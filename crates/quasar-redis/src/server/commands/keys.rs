//! Generic key commands: DEL, EXISTS, expiry, KEYS, SCAN, TYPE, RENAME, DBSIZE, FLUSH*.

use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use bytes::Bytes;

use super::args::{int, is};
use super::Exec;
use crate::server::glob;
use crate::server::reply::SYNTAX;

pub(crate) fn del(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let n = a[1..].iter().filter(|k| x.ks.remove(k).is_some()).count();
    x.r.uint(n);
}

pub(crate) fn exists(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let n = a[1..].iter().filter(|k| x.ks.exists(k)).count();
    x.r.uint(n);
}

pub(crate) fn type_(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let t = x.ks.get(&a[1]).map_or("none", |e| e.value.type_name());
    x.r.simple(t);
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `unit` is 1000 for seconds, `relative` whether
/// the time is from now.
fn expire_generic(x: &mut Exec<'_, '_>, a: &[Bytes], unit: i64, relative: bool, name: &str) {
    let Some(t) = int(&a[2]) else {
        return x.r.not_int();
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        if is(o, "NX") {
            nx = true;
        } else if is(o, "XX") {
            xx = true;
        } else if is(o, "GT") {
            gt = true;
        } else if is(o, "LT") {
            lt = true;
        } else {
            return x.r.error(&format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(o)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return x
            .r
            .error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return x
            .r
            .error("ERR GT and LT options at the same time are not compatible");
    }
    let base = if relative { x.ks.now as i64 } else { 0 };
    let at = t.checked_mul(unit).and_then(|ms| ms.checked_add(base));
    let Some(at) = at else {
        return x
            .r
            .error(&format!("ERR invalid expire time in '{name}' command"));
    };
    let Some(cur) = x.ks.get(&a[1]).map(|e| e.expire_at) else {
        return x.r.int(0);
    };
    let skip = (nx && cur.is_some())
        || (xx && cur.is_none())
        // GT: no TTL counts as infinite, so nothing is greater.
        || (gt && cur.is_none_or(|c| c as i64 >= at))
        || (lt && cur.is_some_and(|c| c as i64 <= at));
    if skip {
        return x.r.int(0);
    }
    if at <= x.ks.now as i64 {
        x.ks.remove(&a[1]);
    } else {
        x.ks.set_expire(&a[1], Some(at as u64));
    }
    x.r.int(1);
}

pub(crate) fn expire(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    expire_generic(x, a, 1000, true, "expire");
}

pub(crate) fn pexpire(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    expire_generic(x, a, 1, true, "pexpire");
}

pub(crate) fn expireat(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    expire_generic(x, a, 1000, false, "expireat");
}

pub(crate) fn pexpireat(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    expire_generic(x, a, 1, false, "pexpireat");
}

fn ttl_generic(x: &mut Exec<'_, '_>, a: &[Bytes], ms: bool) {
    let now = x.ks.now;
    match x.ks.get(&a[1]).map(|e| e.expire_at) {
        None => x.r.int(-2),
        Some(None) => x.r.int(-1),
        Some(Some(at)) => {
            let left = at.saturating_sub(now) as i64;
            x.r.int(if ms { left } else { (left + 500) / 1000 });
        }
    }
}

pub(crate) fn ttl(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    ttl_generic(x, a, false);
}

pub(crate) fn pttl(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    ttl_generic(x, a, true);
}

pub(crate) fn persist(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let had = x.ks.get(&a[1]).is_some_and(|e| e.expire_at.is_some());
    if had {
        x.ks.set_expire(&a[1], None);
    }
    x.r.int(i64::from(had));
}

pub(crate) fn keys(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let pat = &a[1];
    let all = &pat[..] == b"*";
    let found: Vec<Bytes> =
        x.ks.keys()
            .filter(|(k, _)| all || glob::matches(pat, k))
            .map(|(k, _)| k.clone())
            .collect();
    x.r.array(found.len());
    for k in found {
        x.r.bulk(&k);
    }
}

/// SCAN walks keys in the order of a 64-bit hash; the cursor is the next hash to visit,
/// so a key present for the whole iteration is returned exactly once whatever is added
/// or deleted meanwhile. Each call reads the whole database (O(n)), unlike Redis's
/// bucket cursor: see docs/resp-server.md.
pub(crate) fn scan(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(cursor) = std::str::from_utf8(&a[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return x.r.error("ERR invalid cursor");
    };
    let (mut pattern, mut count, mut ty) = (None, 10usize, None);
    let mut i = 2;
    while i < a.len() {
        if i + 1 >= a.len() {
            return x.r.error(SYNTAX);
        }
        let v = &a[i + 1];
        if is(&a[i], "MATCH") {
            pattern = Some(v.clone());
        } else if is(&a[i], "COUNT") {
            match int(v) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return x.r.error(SYNTAX),
                None => return x.r.not_int(),
            }
        } else if is(&a[i], "TYPE") {
            ty = Some(v.clone());
        } else {
            return x.r.error(SYNTAX);
        }
        i += 2;
    }
    let store = x.ks.store();
    let hash = |k: &[u8]| store.scan_hasher().hash_one(k);
    // The `count` smallest hashes at or after the cursor, kept in a max-heap.
    let mut heap: BinaryHeap<(u64, Bytes)> = BinaryHeap::new();
    let mut more = false;
    for (k, _) in x.ks.keys() {
        let h = hash(k);
        if h < cursor {
            continue;
        }
        if heap.len() < count {
            heap.push((h, k.clone()));
        } else if heap.peek().is_some_and(|(top, _)| h < *top) {
            heap.pop();
            heap.push((h, k.clone()));
            more = true;
        } else {
            more = true;
        }
    }
    let mut batch = heap.into_vec();
    let last = batch.iter().map(|(h, _)| *h).max();
    // Keys sharing the boundary hash come now, or the next cursor would skip them.
    if let Some(last) = last {
        for (k, _) in x.ks.keys() {
            if hash(k) == last && !batch.iter().any(|(_, b)| b == k) {
                batch.push((last, k.clone()));
            }
        }
    }
    let next = match last {
        Some(l) if more => l.checked_add(1).unwrap_or(0),
        _ => 0,
    };
    batch.sort_unstable_by_key(|(h, _)| *h);
    let mut keep = Vec::with_capacity(batch.len());
    for (_, k) in batch {
        if pattern.as_ref().is_some_and(|p| !glob::matches(p, &k)) {
            continue;
        }
        if let Some(t) = &ty {
            let name = x.ks.get(&k).map_or("none", |e| e.value.type_name());
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
        }
        keep.push(k);
    }
    x.r.array(2);
    x.r.bulk(itoa::Buffer::new().format(next).as_bytes());
    x.r.array(keep.len());
    for k in keep {
        x.r.bulk(&k);
    }
}

pub(crate) fn rename(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(e) = x.ks.remove(&a[1]) else {
        return x.r.error("ERR no such key");
    };
    x.ks.touch(&a[1]);
    x.ks.set(&a[2], e.value, false);
    if e.expire_at.is_some() {
        x.ks.set_expire(&a[2], e.expire_at);
    }
    x.r.ok();
}

pub(crate) fn dbsize(x: &mut Exec<'_, '_>, _a: &[Bytes]) {
    let db = x.ks.db;
    x.r.uint(x.ks.counts(db).0);
}

fn flush_opts(x: &mut Exec<'_, '_>, a: &[Bytes]) -> bool {
    match a.get(1) {
        None => true,
        Some(o) if a.len() == 2 && (is(o, "ASYNC") || is(o, "SYNC")) => true,
        Some(_) => {
            x.r.error(SYNTAX);
            false
        }
    }
}

pub(crate) fn flushdb(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if flush_opts(x, a) {
        let db = x.ks.db;
        x.ks.flush(Some(db));
        x.r.ok();
    }
}

pub(crate) fn flushall(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if flush_opts(x, a) {
        x.ks.flush(None);
        x.r.ok();
    }
}
