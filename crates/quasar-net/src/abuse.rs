//! Abuse events: what peers did that the server had to stop, counted and logged quietly ([`AbuseStats`]).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::rate_limited_log::RateLimitedLog;
use crate::Error;

/// How often each kind may log a line.
pub(crate) const ABUSE_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The kinds of abuse event a server counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbuseKind {
    /// A request did not finish within `request_timeout`.
    RequestTimeout,
    /// A transport handshake (TLS) did not finish within `handshake_timeout`.
    HandshakeTimeout,
    /// A request arrived slower than the minimum receive rate (slowloris).
    ReceiveTooSlow,
    /// The peer took output slower than the minimum send rate, or accepted no byte for
    /// the write-stall timeout (a slow reader).
    SendTooSlow,
    /// Unparsed input passed the connection's `max_buffer_size`.
    Oversize,
    /// Output passed the connection's write-buffer cap.
    OutputOverflow,
    /// The peer reset the connection or it failed with an I/O error.
    Reset,
    /// A protocol (parse) error closed the connection.
    ProtocolError,
    /// A connection still open at the shutdown deadline was closed by force.
    ForcedClose,
    /// A connection refused because `max_connections` was reached (policy `reject`).
    Rejected,
    /// A connection waited for a slot longer than the queue-time limit and was refused.
    QueueTimeout,
    /// The memory budget paused or closed a connection.
    BudgetShed,
    /// A datagram longer than `max_datagram_size` was dropped.
    OversizeDatagram,
    /// Replies over the anti-amplification cap were dropped.
    RepliesDropped,
}

const KINDS: usize = 14;

impl AbuseKind {
    const ALL: [AbuseKind; KINDS] = [
        AbuseKind::RequestTimeout,
        AbuseKind::HandshakeTimeout,
        AbuseKind::ReceiveTooSlow,
        AbuseKind::SendTooSlow,
        AbuseKind::Oversize,
        AbuseKind::OutputOverflow,
        AbuseKind::Reset,
        AbuseKind::ProtocolError,
        AbuseKind::ForcedClose,
        AbuseKind::Rejected,
        AbuseKind::QueueTimeout,
        AbuseKind::BudgetShed,
        AbuseKind::OversizeDatagram,
        AbuseKind::RepliesDropped,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The kind's name in logs and `info()`.
    pub fn name(self) -> &'static str {
        match self {
            AbuseKind::RequestTimeout => "request_timeout",
            AbuseKind::HandshakeTimeout => "handshake_timeout",
            AbuseKind::ReceiveTooSlow => "receive_too_slow",
            AbuseKind::SendTooSlow => "send_too_slow",
            AbuseKind::Oversize => "oversize",
            AbuseKind::OutputOverflow => "output_overflow",
            AbuseKind::Reset => "reset",
            AbuseKind::ProtocolError => "protocol_error",
            AbuseKind::ForcedClose => "forced_close",
            AbuseKind::Rejected => "rejected",
            AbuseKind::QueueTimeout => "queue_timeout",
            AbuseKind::BudgetShed => "budget_shed",
            AbuseKind::OversizeDatagram => "oversize_datagram",
            AbuseKind::RepliesDropped => "replies_dropped",
        }
    }

    /// Routine kinds (they also happen to honest peers on bad networks) log at `info`;
    /// the others at `warn`.
    fn is_routine(self) -> bool {
        matches!(
            self,
            AbuseKind::RequestTimeout | AbuseKind::Reset | AbuseKind::ProtocolError
        )
    }

    /// The kind a connection's closing error belongs to, if it is an abuse event.
    pub fn of_error(err: &Error) -> Option<AbuseKind> {
        if err.is_request_timeout() {
            Some(AbuseKind::RequestTimeout)
        } else if err.is_receive_too_slow() {
            Some(AbuseKind::ReceiveTooSlow)
        } else if err.is_send_too_slow() {
            Some(AbuseKind::SendTooSlow)
        } else if err.is_read_buffer_full() {
            Some(AbuseKind::Oversize)
        } else if err.is_write_buffer_full() {
            Some(AbuseKind::OutputOverflow)
        } else if err.is_over_budget() {
            Some(AbuseKind::BudgetShed)
        } else if err.is_protocol() {
            Some(AbuseKind::ProtocolError)
        } else if err.is_io() || err.is_connection_lost() {
            Some(AbuseKind::Reset)
        } else {
            None
        }
    }
}

/// Per-kind counters and log gates of one server.
///
/// Every server keeps one [`AbuseStats`] (reached through its
/// [`Producer`](crate::Producer)). A connection that ends because of a peer — a timeout,
/// an oversize message, a reset, a forced close — records one [`AbuseKind`]; the accept
/// loop records rejected connections, the memory budget its sheds, UDP loops oversize
/// datagrams and capped replies. Each kind is a plain counter in `info().abuse`
/// ([`AbuseSection`]) and a log line through its own rate-limited log gate: the first
/// occurrence is logged (at `warn`, or `info` for the routine kinds), then at most one
/// line per kind per second, saying how many more were suppressed.
///
/// # Examples
///
/// ```
/// use quasar_net::{AbuseKind, AbuseStats};
///
/// let stats = AbuseStats::default();
/// stats.record(AbuseKind::Oversize, 3, None, "unparsed input over the limit");
/// assert_eq!(stats.section().oversize, 3);
/// assert_eq!(stats.section().total(), 3);
/// ```
pub struct AbuseStats {
    counts: [AtomicU64; KINDS],
    logs: [RateLimitedLog; KINDS],
}

impl Default for AbuseStats {
    fn default() -> Self {
        AbuseStats {
            counts: Default::default(),
            logs: std::array::from_fn(|_| RateLimitedLog::new(ABUSE_LOG_INTERVAL)),
        }
    }
}

impl AbuseStats {
    /// Counts `n` events of `kind` and logs one line if the kind's gate lets it through.
    pub fn record(
        &self,
        kind: AbuseKind,
        n: u64,
        peer: Option<SocketAddr>,
        detail: impl fmt::Display,
    ) {
        if n == 0 {
            return;
        }
        self.counts[kind.index()].fetch_add(n, Ordering::Relaxed);
        let Some(suppressed) = self.logs[kind.index()].check_n(Instant::now(), n) else {
            return;
        };
        let total = self.count(kind);
        let peer = peer.map(tracing::field::display);
        if kind.is_routine() {
            tracing::info!(
                kind = kind.name(),
                peer,
                total,
                suppressed,
                "{detail} ({suppressed} more suppressed)"
            );
        } else {
            tracing::warn!(
                kind = kind.name(),
                peer,
                total,
                suppressed,
                "{detail} ({suppressed} more suppressed)"
            );
        }
    }

    /// Events of `kind` so far.
    pub fn count(&self, kind: AbuseKind) -> u64 {
        self.counts[kind.index()].load(Ordering::Relaxed)
    }

    /// A snapshot of every counter.
    pub fn section(&self) -> AbuseSection {
        let c = |k| self.count(k);
        AbuseSection {
            request_timeouts: c(AbuseKind::RequestTimeout),
            handshake_timeouts: c(AbuseKind::HandshakeTimeout),
            receive_too_slow: c(AbuseKind::ReceiveTooSlow),
            send_too_slow: c(AbuseKind::SendTooSlow),
            oversize: c(AbuseKind::Oversize),
            output_overflow: c(AbuseKind::OutputOverflow),
            resets: c(AbuseKind::Reset),
            protocol_errors: c(AbuseKind::ProtocolError),
            forced_closes: c(AbuseKind::ForcedClose),
            rejected: c(AbuseKind::Rejected),
            queue_timeouts: c(AbuseKind::QueueTimeout),
            budget_shed: c(AbuseKind::BudgetShed),
            oversize_datagrams: c(AbuseKind::OversizeDatagram),
            replies_dropped: c(AbuseKind::RepliesDropped),
        }
    }
}

impl AbuseSection {
    /// Every counter with its kind's name (as in logs), in a fixed order: what a metrics
    /// exporter labels by kind.
    pub fn by_kind(&self) -> [(&'static str, u64); KINDS] {
        let v = [
            self.request_timeouts,
            self.handshake_timeouts,
            self.receive_too_slow,
            self.send_too_slow,
            self.oversize,
            self.output_overflow,
            self.resets,
            self.protocol_errors,
            self.forced_closes,
            self.rejected,
            self.queue_timeouts,
            self.budget_shed,
            self.oversize_datagrams,
            self.replies_dropped,
        ];
        std::array::from_fn(|i| (AbuseKind::ALL[i].name(), v[i]))
    }
}

impl fmt::Debug for AbuseStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AbuseStats");
        for k in AbuseKind::ALL {
            d.field(k.name(), &self.count(k));
        }
        d.finish()
    }
}

/// The `abuse` section of a server's `info()`: one plain counter per [`AbuseKind`],
/// each counting events since the server started.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AbuseSection {
    /// Requests closed by `request_timeout`.
    pub request_timeouts: u64,
    /// Transport handshakes closed by `handshake_timeout`.
    pub handshake_timeouts: u64,
    /// Connections closed for receiving a request below the minimum rate.
    pub receive_too_slow: u64,
    /// Connections closed for taking output below the minimum rate, or stalling.
    pub send_too_slow: u64,
    /// Connections closed for unparsed input over `max_buffer_size`.
    pub oversize: u64,
    /// Connections closed for output over the write-buffer cap.
    pub output_overflow: u64,
    /// Connections reset by the peer or failed with an I/O error.
    pub resets: u64,
    /// Connections closed by a protocol (parse) error.
    pub protocol_errors: u64,
    /// Connections closed by force at the shutdown deadline.
    pub forced_closes: u64,
    /// Connections refused at `max_connections` (policy `reject`).
    pub rejected: u64,
    /// Connections refused after waiting longer than the queue-time limit.
    pub queue_timeouts: u64,
    /// Connections paused or closed by the memory budget.
    pub budget_shed: u64,
    /// Datagrams dropped for being over `max_datagram_size`.
    pub oversize_datagrams: u64,
    /// Reply datagrams dropped by the anti-amplification cap.
    pub replies_dropped: u64,
}

impl AbuseSection {
    /// The sum of every counter.
    pub fn total(&self) -> u64 {
        self.by_kind().iter().map(|(_, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_counter_and_name() {
        let s = AbuseStats::default();
        for (i, k) in AbuseKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            s.record(*k, i as u64 + 1, None, "test");
        }
        let names: std::collections::HashSet<_> = AbuseKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), KINDS);
        let sec = s.section();
        assert_eq!(sec.total(), (1..=KINDS as u64).sum::<u64>());
        assert_eq!(sec.request_timeouts, 1);
        assert_eq!(sec.replies_dropped, KINDS as u64);
        // The serialised section has one field per kind, named like the kind (plural
        // where the kind is a countable event).
        let json = serde_json::to_value(&sec).unwrap();
        assert_eq!(json.as_object().unwrap().len(), KINDS);
    }

    #[test]
    fn errors_map_to_kinds() {
        assert_eq!(
            AbuseKind::of_error(&Error::new_request_timeout()),
            Some(AbuseKind::RequestTimeout)
        );
        assert_eq!(
            AbuseKind::of_error(&Error::new_read_buffer_full(1)),
            Some(AbuseKind::Oversize)
        );
        assert_eq!(
            AbuseKind::of_error(&Error::protocol("x")),
            Some(AbuseKind::ProtocolError)
        );
        assert_eq!(AbuseKind::of_error(&Error::new_idle_timeout()), None);
        assert_eq!(AbuseKind::of_error(&Error::closed("x")), None);
    }
}
