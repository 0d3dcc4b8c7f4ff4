//! Shedding at `max_connections`: what a server does with a connection it has no slot
//! for.
//!
//! pulsar (and this server before) stopped calling `accept` at the limit, so extra
//! clients sat in the kernel's backlog hearing nothing until a slot freed, however long
//! that took. Now the operator picks an [`OverflowPolicy`]:
//!
//! - [`Wait`](OverflowPolicy::Wait) (default): wait for a slot, but at most
//!   `max_queue_time` (CoDel's idea: a connection that waited longer than the target is
//!   refused rather than served late). Waiting connections are accepted and held, at most
//!   as many as `max_connections`; past that the backlog holds the rest, as before.
//!   A zero `max_queue_time` is the old unbounded wait in the backlog.
//! - [`Reject`](OverflowPolicy::Reject): accept at once and refuse.
//!
//! A refused connection gets the factory's
//! [`busy_reply`](crate::ConsumerFactory::busy_reply) (an HTTP 503, a RESP `-ERR`), after
//! the transport's handshake, then a graceful close; all of it bounded by
//! [`REJECT_TIMEOUT`]. At most [`MAX_REJECTING`] refusals are in progress at once; past
//! that a refused connection is reset at once. Both count in `info().abuse` (`rejected`,
//! `queue_timeouts`).
//!
//! ```
//! use quasar_net::server::OverflowPolicy;
//! assert_eq!("reject".parse::<OverflowPolicy>().unwrap(), OverflowPolicy::Reject);
//! assert!("drop".parse::<OverflowPolicy>().is_err());
//! assert_eq!(OverflowPolicy::default().as_str(), "wait");
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::transport::Acceptor;

/// How long refusing one connection may take: handshake, busy reply, close.
pub const REJECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The most refusals in progress at once (each holds a descriptor up to
/// [`REJECT_TIMEOUT`]); past it refused connections are reset without a reply.
pub const MAX_REJECTING: usize = 256;

/// The default longest wait for a slot under [`OverflowPolicy::Wait`].
pub const DEFAULT_MAX_QUEUE_TIME: Duration = Duration::from_secs(10);

/// What to do with a connection when `max_connections` are open; see the
/// [module docs](self).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Wait for a slot, up to the queue-time limit.
    #[default]
    Wait,
    /// Refuse at once, with the protocol's busy reply.
    Reject,
}

impl OverflowPolicy {
    /// `"wait"` or `"reject"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowPolicy::Wait => "wait",
            OverflowPolicy::Reject => "reject",
        }
    }
}

impl fmt::Display for OverflowPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OverflowPolicy {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "wait" => Ok(OverflowPolicy::Wait),
            "reject" => Ok(OverflowPolicy::Reject),
            other => Err(crate::Error::config(format!(
                "overflow policy must be `wait` or `reject`, got `{other}`"
            ))),
        }
    }
}

/// Refuses `stream`: handshake, busy reply, write-side shutdown, then reads (and
/// discards) what the peer still sends until it closes, so the close does not become a
/// reset that destroys the reply. Bounded by [`REJECT_TIMEOUT`].
pub(crate) async fn refuse<A: Acceptor>(stream: TcpStream, acceptor: &A, reply: Option<Bytes>) {
    let Some(reply) = reply else {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        return;
    };
    let work = async {
        let mut io = acceptor.accept(stream).await.ok()?;
        io.write_all(&reply).await.ok()?;
        io.shutdown().await.ok()?;
        let mut sink = [0u8; 1024];
        // The peer's request (bounded by the timeout, not by size: it is discarded).
        while io.read(&mut sink).await.ok()? > 0 {}
        Some(())
    };
    let _ = tokio::time::timeout(REJECT_TIMEOUT, work).await;
}

/// Resets `stream` at once (no slot, and too many refusals already in progress).
pub(crate) fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
}
