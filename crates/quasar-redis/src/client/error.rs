//! [`RedisError`]: everything a Redis command can fail with.
//!
//! A command fails because the server said no (an error reply: [`RedisError::Server`], or
//! the cluster redirections [`RedisError::Moved`] and [`RedisError::Ask`], which name the node
//! to ask instead), because the reply is not the type asked for ([`RedisError::Type`]),
//! because it took too long ([`RedisError::Timeout`]), or because the connection failed
//! ([`RedisError::Net`], with the core's error and its `is_*` predicates: a connection lost
//! mid-command is [`RedisError::is_connection_lost`]).
//!
//! # Examples
//!
//! ```
//! use quasar_redis::client::RedisError;
//! use quasar_redis::Frame;
//!
//! let err = RedisError::from_reply(&Frame::error("MOVED 3999 127.0.0.1:6381"));
//! assert!(matches!(&err, RedisError::Moved { slot: 3999, node } if node == "127.0.0.1:6381"));
//! let err = RedisError::from_reply(&Frame::error("WRONGTYPE Operation against a key"));
//! assert_eq!(err.code(), Some("WRONGTYPE"));
//! ```

use std::fmt;

use crate::Frame;

/// A `Result` whose error is [`RedisError`].
pub type RedisResult<T> = Result<T, RedisError>;

/// Why a Redis command failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RedisError {
    /// The server answered with an error reply (`-ERR ...`, `-WRONGTYPE ...`).
    Server(ServerError),
    /// `-MOVED slot host:port`: the key's slot lives on another cluster node (this client
    /// does not follow redirections; cluster mode is not supported).
    Moved {
        /// The hash slot of the key.
        slot: u16,
        /// The node that serves the slot, as `host:port`.
        node: String,
    },
    /// `-ASK slot host:port`: the slot is migrating; ask that node for this one command.
    Ask {
        /// The hash slot of the key.
        slot: u16,
        /// The node to ask, as `host:port`.
        node: String,
    },
    /// The reply is not of the type asked for.
    Type(String),
    /// The command did not complete within its timeout.
    Timeout,
    /// The URL given to the client is not a valid `redis://` URL.
    Url(String),
    /// The connection failed: not opened, lost, closed, or a protocol error.
    Net(quasar_net::Error),
}

/// An error reply: a code (the first word, `ERR`, `WRONGTYPE`, `NOAUTH`...) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    line: String,
}

// ===== impl RedisError =====

impl RedisError {
    /// The error an error reply stands for. Callers pass a frame for which
    /// [`Frame::is_error`] holds; any other frame is reported as a [`RedisError::Type`].
    pub fn from_reply(frame: &Frame) -> RedisError {
        let line = match frame {
            Frame::Error(b) | Frame::BlobError(b) => String::from_utf8_lossy(b).into_owned(),
            Frame::Attributed { frame, .. } => return RedisError::from_reply(frame),
            other => return RedisError::Type(format!("expected an error reply, got {other:?}")),
        };
        let mut words = line.splitn(3, ' ');
        let (code, slot, node) = (words.next(), words.next(), words.next());
        if let (Some(code @ ("MOVED" | "ASK")), Some(slot), Some(node)) = (code, slot, node) {
            if let Ok(slot) = slot.parse::<u16>() {
                let node = node.to_owned();
                return if code == "MOVED" {
                    RedisError::Moved { slot, node }
                } else {
                    RedisError::Ask { slot, node }
                };
            }
        }
        RedisError::Server(ServerError { line })
    }

    /// The error code of a server error (`ERR`, `WRONGTYPE`, `MOVED`...).
    pub fn code(&self) -> Option<&str> {
        match self {
            RedisError::Server(e) => Some(e.code()),
            RedisError::Moved { .. } => Some("MOVED"),
            RedisError::Ask { .. } => Some("ASK"),
            _ => None,
        }
    }

    /// Whether the server answered with an error (including redirections).
    pub fn is_server(&self) -> bool {
        matches!(
            self,
            RedisError::Server(_) | RedisError::Moved { .. } | RedisError::Ask { .. }
        )
    }

    /// Whether the connection ended before the reply (the server closed or restarted).
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, RedisError::Net(e) if e.is_connection_lost())
    }

    /// Whether the command timed out.
    pub fn is_timeout(&self) -> bool {
        match self {
            RedisError::Timeout => true,
            RedisError::Net(e) => e.is_timeout(),
            _ => false,
        }
    }

    /// The core's error, for connection failures.
    pub fn net_error(&self) -> Option<&quasar_net::Error> {
        match self {
            RedisError::Net(e) => Some(e),
            _ => None,
        }
    }
}

impl From<quasar_net::Error> for RedisError {
    fn from(err: quasar_net::Error) -> RedisError {
        // An on-connect handshake reports its Redis error through the core's error type:
        // give the caller the Redis error back.
        let redis = std::error::Error::source(&err)
            .and_then(|source| source.downcast_ref::<RedisError>())
            .cloned();
        redis.unwrap_or(RedisError::Net(err))
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Server(e) => write!(f, "server error: {e}"),
            RedisError::Moved { slot, node } => write!(f, "slot {slot} moved to {node}"),
            RedisError::Ask { slot, node } => write!(f, "slot {slot} migrating: ask {node}"),
            RedisError::Type(what) => write!(f, "unexpected reply type: {what}"),
            RedisError::Timeout => f.write_str("command timed out"),
            RedisError::Url(what) => write!(f, "invalid redis URL: {what}"),
            RedisError::Net(e) => write!(f, "connection error: {e}"),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Server(e) => Some(e),
            RedisError::Net(e) => Some(e),
            _ => None,
        }
    }
}

// ===== impl ServerError =====

impl ServerError {
    /// The error code: the first word of the reply.
    pub fn code(&self) -> &str {
        self.line.split(' ').next().unwrap_or_default()
    }

    /// The whole error line, code included.
    pub fn message(&self) -> &str {
        &self.line
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirections_name_the_node_and_other_errors_keep_their_line() {
        let ask = RedisError::from_reply(&Frame::error("ASK 12 10.0.0.2:7000"));
        assert!(matches!(ask, RedisError::Ask { slot: 12, ref node } if node == "10.0.0.2:7000"));
        let odd = RedisError::from_reply(&Frame::error("MOVED notaslot x"));
        assert_eq!(odd.code(), Some("MOVED"));
        assert!(matches!(odd, RedisError::Server(_)));
        let blob = RedisError::from_reply(&Frame::BlobError("ERR x y".into()));
        assert_eq!(blob.to_string(), "server error: ERR x y");
        assert!(matches!(
            RedisError::from_reply(&Frame::Integer(1)),
            RedisError::Type(_)
        ));
    }

    #[test]
    fn a_redis_error_inside_a_core_error_comes_back_out() {
        let inner = RedisError::from_reply(&Frame::error("WRONGPASS invalid password"));
        let wrapped = quasar_net::Error::user(inner);
        assert_eq!(RedisError::from(wrapped).code(), Some("WRONGPASS"));
        let lost = RedisError::from(quasar_net::Error::connection_lost(None));
        assert!(lost.is_connection_lost());
    }
}
