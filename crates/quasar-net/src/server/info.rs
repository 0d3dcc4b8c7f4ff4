//! Serialisable snapshots of a server: `info()` and the report of a graceful close.

use std::net::SocketAddr;

use serde::Serialize;

/// A snapshot of a server, shaped like pulsar's `TcpServer.info()`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServerInfo {
    /// The server section.
    pub server: ServerSection,
    /// The clients section.
    pub clients: ClientsSection,
    /// Abuse events: timeouts by kind, oversize, resets, forced closes, rejections.
    pub abuse: crate::AbuseSection,
}

/// The `server` section of [`ServerInfo`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServerSection {
    /// The server's name.
    pub name: String,
    /// Seconds since the server started listening.
    pub uptime_in_seconds: f64,
    /// Every listening address (one per worker with `workers(n)`).
    pub sockets: Vec<SocketAddr>,
    /// The per-server session limit (0 = none), after jitter.
    pub max_requests: u64,
    /// The idle timeout in seconds (0 = none).
    pub keep_alive: f64,
    /// Number of worker runtimes (0 = the caller's runtime).
    pub workers: usize,
    /// What happens at `max_connections`: `"wait"` or `"reject"`.
    pub overflow_policy: &'static str,
    /// The longest wait for a slot under `"wait"`, in seconds (0 = unbounded).
    pub max_queue_time: f64,
    /// The memory budget in bytes (0 = none).
    pub memory_budget: usize,
}

/// The `clients` section of [`ServerInfo`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClientsSection {
    /// Connections accepted so far (pulsar's `processed_clients` = sessions).
    pub processed_clients: u64,
    /// Connections open now.
    pub connected_clients: u64,
    /// Requests started on every connection.
    pub requests_processed: u64,
    /// Times a new connection found `max_connections` connections open: it waited (in
    /// the kernel's backlog, or accepted and queued under a queue-time limit) or was
    /// refused (policy `reject`).
    pub max_connections_waits: u64,
    /// Accept errors (EMFILE, ENFILE, ENOBUFS, ...) that made the accept loop back off.
    pub accept_backoffs: u64,
    /// Bytes read from every connection so far (ended and open).
    pub bytes_read: u64,
    /// Bytes written to every connection so far (ended and open).
    pub bytes_written: u64,
    /// Open connections whose writes are paused (output above the high water mark).
    pub write_paused_clients: u64,
    /// Bytes held for peers now (unparsed input + queued output), as the memory budget
    /// counts them.
    pub memory_held: usize,
}

/// What a graceful close did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CloseReport {
    /// Connections that were idle when the close began and were closed at once.
    pub closed_idle: u64,
    /// Connections that had a request in flight and closed after finishing it.
    pub finished_in_flight: u64,
    /// Connections still open at the deadline and force-closed.
    pub forced: u64,
}
