//! List commands (the blocking pops are in `blocking.rs`).

use std::collections::VecDeque;

use bytes::Bytes;

use super::args::int;
use super::Exec;
use crate::server::store::Keyspace;
use crate::server::value::Value;

fn list<'x>(x: &'x mut Exec<'_, '_>, key: &[u8]) -> Result<Option<&'x mut VecDeque<Bytes>>, ()> {
    match x.ks.lookup(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => {
            x.r.wrong_type();
            Err(())
        }
    }
}

fn push(x: &mut Exec<'_, '_>, a: &[Bytes], left: bool) {
    let l = match x.ks.get_or_insert(&a[1], || Value::List(VecDeque::new())) {
        Value::List(l) => l,
        _ => return x.r.wrong_type(),
    };
    for v in &a[2..] {
        let v = Bytes::copy_from_slice(v);
        if left {
            l.push_front(v);
        } else {
            l.push_back(v);
        }
    }
    let n = l.len();
    x.r.uint(n);
}

pub(crate) fn lpush(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    push(x, a, true);
}

pub(crate) fn rpush(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    push(x, a, false);
}

/// Pops up to `n` elements from a list key, deleting it when emptied. `Err(())` on a
/// wrong type; `Ok(None)` when missing.
pub(crate) fn pop_n(
    ks: &mut Keyspace<'_>,
    key: &[u8],
    left: bool,
    n: usize,
) -> Result<Option<Vec<Bytes>>, ()> {
    let out = match ks.get(key).map(|e| &mut e.value) {
        None => return Ok(None),
        Some(Value::List(l)) => {
            let take = n.min(l.len());
            let mut out = Vec::with_capacity(take);
            for _ in 0..take {
                if let Some(v) = if left { l.pop_front() } else { l.pop_back() } {
                    out.push(v);
                }
            }
            out
        }
        Some(_) => return Err(()),
    };
    ks.drop_if_empty(key);
    Ok(Some(out))
}

fn pop(x: &mut Exec<'_, '_>, a: &[Bytes], left: bool) {
    let count = match a.get(2) {
        None => None,
        Some(c) => match int(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return x.r.error("ERR value is out of range, must be positive"),
        },
    };
    match pop_n(x.ks, &a[1], left, count.unwrap_or(1)) {
        Err(()) => x.r.wrong_type(),
        Ok(None) if count.is_some() => x.r.null_array(),
        Ok(None) => x.r.null(),
        Ok(Some(vals)) => match count {
            None => x.r.opt_bulk(vals.first().map(|v| &v[..])),
            Some(_) => {
                x.r.array(vals.len());
                for v in vals {
                    x.r.bulk(&v);
                }
            }
        },
    }
}

pub(crate) fn lpop(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    pop(x, a, true);
}

pub(crate) fn rpop(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    pop(x, a, false);
}

pub(crate) fn llen(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(l) = list(x, &a[1]) {
        let n = l.map_or(0, |l| l.len());
        x.r.uint(n);
    }
}

/// Resolves Redis's inclusive `start`/`stop` (negative from the end) into a range of
/// `len`, or `None` when empty.
fn span(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

pub(crate) fn lrange(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let (Some(start), Some(stop)) = (int(&a[2]), int(&a[3])) else {
        return x.r.not_int();
    };
    let Ok(l) = list(x, &a[1]) else { return };
    let items: Vec<Bytes> = match l.and_then(|l| span(start, stop, l.len()).map(|s| (l, s))) {
        Some((l, (s, e))) => l.range(s..=e).cloned().collect(),
        None => Vec::new(),
    };
    x.r.array(items.len());
    for i in items {
        x.r.bulk(&i);
    }
}

pub(crate) fn lindex(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(i) = int(&a[2]) else {
        return x.r.not_int();
    };
    let Ok(l) = list(x, &a[1]) else { return };
    let v = l.and_then(|l| {
        let i = if i < 0 { l.len() as i64 + i } else { i };
        usize::try_from(i).ok().and_then(|i| l.get(i).cloned())
    });
    x.r.opt_bulk(v.as_deref());
}

pub(crate) fn lrem(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(count) = int(&a[2]) else {
        return x.r.not_int();
    };
    let Ok(l) = list(x, &a[1]) else { return };
    let Some(l) = l else { return x.r.int(0) };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    if count >= 0 {
        let mut i = 0;
        while i < l.len() && removed < limit {
            if l[i] == a[3] {
                l.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = l.len();
        while i > 0 && removed < limit {
            i -= 1;
            if l[i] == a[3] {
                l.remove(i);
                removed += 1;
            }
        }
    }
    x.ks.drop_if_empty(&a[1]);
    x.r.uint(removed);
}

pub(crate) fn ltrim(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let (Some(start), Some(stop)) = (int(&a[2]), int(&a[3])) else {
        return x.r.not_int();
    };
    let Ok(l) = list(x, &a[1]) else { return };
    if let Some(l) = l {
        match span(start, stop, l.len()) {
            Some((s, e)) => {
                l.truncate(e + 1);
                l.drain(..s);
            }
            None => l.clear(),
        }
    }
    x.ks.drop_if_empty(&a[1]);
    x.r.ok();
}
