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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::Hooks;

/// Session and request counters plus the hooks applied to every connection.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    sessions: AtomicU64,
    requests: AtomicU64,
    hooks: Arc<Hooks>,
}

// ===== impl Producer =====

impl Producer {
    /// A producer named `name` whose connections fire `hooks`.
    pub fn new(name: impl Into<String>, hooks: Hooks) -> Producer {
        Producer {
            inner: Arc::new(Inner {
                name: name.into(),
                sessions: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                hooks: Arc::new(hooks),
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
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Counts a new connection and returns its session number (1-based), as pulsar's
    /// `create_protocol` does.
    pub fn next_session(&self) -> u64 {
        self.inner.sessions.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds `n` started requests. Connections batch this once per read, not per request.
    pub fn add_requests(&self, n: u64) {
        if n > 0 {
            self.inner.requests.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The hooks fired for every connection and request of this producer.
    pub fn hooks(&self) -> &Arc<Hooks> {
        &self.inner.hooks
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
