//! `BLPOP` and `BRPOP`: pop at once if a list has an element, otherwise wait for a push.
//!
//! A blocked client's reply comes from a future queued with
//! [`Context::spawn_response`](quasar_net::Context::spawn_response), so it stays in order
//! with the replies around it, and the connection stops reading until it resolves
//! ([`Context::pause_reading`](quasar_net::Context::pause_reading)): like Redis, a blocked
//! client's next commands wait. The future waits on one `Notify` that every list push
//! wakes while someone is blocked, retries its keys, and gives up at its timeout or when
//! its connection closes. Waiters are not served in FIFO order (Redis serves the longest
//! waiting first); see docs/resp-server.md.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quasar_net::{Connection, Error};

use super::cmd::args::float;
use super::cmd::lists::pop_n;
use super::dispatch::Call;
use super::reply::Reply;
use super::shared::Shared;
use super::store::Keyspace;

/// The longest timeout accepted, in seconds (about 30 years); Redis refuses timeouts
/// that overflow its millisecond clock.
const MAX_TIMEOUT_SECS: f64 = 1e9;

pub(crate) fn bpop(c: &mut Call<'_, '_>, a: &[Bytes], left: bool, ks: Option<&mut Keyspace<'_>>) {
    let timeout = match a.last().and_then(|t| float(t)) {
        Some(t) if t < 0.0 => return c.reply().error("ERR timeout is negative"),
        Some(t) if t.is_finite() && t <= MAX_TIMEOUT_SECS => t,
        _ => {
            return c
                .reply()
                .error("ERR timeout is not a float or out of range")
        }
    };
    let keys = &a[1..a.len() - 1];
    let resp3 = c.sess.is_resp3();
    let popped = match ks {
        Some(ks) => {
            ks.db = c.st.db;
            try_pop(ks, keys, left)
        }
        None => {
            let sh = c.sh;
            let mut ks = sh.store.lock(c.st.db, keys.iter());
            try_pop(&mut ks, keys, left)
        }
    };
    match popped {
        Err(()) => return c.reply().wrong_type(),
        Ok(Some((k, v))) => return pop_reply(&mut c.reply(), &k, &v),
        Ok(None) => {}
    }
    let Some(cx) = c.cx.as_deref_mut() else {
        // Inside EXEC nothing blocks: an empty list answers at once.
        return c.reply().null_array();
    };
    // Replies written before this one must leave first.
    if !c.out.is_empty() {
        let earlier = c.out.split().freeze();
        cx.spawn_response(std::future::ready(Ok(earlier)));
    }
    let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::copy_from_slice(k)).collect();
    let wait = Wait {
        shared: c.sh.clone(),
        conn: cx.connection().clone(),
        db: c.st.db,
        keys,
        left,
        resp3,
        timeout: (timeout > 0.0).then(|| Duration::from_secs_f64(timeout)),
    };
    cx.pause_reading();
    cx.spawn_response(wait.run());
}

type Popped = Result<Option<(Bytes, Bytes)>, ()>;

fn try_pop(ks: &mut Keyspace<'_>, keys: &[Bytes], left: bool) -> Popped {
    for k in keys {
        match pop_n(ks, k, left, 1)? {
            Some(mut v) if !v.is_empty() => {
                ks.touch(k);
                return Ok(Some((k.clone(), v.swap_remove(0))));
            }
            _ => {}
        }
    }
    Ok(None)
}

fn pop_reply(r: &mut Reply<'_>, k: &[u8], v: &[u8]) {
    r.array(2);
    r.bulk(k);
    r.bulk(v);
}

/// A blocked pop waiting for a push.
struct Wait {
    shared: Arc<Shared>,
    conn: Connection,
    db: usize,
    keys: Vec<Bytes>,
    left: bool,
    resp3: bool,
    timeout: Option<Duration>,
}

/// Counts the blocked client and resumes its reading however the wait ends.
struct Blocked {
    shared: Arc<Shared>,
    conn: Connection,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        self.shared.blocked.fetch_sub(1, Ordering::AcqRel);
        self.conn.resume_reading();
    }
}

impl Wait {
    async fn run(self) -> quasar_net::Result<Bytes> {
        self.shared.blocked.fetch_add(1, Ordering::AcqRel);
        let _guard = Blocked {
            shared: self.shared.clone(),
            conn: self.conn.clone(),
        };
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut out = BytesMut::new();
        loop {
            let notified = self.shared.list_pushed.notified();
            tokio::pin!(notified);
            // Registered before the retry, so a push between the retry and the wait
            // still wakes this waiter.
            notified.as_mut().enable();
            let popped = {
                let mut ks = self.shared.store.lock(self.db, self.keys.iter());
                try_pop(&mut ks, &self.keys, self.left)
            };
            // A key that became another type is skipped, as Redis keeps waiting.
            if let Ok(Some((k, v))) = popped {
                pop_reply(
                    &mut Reply {
                        out: &mut out,
                        resp3: self.resp3,
                    },
                    &k,
                    &v,
                );
                return Ok(out.freeze());
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut notified => {}
                () = sleep => {
                    Reply { out: &mut out, resp3: self.resp3 }.null_array();
                    return Ok(out.freeze());
                }
                _ = self.conn.connection_lost().wait() => {
                    return Err(Error::closed("blocked client disconnected"));
                }
            }
        }
    }
}
