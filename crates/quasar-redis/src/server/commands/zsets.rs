//! Sorted-set commands.

use bytes::Bytes;

use super::args::{float, int, is, score_bound};
use super::Exec;
use crate::server::reply::{NOT_FLOAT, SYNTAX};
use crate::server::value::{Value, ZSet};

fn zset<'x>(x: &'x mut Exec<'_, '_>, key: &[u8]) -> Result<Option<&'x mut ZSet>, ()> {
    match x.ks.lookup(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => {
            x.r.wrong_type();
            Err(())
        }
    }
}

pub(crate) fn zadd(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        match () {
            _ if is(o, "NX") => nx = true,
            _ if is(o, "XX") => xx = true,
            _ if is(o, "GT") => gt = true,
            _ if is(o, "LT") => lt = true,
            _ if is(o, "CH") => ch = true,
            _ if is(o, "INCR") => incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = &a[i..];
    if rest.is_empty() || rest.len() % 2 != 0 {
        return x.r.error(SYNTAX);
    }
    if nx && xx {
        return x
            .r
            .error("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return x
            .r
            .error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && rest.len() > 2 {
        return x
            .r
            .error("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        match float(&p[0]) {
            Some(s) => pairs.push((s, &p[1])),
            None => return x.r.error(NOT_FLOAT),
        }
    }
    let z = match x.ks.get_or_insert(&a[1], || Value::ZSet(ZSet::default())) {
        Value::ZSet(z) => z,
        _ => return x.r.wrong_type(),
    };
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    let mut nan = false;
    for (score, member) in pairs {
        let cur = z.score(member);
        let new = match (incr, cur) {
            (true, Some(c)) => c + score,
            _ => score,
        };
        if new.is_nan() {
            nan = true;
            break;
        }
        let allowed = match cur {
            None => !xx,
            Some(c) => !(nx || (gt && new <= c) || (lt && new >= c)),
        };
        if !allowed {
            continue;
        }
        incr_result = Some(new);
        match cur {
            None => {
                z.insert(Bytes::copy_from_slice(member), new);
                added += 1;
            }
            Some(c) if c != new => {
                z.insert(Bytes::copy_from_slice(member), new);
                changed += 1;
            }
            Some(_) => {}
        }
    }
    x.ks.drop_if_empty(&a[1]);
    if nan {
        return x.r.error("ERR resulting score is not a number (NaN)");
    }
    if incr {
        match incr_result {
            Some(s) => x.r.double(s),
            None => x.r.null(),
        }
    } else {
        x.r.int(if ch { added + changed } else { added });
    }
}

pub(crate) fn zincrby(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let Some(by) = float(&a[2]) else {
        return x.r.error(NOT_FLOAT);
    };
    let z = match x.ks.get_or_insert(&a[1], || Value::ZSet(ZSet::default())) {
        Value::ZSet(z) => z,
        _ => return x.r.wrong_type(),
    };
    let new = z.score(&a[3]).unwrap_or(0.0) + by;
    if new.is_nan() {
        x.ks.drop_if_empty(&a[1]);
        return x.r.error("ERR resulting score is not a number (NaN)");
    }
    z.insert(Bytes::copy_from_slice(&a[3]), new);
    x.r.double(new);
}

pub(crate) fn zscore(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(z) = zset(x, &a[1]) {
        match z.and_then(|z| z.score(&a[2])) {
            Some(s) => x.r.double(s),
            None => x.r.null(),
        }
    }
}

pub(crate) fn zrank(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(z) = zset(x, &a[1]) {
        match z.and_then(|z| z.rank(&a[2])) {
            Some(r) => x.r.uint(r),
            None => x.r.null(),
        }
    }
}

pub(crate) fn zrem(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let n = match zset(x, &a[1]) {
        Ok(Some(z)) => a[2..].iter().filter(|m| z.remove(m)).count(),
        Ok(None) => 0,
        Err(()) => return,
    };
    x.ks.drop_if_empty(&a[1]);
    x.r.uint(n);
}

pub(crate) fn zcard(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(z) = zset(x, &a[1]) {
        let n = z.map_or(0, |z| z.len());
        x.r.uint(n);
    }
}

/// What a range selects.
enum Range {
    Index(i64, i64),
    /// (min, min exclusive, max, max exclusive).
    Score(f64, bool, f64, bool),
}

struct RangeOpts {
    range: Range,
    rev: bool,
    limit: Option<(i64, i64)>,
    scores: bool,
}

fn parse_limit(a: &[Bytes], i: usize) -> Result<(i64, i64), &'static str> {
    match (
        a.get(i + 1).and_then(|v| int(v)),
        a.get(i + 2).and_then(|v| int(v)),
    ) {
        (Some(o), Some(c)) => Ok((o, c)),
        _ if a.len() < i + 3 => Err(SYNTAX),
        _ => Err(crate::server::reply::NOT_INT),
    }
}

/// The options after `key start stop` of ZRANGE (`full`) or ZRANGEBYSCORE (only
/// WITHSCORES and LIMIT).
#[derive(Default)]
struct RangeFlags {
    byscore: bool,
    rev: bool,
    scores: bool,
    limit: Option<(i64, i64)>,
}

fn range_flags(a: &[Bytes], full: bool) -> Result<RangeFlags, &'static str> {
    let mut f = RangeFlags::default();
    let mut i = 4;
    while i < a.len() {
        if full && is(&a[i], "BYSCORE") {
            f.byscore = true;
        } else if full && is(&a[i], "REV") {
            f.rev = true;
        } else if is(&a[i], "WITHSCORES") {
            f.scores = true;
        } else if is(&a[i], "LIMIT") {
            f.limit = Some(parse_limit(a, i)?);
            i += 2;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    Ok(f)
}

pub(crate) fn zrange(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let RangeFlags {
        byscore,
        rev,
        scores,
        limit,
    } = match range_flags(a, true) {
        Ok(f) => f,
        Err(e) => return x.r.error(e),
    };
    if limit.is_some() && !byscore {
        return x.r.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    let range = if byscore {
        let (lo, hi) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
        match (score_bound(lo), score_bound(hi)) {
            (Some((l, le)), Some((h, he))) => Range::Score(l, le, h, he),
            _ => return x.r.error("ERR min or max is not a float"),
        }
    } else {
        match (int(&a[2]), int(&a[3])) {
            (Some(s), Some(e)) => Range::Index(s, e),
            _ => return x.r.not_int(),
        }
    };
    run_range(
        x,
        &a[1],
        RangeOpts {
            range,
            rev,
            limit,
            scores,
        },
    );
}

pub(crate) fn zrangebyscore(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let RangeFlags { scores, limit, .. } = match range_flags(a, false) {
        Ok(f) => f,
        Err(e) => return x.r.error(e),
    };
    let range = match (score_bound(&a[2]), score_bound(&a[3])) {
        (Some((l, le)), Some((h, he))) => Range::Score(l, le, h, he),
        _ => return x.r.error("ERR min or max is not a float"),
    };
    run_range(
        x,
        &a[1],
        RangeOpts {
            range,
            rev: false,
            limit,
            scores,
        },
    );
}

fn run_range(x: &mut Exec<'_, '_>, key: &[u8], o: RangeOpts) {
    let Ok(z) = zset(x, key) else { return };
    let mut out: Vec<(Bytes, f64)> = Vec::new();
    if let Some(z) = z {
        let items: Box<dyn Iterator<Item = (&Bytes, f64)>> = if o.rev {
            Box::new(z.iter().rev())
        } else {
            Box::new(z.iter())
        };
        match o.range {
            Range::Index(start, stop) => {
                let len = z.len() as i64;
                let s = if start < 0 {
                    (len + start).max(0)
                } else {
                    start
                };
                let e = if stop < 0 {
                    len + stop
                } else {
                    stop.min(len - 1)
                };
                if s <= e && s < len {
                    out = items
                        .skip(s as usize)
                        .take((e - s + 1) as usize)
                        .map(|(m, sc)| (m.clone(), sc))
                        .collect();
                }
            }
            Range::Score(lo, lo_ex, hi, hi_ex) => {
                let inside = |s: f64| {
                    (if lo_ex { s > lo } else { s >= lo }) && (if hi_ex { s < hi } else { s <= hi })
                };
                let (off, count) = o.limit.unwrap_or((0, -1));
                if off >= 0 {
                    let count = if count < 0 {
                        usize::MAX
                    } else {
                        count as usize
                    };
                    out = items
                        .filter(|(_, s)| inside(*s))
                        .skip(off as usize)
                        .take(count)
                        .map(|(m, sc)| (m.clone(), sc))
                        .collect();
                }
            }
        }
    }
    if o.scores && x.r.resp3 {
        x.r.array(out.len());
        for (m, s) in out {
            x.r.array(2);
            x.r.bulk(&m);
            x.r.double(s);
        }
    } else {
        x.r.array(if o.scores { 2 * out.len() } else { out.len() });
        for (m, s) in out {
            x.r.bulk(&m);
            if o.scores {
                x.r.double(s);
            }
        }
    }
}
