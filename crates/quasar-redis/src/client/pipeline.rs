//! [`Pipeline`]: several commands sent in one write, their replies returned together.
//!
//! A pipeline is one request on a multiplexed connection: its commands leave together and
//! their replies are read back to back, so no other task's command comes between them.
//! [`Pipeline::atomic`] wraps them in `MULTI`/`EXEC`, which is therefore safe on a shared
//! connection (only `WATCH` needs a connection of its own: see
//! [`ExclusiveConnection`](super::ExclusiveConnection)).
//!
//! # Examples
//!
//! ```no_run
//! use quasar_redis::client::{cmd, RedisClient};
//! # async fn run() -> quasar_redis::client::RedisResult<()> {
//! let client = RedisClient::new("redis://127.0.0.1:6379")?;
//! let (n, v): (i64, String) = client
//!     .pipeline()
//!     .add_command(cmd("INCR").arg("hits"))
//!     .add_command(cmd("GET").arg("greeting"))
//!     .query(&client)
//!     .await?;
//! # Ok(()) }
//! ```

use super::cmd::Cmd;
use super::error::{RedisError, RedisResult};
use super::from_frame::FromFrame;
use super::redis_client::RedisClient;
use crate::Frame;

/// Commands to send together.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    cmds: Cmd,
    count: usize,
    atomic: bool,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Adds a command.
    pub fn add_command(mut self, cmd: Cmd) -> Pipeline {
        self.push(cmd);
        self
    }

    /// Adds a command in place.
    pub fn push(&mut self, cmd: Cmd) -> &mut Pipeline {
        self.count += 1;
        self.cmds.append(cmd);
        self
    }

    /// Wraps the commands in `MULTI`/`EXEC`: they run as one transaction and the replies
    /// are `EXEC`'s.
    pub fn atomic(mut self) -> Pipeline {
        self.atomic = true;
        self
    }

    /// How many commands the pipeline holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the pipeline holds no command.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sends the commands and returns every reply in order, error replies included as
    /// [`Frame::Error`] (a failed command does not hide the others' results).
    ///
    /// # Errors
    ///
    /// [`RedisError::Timeout`] and [`RedisError::Net`] as [`RedisClient::send`]; for an
    /// atomic pipeline, the error that made `MULTI` or `EXEC` fail (`EXECABORT`).
    ///
    /// # Cancel safety
    ///
    /// As [`RedisClient::send`]: the connection stays in sync.
    pub async fn execute(self, client: &RedisClient) -> RedisResult<Vec<Frame>> {
        if self.count == 0 {
            return Ok(Vec::new());
        }
        let (request, atomic, count) = self.into_request();
        let reply = client.send_raw(request, std::time::Duration::ZERO).await?;
        split_replies(reply, count, atomic)
    }

    /// Sends the commands and converts their replies, as a tuple or a `Vec`, to `T`.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute), the first error reply as its [`RedisError`], and
    /// [`RedisError::Type`] when the replies are not a `T`.
    ///
    /// # Cancel safety
    ///
    /// As [`execute`](Self::execute).
    pub async fn query<T: FromFrame>(self, client: &RedisClient) -> RedisResult<T> {
        let replies = self.execute(client).await?;
        if let Some(err) = replies.iter().find(|f| f.is_error()) {
            return Err(RedisError::from_reply(err));
        }
        T::from_frame(Frame::Array(replies))
    }

    /// The request and how to read its reply.
    pub(crate) fn into_request(self) -> (Cmd, bool, usize) {
        if !self.atomic {
            return (self.cmds, false, self.count);
        }
        let mut wrapped = super::cmd("MULTI");
        wrapped.append(self.cmds);
        wrapped.append(super::cmd("EXEC"));
        (wrapped, true, self.count)
    }
}

/// Splits a pipeline's reply into one frame per command. An atomic pipeline's replies are
/// `+OK`, one `+QUEUED` per command, then `EXEC`'s array.
pub(crate) fn split_replies(reply: Frame, count: usize, atomic: bool) -> RedisResult<Vec<Frame>> {
    let replies = if count == 1 && !atomic {
        vec![reply]
    } else {
        match reply {
            Frame::Array(replies) => replies,
            other if other.is_error() => return Err(RedisError::from_reply(&other)),
            other => return Err(RedisError::Type(format!("pipeline reply {other:?}"))),
        }
    };
    if !atomic {
        return Ok(replies);
    }
    // MULTI's reply, then each QUEUED (or an error that makes EXEC fail with EXECABORT).
    let mut replies = replies;
    let exec = replies.pop().unwrap_or(Frame::NullArray);
    if let Some(err) = replies.iter().find(|f| f.is_error()) {
        return Err(RedisError::from_reply(err));
    }
    match exec.strip_attributes() {
        Frame::Array(results) => Ok(results),
        // WATCH made EXEC abort: no result.
        f if f.is_null() => Err(RedisError::Type(
            "the transaction was aborted (a watched key changed)".into(),
        )),
        f if f.is_error() => Err(RedisError::from_reply(&f)),
        other => Err(RedisError::Type(format!("EXEC reply {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_pipeline_returns_exec_results() {
        let reply = Frame::Array(vec![
            Frame::simple("OK"),
            Frame::simple("QUEUED"),
            Frame::Array(vec![Frame::Integer(1)]),
        ]);
        assert_eq!(split_replies(reply, 1, true).unwrap(), [Frame::Integer(1)]);
        let aborted = Frame::Array(vec![
            Frame::simple("OK"),
            Frame::error("ERR unknown command"),
            Frame::error("EXECABORT Transaction discarded"),
        ]);
        let err = split_replies(aborted, 1, true).unwrap_err();
        assert_eq!(err.code(), Some("ERR"));
    }
}
