//! Set commands.

use bytes::Bytes;

use super::Exec;
use crate::server::value::{FastSet, Value};

fn set<'x>(x: &'x mut Exec<'_, '_>, key: &[u8]) -> Result<Option<&'x mut FastSet<Bytes>>, ()> {
    match x.ks.lookup(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => {
            x.r.wrong_type();
            Err(())
        }
    }
}

pub(crate) fn sadd(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let s = match x.ks.get_or_insert(&a[1], || Value::Set(FastSet::default())) {
        Value::Set(s) => s,
        _ => return x.r.wrong_type(),
    };
    let n = a[2..]
        .iter()
        .filter(|m| !s.contains(&m[..]) && s.insert(Bytes::copy_from_slice(m)))
        .count();
    x.r.uint(n);
}

pub(crate) fn srem(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    let n = match set(x, &a[1]) {
        Ok(Some(s)) => a[2..].iter().filter(|m| s.remove(&m[..])).count(),
        Ok(None) => 0,
        Err(()) => return,
    };
    x.ks.drop_if_empty(&a[1]);
    x.r.uint(n);
}

fn reply_members(x: &mut Exec<'_, '_>, members: Vec<Bytes>) {
    x.r.set(members.len());
    for m in members {
        x.r.bulk(&m);
    }
}

pub(crate) fn smembers(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(s) = set(x, &a[1]) {
        let members = s.map(|s| s.iter().cloned().collect()).unwrap_or_default();
        reply_members(x, members);
    }
}

pub(crate) fn sismember(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(s) = set(x, &a[1]) {
        let hit = s.is_some_and(|s| s.contains(&a[2][..]));
        x.r.int(i64::from(hit));
    }
}

pub(crate) fn scard(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    if let Ok(s) = set(x, &a[1]) {
        let n = s.map_or(0, |s| s.len());
        x.r.uint(n);
    }
}

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

fn combine(x: &mut Exec<'_, '_>, a: &[Bytes], op: Op) {
    // Every set is read (and type-checked) first, as Redis does.
    let mut sets: Vec<Option<FastSet<Bytes>>> = Vec::with_capacity(a.len() - 1);
    for k in &a[1..] {
        match set(x, k) {
            Ok(s) => sets.push(s.map(|s| s.clone())),
            Err(()) => return,
        }
    }
    let mut it = sets.into_iter();
    let first = it.next().flatten().unwrap_or_default();
    let result: FastSet<Bytes> = match op {
        Op::Union => it.flatten().fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        Op::Diff => it.flatten().fold(first, |mut acc, s| {
            acc.retain(|m| !s.contains(m));
            acc
        }),
        Op::Inter => it.fold(first, |mut acc, s| {
            match s {
                Some(s) => acc.retain(|m| s.contains(m)),
                None => acc.clear(),
            }
            acc
        }),
    };
    reply_members(x, result.into_iter().collect());
}

pub(crate) fn sinter(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    combine(x, a, Op::Inter);
}

pub(crate) fn sunion(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    combine(x, a, Op::Union);
}

pub(crate) fn sdiff(x: &mut Exec<'_, '_>, a: &[Bytes]) {
    combine(x, a, Op::Diff);
}
