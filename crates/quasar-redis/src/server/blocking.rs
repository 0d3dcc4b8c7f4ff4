//! `BLPOP` and `BRPOP`: pop at once if a list has an element, otherwise wait for a push.
//!
//! A blocked client's reply comes from a future queued with
//! [`Context::spawn_response`](quasar_net::Context::spawn_response), so it stays in order
//! with the replies around it. The future waits on one `Notify` that every list push
//! wakes while someone is blocked, retries its keys, and gives up at its timeout or when
//! its peer has gone.
//!
//! Two differences from Redis, both in docs/resp-server.md. Commands pipelined after a
//! blocking pop run while it waits (their replies still come after its reply): pausing
//! reading instead would hide the peer's EOF from the engine, and a client that left
//! while blocked forever would never be noticed. And waiters are not served in FIFO
//! order (Redis serves the longest waiting first).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quasar_net::{Connection, Error};

use super::commands::args::float;
use super::commands::lists::pop_n;
use super::dispatch::Call;
use super::reply::Reply;
use super::shared::Shared;
use super::store::Keyspace;

/// How often a blocked pop checks whether its peer has gone: the engine marks the
/// connection closed at EOF but keeps it open while this reply is pending.
const PEER_CHECK: Duration = Duration::from_millis(100);

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

/// Counts the blocked client however the wait ends.
struct Blocked {
    shared: Arc<Shared>,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        self.shared.blocked.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves once the peer has closed its side (a half-close ends a blocked wait too, as in
/// Redis: nobody could read the answer's next request).
async fn peer_gone(conn: &Connection) {
    loop {
        if conn.is_read_closed() {
            return;
        }
        tokio::time::sleep(PEER_CHECK).await;
    }
}

impl Wait {
    async fn run(self) -> quasar_net::Result<Bytes> {
        self.shared.blocked.fetch_add(1, Ordering::AcqRel);
        let _guard = Blocked {
            shared: self.shared.clone(),
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
                () = peer_gone(&self.conn) => {
                    return Err(Error::closed("blocked client disconnected"));
                }
            }
        }
    }
}
