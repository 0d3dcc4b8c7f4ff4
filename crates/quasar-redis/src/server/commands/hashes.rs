//! Hash commands.

use bytes::Bytes;
use indexmap::IndexMap;

use super::args::int;
use super::Exec;
use crate::server::value::{Hasher, Value};

/// The hash at `key`: `Ok(None)` when missing, `Err(())` (reply written) on a wrong type.
fn hash<'x>(
    x: &'x mut Exec<'_, '_>,
    key: &[u8],
) -> Result<Option<&'x mut IndexMap<Bytes, Bytes, Hasher>>, ()> {
    match x.ks.lookup(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => {
            x.r.wrong_type();
            Err(())
        }
    }
}

fn hash_or_create<'x>(
    x: &'x mut Exec<'_, '_>,
    key: &[u8],
) -> Result<&'x mut IndexMap<Bytes, Bytes, Hasher>, ()> {
    match x.ks.get_or_insert(key, || Value::Hash(IndexMap::default())) {
        Value::Hash(h) => Ok(h),
        _ => {
            x.r.wrong_type();
            Err(())
        }
    }
}

pub(crate) fn hset(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if a.len() % 2 != 0 {
        let name = String::from_utf8_lossy(&a[0]).to_ascii_lowercase();
        return x.r.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let hmset = a[0].eq_ignore_ascii_case(b"hmset");
    let Ok(h) = hash_or_create(x, &a[1]) else {
        return;
    };
    let mut added = 0;
    for p in a[2..].chunks_exact(2) {
        let v = Bytes::copy_from_slice(&p[1]);
        match h.get_mut(&p[0]) {
            Some(old) => *old = v,
            None => {
                h.insert(Bytes::copy_from_slice(&p[0]), v);
                added += 1;
            }
        }
    }
    if hmset {
        x.r.ok();
    } else {
        x.r.int(added);
    }
}

pub(crate) fn hget(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(h) = hash(x, &a[1]) {
        let v = h.and_then(|h| h.get(&a[2]).cloned());
        x.r.opt_bulk(v.as_deref());
    }
}

pub(crate) fn hmget(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Ok(h) = hash(x, &a[1]) else { return };
    let vals: Vec<Option<Bytes>> = a[2..]
        .iter()
        .map(|f| h.as_ref().and_then(|h| h.get(f).cloned()))
        .collect();
    x.r.array(vals.len());
    for v in vals {
        x.r.opt_bulk(v.as_deref());
    }
}

pub(crate) fn hdel(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let n = match hash(x, &a[1]) {
        Ok(Some(h)) => a[2..]
            .iter()
            .filter(|f| h.swap_remove(&f[..]).is_some())
            .count(),
        Ok(None) => 0,
        Err(()) => return,
    };
    x.ks.drop_if_empty(&a[1]);
    x.r.uint(n);
}

pub(crate) fn hgetall(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Ok(h) = hash(x, &a[1]) else { return };
    let pairs: Vec<(Bytes, Bytes)> = h
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    x.r.map(pairs.len());
    for (k, v) in pairs {
        x.r.bulk(&k);
        x.r.bulk(&v);
    }
}

fn hlist(x: &mut Exec<'_, '_>, a: &[Bytes], keys: bool) {
    let Ok(h) = hash(x, &a[1]) else { return };
    let items: Vec<Bytes> = h
        .map(|h| {
            h.iter()
                .map(|(k, v)| if keys { k.clone() } else { v.clone() })
                .collect()
        })
        .unwrap_or_default();
    x.r.array(items.len());
    for i in items {
        x.r.bulk(&i);
    }
}

pub(crate) fn hkeys(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    hlist(x, a, true);
}

pub(crate) fn hvals(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    hlist(x, a, false);
}

pub(crate) fn hlen(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(h) = hash(x, &a[1]) {
        let n = h.map_or(0, |h| h.len());
        x.r.uint(n);
    }
}

pub(crate) fn hstrlen(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(h) = hash(x, &a[1]) {
        let n = h.and_then(|h| h.get(&a[2])).map_or(0, Bytes::len);
        x.r.uint(n);
    }
}

pub(crate) fn hexists(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(h) = hash(x, &a[1]) {
        let n = h.is_some_and(|h| h.contains_key(&a[2]));
        x.r.int(i64::from(n));
    }
}

pub(crate) fn hincrby(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(by) = int(&a[3]) else {
        return x.r.not_int();
    };
    let Ok(h) = hash_or_create(x, &a[1]) else {
        return;
    };
    let cur = match h.get(&a[2]) {
        None => Some(0),
        Some(v) => int(v),
    };
    let res = match cur {
        None => Err("ERR hash value is not an integer"),
        Some(c) => c
            .checked_add(by)
            .ok_or("ERR increment or decrement would overflow"),
    };
    match res {
        Ok(v) => {
            let text = Bytes::from(itoa::Buffer::new().format(v).as_bytes().to_vec());
            match h.get_mut(&a[2]) {
                Some(old) => *old = text,
                None => {
                    h.insert(Bytes::copy_from_slice(&a[2]), text);
                }
            }
            x.r.int(v);
        }
        Err(e) => {
            x.ks.drop_if_empty(&a[1]);
            x.r.error(e);
        }
    }
}
