//! String commands: GET, SET and friends, counters, ranges.

use bytes::Bytes;

use super::args::{float, float_text, int, is};
use super::Exec;
use crate::server::reply::NOT_INT;
use crate::server::value::Value;

/// Redis's `proto-max-bulk-len`: the longest string `APPEND` and `SETRANGE` may build.
pub(crate) const MAX_STRING_LEN: usize = 512 * 1024 * 1024;

/// The string at `key`: `Ok(None)` when missing, `Err(())` (reply written) on a wrong type.
fn string(x: &mut Exec<'_, '_>, key: &[u8]) -> Result<Option<Bytes>, ()> {
    match x.ks.lookup(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(_) => {
            x.r.wrong_type();
            Err(())
        }
    }
}

pub(crate) fn get(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    // Encoded straight from the stored value: no `Bytes` clone (a reference count taken
    // and dropped, or on a value's first read an allocation to share it).
    match x.ks.lookup(&a[1]).map(|e| &e.value) {
        None => x.r.null(),
        Some(Value::Str(s)) => x.r.bulk(s),
        Some(_) => x.r.wrong_type(),
    }
}

pub(crate) fn getdel(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(v) = string(x, &a[1]) {
        if v.is_some() {
            x.ks.remove(&a[1]);
        }
        x.r.opt_bulk(v.as_deref());
    }
}

pub(crate) fn set(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let (mut nx, mut xx, mut get, mut keep) = (false, false, false, false);
    let mut expire: Option<u64> = None;
    let mut i = 3;
    while i < a.len() {
        let o = &a[i];
        if is(o, "NX") && !xx {
            nx = true;
        } else if is(o, "XX") && !nx {
            xx = true;
        } else if is(o, "GET") {
            get = true;
        } else if is(o, "KEEPTTL") && expire.is_none() {
            keep = true;
        } else if (is(o, "EX") || is(o, "PX") || is(o, "EXAT") || is(o, "PXAT"))
            && !keep
            && expire.is_none()
            && i + 1 < a.len()
        {
            i += 1;
            let Some(n) = int(&a[i]) else {
                return x.r.not_int();
            };
            let upper = o.to_ascii_uppercase();
            let ms = match &upper[..] {
                b"EX" | b"EXAT" => n.checked_mul(1000),
                _ => Some(n),
            };
            let at = match (ms, &upper[..]) {
                (Some(ms), _) if ms <= 0 => None,
                (Some(ms), b"EX" | b"PX") => (x.ks.now as i64).checked_add(ms),
                (Some(ms), _) => Some(ms),
                (None, _) => None,
            };
            match at {
                Some(at) => expire = Some(at as u64),
                None => return x.r.error("ERR invalid expire time in 'set' command"),
            }
        } else {
            return x.r.syntax();
        }
        i += 1;
    }
    let old = if get {
        match string(x, &a[1]) {
            Ok(v) => v,
            Err(()) => return,
        }
    } else {
        None
    };
    // Only NX/XX ask first: a plain SET goes straight to one lookup in `set`.
    let exists = (nx || xx) && x.ks.exists(&a[1]);
    if (nx && exists) || (xx && !exists) {
        return if get {
            x.r.opt_bulk(old.as_deref())
        } else {
            x.r.null()
        };
    }
    x.ks.set(&a[1], Value::Str(Bytes::copy_from_slice(&a[2])), keep);
    if expire.is_some() {
        x.ks.set_expire(&a[1], expire);
    }
    if get {
        x.r.opt_bulk(old.as_deref());
    } else {
        x.r.ok();
    }
}

pub(crate) fn mget(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    x.r.array(a.len() - 1);
    for k in &a[1..] {
        match x.ks.lookup(k).map(|e| &e.value) {
            Some(Value::Str(s)) => {
                let s = s.clone();
                x.r.bulk(&s);
            }
            _ => x.r.null(),
        }
    }
}

pub(crate) fn mset(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if a.len() % 2 == 0 {
        return x
            .r
            .error("ERR wrong number of arguments for 'mset' command");
    }
    for p in a[1..].chunks_exact(2) {
        x.ks.set(&p[0], Value::Str(Bytes::copy_from_slice(&p[1])), false);
    }
    x.r.ok();
}

pub(crate) fn msetnx(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if a.len() % 2 == 0 {
        return x
            .r
            .error("ERR wrong number of arguments for 'msetnx' command");
    }
    if a[1..].chunks_exact(2).any(|p| x.ks.exists(&p[0])) {
        return x.r.int(0);
    }
    for p in a[1..].chunks_exact(2) {
        x.ks.set(&p[0], Value::Str(Bytes::copy_from_slice(&p[1])), false);
    }
    x.r.int(1);
}

fn incr_by(x: &mut Exec<'_, '_>, key: &[u8], by: i64) {
    enum Refused {
        WrongType,
        NotInt,
        Overflow,
    }
    // Changed in place: one map lookup, the TTL kept, as Redis does.
    let done = x.ks.modify(key, |value| {
        let Value::Str(text) = value else {
            return Err(Refused::WrongType);
        };
        let cur = int(text).ok_or(Refused::NotInt)?;
        let v = cur.checked_add(by).ok_or(Refused::Overflow)?;
        *text = Bytes::from(itoa::Buffer::new().format(v).as_bytes().to_vec());
        Ok(v)
    });
    match done {
        Some(Ok(v)) => x.r.int(v),
        Some(Err(Refused::WrongType)) => x.r.wrong_type(),
        Some(Err(Refused::NotInt)) => x.r.not_int(),
        Some(Err(Refused::Overflow)) => x.r.error("ERR increment or decrement would overflow"),
        None => {
            let text = itoa::Buffer::new().format(by).as_bytes().to_vec();
            x.ks.set(key, Value::Str(Bytes::from(text)), true);
            x.r.int(by);
        }
    }
}

pub(crate) fn incr(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    incr_by(x, &a[1], 1);
}

pub(crate) fn decr(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    incr_by(x, &a[1], -1);
}

pub(crate) fn incrby(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    match int(&a[2]) {
        Some(by) => incr_by(x, &a[1], by),
        None => x.r.not_int(),
    }
}

pub(crate) fn decrby(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    match int(&a[2]).and_then(i64::checked_neg) {
        Some(by) => incr_by(x, &a[1], by),
        None => x.r.error(if int(&a[2]).is_some() {
            "ERR decrement would overflow"
        } else {
            NOT_INT
        }),
    }
}

pub(crate) fn incrbyfloat(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(by) = float(&a[2]) else {
        return x.r.error("ERR value is not a valid float");
    };
    let cur = match string(x, &a[1]) {
        Ok(None) => 0.0,
        Ok(Some(s)) => match float(&s) {
            Some(v) => v,
            None => return x.r.error("ERR value is not a valid float"),
        },
        Err(()) => return,
    };
    let v = cur + by;
    if !v.is_finite() {
        return x.r.error("ERR increment would produce NaN or Infinity");
    }
    let text = float_text(v);
    x.ks.set(&a[1], Value::Str(Bytes::from(text.clone())), true);
    x.r.bulk(text.as_bytes());
}

pub(crate) fn append(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let cur = match string(x, &a[1]) {
        Ok(v) => v.unwrap_or_default(),
        Err(()) => return,
    };
    if cur.len() + a[2].len() > MAX_STRING_LEN {
        return x
            .r
            .error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let mut v = Vec::with_capacity(cur.len() + a[2].len());
    v.extend_from_slice(&cur);
    v.extend_from_slice(&a[2]);
    let n = v.len();
    x.ks.set(&a[1], Value::Str(Bytes::from(v)), true);
    x.r.uint(n);
}

pub(crate) fn strlen(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(v) = string(x, &a[1]) {
        x.r.uint(v.map_or(0, |s| s.len()));
    }
}

pub(crate) fn getrange(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let (Some(start), Some(end)) = (int(&a[2]), int(&a[3])) else {
        return x.r.not_int();
    };
    let Ok(v) = string(x, &a[1]) else { return };
    let s = v.unwrap_or_default();
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return x.r.bulk(b"");
    }
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (norm(start), norm(end).min(len - 1));
    if start > end || len == 0 {
        return x.r.bulk(b"");
    }
    x.r.bulk(&s[start as usize..=end as usize]);
}

pub(crate) fn setrange(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(off) = int(&a[2]) else {
        return x.r.not_int();
    };
    if off < 0 {
        return x.r.error("ERR offset is out of range");
    }
    let Ok(v) = string(x, &a[1]) else { return };
    let cur = v.unwrap_or_default();
    if a[3].is_empty() {
        return x.r.uint(cur.len());
    }
    let off = off as usize;
    if off.saturating_add(a[3].len()) > MAX_STRING_LEN {
        return x
            .r
            .error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let mut buf = cur.to_vec();
    if buf.len() < off + a[3].len() {
        buf.resize(off + a[3].len(), 0);
    }
    buf[off..off + a[3].len()].copy_from_slice(&a[3]);
    let n = buf.len();
    x.ks.set(&a[1], Value::Str(Bytes::from(buf)), true);
    x.r.uint(n);
}
