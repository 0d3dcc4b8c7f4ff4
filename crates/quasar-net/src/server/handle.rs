//! What every running server is, whatever it serves: its name and addresses, its
//! producer, the `start` and `stop` events, its worker threads and the graceful close.
//! [`TcpServer`](super::TcpServer) and [`DatagramServer`](crate::udp::DatagramServer)
//! each hold one and add only what differs (connections or datagram counters).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::task::TaskTracker;

use crate::connection::shutdown::Shutdown;
use crate::{OneTime, Producer};

/// A close report: what the log line at the end of a close says.
pub(crate) trait CloseOutcome: Clone + Default {
    /// Connections or spawned replies dropped at the deadline.
    fn forced(&self) -> u64;
}

/// The part of a running server that does not depend on what it serves.
pub(crate) struct ServerHandle<R> {
    pub(crate) name: String,
    pub(crate) addresses: Vec<SocketAddr>,
    pub(crate) producer: Producer,
    pub(crate) workers: usize,
    started_at: Instant,
    closing: AtomicBool,
    started: OneTime<()>,
    stopped: OneTime<R>,
    worker_threads: Mutex<Vec<JoinHandle<()>>>,
}

impl<R: CloseOutcome> ServerHandle<R> {
    pub(crate) fn new(
        name: String,
        addresses: Vec<SocketAddr>,
        producer: Producer,
        workers: usize,
        worker_threads: Vec<JoinHandle<()>>,
    ) -> Self {
        ServerHandle {
            name,
            addresses,
            producer,
            workers,
            started_at: Instant::now(),
            closing: AtomicBool::new(false),
            started: OneTime::new(),
            stopped: OneTime::new(),
            worker_threads: Mutex::new(worker_threads),
        }
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.addresses[0]
    }

    pub(crate) fn uptime_in_seconds(&self) -> f64 {
        self.started_at.elapsed().as_secs_f64()
    }

    pub(crate) fn started(&self) -> &OneTime<()> {
        &self.started
    }

    pub(crate) fn stopped(&self) -> &OneTime<R> {
        &self.stopped
    }

    /// Fires `start`: the server is serving.
    pub(crate) fn fire_started(&self) {
        let _ = self.started.fire(Ok(()));
    }

    pub(crate) async fn wait(&self) -> R {
        self.stopped.wait().await.unwrap_or_default()
    }

    /// The graceful close both servers share: `begin` (once, by the first caller) stops
    /// new work, then `shutdown` drains the tasks in `tasks` until `deadline`, aborts
    /// what is left, joins the worker threads, and fires `stop` with `report()`. A second
    /// call waits for the first.
    pub(crate) async fn close(
        &self,
        deadline: Duration,
        shutdown: &Shutdown,
        tasks: &TaskTracker,
        begin: impl FnOnce(),
        report: impl FnOnce() -> R,
    ) -> R {
        if self.closing.swap(true, Ordering::AcqRel) {
            return self.wait().await;
        }
        begin();
        tasks.close();
        shutdown.drain.cancel();
        if tokio::time::timeout(deadline, tasks.wait()).await.is_err() {
            shutdown.abort.cancel();
            tasks.wait().await;
        }
        let threads = std::mem::take(
            &mut *self
                .worker_threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        join_threads(threads).await;
        let report = report();
        tracing::info!(name = %self.name, forced = report.forced(), "stopped");
        let _ = self.stopped.fire(Ok(report.clone()));
        report
    }
}

/// Joins worker threads off the runtime (a join blocks until the thread's runtime ended).
pub(crate) async fn join_threads(threads: Vec<JoinHandle<()>>) {
    if threads.is_empty() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
}

/// Generates a server type's accessors of its [`ServerHandle`] (`self.inner.handle`), the
/// same for every server: `address`, `addresses`, `producer`, `stopped`, `wait`, and
/// `sessions`, `requests_processed` and `started` with the docs given (what they count
/// differs).
macro_rules! handle_accessors {
    (
        report: $report:ty;
        $(#[$sessions:meta])* sessions;
        $(#[$requests:meta])* requests_processed;
        $(#[$started:meta])* started;
    ) => {
        $(#[$sessions])*
        pub fn sessions(&self) -> u64 {
            self.inner.handle.producer.sessions()
        }

        $(#[$requests])*
        pub fn requests_processed(&self) -> u64 {
            self.inner.handle.producer.requests_processed()
        }

        $(#[$started])*
        pub fn started(&self) -> &$crate::OneTime<()> {
            self.inner.handle.started()
        }

        /// The first bound address (pulsar's `address`), with the real port when bound to
        /// port 0.
        pub fn address(&self) -> std::net::SocketAddr {
            self.inner.handle.address()
        }

        /// Every bound address, in bind order (each address once per worker with
        /// `workers(n)`).
        pub fn addresses(&self) -> &[std::net::SocketAddr] {
            &self.inner.handle.addresses
        }

        /// The server's producer: session and request counters, hooks.
        pub fn producer(&self) -> &$crate::Producer {
            &self.inner.handle.producer
        }

        /// The one-time `stop` event, fired with the close report when the server stopped.
        pub fn stopped(&self) -> &$crate::OneTime<$report> {
            self.inner.handle.stopped()
        }

        /// Waits until the server stopped (after [`close`](Self::close), or after
        /// `max_requests` drained it).
        ///
        /// # Cancel safety
        ///
        /// Cancel safe.
        pub async fn wait(&self) -> $report {
            self.inner.handle.wait().await
        }
    };
}
pub(crate) use handle_accessors;
