//! Pub/sub channels: a [`Broker`] of [`Bytes`] messages on named channels, with pattern
//! subscriptions, shared by every worker of a server.
//!
//! - [`Broker::subscribe`] gives a [`Subscription`], a [`Stream`](futures_util::Stream) of
//!   [`Message`]s (payload, channel, and the pattern for a [`psubscribe`](Broker::psubscribe)).
//! - [`Broker::psubscribe`] takes a Redis glob (`news.*`, `h?llo`, `[^a]*`, `\*`): the same
//!   rules in every back-end, so a pattern matches the same channels whichever is configured.
//! - [`Broker::publish`] returns how many receivers the message reached.
//!
//! A broker is one interface over a [`Backend`]: [`Broker::in_process`] (the default) keeps
//! everything in this process; `quasar_redis::pubsub::RedisBroker` goes through a Redis
//! server (or anything speaking its protocol, `quasar serve resp` included), so that every
//! process subscribed there receives every message. The core knows no protocol: a back-end
//! is a [`Hub`] of local subscriptions plus a way to publish.
//!
//! # Guarantees
//!
//! - **Bounded queues, drop oldest.** Each subscription queues at most
//!   [`capacity`](Broker::in_process_with) messages. When a publish finds the queue full it
//!   drops the *oldest* queued message and counts it ([`Subscription::dropped`],
//!   [`BrokerStats::dropped`]). A publisher never waits for a subscriber, one subscriber
//!   that stops reading holds up nobody else, and its memory is bounded; a subscriber that
//!   must not miss anything checks `dropped()` (a chat can close such a member). Dropping
//!   rather than disconnecting keeps the subscription alive through a burst, and the newest
//!   messages are the ones a live subscriber wants.
//! - **Ordering per publisher.** A publisher that awaits each `publish` before the next has
//!   its messages received in that order by every subscriber. Messages of concurrent
//!   publishers interleave.
//! - **Unsubscribe on drop.** Dropping a [`Subscription`] removes it at once; the subscriber
//!   counts ([`Broker::subscribers`], `PUBSUB NUMSUB` with Redis) go back.
//! - **Shared.** A `Broker` is `Clone + Send + Sync` (one `Arc`): clone it into every worker
//!   and handler.
//!
//! # Examples
//!
//! ```
//! use quasar_net::pubsub::Broker;
//!
//! # tokio_test::block_on(async {
//! let broker = Broker::in_process();
//! let mut news = broker.psubscribe("news.*").await?;
//! let mut sport = broker.subscribe("news.sport").await?;
//!
//! assert_eq!(broker.publish("news.sport", "3-1").await?, 2);
//! assert_eq!(broker.publish("weather", "rain").await?, 0);
//!
//! let m = news.recv().await.unwrap();
//! assert_eq!((&*m.channel, m.pattern.as_deref(), &m.payload[..]), ("news.sport", Some("news.*"), &b"3-1"[..]));
//! assert_eq!(&sport.recv().await.unwrap().payload[..], b"3-1");
//!
//! drop(sport);
//! assert_eq!(broker.subscribers("news.sport"), 0);
//! # Ok::<(), quasar_net::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::error::Result;

pub mod glob;
mod hub;

pub use hub::{BrokerStats, Hub, Subscription};

// docs/pubsub.md opens with an example: compiled as a doctest so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../../docs/pubsub.md")]
struct PubsubDocDoctests;

/// A subscription's queue capacity unless configured.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What a subscription listens to: one channel, or the channels matching a glob.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Exactly this channel.
    Channel(Arc<str>),
    /// Every channel the Redis glob matches.
    Pattern(Arc<str>),
}

impl Topic {
    /// The channel name or the pattern.
    pub fn name(&self) -> &str {
        match self {
            Topic::Channel(n) | Topic::Pattern(n) => n,
        }
    }

    fn name_arc(&self) -> Arc<str> {
        match self {
            Topic::Channel(n) | Topic::Pattern(n) => n.clone(),
        }
    }

    /// Whether this topic receives what is published on `channel`.
    pub fn matches(&self, channel: &str) -> bool {
        match self {
            Topic::Channel(n) => &**n == channel,
            Topic::Pattern(p) => glob::matches(p.as_bytes(), channel.as_bytes()),
        }
    }
}

/// One published message, as a subscription receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published on.
    pub channel: Arc<str>,
    /// The pattern that matched the channel, for a pattern subscription.
    pub pattern: Option<Arc<str>>,
    /// The message.
    pub payload: Bytes,
}

/// A broker's back-end: where its local subscriptions live and how it publishes.
///
/// Implemented by [`InProcess`] here and by `quasar_redis::pubsub::RedisBroker`; a new one
/// (another server's pub/sub) implements these three methods and is wrapped with
/// [`Broker::from_backend`].
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The local subscriptions this back-end delivers to.
    fn hub(&self) -> &Hub;

    /// Called after a local subscription to `topic` was added to the hub; completes once
    /// the back-end delivers that topic's messages (Redis: once the server confirmed the
    /// subscription).
    fn subscribed<'a>(&'a self, topic: &'a Topic) -> BoxFuture<'a, Result<()>>;

    /// Publishes `payload` on `channel`; returns how many receivers it reached, as the
    /// back-end counts them.
    fn publish<'a>(&'a self, channel: &'a str, payload: Bytes) -> BoxFuture<'a, Result<usize>>;

    /// A short name for logs (`"memory"`, `"redis"`).
    fn name(&self) -> &'static str;
}

/// The in-process back-end: publish delivers straight into the hub.
#[derive(Debug)]
pub struct InProcess {
    hub: Hub,
}

impl InProcess {
    /// A back-end whose subscriptions queue at most `capacity` messages each.
    pub fn new(capacity: usize) -> InProcess {
        InProcess {
            hub: Hub::new(capacity),
        }
    }
}

impl Backend for InProcess {
    fn hub(&self) -> &Hub {
        &self.hub
    }

    fn subscribed<'a>(&'a self, _topic: &'a Topic) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The number of local subscriptions (channel and pattern) that received it.
    fn publish<'a>(&'a self, channel: &'a str, payload: Bytes) -> BoxFuture<'a, Result<usize>> {
        Box::pin(std::future::ready(Ok(self.hub.publish(channel, payload))))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

/// A pub/sub broker; see the [module docs](self). Cloning shares it.
#[derive(Clone)]
pub struct Broker {
    backend: Arc<dyn Backend>,
}

impl Broker {
    /// An in-process broker with [`DEFAULT_CAPACITY`] messages per subscription.
    pub fn in_process() -> Broker {
        Broker::in_process_with(DEFAULT_CAPACITY)
    }

    /// An in-process broker whose subscriptions queue at most `capacity` messages each.
    pub fn in_process_with(capacity: usize) -> Broker {
        Broker::from_backend(InProcess::new(capacity))
    }

    /// A broker over `backend`.
    pub fn from_backend(backend: impl Backend) -> Broker {
        Broker {
            backend: Arc::new(backend),
        }
    }

    /// Subscribes to `channel`.
    ///
    /// # Errors
    ///
    /// The back-end's: none in-process; with Redis, none either (a subscription made while
    /// the server is unreachable is sent when it is back).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call drops its subscription.
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        self.add(Topic::Channel(Arc::from(channel))).await
    }

    /// Subscribes to every channel matching the Redis glob `pattern`.
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    ///
    /// # Cancel safety
    ///
    /// As [`subscribe`](Self::subscribe).
    pub async fn psubscribe(&self, pattern: &str) -> Result<Subscription> {
        self.add(Topic::Pattern(Arc::from(pattern))).await
    }

    async fn add(&self, topic: Topic) -> Result<Subscription> {
        let sub = self.backend.hub().subscribe(topic);
        self.backend.subscribed(sub.topic()).await?;
        Ok(sub)
    }

    /// Publishes `payload` on `channel`; returns how many receivers it reached: local
    /// subscriptions in-process, subscribed server connections (one per broker and matching
    /// topic) with Redis.
    ///
    /// # Errors
    ///
    /// The back-end's: none in-process; with Redis, the client's error when the server
    /// cannot be reached.
    pub async fn publish(&self, channel: &str, payload: impl Into<Bytes>) -> Result<usize> {
        self.backend.publish(channel, payload.into()).await
    }

    /// Local subscriptions to exactly `channel` (patterns not counted).
    pub fn subscribers(&self, channel: &str) -> usize {
        self.backend
            .hub()
            .subscribers(&Topic::Channel(Arc::from(channel)))
    }

    /// The local subscriptions' counters.
    pub fn stats(&self) -> BrokerStats {
        self.backend.hub().stats()
    }

    /// The back-end's name (`"memory"`, `"redis"`).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Ends every local subscription's stream once its queued messages are read.
    pub fn close(&self) {
        self.backend.hub().close();
    }
}

impl Default for Broker {
    fn default() -> Self {
        Broker::in_process()
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("backend", &self.backend)
            .finish()
    }
}
