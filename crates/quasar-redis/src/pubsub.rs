//! [`RedisBroker`]: quasar-net's pub/sub [`Broker`] through a Redis server, so that every
//! process subscribed there delivers every message to its own subscribers.
//!
//! - **Publish** is `PUBLISH` on the client's pooled, multiplexed connections; it returns
//!   Redis's count: the subscribed *connections* that received the message (one per broker,
//!   and once more for each matching pattern a broker subscribed), not local subscriptions.
//! - **Subscribe** adds a local subscription to the broker's [`Hub`]. The broker has ONE
//!   subscriber connection for all of them: the first local subscription to a channel (or
//!   pattern) sends `SUBSCRIBE` (`PSUBSCRIBE`), the last one dropped `UNSUBSCRIBE`
//!   (`PUNSUBSCRIBE`); those in between cost Redis nothing. [`Broker::subscribe`] returns once
//!   the server has confirmed, so a message published after it returns is received.
//! - **Fan-out** happens locally: each message read from that connection is pushed onto the
//!   matching local subscriptions' bounded queues (drop oldest, counted; see
//!   [`quasar_net::pubsub`]).
//! - **Connection loss.** When the subscriber connection ends (Redis restarted, network cut)
//!   the broker reconnects with exponential backoff ([`MIN_BACKOFF`] doubling up to
//!   [`MAX_BACKOFF`]) and subscribes again to every channel and pattern that still has a
//!   local subscription; local subscriptions stay open throughout and never see an error.
//!   **Loss window:** messages published from the moment the old connection stopped
//!   receiving until the new one's `SUBSCRIBE` is confirmed are not delivered, as Redis
//!   pub/sub keeps no history (at-most-once delivery). That window is the time to notice the
//!   loss (immediate when the server closes or resets the connection, as a restarted or
//!   killed Redis does; a host that vanishes without a reset goes unnoticed on an idle
//!   connection until the OS reports it dead, as no heartbeat is sent) plus the backoff plus
//!   one round trip. A subscription made while disconnected returns at once and takes effect
//!   on reconnection. Publishing while the server is down fails with the client's error.
//!
//! # Examples
//!
//! ```no_run
//! use quasar_redis::pubsub::RedisBroker;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = RedisBroker::open("redis://127.0.0.1:6379").await?;
//! let mut room = broker.subscribe("chat").await?;
//! broker.publish("chat", "hello").await?;
//! let message = room.recv().await.expect("broker open");
//! assert_eq!(&message.payload[..], b"hello");
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use quasar_net::pubsub::{Backend, Broker, Hub, Topic, DEFAULT_CAPACITY};
use tokio::sync::{watch, Notify};

use crate::client::{RedisClient, RedisResult, Subscription, SubscriptionControl};

/// The first wait before reconnecting the subscriber connection.
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The Redis back-end of a [`Broker`]; see the [module docs](self).
pub struct RedisBroker {
    hub: Hub,
    client: RedisClient,
    ctl: Arc<Control>,
    driver: tokio::task::JoinHandle<()>,
}

/// What the broker's handles and its driver task share.
#[derive(Debug)]
struct Control {
    /// Bumped for every change a subscription needs upstream.
    wanted: AtomicU64,
    /// Wakes the driver to bring the server in line with the hub.
    notify: Notify,
    status: watch::Sender<Status>,
    reconnects: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Status {
    connected: bool,
    /// The last `wanted` value whose changes the server has confirmed.
    synced: u64,
}

impl Control {
    /// Asks the driver to sync; returns the generation to wait for.
    fn request(&self) -> u64 {
        let generation = self.wanted.fetch_add(1, Ordering::SeqCst) + 1;
        self.notify.notify_one();
        generation
    }
}

impl RedisBroker {
    /// A broker on the Redis server at `url` (`redis://host:port`, as [`RedisClient::new`]),
    /// with [`DEFAULT_CAPACITY`] messages per subscription.
    ///
    /// # Errors
    ///
    /// A bad URL, or the subscriber connection cannot be opened: the server must be
    /// reachable at start (later losses are reconnected).
    pub async fn open(url: &str) -> RedisResult<Broker> {
        RedisBroker::connect(RedisClient::new(url)?, DEFAULT_CAPACITY).await
    }

    /// A broker publishing through `client` and subscribing on one connection of its own,
    /// with at most `capacity` messages queued per local subscription.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub async fn connect(client: RedisClient, capacity: usize) -> RedisResult<Broker> {
        let first = client.subscribe(Vec::<&str>::new()).await?;
        let ctl = Arc::new(Control {
            wanted: AtomicU64::new(0),
            notify: Notify::new(),
            status: watch::Sender::new(Status {
                connected: true,
                synced: 0,
            }),
            reconnects: AtomicU64::new(0),
        });
        let hub = Hub::with_on_empty(capacity, {
            let ctl = ctl.clone();
            move |_topic: &Topic| {
                ctl.request();
            }
        });
        let driver = tokio::spawn(drive(hub.clone(), client.clone(), ctl.clone(), first));
        Ok(Broker::from_backend(RedisBroker {
            hub,
            client,
            ctl,
            driver,
        }))
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        // The driver owns the subscriber connection: aborting it closes the connection.
        self.driver.abort();
    }
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", self.client.url())
            .field("hub", &self.hub)
            .field("status", &*self.ctl.status.borrow())
            .field("reconnects", &self.ctl.reconnects.load(Ordering::Relaxed))
            .finish()
    }
}

impl Backend for RedisBroker {
    fn hub(&self) -> &Hub {
        &self.hub
    }

    fn subscribed<'a>(&'a self, _topic: &'a Topic) -> BoxFuture<'a, quasar_net::Result<()>> {
        Box::pin(async move {
            let generation = self.ctl.request();
            let mut status = self.ctl.status.subscribe();
            // Disconnected: the reconnection subscribes to it; waiting would only stall the
            // caller for as long as the server is away.
            let _ = status
                .wait_for(|s| !s.connected || s.synced >= generation)
                .await;
            Ok(())
        })
    }

    fn publish<'a>(
        &'a self,
        channel: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, quasar_net::Result<usize>> {
        Box::pin(async move {
            let n = self
                .client
                .publish(channel, payload)
                .await
                .map_err(quasar_net::Error::user)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// The driver task: runs the subscriber connection, and opens a new one (with backoff)
/// whenever it is lost.
async fn drive(hub: Hub, client: RedisClient, ctl: Arc<Control>, first: Subscription) {
    let mut next = Some(first);
    let mut backoff = MIN_BACKOFF;
    loop {
        let sub = match next.take() {
            Some(sub) => sub,
            None => match client.subscribe(Vec::<&str>::new()).await {
                Ok(sub) => sub,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "pub/sub: cannot reconnect to Redis");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        if run(&hub, &ctl, sub).await {
            backoff = MIN_BACKOFF;
        }
        ctl.status.send_modify(|s| s.connected = false);
        ctl.reconnects.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(retry_in = ?backoff, "pub/sub: lost the Redis subscriber connection; resubscribing");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Serves one subscriber connection until it is lost: one future reads messages into the
/// hub while the other keeps the server's subscriptions equal to the hub's topics. Returns
/// whether the subscriptions were in place at least once.
async fn run(hub: &Hub, ctl: &Control, mut sub: Subscription) -> bool {
    let control = sub.control();
    let mut synced_once = false;
    let changer = async {
        let mut on_server = HashSet::new();
        loop {
            let generation = ctl.wanted.load(Ordering::SeqCst);
            if let Err(e) = sync(hub, &control, &mut on_server).await {
                tracing::warn!(error = %e, "pub/sub: Redis refused a subscription change");
                return;
            }
            synced_once = true;
            ctl.status.send_modify(|s| {
                s.connected = true;
                s.synced = s.synced.max(generation);
            });
            ctl.notify.notified().await;
        }
    };
    let reader = async {
        while let Some(m) = sub.next().await {
            hub.deliver(&m.channel, m.pattern.as_deref(), m.payload);
        }
    };
    tokio::select! {
        () = changer => {}
        () = reader => {}
    }
    synced_once
}

/// Subscribes to what the hub has and the server lacks, unsubscribes from the rest.
async fn sync(
    hub: &Hub,
    control: &SubscriptionControl,
    on_server: &mut HashSet<Topic>,
) -> RedisResult<()> {
    let want: HashSet<Topic> = hub.topics().into_iter().collect();
    let names = |set: Vec<&Topic>, pattern: bool| -> Vec<String> {
        set.into_iter()
            .filter(|t| matches!(t, Topic::Pattern(_)) == pattern)
            .map(|t| t.name().to_owned())
            .collect()
    };
    let added: Vec<&Topic> = want.difference(on_server).collect();
    let removed: Vec<&Topic> = on_server.difference(&want).collect();
    let (sub_c, sub_p) = (names(added.clone(), false), names(added, true));
    let (unsub_c, unsub_p) = (names(removed.clone(), false), names(removed, true));
    if !sub_c.is_empty() {
        control.subscribe(&sub_c).await?;
    }
    if !sub_p.is_empty() {
        control.psubscribe(&sub_p).await?;
    }
    if !unsub_c.is_empty() {
        control.unsubscribe(&unsub_c).await?;
    }
    if !unsub_p.is_empty() {
        control.punsubscribe(&unsub_p).await?;
    }
    *on_server = want;
    Ok(())
}
