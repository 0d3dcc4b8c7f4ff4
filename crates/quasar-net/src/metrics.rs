//! Prometheus metrics for servers and pools (feature `metrics`, on by default).
//!
//! [`Metrics`] is a list of servers and pools; registered once into a
//! [`prometheus_client`] [`Registry`], it reads every source's `info()`, `state()` and
//! `stats()` at each scrape and encodes one metric family per quantity, with a `server`
//! (or `pool`) label per source. Nothing is counted twice: the numbers are the ones the
//! servers and pools already keep, so registering costs nothing between scrapes.
//!
//! Counters (`_total`): sessions, requests, bytes read/written, `max_connections` waits,
//! accept back-offs, abuse events by `kind` (timeouts, oversize, resets, rejections, budget
//! sheds...), datagrams received/sent/oversize/errors and replies dropped by the
//! anti-amplification cap, pool checkouts, waits, timeouts, rejections, connect errors.
//! Gauges: open connections, write-paused connections, bytes held for peers (the memory
//! budget's count), pool size/in_use/available/idle/connecting/waiters, pending datagram
//! replies. Names start with `quasar_`; the crate names no protocol, so a server's label
//! is the name given to its builder.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use prometheus_client::registry::Registry;
//! use quasar_net::metrics::Metrics;
//! use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};
//!
//! struct Drop_;
//! impl ProtocolConsumer for Drop_ {
//!     type Request = ();
//!     type Response = ();
//!     fn data_received(&mut self, _: &mut Context<'_>, buf: &mut bytes::BytesMut) -> Result<Progress> {
//!         buf.clear();
//!         Ok(Progress::NeedMore)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let server = TcpServer::builder(|| Drop_).name("sink").bind("127.0.0.1:0".parse().unwrap()).start().await?;
//! let metrics = Metrics::new();
//! metrics.add_server(&server);
//! let mut registry = Registry::default();
//! metrics.register(&mut registry);
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("quasar_server_connections{server=\"sink\"} 0"));
//! server.close(Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::pool::{Manager, Pool};
use crate::{DatagramServer, TcpServer};

/// One scrape's numbers of one source: `(metric index, kind, value)` per family it feeds;
/// `kind` is an extra `kind` label ("" for none), used by the abuse-event counters.
type Sample = Vec<(usize, &'static str, u64)>;

/// A sample with no `kind` label.
fn unlabelled(values: &[(usize, u64)]) -> Sample {
    values.iter().map(|&(i, v)| (i, "", v)).collect()
}

/// A source read at each scrape: its label value and a snapshot function.
struct Source {
    label_key: &'static str,
    label: String,
    read: Box<dyn Fn() -> Sample + Send + Sync>,
}

/// A metric family: name (without `_total`), help, and whether it is a counter.
struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        counter: true,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        counter: false,
    }
}

// The order of this table is the index a `Sample` refers to.
const FAMILIES: &[Family] = &[
    gauge("quasar_server_connections", "Connections open now."),
    counter("quasar_server_sessions", "Connections accepted."),
    counter("quasar_server_requests", "Requests started."),
    counter("quasar_server_read_bytes", "Bytes read from connections."),
    counter(
        "quasar_server_written_bytes",
        "Bytes written to connections.",
    ),
    gauge(
        "quasar_server_write_paused_connections",
        "Open connections whose output is above the high water mark.",
    ),
    counter(
        "quasar_server_max_connections_waits",
        "Times a new connection found the connection limit reached (waited or refused).",
    ),
    counter(
        "quasar_server_accept_backoffs",
        "Accept errors (out of descriptors or buffers) that paused accepting.",
    ),
    gauge(
        "quasar_server_memory_held_bytes",
        "Bytes held for peers now (unparsed input and queued output), as the memory budget counts them.",
    ),
    counter(
        "quasar_server_abuse_events",
        "Abuse events by kind (timeouts, oversize, resets, rejections, budget sheds...).",
    ),
    counter("quasar_udp_received_datagrams", "Datagrams received."),
    counter("quasar_udp_sent_datagrams", "Datagrams sent."),
    counter(
        "quasar_udp_oversize_datagrams",
        "Datagrams dropped for exceeding the size limit.",
    ),
    counter(
        "quasar_udp_replies_dropped",
        "Reply datagrams dropped by the anti-amplification cap.",
    ),
    counter("quasar_udp_errors", "Datagram handling and socket errors."),
    gauge(
        "quasar_udp_pending_replies",
        "Replies queued and not yet sent.",
    ),
    gauge("quasar_pool_size", "Most connections the pool keeps."),
    gauge("quasar_pool_in_use", "Connections checked out now."),
    gauge(
        "quasar_pool_available",
        "Checkouts possible without waiting.",
    ),
    gauge("quasar_pool_idle", "Open connections not checked out."),
    gauge("quasar_pool_connecting", "Connections being opened."),
    gauge("quasar_pool_waiters", "Callers waiting for a connection."),
    counter("quasar_pool_checkouts", "Connections handed out."),
    counter("quasar_pool_waits", "Checkouts that had to wait."),
    counter("quasar_pool_timeouts", "Checkouts that timed out."),
    counter(
        "quasar_pool_rejected",
        "Checkouts refused (pool closed or full).",
    ),
    counter("quasar_pool_connect_errors", "Failed connection attempts."),
];

mod idx {
    pub(super) const CONNECTIONS: usize = 0;
    pub(super) const SESSIONS: usize = 1;
    pub(super) const REQUESTS: usize = 2;
    pub(super) const READ: usize = 3;
    pub(super) const WRITTEN: usize = 4;
    pub(super) const PAUSED: usize = 5;
    pub(super) const LIMIT_WAITS: usize = 6;
    pub(super) const BACKOFFS: usize = 7;
    pub(super) const MEMORY_HELD: usize = 8;
    pub(super) const ABUSE: usize = 9;
    pub(super) const UDP_RECEIVED: usize = 10;
    pub(super) const UDP_SENT: usize = 11;
    pub(super) const UDP_OVERSIZE: usize = 12;
    pub(super) const UDP_REPLIES_DROPPED: usize = 13;
    pub(super) const UDP_ERRORS: usize = 14;
    pub(super) const UDP_PENDING: usize = 15;
    pub(super) const POOL_SIZE: usize = 16;
    pub(super) const POOL_IN_USE: usize = 17;
    pub(super) const POOL_AVAILABLE: usize = 18;
    pub(super) const POOL_IDLE: usize = 19;
    pub(super) const POOL_CONNECTING: usize = 20;
    pub(super) const POOL_WAITERS: usize = 21;
    pub(super) const POOL_CHECKOUTS: usize = 22;
    pub(super) const POOL_WAITS: usize = 23;
    pub(super) const POOL_TIMEOUTS: usize = 24;
    pub(super) const POOL_REJECTED: usize = 25;
    pub(super) const POOL_CONNECT_ERRORS: usize = 26;
}

/// Servers and pools to expose; cloning shares the list, so sources added after
/// [`register`](Metrics::register) appear at the next scrape.
#[derive(Clone, Default)]
pub struct Metrics {
    sources: Arc<Mutex<Vec<Source>>>,
}

impl Metrics {
    /// An empty list.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds `source`, read by `read` at each scrape.
    fn add<T: Send + Sync + 'static>(
        &self,
        label_key: &'static str,
        label: String,
        source: T,
        read: fn(&T) -> Sample,
    ) {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Source {
                label_key,
                label,
                read: Box::new(move || read(&source)),
            });
    }

    /// Exposes a TCP server, labelled `server="<its name>"`.
    pub fn add_server(&self, server: &TcpServer) {
        let name = server.info().server.name;
        self.add("server", name, server.clone(), |server| {
            let info = server.info();
            let c = info.clients;
            let mut sample = unlabelled(&[
                (idx::CONNECTIONS, c.connected_clients),
                (idx::SESSIONS, c.processed_clients),
                (idx::REQUESTS, c.requests_processed),
                (idx::READ, c.bytes_read),
                (idx::WRITTEN, c.bytes_written),
                (idx::PAUSED, c.write_paused_clients),
                (idx::LIMIT_WAITS, c.max_connections_waits),
                (idx::BACKOFFS, c.accept_backoffs),
                (idx::MEMORY_HELD, c.memory_held as u64),
            ]);
            for (kind, n) in info.abuse.by_kind() {
                sample.push((idx::ABUSE, kind, n));
            }
            sample
        });
    }

    /// Exposes a datagram server, labelled `server="<its name>"`.
    pub fn add_datagram_server(&self, server: &DatagramServer) {
        let name = server.info().server.name;
        self.add("server", name, server.clone(), |server| {
            let d = server.info().datagrams;
            unlabelled(&[
                (idx::SESSIONS, d.sessions),
                (idx::REQUESTS, d.requests_processed),
                (idx::UDP_RECEIVED, d.received),
                (idx::UDP_SENT, d.sent),
                (idx::UDP_OVERSIZE, d.oversize),
                (idx::UDP_REPLIES_DROPPED, d.replies_dropped),
                (idx::UDP_ERRORS, d.errors),
                (idx::UDP_PENDING, d.pending),
            ])
        });
    }

    /// Exposes a pool, labelled `pool="<name>"`.
    pub fn add_pool<M: Manager>(&self, name: impl Into<String>, pool: &Pool<M>) {
        self.add("pool", name.into(), pool.clone(), |pool| {
            let s = pool.state();
            let t = pool.stats();
            let n = |v: usize| v as u64;
            unlabelled(&[
                (idx::POOL_SIZE, n(s.pool_size)),
                (idx::POOL_IN_USE, n(s.in_use)),
                (idx::POOL_AVAILABLE, n(s.available)),
                (idx::POOL_IDLE, n(s.idle)),
                (idx::POOL_CONNECTING, n(s.connecting)),
                (idx::POOL_WAITERS, n(s.waiters)),
                (idx::POOL_CHECKOUTS, t.checkouts),
                (idx::POOL_WAITS, t.waits),
                (idx::POOL_TIMEOUTS, t.timeouts),
                (idx::POOL_REJECTED, t.rejected),
                (idx::POOL_CONNECT_ERRORS, t.connect_errors),
            ])
        });
    }

    /// Registers the list as one collector: call once per registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(self.clone()));
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let labels: Vec<_> = sources.iter().map(|s| (s.label_key, &s.label)).collect();
        f.debug_struct("Metrics").field("sources", &labels).finish()
    }
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        // Read every source once, then write family by family: a family's samples must
        // be contiguous in the text format.
        let samples: Vec<(&'static str, String, Sample)> = {
            let sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
            sources
                .iter()
                .map(|s| (s.label_key, s.label.clone(), (s.read)()))
                .collect()
        };
        for (i, family) in FAMILIES.iter().enumerate() {
            let rows: Vec<_> = samples
                .iter()
                .flat_map(|(k, l, sample)| {
                    sample
                        .iter()
                        .filter(move |(j, _, _)| *j == i)
                        .map(move |(_, kind, v)| (*k, l.as_str(), *kind, *v))
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            let kind = if family.counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut metric = encoder.encode_descriptor(family.name, family.help, None, kind)?;
            for (key, label, kind, value) in rows {
                let mut labels = vec![(key, label)];
                if !kind.is_empty() {
                    labels.push(("kind", kind));
                }
                let sample = metric.encode_family(&labels)?;
                if family.counter {
                    ConstCounter::new(value).encode(sample)?;
                } else {
                    ConstGauge::new(value as i64).encode(sample)?;
                }
            }
        }
        Ok(())
    }
}
