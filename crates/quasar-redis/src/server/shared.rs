//! What every connection of one server shares: the keyspace, pub/sub, the client list,
//! counters, and the active expiry sweep.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::config::RespServerConfig;
use super::pubsub::PubSub;
use super::session::Session;
use super::store::Store;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: RespServerConfig,
    pub(crate) store: Store,
    pub(crate) pubsub: PubSub,
    pub(crate) clients: Mutex<HashMap<u64, Arc<Session>>>,
    next_id: AtomicU64,
    pub(crate) started: Instant,
    pub(crate) commands: AtomicU64,
    pub(crate) connections: AtomicU64,
    /// Clients waiting in `BLPOP`/`BRPOP`.
    pub(crate) blocked: AtomicUsize,
    /// Woken by every list push while someone is blocked.
    pub(crate) list_pushed: Notify,
    sweeping: AtomicBool,
}

impl Shared {
    pub(crate) fn new(config: RespServerConfig) -> Shared {
        let store = Store::new(config.databases.max(1), config.shards);
        if config.maxmemory_policy == super::config::MaxMemoryPolicy::AllKeysLru {
            store.use_lru_clock();
        }
        Shared {
            config,
            store,
            pubsub: PubSub::default(),
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            commands: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            blocked: AtomicUsize::new(0),
            list_pushed: Notify::new(),
            sweeping: AtomicBool::new(false),
        }
    }

    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Starts the active expiry sweep on the current runtime, once. It holds only a weak
    /// reference, so it ends when the server's factory is dropped.
    pub(crate) fn start_sweep(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(self);
        let every = self
            .config
            .sweep_interval
            .max(std::time::Duration::from_millis(1));
        tokio::spawn(async move {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                shared.store.sweep(&mut seed);
            }
        });
    }

    /// Forgets a closed connection: its client entry, subscriptions and watches.
    pub(crate) fn remove_session(&self, session: &Arc<Session>) {
        self.clients.lock().remove(&session.id);
        let st = session.state.lock();
        for c in &st.channels {
            self.pubsub.unsubscribe(session.id, c, false);
        }
        for p in &st.patterns {
            self.pubsub.unsubscribe(session.id, p, true);
        }
        for (db, key) in &st.watched {
            self.store.unwatch(*db, key, &st.watch_flag);
        }
    }
}
