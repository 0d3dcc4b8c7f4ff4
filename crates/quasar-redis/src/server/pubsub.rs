//! Channels and patterns, and the subscribers to push messages to.
//!
//! `PUBLISH` runs on the publisher's connection: it frames the message for each
//! subscriber (an array in RESP2, a push in RESP3) and queues it with
//! [`Connection::write`](quasar_net::Connection::write), which wakes the subscriber's
//! driver. A subscriber whose write queue is past its cap is disconnected, as Redis does
//! at its pub/sub output-buffer limit, rather than letting one slow reader hold memory.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::glob;
use super::reply::Reply;
use super::session::Session;

type Subscribers = HashMap<Bytes, HashMap<u64, Arc<Session>>>;

/// Every channel and pattern subscription.
#[derive(Debug, Default)]
pub(crate) struct PubSub {
    channels: Mutex<Subscribers>,
    patterns: Mutex<Subscribers>,
}

impl PubSub {
    /// Subscribes `s` to a channel (or a pattern); returns whether it is new.
    pub(crate) fn subscribe(&self, s: &Arc<Session>, name: &Bytes, pattern: bool) -> bool {
        let map = if pattern {
            &self.patterns
        } else {
            &self.channels
        };
        map.lock()
            .entry(name.clone())
            .or_default()
            .insert(s.id, s.clone())
            .is_none()
    }

    pub(crate) fn unsubscribe(&self, id: u64, name: &Bytes, pattern: bool) {
        let map = if pattern {
            &self.patterns
        } else {
            &self.channels
        };
        let mut map = map.lock();
        if let Some(subs) = map.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Sends `message` to every subscriber of `channel`; returns how many received it.
    pub(crate) fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let mut n = 0;
        let mut frames: [Option<Bytes>; 2] = [None, None];
        {
            let map = self.channels.lock();
            if let Some(subs) = map.get(channel) {
                for s in subs.values() {
                    let resp3 = s.is_resp3();
                    let frame = frames[usize::from(resp3)]
                        .get_or_insert_with(|| frame(resp3, &[b"message", channel, message]))
                        .clone();
                    n += usize::from(deliver(s, frame));
                }
            }
        }
        let map = self.patterns.lock();
        for (pattern, subs) in map.iter() {
            if !glob::matches(pattern, channel) {
                continue;
            }
            for s in subs.values() {
                let f = frame(s.is_resp3(), &[b"pmessage", pattern, channel, message]);
                n += usize::from(deliver(s, f));
            }
        }
        n
    }

    /// (channels, patterns) with at least one subscriber.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.channels.lock().len(), self.patterns.lock().len())
    }
}

fn frame(resp3: bool, parts: &[&[u8]]) -> Bytes {
    let mut out = BytesMut::with_capacity(parts.iter().map(|p| p.len() + 16).sum());
    let mut r = Reply {
        out: &mut out,
        resp3,
    };
    r.push(parts.len());
    for p in parts {
        r.bulk(p);
    }
    out.freeze()
}

fn deliver(s: &Session, frame: Bytes) -> bool {
    match s.conn.write(frame) {
        Ok(()) => true,
        Err(e) => {
            if e.is_write_buffer_full() {
                drop_slow_subscriber(s);
            }
            false
        }
    }
}

/// Drops a subscriber that cannot keep up (Redis's `client-output-buffer-limit pubsub`).
fn drop_slow_subscriber(s: &Session) {
    s.conn.abort();
}
