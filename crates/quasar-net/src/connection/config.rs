//! Per-connection settings shared by every connection of a server or client.

use std::time::Duration;

pub use crate::engine::MinRate;
use crate::flow_control::WaterMarks;
use crate::Result;

/// How long `close()` waits for the peer to close its side before aborting (pulsar's
/// `CLOSE_TIMEOUT`).
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The most unparsed input a connection holds for one consumer before it gives up.
pub const DEFAULT_MAX_READ_BUFFER: usize = 4 * 1024 * 1024;

/// How long a transport handshake (TLS) may take before the connection is dropped.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The default least rate at which a server receives a request it has started: 1 KiB
/// per 10 s window (about 100 B/s). A slowloris peer is closed 10–20 s after it starts.
pub const DEFAULT_MIN_RECEIVE_RATE: MinRate = MinRate::new(1024, Duration::from_secs(10));

/// The default least rate at which a server's peer must take output waiting for it:
/// 1 KiB per 10 s window (about 100 B/s).
pub const DEFAULT_MIN_SEND_RATE: MinRate = MinRate::new(1024, Duration::from_secs(10));

/// The default write-stall timeout: output waiting and not one byte taken by the peer
/// for this long closes the connection.
pub const DEFAULT_WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The three progress rules of a server connection, set together with
/// [`ConnectionConfig::progress_rules`] or
/// [`TcpServerBuilder::progress_rules`](crate::TcpServerBuilder::progress_rules).
///
/// They are **on by default** in the library, whatever the keep-alive and request
/// timeouts say (those are off by default): a peer that sends a started request slower
/// than 1 KiB per 10 s, takes waiting output slower than that, or takes none of it for
/// 20 s is closed, and the close is counted and logged (at most once per 10 s per kind)
/// by the server's abuse log. A connection that makes no progress in either direction
/// while it owes output (a read-paused relay whose peer stopped reading, a stalled
/// pipeline) is thus closed within [`DEFAULT_WRITE_STALL_TIMEOUT`] of its last byte.
/// Clients are exempt (their callers time out per call).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use quasar_net::connection::ProgressRules;
/// use quasar_net::{ConnectionConfig, MinRate};
///
/// let mut config = ConnectionConfig::default();
/// // A server for slow links: half the default rates, a minute of stall.
/// config.progress_rules(ProgressRules {
///     min_receive_rate: MinRate::new(512, Duration::from_secs(10)),
///     min_send_rate: MinRate::new(512, Duration::from_secs(10)),
///     write_stall_timeout: Duration::from_secs(60),
/// });
/// // Or none at all (a trusted peer on a private link).
/// config.progress_rules(ProgressRules::OFF);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressRules {
    /// See [`ConnectionConfig::min_receive_rate`].
    pub min_receive_rate: MinRate,
    /// See [`ConnectionConfig::min_send_rate`].
    pub min_send_rate: MinRate,
    /// See [`ConnectionConfig::write_stall_timeout`]; zero turns it off.
    pub write_stall_timeout: Duration,
}

impl ProgressRules {
    /// The defaults: [`DEFAULT_MIN_RECEIVE_RATE`], [`DEFAULT_MIN_SEND_RATE`],
    /// [`DEFAULT_WRITE_STALL_TIMEOUT`].
    pub const DEFAULT: ProgressRules = ProgressRules {
        min_receive_rate: DEFAULT_MIN_RECEIVE_RATE,
        min_send_rate: DEFAULT_MIN_SEND_RATE,
        write_stall_timeout: DEFAULT_WRITE_STALL_TIMEOUT,
    };

    /// No progress rule: only the keep-alive and request timeouts (if set) and the
    /// memory budget bound a slow peer.
    pub const OFF: ProgressRules = ProgressRules {
        min_receive_rate: MinRate::OFF,
        min_send_rate: MinRate::OFF,
        write_stall_timeout: Duration::ZERO,
    };
}

impl Default for ProgressRules {
    fn default() -> Self {
        ProgressRules::DEFAULT
    }
}

/// Settings applied to every connection a producer makes.
///
/// A zero [`Duration`] disables a timeout, as `timeout = 0` does in pulsar. The
/// keep-alive and request timeouts are off by default; the progress rules
/// ([`ProgressRules`]) are on.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub(crate) marks: WaterMarks,
    pub(crate) keep_alive: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_requests: u64,
    pub(crate) max_read_buffer: usize,
    pub(crate) read_chunk: usize,
    pub(crate) max_pending_responses: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) nodelay: bool,
    pub(crate) min_receive_rate: MinRate,
    pub(crate) min_send_rate: MinRate,
    pub(crate) write_stall_timeout: Duration,
    /// Shared by every connection of a server (the `Arc` is cloned with the config).
    pub(crate) memory_budget: Option<std::sync::Arc<crate::MemoryBudget>>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            marks: WaterMarks::default(),
            keep_alive: Duration::ZERO,
            request_timeout: Duration::ZERO,
            call_timeout: Duration::ZERO,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            max_requests: 0,
            max_read_buffer: DEFAULT_MAX_READ_BUFFER,
            read_chunk: 16 * 1024,
            max_pending_responses: 64,
            max_in_flight: 1,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            nodelay: true,
            min_receive_rate: DEFAULT_MIN_RECEIVE_RATE,
            min_send_rate: DEFAULT_MIN_SEND_RATE,
            write_stall_timeout: DEFAULT_WRITE_STALL_TIMEOUT,
            memory_budget: None,
        }
    }
}

impl ConnectionConfig {
    /// Idle timeout: a connection that moves no byte either way, with no request in
    /// flight, for this long is closed. Zero disables it.
    pub fn keep_alive(&mut self, timeout: Duration) -> &mut Self {
        self.keep_alive = timeout;
        self
    }

    /// Request timeout: a request in flight (started and not finished, or its response
    /// not yet written out) for this long fails and closes the connection. Zero
    /// disables it.
    pub fn request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.request_timeout = timeout;
        self
    }

    /// Call timeout, for client connections: how long one call may wait for its reply.
    /// Zero (the default) disables it.
    ///
    /// One timer per connection serves every call, since calls on a connection expire
    /// in the order they were sent:
    ///
    /// - a call unanswered after `timeout` fails with [`Error::is_request_timeout`]; the
    ///   connection stays open, and the reply, when it comes, is read and discarded (the
    ///   next reply still reaches the next caller);
    /// - when the oldest call is still unanswered after twice `timeout`, the peer is taken
    ///   for gone: the connection is closed and every call on it fails with
    ///   [`Error::is_request_timeout`].
    ///
    /// A call waiting for room in a full connection (`max_in_flight` calls in flight)
    /// has not been sent; its clock starts when it is. Unlike
    /// [`request_timeout`](Self::request_timeout), an expired call does not close the
    /// connection by itself.
    ///
    /// [`Error::is_request_timeout`]: crate::Error::is_request_timeout
    pub fn call_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.call_timeout = timeout;
        self
    }

    /// How long a graceful close waits for the peer before aborting.
    pub fn close_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.close_timeout = timeout;
        self
    }

    /// Close the connection after this many requests (a keep-alive limit); 0 = no limit.
    pub fn max_requests(&mut self, n: u64) -> &mut Self {
        self.max_requests = n;
        self
    }

    /// Write buffer water marks and cap.
    pub fn water_marks(&mut self, marks: WaterMarks) -> &mut Self {
        self.marks = marks;
        self
    }

    /// The most unparsed input held for one request before the connection fails with
    /// [`Error::is_read_buffer_full`](crate::Error::is_read_buffer_full).
    ///
    /// # Errors
    ///
    /// A config error when `bytes` is zero.
    pub fn max_read_buffer(&mut self, bytes: usize) -> Result<&mut Self> {
        if bytes == 0 {
            return Err(crate::Error::config("max_read_buffer must be positive"));
        }
        self.max_read_buffer = bytes;
        Ok(self)
    }

    /// How many bytes a read asks the socket for at least.
    pub fn read_chunk(&mut self, bytes: usize) -> &mut Self {
        self.read_chunk = bytes.max(64);
        self
    }

    /// How many responses produced by futures may be outstanding before the connection
    /// stops parsing new requests.
    pub fn max_pending_responses(&mut self, n: usize) -> &mut Self {
        self.max_pending_responses = n.max(1);
        self
    }

    /// Client side: how many requests may be in flight on one connection at once
    /// (default 1, one at a time as in pulsar). Above 1 the connection multiplexes:
    /// requests are written back to back, coalesced into one write when they queue
    /// together, and replies are matched to callers in order (HTTP pipelining, RESP).
    pub fn max_in_flight(&mut self, n: usize) -> &mut Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// How long the transport's handshake (an acceptor's or connector's, such as TLS)
    /// may take; zero disables the limit.
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Whether to set `TCP_NODELAY` (default true: responses are already coalesced).
    pub fn nodelay(&mut self, on: bool) -> &mut Self {
        self.nodelay = on;
        self
    }

    /// Server side: the least rate at which a request that has started arriving must
    /// keep arriving (default [`DEFAULT_MIN_RECEIVE_RATE`]), like Apache's
    /// `mod_reqtimeout` `MinRate`. Measured while the connection reads (not while
    /// back-pressure or a consumer paused reading) and not for long-lived exchanges;
    /// applies whatever `request_timeout` is. Failing it closes the connection with
    /// [`Error::is_receive_too_slow`](crate::Error::is_receive_too_slow).
    /// [`MinRate::OFF`] turns it off.
    pub fn min_receive_rate(&mut self, rate: MinRate) -> &mut Self {
        self.min_receive_rate = rate;
        self
    }

    /// Server side: the least rate at which the peer must take output waiting for it
    /// (default [`DEFAULT_MIN_SEND_RATE`]); failing it closes the connection with
    /// [`Error::is_send_too_slow`](crate::Error::is_send_too_slow). Applies to
    /// long-lived exchanges too and whatever `request_timeout` is. [`MinRate::OFF`]
    /// turns it off.
    pub fn min_send_rate(&mut self, rate: MinRate) -> &mut Self {
        self.min_send_rate = rate;
        self
    }

    /// Server side: output waiting and no byte taken by the peer for this long closes
    /// the connection (default [`DEFAULT_WRITE_STALL_TIMEOUT`], like nginx's
    /// `send_timeout`); [`Error::is_send_too_slow`](crate::Error::is_send_too_slow).
    /// Zero turns it off.
    pub fn write_stall_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.write_stall_timeout = timeout;
        self
    }

    /// Sets the three progress rules at once (see [`ProgressRules`]).
    pub fn progress_rules(&mut self, rules: ProgressRules) -> &mut Self {
        self.min_receive_rate = rules.min_receive_rate;
        self.min_send_rate = rules.min_send_rate;
        self.write_stall_timeout = rules.write_stall_timeout;
        self
    }

    /// The progress rules in force.
    pub fn get_progress_rules(&self) -> ProgressRules {
        ProgressRules {
            min_receive_rate: self.min_receive_rate,
            min_send_rate: self.min_send_rate,
            write_stall_timeout: self.write_stall_timeout,
        }
    }

    /// Shares `budget` between every connection using this config (a server sets its
    /// own; see [`TcpServerBuilder::memory_budget`](crate::TcpServerBuilder::memory_budget)).
    /// `None`: no budget.
    pub fn memory_budget(
        &mut self,
        budget: Option<std::sync::Arc<crate::MemoryBudget>>,
    ) -> &mut Self {
        self.memory_budget = budget;
        self
    }

    /// The idle timeout in force.
    pub fn get_keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// The per-connection request limit in force (0 = none).
    pub fn get_max_requests(&self) -> u64 {
        self.max_requests
    }

    /// The water marks in force.
    pub fn get_water_marks(&self) -> WaterMarks {
        self.marks
    }
}
