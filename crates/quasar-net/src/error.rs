//! The one error type of `quasar-net`.
//!
//! Every failure the core reports, from a bind error to a consumer that stalled, is an
//! [`Error`]. It is opaque on purpose: callers ask what kind of failure it was with the
//! `is_*` predicates and walk [`std::error::Error::source`] for the cause, so new kinds
//! can be added without breaking anyone. It is cheap to clone (one `Arc`) because a
//! one-time event hands the same error to every waiter.
//!
//! # Examples
//!
//! ```
//! use quasar_net::Error;
//!
//! let err = Error::protocol("bad frame");
//! assert!(err.is_protocol());
//! assert_eq!(err.to_string(), "protocol error: bad frame");
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from user code (a consumer, a hook, a pool manager).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error type of `quasar-net`.
#[derive(Clone)]
pub struct Error {
    inner: Arc<ErrorImpl>,
}

struct ErrorImpl {
    kind: Kind,
    context: Option<String>,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bind,
    Connect,
    Io,
    Protocol,
    ConsumerStalled,
    ReadBufferFull,
    WriteBufferFull,
    IdleTimeout,
    RequestTimeout,
    ReceiveTooSlow,
    SendTooSlow,
    OverBudget,
    Timeout,
    ConnectionLost,
    Closed,
    Aborted,
    PoolFull,
    Config,
    NotClient,
    Tls,
}

// ===== impl Error =====

impl Error {
    fn new(kind: Kind, context: Option<String>, source: Option<BoxError>) -> Error {
        Error {
            inner: Arc::new(ErrorImpl {
                kind,
                context,
                source,
            }),
        }
    }

    pub(crate) fn new_bind(addr: SocketAddr, err: io::Error) -> Error {
        Error::new(Kind::Bind, Some(addr.to_string()), Some(err.into()))
    }

    /// A failure to open a connection to `addr`; the cause is the source.
    pub fn connect(addr: impl fmt::Display, cause: impl Into<BoxError>) -> Error {
        Error::new(Kind::Connect, Some(addr.to_string()), Some(cause.into()))
    }

    pub(crate) fn new_io(err: io::Error) -> Error {
        Error::new(Kind::Io, None, Some(err.into()))
    }

    /// A protocol (parse) error raised by a consumer on bad input. The connection that
    /// sees it is closed.
    pub fn protocol(msg: impl Into<String>) -> Error {
        Error::new(Kind::Protocol, Some(msg.into()), None)
    }

    /// A protocol error with an underlying cause.
    pub fn protocol_with(msg: impl Into<String>, cause: impl Into<BoxError>) -> Error {
        Error::new(Kind::Protocol, Some(msg.into()), Some(cause.into()))
    }

    pub(crate) fn new_consumer_stalled() -> Error {
        Error::new(
            Kind::ConsumerStalled,
            Some("consumer finished without consuming any input".into()),
            None,
        )
    }

    pub(crate) fn new_read_buffer_full(limit: usize) -> Error {
        Error::new(
            Kind::ReadBufferFull,
            Some(format!("unparsed input exceeds {limit} bytes")),
            None,
        )
    }

    pub(crate) fn new_write_buffer_full(buffered: usize, cap: usize) -> Error {
        Error::new(
            Kind::WriteBufferFull,
            Some(format!("{buffered} bytes buffered, cap is {cap}")),
            None,
        )
    }

    pub(crate) fn new_idle_timeout() -> Error {
        Error::new(Kind::IdleTimeout, None, None)
    }

    pub(crate) fn new_request_timeout() -> Error {
        Error::new(Kind::RequestTimeout, None, None)
    }

    // Progress timeouts and the memory budget are new kinds because servers count and
    // log them apart from the request timeout (see `AbuseKind::of_error`).
    pub(crate) fn new_receive_too_slow(detail: String) -> Error {
        Error::new(Kind::ReceiveTooSlow, Some(detail), None)
    }

    pub(crate) fn new_send_too_slow(detail: String) -> Error {
        Error::new(Kind::SendTooSlow, Some(detail), None)
    }

    pub(crate) fn new_over_budget(detail: String) -> Error {
        Error::new(Kind::OverBudget, Some(detail), None)
    }

    /// An operation that did not complete in time; `what` says which.
    pub fn timeout(what: impl Into<String>) -> Error {
        Error::new(Kind::Timeout, Some(what.into()), None)
    }

    /// A timeout whose most useful explanation is an earlier error (for example the last
    /// connect error seen while waiting for a pool slot).
    pub fn timeout_with(what: impl Into<String>, cause: Error) -> Error {
        Error::new(Kind::Timeout, Some(what.into()), Some(Box::new(cause)))
    }

    /// The connection went away before the exchange finished.
    pub fn connection_lost(cause: Option<Error>) -> Error {
        Error::new(
            Kind::ConnectionLost,
            None,
            cause.map(|e| Box::new(e) as BoxError),
        )
    }

    /// The object (server, connection, pool) is closed.
    pub fn closed(what: impl Into<String>) -> Error {
        Error::new(Kind::Closed, Some(what.into()), None)
    }

    /// A request aborted from a `pre_request` hook (pulsar's `AbortRequest`).
    pub fn aborted(reason: impl Into<String>) -> Error {
        Error::new(Kind::Aborted, Some(reason.into()), None)
    }

    /// A pool refused a waiter because its queue is full.
    pub fn pool_full(waiters: usize) -> Error {
        Error::new(
            Kind::PoolFull,
            Some(format!("{waiters} callers already waiting")),
            None,
        )
    }

    /// An invalid configuration value.
    pub fn config(msg: impl Into<String>) -> Error {
        Error::new(Kind::Config, Some(msg.into()), None)
    }

    pub(crate) fn new_not_client() -> Error {
        Error::new(
            Kind::NotClient,
            Some("this consumer does not implement start_request".into()),
            None,
        )
    }

    /// A TLS failure (handshake refused, certificate not trusted, bad PEM file); `what`
    /// says what was being done and the cause (a `rustls::Error` when rustls raised it)
    /// is the source.
    pub fn tls(what: impl Into<String>, cause: impl Into<BoxError>) -> Error {
        Error::new(Kind::Tls, Some(what.into()), Some(cause.into()))
    }

    /// Wraps an error raised by user code (a consumer or a manager) as a protocol error.
    pub fn user(cause: impl Into<BoxError>) -> Error {
        Error::new(Kind::Protocol, None, Some(cause.into()))
    }

    /// Binding a listening socket failed.
    pub fn is_bind(&self) -> bool {
        self.inner.kind == Kind::Bind
    }
    /// Opening an outgoing connection failed.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }
    /// An I/O error on an established socket.
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }
    /// Bad input rejected by a consumer.
    pub fn is_protocol(&self) -> bool {
        self.inner.kind == Kind::Protocol
    }
    /// A consumer finished without consuming input (pulsar would loop forever).
    pub fn is_consumer_stalled(&self) -> bool {
        self.inner.kind == Kind::ConsumerStalled
    }
    /// Unparsed input grew past the connection's read limit.
    pub fn is_read_buffer_full(&self) -> bool {
        self.inner.kind == Kind::ReadBufferFull
    }
    /// The write buffer grew past its hard cap (the peer does not read).
    pub fn is_write_buffer_full(&self) -> bool {
        self.inner.kind == Kind::WriteBufferFull
    }
    /// No bytes moved and no request was in flight for the idle timeout.
    pub fn is_idle_timeout(&self) -> bool {
        self.inner.kind == Kind::IdleTimeout
    }
    /// A request stayed in flight longer than the request timeout.
    pub fn is_request_timeout(&self) -> bool {
        self.inner.kind == Kind::RequestTimeout
    }
    /// A request arrived slower than the connection's minimum receive rate.
    pub fn is_receive_too_slow(&self) -> bool {
        self.inner.kind == Kind::ReceiveTooSlow
    }
    /// The peer took output slower than the minimum send rate, or accepted no byte for
    /// the write-stall timeout.
    pub fn is_send_too_slow(&self) -> bool {
        self.inner.kind == Kind::SendTooSlow
    }
    /// The server's memory budget closed the connection.
    pub fn is_over_budget(&self) -> bool {
        self.inner.kind == Kind::OverBudget
    }
    /// Any timeout: idle, request, progress (receive/send too slow), or an operation
    /// such as connect or acquire.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Timeout
                | Kind::IdleTimeout
                | Kind::RequestTimeout
                | Kind::ReceiveTooSlow
                | Kind::SendTooSlow
        )
    }
    /// The connection was lost before the exchange finished.
    pub fn is_connection_lost(&self) -> bool {
        self.inner.kind == Kind::ConnectionLost
    }
    /// The server, connection or pool is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == Kind::Closed
    }
    /// The request was aborted by a `pre_request` hook.
    pub fn is_aborted(&self) -> bool {
        self.inner.kind == Kind::Aborted
    }
    /// A pool's waiter queue is full.
    pub fn is_pool_full(&self) -> bool {
        self.inner.kind == Kind::PoolFull
    }
    /// An invalid configuration value.
    pub fn is_config(&self) -> bool {
        self.inner.kind == Kind::Config
    }
    /// A server-only consumer was asked to start a client request.
    pub fn is_not_client(&self) -> bool {
        self.inner.kind == Kind::NotClient
    }

    /// A TLS handshake or certificate failure; the cause is the source.
    pub fn is_tls(&self) -> bool {
        self.inner.kind == Kind::Tls
    }

    /// The underlying I/O error, if this error (or its immediate cause) is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.inner.source.as_ref()?.downcast_ref::<io::Error>()
    }

    fn description(&self) -> &'static str {
        match self.inner.kind {
            Kind::Bind => "bind failed",
            Kind::Connect => "connect failed",
            Kind::Io => "i/o error",
            Kind::Protocol => "protocol error",
            Kind::ConsumerStalled => "consumer stalled",
            Kind::ReadBufferFull => "read buffer full",
            Kind::WriteBufferFull => "write buffer full",
            Kind::IdleTimeout => "idle timeout",
            Kind::RequestTimeout => "request timeout",
            Kind::ReceiveTooSlow => "request received too slowly",
            Kind::SendTooSlow => "response taken too slowly",
            Kind::OverBudget => "over the server's memory budget",
            Kind::Timeout => "timed out",
            Kind::ConnectionLost => "connection lost",
            Kind::Closed => "closed",
            Kind::Aborted => "request aborted",
            Kind::PoolFull => "pool waiter queue full",
            Kind::Config => "invalid configuration",
            Kind::NotClient => "not a client consumer",
            Kind::Tls => "tls error",
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::new_io(err)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("quasar_net::Error");
        d.field("kind", &self.inner.kind);
        if let Some(ctx) = &self.inner.context {
            d.field("context", ctx);
        }
        if let Some(src) = &self.inner.source {
            d.field("source", src);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())?;
        match (&self.inner.context, self.inner.kind) {
            (Some(ctx), Kind::Bind | Kind::Connect) => write!(f, " ({ctx})")?,
            (Some(ctx), _) => write!(f, ": {ctx}")?,
            (None, _) => {}
        }
        // The cause is part of the message for the kinds whose context alone says little.
        if let (Some(src), Kind::Bind | Kind::Connect | Kind::Io | Kind::Tls) =
            (&self.inner.source, self.inner.kind)
        {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_names_address_and_cause() {
        let err = Error::connect(
            "127.0.0.1:9",
            io::Error::from(io::ErrorKind::ConnectionRefused),
        );
        assert!(err.is_connect());
        let msg = err.to_string();
        assert!(msg.contains("127.0.0.1:9"), "{msg}");
        assert!(msg.contains("refused"), "{msg}");
    }

    #[test]
    fn timeout_kinds_are_timeouts() {
        assert!(Error::new_idle_timeout().is_timeout());
        assert!(Error::new_request_timeout().is_timeout());
        assert!(Error::timeout("acquire").is_timeout());
        assert!(!Error::closed("pool").is_timeout());
    }

    #[test]
    fn tls_error_names_step_and_cause() {
        let err = Error::tls(
            "handshake with 127.0.0.1:1",
            "invalid peer certificate: UnknownIssuer",
        );
        assert!(err.is_tls());
        assert!(!err.is_io());
        assert_eq!(
            err.to_string(),
            "tls error: handshake with 127.0.0.1:1: invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn errors_are_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Error>();
    }
}
