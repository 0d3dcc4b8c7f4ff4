//! [`ExclusiveConnection`]: a connection to oneself, for transactions and blocking commands.
//!
//! `WATCH` makes the connection's next `EXEC` conditional, and `BLPOP` holds the connection
//! until an element arrives: neither may share a multiplexed connection. An exclusive
//! connection is checked out of the client's second pool (one command in flight per
//! connection) and goes back when dropped — unless it is dirty: a `WATCH` without its `EXEC`
//! or `UNWATCH`, or a command that was cancelled, timed out or failed on the connection. A
//! dirty connection is closed instead, so the next user never inherits a watch or a
//! half-read reply.
//!
//! # Examples
//!
//! An optimistic increment:
//!
//! ```no_run
//! use quasar_redis::client::{cmd, RedisClient};
//! # async fn run() -> quasar_redis::client::RedisResult<()> {
//! let client = RedisClient::new("redis://127.0.0.1:6379")?;
//! let mut conn = client.exclusive().await?;
//! loop {
//!     conn.watch(["balance"]).await?;
//!     let balance: i64 = conn.query(cmd("GET").arg("balance")).await?;
//!     let tx = client.pipeline().add_command(cmd("SET").arg("balance").arg(balance + 10));
//!     if conn.exec(tx).await?.is_some() {
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use quasar_net::pool::PoolConnection;
use quasar_net::TcpManager;

use super::cmd::{cmd, Cmd, ToArg};
use super::error::{RedisError, RedisResult};
use super::from_frame::FromFrame;
use super::pipeline::{split_replies, Pipeline};
use super::redis_client::{Factory, RedisClient};
use crate::Frame;

/// A connection checked out of the exclusive pool; see the [module docs](self).
pub struct ExclusiveConnection {
    client: RedisClient,
    conn: PoolConnection<TcpManager<Factory>>,
    watching: bool,
}

impl ExclusiveConnection {
    pub(crate) fn new(
        client: RedisClient,
        conn: PoolConnection<TcpManager<Factory>>,
    ) -> ExclusiveConnection {
        ExclusiveConnection {
            client,
            conn,
            watching: false,
        }
    }

    /// Sends `cmd` and returns its reply; an error reply is an `Err`.
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled command leaves the connection dirty, and it is closed
    /// when dropped rather than reused.
    pub async fn send(&mut self, cmd: Cmd) -> RedisResult<Frame> {
        let frame = self.send_raw(cmd, Duration::ZERO).await?;
        if frame.is_error() {
            return Err(RedisError::from_reply(&frame));
        }
        Ok(frame)
    }

    /// Sends `cmd` and converts its reply to `T`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`RedisError::Type`] when the reply is not a `T`.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn query<T: FromFrame>(&mut self, cmd: Cmd) -> RedisResult<T> {
        T::from_frame(self.send(cmd).await?)
    }

    /// `WATCH keys`: the next [`exec`](Self::exec) on this connection aborts if any of them
    /// changes first.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn watch<I>(&mut self, keys: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.watching = true;
        self.send(cmd("WATCH").args(keys)).await.map(drop)
    }

    /// `UNWATCH`: forgets the watched keys.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn unwatch(&mut self) -> RedisResult<()> {
        self.send(cmd("UNWATCH")).await?;
        self.watching = false;
        self.mark_clean();
        Ok(())
    }

    /// Runs `tx`'s commands as one `MULTI`/`EXEC` transaction and returns their replies, or
    /// `None` when a watched key changed and the transaction did not run.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::execute`] for an atomic pipeline.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn exec(&mut self, tx: Pipeline) -> RedisResult<Option<Vec<Frame>>> {
        let (request, _, count) = tx.atomic().into_request();
        let reply = self.send_raw(request, Duration::ZERO).await?;
        // EXEC, run or aborted, ends the watch.
        self.watching = false;
        self.mark_clean();
        if let Frame::Array(replies) = &reply {
            if replies.last().is_some_and(Frame::is_null) {
                return Ok(None);
            }
        }
        split_replies(reply, count, true).map(Some)
    }

    /// `BLPOP keys timeout`: waits up to `timeout` (zero: forever) for an element of one of
    /// `keys` and returns the key and the element, or `None` on timeout.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); the command timeout counts from the end of `timeout`.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn blpop<I, T>(
        &mut self,
        keys: I,
        timeout: Duration,
    ) -> RedisResult<Option<(String, T)>>
    where
        I: IntoIterator,
        I::Item: ToArg,
        T: FromFrame,
    {
        let request = cmd("BLPOP").args(keys).arg(timeout.as_secs_f64());
        self.blocking_pop(request, timeout).await
    }

    /// `BRPOP keys timeout`: as [`blpop`](Self::blpop), from the tail.
    ///
    /// # Errors
    ///
    /// As [`blpop`](Self::blpop).
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn brpop<I, T>(
        &mut self,
        keys: I,
        timeout: Duration,
    ) -> RedisResult<Option<(String, T)>>
    where
        I: IntoIterator,
        I::Item: ToArg,
        T: FromFrame,
    {
        let request = cmd("BRPOP").args(keys).arg(timeout.as_secs_f64());
        self.blocking_pop(request, timeout).await
    }

    /// Sends a blocking pop whose server-side `timeout` adds to the command timeout.
    async fn blocking_pop<T: FromFrame>(
        &mut self,
        request: Cmd,
        timeout: Duration,
    ) -> RedisResult<Option<(String, T)>> {
        let frame = self.send_raw(request, timeout).await?;
        if frame.is_error() {
            return Err(RedisError::from_reply(&frame));
        }
        Option::<(String, T)>::from_frame(frame)
    }

    async fn send_raw(&mut self, cmd: Cmd, extra: Duration) -> RedisResult<Frame> {
        // Dirty until the reply is in: a cancelled or failed command closes the connection.
        self.conn.start_request();
        let request = self.conn.request(cmd);
        let frame = self.client.with_timeout(extra, request).await?;
        self.mark_clean();
        Ok(frame)
    }

    fn mark_clean(&mut self) {
        if !self.watching {
            self.conn.finish_request();
        }
    }
}

impl fmt::Debug for ExclusiveConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExclusiveConnection")
            .field("watching", &self.watching)
            .field("dirty", &self.conn.is_in_request())
            .finish()
    }
}
