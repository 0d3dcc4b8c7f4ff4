//! The producer: the session and request counters a server or client shares with every
//! connection it makes.
//!
//! pulsar's `Producer` is the factory of protocols: it numbers each new connection
//! (`sessions`), counts the requests its consumers start (`requests_processed`), and
//! copies its many-times events onto everything it creates. [`Producer`] is that state,
//! cheap to clone; every server and client owns one.
//!
//! # Examples
//!
//! ```
//! use quasar_net::{Hooks, Producer};
//!
//! let producer = Producer::new("echo", Hooks::default());
//! assert_eq!(producer.next_session(), 1);
//! assert_eq!(producer.next_session(), 2);
//! producer.add_requests(3);
//! assert_eq!(producer.sessions(), 2);
//! assert_eq!(producer.requests_processed(), 3);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{AbuseStats, Hooks};

/// Session and request counters plus the hooks applied to every connection.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    sessions: AtomicU64,
    /// Requests are counted on every read batch of every connection, from every worker
    /// thread; one shared counter would bounce its cache line between cores, so each
    /// thread adds to its own shard and readers sum them.
    requests: [Shard; SHARDS],
    hooks: Arc<Hooks>,
    abuse: AbuseStats,
}

/// Number of counter shards (threads map onto them round-robin).
const SHARDS: usize = 16;

/// A counter on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Shard(AtomicU64);

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

// ===== impl Producer =====

impl Producer {
    /// A producer named `name` whose connections fire `hooks`.
    pub fn new(name: impl Into<String>, hooks: Hooks) -> Producer {
        Producer {
            inner: Arc::new(Inner {
                name: name.into(),
                sessions: AtomicU64::new(0),
                requests: Default::default(),
                hooks: Arc::new(hooks),
                abuse: AbuseStats::default(),
            }),
        }
    }

    /// The producer's name (used in logs).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Number of connections (sessions) created so far.
    pub fn sessions(&self) -> u64 {
        self.inner.sessions.load(Ordering::Relaxed)
    }

    /// Total number of requests started by the consumers of every connection.
    pub fn requests_processed(&self) -> u64 {
        self.inner
            .requests
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts a new connection and returns its session number (1-based), as pulsar's
    /// `create_protocol` does.
    pub fn next_session(&self) -> u64 {
        self.inner.sessions.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds `n` started requests. Connections batch this once per read, not per request.
    pub fn add_requests(&self, n: u64) {
        if n > 0 {
            self.inner.requests[shard_index()]
                .0
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The hooks fired for every connection and request of this producer.
    pub fn hooks(&self) -> &Arc<Hooks> {
        &self.inner.hooks
    }

    /// The abuse events counted and logged for this producer's connections (servers
    /// expose them in `info().abuse`).
    pub fn abuse(&self) -> &AbuseStats {
        &self.inner.abuse
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("name", &self.inner.name)
            .field("sessions", &self.sessions())
            .field("requests_processed", &self.requests_processed())
            .finish()
    }
}
