//! [`Subscription`]: pub/sub messages as a [`Stream`].
//!
//! A subscribed connection receives messages whenever they are published, so it cannot be
//! shared: [`RedisClient::subscribe`] opens a connection of its own, outside both pools, whose
//! push sink feeds this stream. Subscription changes (`SUBSCRIBE`, `PSUBSCRIBE`,
//! `UNSUBSCRIBE`...) are ordinary requests on that connection that complete when the server
//! has confirmed every channel; messages that arrive meanwhile go to the stream, not to the
//! request. The same code serves RESP2 (messages are arrays) and RESP3 (they are pushes).
//!
//! The stream ends when the connection does; dropping the subscription closes it. Up to
//! 1 024 messages wait in the stream's buffer; past that the connection stops reading (the
//! server buffers, up to its `client-output-buffer-limit` for pub/sub) until the stream is
//! read.
//!
//! # Examples
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use quasar_redis::client::RedisClient;
//! # async fn run() -> quasar_redis::client::RedisResult<()> {
//! let client = RedisClient::new("redis://127.0.0.1:6379")?;
//! let mut news = client.subscribe(["news"]).await?;
//! client.publish("news", "hello").await?;
//! let message = news.next().await.expect("connection open");
//! assert_eq!((message.channel.as_str(), &message.payload[..]), ("news", &b"hello"[..]));
//! # Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use quasar_net::ClientConnection;
use tokio::sync::mpsc;

use super::cmd::{cmd, Cmd, ToArg};
use super::error::{RedisError, RedisResult};
use super::redis_client::RedisClient;
use crate::Frame;

/// One published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published to (lossily decoded as UTF-8).
    pub channel: String,
    /// The pattern that matched the channel, for `PSUBSCRIBE` subscriptions.
    pub pattern: Option<String>,
    /// The message.
    pub payload: Bytes,
}

/// A subscribed connection and the stream of its messages; see the [module docs](self).
pub struct Subscription {
    client: RedisClient,
    conn: ClientConnection<Cmd, Frame>,
    messages: mpsc::Receiver<Frame>,
}

impl Subscription {
    pub(crate) fn new(
        client: RedisClient,
        conn: ClientConnection<Cmd, Frame>,
        messages: mpsc::Receiver<Frame>,
    ) -> Subscription {
        Subscription {
            client,
            conn,
            messages,
        }
    }

    /// `SUBSCRIBE channels`.
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: confirmations that arrive late are read and dropped.
    pub async fn subscribe<I>(&self, channels: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.control().subscribe(channels).await
    }

    /// `PSUBSCRIBE patterns`.
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    ///
    /// # Cancel safety
    ///
    /// As [`subscribe`](Self::subscribe).
    pub async fn psubscribe<I>(&self, patterns: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.control().psubscribe(patterns).await
    }

    /// `UNSUBSCRIBE channels` (at least one: the channel count sets how many confirmations
    /// to wait for).
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    ///
    /// # Cancel safety
    ///
    /// As [`subscribe`](Self::subscribe).
    pub async fn unsubscribe<I>(&self, channels: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.control().unsubscribe(channels).await
    }

    /// `PUNSUBSCRIBE patterns` (at least one).
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    ///
    /// # Cancel safety
    ///
    /// As [`subscribe`](Self::subscribe).
    pub async fn punsubscribe<I>(&self, patterns: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.control().punsubscribe(patterns).await
    }

    /// `SUBSCRIBE channels` unless there are none: [`RedisClient::subscribe`] with no
    /// channel opens a connection subscribed to nothing yet.
    pub(crate) async fn subscribe_initial<I>(&self, channels: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        let request = cmd("SUBSCRIBE").args(channels);
        if request.arg_count() < 2 {
            return Ok(());
        }
        self.control().send_change("SUBSCRIBE", request).await
    }

    /// A cloneable handle that changes this subscription's channels while another task
    /// reads its stream: a change waits for its confirmations, which arrive behind the
    /// messages already on the way, so the stream must keep being read meanwhile.
    pub fn control(&self) -> SubscriptionControl {
        SubscriptionControl {
            client: self.client.clone(),
            conn: self.conn.clone(),
        }
    }

    /// The subscription's connection.
    pub fn connection(&self) -> &ClientConnection<Cmd, Frame> {
        &self.conn
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        loop {
            match self.messages.poll_recv(cx) {
                Poll::Ready(Some(frame)) => {
                    if let Some(message) = to_message(frame) {
                        return Poll::Ready(Some(message));
                    }
                    // A late (un)subscribe confirmation or another push: not a message.
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Changes the channels of a [`Subscription`] from any task ([`Subscription::control`]).
///
/// It does not keep the connection open: once the subscription is dropped, its changes fail.
#[derive(Clone)]
pub struct SubscriptionControl {
    client: RedisClient,
    conn: ClientConnection<Cmd, Frame>,
}

impl SubscriptionControl {
    /// As [`Subscription::subscribe`].
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    pub async fn subscribe<I>(&self, channels: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.change("SUBSCRIBE", channels).await
    }

    /// As [`Subscription::psubscribe`].
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    pub async fn psubscribe<I>(&self, patterns: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.change("PSUBSCRIBE", patterns).await
    }

    /// As [`Subscription::unsubscribe`].
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    pub async fn unsubscribe<I>(&self, channels: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.change("UNSUBSCRIBE", channels).await
    }

    /// As [`Subscription::punsubscribe`].
    ///
    /// # Errors
    ///
    /// As [`RedisClient::send`].
    pub async fn punsubscribe<I>(&self, patterns: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.change("PUNSUBSCRIBE", patterns).await
    }

    async fn change<I>(&self, name: &str, channels: I) -> RedisResult<()>
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        self.send_change(name, cmd(name).args(channels)).await
    }

    async fn send_change(&self, name: &str, request: Cmd) -> RedisResult<()> {
        if request.arg_count() < 2 {
            // Without channels, the reply count is unknown: refuse rather than desync.
            return Err(RedisError::Type(format!(
                "{name} needs at least one channel"
            )));
        }
        let frame = self
            .client
            .with_timeout(std::time::Duration::ZERO, self.conn.request(request))
            .await?;
        let first_error = match &frame {
            Frame::Array(acks) => acks.iter().find(|f| f.is_error()),
            f => Some(f).filter(|f| f.is_error()),
        };
        match first_error {
            Some(err) => Err(RedisError::from_reply(err)),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for SubscriptionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionControl")
            .field("connection", &self.conn)
            .finish_non_exhaustive()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("connection", &self.conn)
            .finish_non_exhaustive()
    }
}

/// A `message`/`pmessage`/`smessage` frame as a [`Message`].
fn to_message(frame: Frame) -> Option<Message> {
    let (Frame::Push(items) | Frame::Array(items)) = frame.strip_attributes() else {
        return None;
    };
    let text = |f: &Frame| match f {
        Frame::Bulk(b) | Frame::Simple(b) => Some(b.clone()),
        _ => None,
    };
    let lossy = |b: Bytes| String::from_utf8_lossy(&b).into_owned();
    let kind = text(items.first()?)?;
    match (&kind[..], items.len()) {
        (b"message" | b"smessage", 3) => Some(Message {
            channel: lossy(text(&items[1])?),
            pattern: None,
            payload: text(&items[2])?,
        }),
        (b"pmessage", 4) => Some(Message {
            pattern: Some(lossy(text(&items[1])?)),
            channel: lossy(text(&items[2])?),
            payload: text(&items[3])?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_resp2_arrays_and_resp3_pushes() {
        let resp2 = Frame::Array(vec![
            Frame::bulk("message"),
            Frame::bulk("ch"),
            Frame::bulk("hi"),
        ]);
        let m = to_message(resp2).unwrap();
        assert_eq!((m.channel.as_str(), &m.payload[..]), ("ch", &b"hi"[..]));
        let resp3 = Frame::Push(vec![
            Frame::bulk("pmessage"),
            Frame::bulk("c*"),
            Frame::bulk("ch"),
            Frame::bulk("hi"),
        ]);
        assert_eq!(to_message(resp3).unwrap().pattern.as_deref(), Some("c*"));
        let ack = Frame::Push(vec![
            Frame::bulk("subscribe"),
            Frame::bulk("ch"),
            Frame::Integer(1),
        ]);
        assert_eq!(to_message(ack), None);
    }
}
