//! [`DatagramServer`]: a producer of datagram endpoints (pulsar's `DatagramServer`).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use super::driver::{serve, Limit, LoopConfig, LoopCtx, Transport};
use super::info::{
    DatagramCloseReport, DatagramServerInfo, DatagramServerSection, DatagramsSection, Stats,
};
use super::socket::bind;
use super::{DatagramConsumerFactory, DatagramServerBuilder, SocketInfo};
use crate::connection::shutdown::Shutdown;
use crate::connection::signal::Signal;
use crate::server::handle::{join_threads, CloseOutcome, ServerHandle};
use crate::{Error, Producer, Result};

/// A running UDP server; cloning shares it.
///
/// Build one with [`DatagramServer::builder`]; see the [module docs](super) for an
/// example. Each bound socket is one session of its [`Producer`] and is served by its own
/// task (on a worker thread with `workers(n)`), with one consumer from the factory.
#[derive(Clone)]
pub struct DatagramServer {
    inner: Arc<Inner>,
}

struct Inner {
    handle: ServerHandle<DatagramCloseReport>,
    max_requests: u64,
    batching: bool,
    gso: bool,
    max_datagram_size: usize,
    stats: Arc<Stats>,
    shutdown: Shutdown,
    tasks: TaskTracker,
}

impl CloseOutcome for DatagramCloseReport {
    fn forced(&self) -> u64 {
        self.forced
    }
}

/// Serves each socket of `group` in its own task on `tasks`. Called on the runtime that
/// will drive them: a socket belongs to the reactor of the runtime that created its
/// transport.
fn serve_group<F: DatagramConsumerFactory>(
    group: Vec<(std::net::UdpSocket, SocketInfo)>,
    batching: bool,
    tasks: &TaskTracker,
    ctx: &Arc<LoopCtx<F>>,
) -> Result<()> {
    for (sock, info) in group {
        let t = Transport::new(sock, batching).map_err(Error::from)?;
        tasks.spawn(serve(t, info, Arc::clone(ctx)));
    }
    Ok(())
}

// ===== impl DatagramServer =====

impl DatagramServer {
    /// A builder for a server whose sockets build consumers with `factory`.
    pub fn builder<F: DatagramConsumerFactory>(factory: F) -> DatagramServerBuilder<F> {
        DatagramServerBuilder::new(factory)
    }

    pub(crate) async fn start<F: DatagramConsumerFactory>(
        b: DatagramServerBuilder<F>,
    ) -> Result<DatagramServer> {
        b.validate()?;
        // Bind everything first, so every bind error reaches the caller (pulsar logged it,
        // fired `start` with it, and returned nothing).
        let groups = b.settings.workers.max(1);
        let mut plan: Vec<(usize, std::net::UdpSocket)> = Vec::new();
        let mut addrs = b.addrs.clone();
        if addrs.is_empty() && b.sockets.is_empty() {
            addrs.push(SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        for addr in addrs {
            let first = bind(addr, b.settings.workers > 0, b.buffers)?;
            // Port 0: the other workers bind the port the first socket got.
            let real = first.local_addr().map_err(|e| Error::new_bind(addr, e))?;
            plan.push((0, first));
            for w in 1..b.settings.workers {
                plan.push((w, bind(real, true, b.buffers)?));
            }
        }
        for (i, sock) in b.sockets.into_iter().enumerate() {
            plan.push((i % groups, sock));
        }

        let producer = Producer::new(b.settings.name.clone(), b.hooks);
        let mut per_worker: Vec<Vec<(std::net::UdpSocket, SocketInfo)>> =
            (0..groups).map(|_| Vec::new()).collect();
        let mut addresses = Vec::with_capacity(plan.len());
        for (worker, sock) in plan {
            let local_addr = sock.local_addr().map_err(Error::from)?;
            addresses.push(local_addr);
            let info = SocketInfo {
                session: producer.next_session(),
                local_addr,
                worker,
            };
            per_worker[worker].push((sock, info));
        }

        let stats = Arc::new(Stats::default());
        let shutdown = Shutdown::default();
        let limit = (b.settings.max_requests > 0).then(|| {
            Arc::new(Limit {
                max: b.settings.max_requests,
                claimed: AtomicU64::new(0),
                reached: Signal::default(),
            })
        });
        let ctx = Arc::new(LoopCtx {
            factory: Arc::new(b.factory),
            producer: producer.clone(),
            stats: Arc::clone(&stats),
            limit: limit.clone(),
            config: LoopConfig {
                max_datagram_size: b.max_datagram_size,
                batch_size: b.batch_size,
                max_pending: b.max_pending,
                gso: b.gso,
                max_replies: b.max_replies_per_datagram,
                reply_ratio: b.max_reply_ratio,
            },
            shutdown: shutdown.clone(),
        });
        let tasks = TaskTracker::new();
        let batching = b.batching;

        let mut worker_threads = Vec::new();
        let registered = if b.settings.workers == 0 {
            serve_group(per_worker.pop().unwrap_or_default(), batching, &tasks, &ctx)
        } else {
            let mut acks = Vec::new();
            for (w, group) in per_worker.into_iter().enumerate() {
                let (ack, acked) = oneshot::channel::<Result<()>>();
                acks.push(acked);
                let (ctx, tasks) = (Arc::clone(&ctx), tasks.clone());
                let thread_name = format!("{}-udp-{w}", b.settings.name);
                let handle =
                    crate::server::worker::spawn_worker(thread_name, w, move || async move {
                        let _ = ack.send(serve_group(group, batching, &tasks, &ctx));
                        // Stay until the server closed.
                        tasks.wait().await;
                    })?;
                worker_threads.push(handle);
            }
            let mut res = Ok(());
            for acked in acks {
                match acked.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => res = Err(e),
                    Err(_) => res = Err(Error::config("worker thread died while starting")),
                }
            }
            res
        };
        if let Err(e) = registered {
            shutdown.drain.cancel();
            shutdown.abort.cancel();
            tasks.close();
            join_threads(worker_threads).await;
            return Err(e);
        }

        let server = DatagramServer {
            inner: Arc::new(Inner {
                handle: ServerHandle::new(
                    b.settings.name,
                    addresses,
                    producer,
                    b.settings.workers,
                    worker_threads,
                ),
                max_requests: b.settings.max_requests,
                batching,
                gso: batching && b.gso,
                max_datagram_size: b.max_datagram_size,
                stats,
                shutdown,
                tasks,
            }),
        };
        let h = &server.inner.handle;
        for addr in &h.addresses {
            tracing::info!(name = %h.name, %addr, batching, "serving udp");
        }
        if let Some(limit) = limit {
            // Reaching max_requests closes the server in the background (pulsar 1.4+
            // never scheduled this close for TCP, and never counted UDP at all).
            let weak = Arc::downgrade(&server.inner);
            let drain = server.inner.shutdown.drain.clone();
            let timeout = b.settings.shutdown_timeout;
            tokio::spawn(async move {
                tokio::select! {
                    _ = limit.reached.cancelled() => {}
                    _ = drain.cancelled() => return,
                }
                if let Some(inner) = weak.upgrade() {
                    DatagramServer { inner }.close(timeout).await;
                }
            });
        }
        server.inner.handle.fire_started();
        Ok(server)
    }

    crate::server::handle::handle_accessors! {
        report: DatagramCloseReport;
        /// Bound sockets (pulsar counts each datagram endpoint as a session).
        sessions;
        /// Datagrams handed to consumers so far.
        requests_processed;
        /// The one-time `start` event, fired once every socket is bound and served.
        started;
    }

    /// Whether the server stopped reading (closing or closed).
    pub fn is_closing(&self) -> bool {
        self.inner.shutdown.drain.is_cancelled()
    }

    /// A snapshot of the server, as pulsar's `info()` plus datagram counters.
    pub fn info(&self) -> DatagramServerInfo {
        let i = &self.inner;
        let s = &i.stats;
        DatagramServerInfo {
            server: DatagramServerSection {
                name: i.handle.name.clone(),
                uptime_in_seconds: i.handle.uptime_in_seconds(),
                sockets: i.handle.addresses.clone(),
                max_requests: i.max_requests,
                workers: i.handle.workers,
                batching: i.batching,
                gso: i.gso,
                max_datagram_size: i.max_datagram_size,
            },
            datagrams: DatagramsSection {
                sessions: self.sessions(),
                received: Stats::get(&s.received),
                sent: Stats::get(&s.sent),
                oversize: Stats::get(&s.oversize),
                requests_processed: self.requests_processed(),
                errors: Stats::get(&s.errors),
                pending: Stats::get(&s.pending),
                replies_dropped: Stats::get(&s.replies_dropped),
            },
        }
    }

    /// Closes the server gracefully: stops reading, sends the replies already queued,
    /// lets spawned replies finish until `deadline`, then drops the rest and closes the
    /// sockets. Fires `stop` with the report. A second call waits for the first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe only before the close began; once begun, a dropped call leaves the
    /// drain running but nobody fires `stop` — keep the future alive.
    pub async fn close(&self, deadline: Duration) -> DatagramCloseReport {
        let inner = &self.inner;
        let report = || DatagramCloseReport {
            finished_in_flight: Stats::get(&inner.stats.finished_in_flight),
            forced: Stats::get(&inner.stats.forced),
        };
        inner
            .handle
            .close(deadline, &inner.shutdown, &inner.tasks, || {}, report)
            .await
    }
}

impl fmt::Debug for DatagramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServer")
            .field("name", &self.inner.handle.name)
            .field("addresses", &self.inner.handle.addresses)
            .field("batching", &self.inner.batching)
            .field("requests_processed", &self.requests_processed())
            .finish()
    }
}
