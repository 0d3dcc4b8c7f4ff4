//! [`Hub`]: the local subscriptions of a broker, their bounded queues and the fan-out.
//!
//! Every back-end delivers through a hub: the in-process back-end publishes into it directly,
//! the Redis back-end feeds it the messages of its one subscriber connection. A publish takes
//! the registry's read lock and pushes the message (a [`Bytes`] clone, no copy) onto each
//! matching subscriber's queue under that queue's own lock, then wakes the subscriber: the
//! publisher never waits for a reader. A full queue drops its *oldest* message and counts it
//! (the slow-subscriber policy, see the [module docs](super)).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::Stream;

use super::glob;
use super::{Message, Topic};

/// Called with a topic whose last local subscription was dropped.
type OnEmpty = Box<dyn Fn(&Topic) + Send + Sync>;

/// The local subscriptions of a broker; cheap to clone (one `Arc`).
///
/// Back-ends use it: [`subscribe`](Hub::subscribe) registers a queue,
/// [`publish`](Hub::publish) (or [`deliver`](Hub::deliver) for a message a server already
/// matched) fills the queues, [`topics`](Hub::topics) lists what must stay subscribed
/// upstream.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    registry: RwLock<Registry>,
    capacity: usize,
    next_id: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    on_empty: Option<OnEmpty>,
}

#[derive(Default)]
struct Registry {
    channels: HashMap<Arc<str>, Vec<Arc<Queue>>>,
    patterns: HashMap<Arc<str>, Vec<Arc<Queue>>>,
}

impl Registry {
    fn map(&mut self, topic: &Topic) -> &mut HashMap<Arc<str>, Vec<Arc<Queue>>> {
        match topic {
            Topic::Channel(_) => &mut self.channels,
            Topic::Pattern(_) => &mut self.patterns,
        }
    }
}

/// One subscriber's queue.
struct Queue {
    id: u64,
    state: Mutex<QueueState>,
    dropped: AtomicU64,
}

struct QueueState {
    items: VecDeque<Message>,
    waker: Option<Waker>,
    closed: bool,
}

/// A snapshot of a hub's counters ([`Broker::stats`](super::Broker::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BrokerStats {
    /// Channels with at least one local subscription.
    pub channels: usize,
    /// Patterns with at least one local subscription.
    pub patterns: usize,
    /// Local subscriptions (channel and pattern).
    pub subscriptions: usize,
    /// Messages queued for a local subscription, since the start.
    pub delivered: u64,
    /// Messages dropped from full queues (oldest first), since the start.
    pub dropped: u64,
}

impl Hub {
    /// A hub whose subscriptions queue at most `capacity` messages each (at least 1).
    pub fn new(capacity: usize) -> Hub {
        Hub::build(capacity, None)
    }

    /// As [`new`](Hub::new), calling `on_empty` (outside every lock) when the last local
    /// subscription of a topic is dropped: a back-end unsubscribes upstream there.
    pub fn with_on_empty(
        capacity: usize,
        on_empty: impl Fn(&Topic) + Send + Sync + 'static,
    ) -> Hub {
        Hub::build(capacity, Some(Box::new(on_empty)))
    }

    fn build(capacity: usize, on_empty: Option<OnEmpty>) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                registry: RwLock::new(Registry::default()),
                capacity: capacity.max(1),
                next_id: AtomicU64::new(1),
                delivered: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                on_empty,
            }),
        }
    }

    /// Each subscription's queue capacity.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Registers a local subscription to `topic`; it receives what is published from now on.
    pub fn subscribe(&self, topic: Topic) -> Subscription {
        let queue = Arc::new(Queue {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                waker: None,
                closed: false,
            }),
            dropped: AtomicU64::new(0),
        });
        let mut registry = self.inner.write();
        registry
            .map(&topic)
            .entry(topic.name_arc())
            .or_default()
            .push(queue.clone());
        drop(registry);
        Subscription {
            hub: self.clone(),
            topic,
            queue,
        }
    }

    /// Delivers `payload` to every local subscription of `channel` and of every pattern that
    /// matches it; returns how many received it.
    pub fn publish(&self, channel: &str, payload: Bytes) -> usize {
        let registry = self.inner.read();
        let mut n = 0;
        let mut name: Option<Arc<str>> = None;
        let mut channel_name = || name.get_or_insert_with(|| Arc::from(channel)).clone();
        if let Some(queues) = registry.channels.get(channel) {
            n += self.push_all(queues, &channel_name(), None, &payload);
        }
        for (pattern, queues) in &registry.patterns {
            if glob::matches(pattern.as_bytes(), channel.as_bytes()) {
                n += self.push_all(queues, &channel_name(), Some(pattern), &payload);
            }
        }
        n
    }

    /// Delivers a message an upstream server already matched: to the subscriptions of
    /// `pattern` when it is `Some`, else to those of `channel` alone. Returns how many
    /// received it.
    pub fn deliver(&self, channel: &str, pattern: Option<&str>, payload: Bytes) -> usize {
        let registry = self.inner.read();
        let (map, key) = match pattern {
            Some(p) => (&registry.patterns, p),
            None => (&registry.channels, channel),
        };
        let Some((pattern_name, queues)) = map.get_key_value(key) else {
            return 0;
        };
        let pattern_name = pattern.is_some().then_some(pattern_name);
        self.push_all(queues, &Arc::from(channel), pattern_name, &payload)
    }

    fn push_all(
        &self,
        queues: &[Arc<Queue>],
        channel: &Arc<str>,
        pattern: Option<&Arc<str>>,
        payload: &Bytes,
    ) -> usize {
        for q in queues {
            let message = Message {
                channel: channel.clone(),
                pattern: pattern.cloned(),
                payload: payload.clone(),
            };
            let mut state = q.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.items.len() >= self.inner.capacity {
                state.items.pop_front();
                q.dropped.fetch_add(1, Ordering::Relaxed);
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
            state.items.push_back(message);
            let waker = state.waker.take();
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
        }
        self.inner
            .delivered
            .fetch_add(queues.len() as u64, Ordering::Relaxed);
        queues.len()
    }

    /// Every topic with at least one local subscription.
    pub fn topics(&self) -> Vec<Topic> {
        let registry = self.inner.read();
        let channels = registry.channels.keys().cloned().map(Topic::Channel);
        let patterns = registry.patterns.keys().cloned().map(Topic::Pattern);
        channels.chain(patterns).collect()
    }

    /// Local subscriptions to `topic` (a channel's subscriptions alone for a channel, not the
    /// patterns that match it).
    pub fn subscribers(&self, topic: &Topic) -> usize {
        let registry = self.inner.read();
        let map = match topic {
            Topic::Channel(_) => &registry.channels,
            Topic::Pattern(_) => &registry.patterns,
        };
        map.get(topic.name()).map_or(0, Vec::len)
    }

    /// The hub's counters.
    pub fn stats(&self) -> BrokerStats {
        let registry = self.inner.read();
        let count =
            |m: &HashMap<Arc<str>, Vec<Arc<Queue>>>| m.values().map(Vec::len).sum::<usize>();
        BrokerStats {
            channels: registry.channels.len(),
            patterns: registry.patterns.len(),
            subscriptions: count(&registry.channels) + count(&registry.patterns),
            delivered: self.inner.delivered.load(Ordering::Relaxed),
            dropped: self.inner.dropped.load(Ordering::Relaxed),
        }
    }

    /// Ends every subscription's stream (after the messages already queued) and forgets them.
    pub fn close(&self) {
        let registry = std::mem::take(&mut *self.inner.write());
        for q in registry
            .channels
            .into_values()
            .chain(registry.patterns.into_values())
            .flatten()
        {
            let mut state = q.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.closed = true;
            let waker = state.waker.take();
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    fn remove(&self, topic: &Topic, id: u64) {
        let mut registry = self.inner.write();
        let map = registry.map(topic);
        let emptied = match map.get_mut(topic.name()) {
            Some(queues) => {
                queues.retain(|q| q.id != id);
                queues.is_empty()
            }
            None => false,
        };
        if emptied {
            map.remove(topic.name());
        }
        drop(registry);
        if emptied {
            if let Some(on_empty) = &self.inner.on_empty {
                on_empty(topic);
            }
        }
    }
}

impl HubInner {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("capacity", &self.inner.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

/// One local subscription: a [`Stream`] of [`Message`]s.
///
/// Its queue holds at most the broker's capacity; when a publish finds it full, the oldest
/// message is dropped and counted ([`dropped`](Self::dropped)), so a subscriber that stops
/// reading costs a bounded amount of memory and never delays a publisher or another
/// subscriber. Messages from one publisher arrive in the order it published them. Dropping
/// the subscription unsubscribes (with the Redis back-end, the broker's last local
/// subscription to a topic sends `UNSUBSCRIBE`). The stream ends only when the broker is
/// [closed](super::Broker::close).
pub struct Subscription {
    hub: Hub,
    topic: Topic,
    queue: Arc<Queue>,
}

impl Subscription {
    /// What this subscription listens to.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// Messages dropped from this subscription's full queue so far.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }

    /// Messages waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.lock().items.len()
    }

    /// The next message; `None` once the broker is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is taken from the queue only when it is returned.
    pub async fn recv(&mut self) -> Option<Message> {
        futures_util::StreamExt::next(self).await
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<Message> {
        self.queue.lock().items.pop_front()
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let mut state = self.queue.lock();
        if let Some(m) = state.items.pop_front() {
            return Poll::Ready(Some(m));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(&self.topic, self.queue.id);
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("queued", &self.queued())
            .field("dropped", &self.dropped())
            .finish()
    }
}
