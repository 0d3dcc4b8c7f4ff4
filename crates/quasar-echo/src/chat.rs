//! A line chat over TCP (pulsar's chat example), built on a [`Group`].
//!
//! The protocol:
//!
//! - a client that connects is greeted at once with `welcome, you are userN\n`, before it
//!   sends anything; the other members get `* userN joined\n`;
//! - every line a member sends (ended by `\n` or `\r\n`) reaches every *other* member as
//!   `userN: text\n`, in the order that member sent them;
//! - a line longer than [`ChatConfig::max_line`] bytes (default 4 KiB) gets
//!   `! line too long\n` and closes that member;
//! - when a member's connection ends (it closed, half-closed, reset, or was closed as slow) the
//!   others get `* userN left\n`.
//!
//! A member that stops reading never holds the others back: a broadcast does not wait for
//! it. When its write queue is full (the message would pass the connection's write cap) the
//! room's [`SlowMember`] policy applies: by default [`SlowMember::Close`], so the members that
//! stay have seen every line, and the slow one is announced as left. Each member's buffered
//! output is bounded by its write cap.
//!
//! # Examples
//!
//! ```
//! use quasar_echo::chat::{self, ChatConfig};
//! use quasar_net::TcpServer;
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! let server = TcpServer::builder(chat::factory(ChatConfig::default()))
//!     .start()
//!     .await?;
//! let mut alice = BufReader::new(tokio::net::TcpStream::connect(server.address()).await?);
//! let mut line = String::new();
//! alice.read_line(&mut line).await?;
//! assert_eq!(line, "welcome, you are user1\n");
//!
//! let mut bob = BufReader::new(tokio::net::TcpStream::connect(server.address()).await?);
//! line.clear();
//! alice.read_line(&mut line).await?;
//! assert_eq!(line, "* user2 joined\n");
//!
//! bob.get_mut().write_all(b"hello\r\n").await?;
//! line.clear();
//! alice.read_line(&mut line).await?;
//! assert_eq!(line, "user2: hello\n");
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use quasar_net::group::{Group, SlowMember};
use quasar_net::{Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer, Result};

/// The default longest line, in bytes, line ending excluded.
pub const DEFAULT_MAX_LINE: usize = 4 * 1024;

/// What a member whose line is too long gets before its connection closes.
pub const LINE_TOO_LONG: &[u8] = b"! line too long\n";

/// Settings of the chat server.
///
/// ```
/// use quasar_echo::chat::ChatConfig;
/// use quasar_net::group::SlowMember;
///
/// let config = ChatConfig::default().max_line(1024).slow_member(SlowMember::Skip);
/// assert_eq!(config.get_max_line(), 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatConfig {
    max_line: usize,
    slow_member: SlowMember,
    idle_timeout: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_line: DEFAULT_MAX_LINE,
            slow_member: SlowMember::Close,
            idle_timeout: Duration::ZERO,
        }
    }
}

impl ChatConfig {
    /// The longest line accepted, in bytes, line ending excluded (default 4 KiB). Keep it well
    /// below the server's write cap: a line that cannot fit in a member's write queue is
    /// handled as if that member were slow.
    pub fn max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// What happens to a member that stops reading (default [`SlowMember::Close`]).
    pub fn slow_member(mut self, policy: SlowMember) -> Self {
        self.slow_member = policy;
        self
    }

    /// Closes a member after `timeout` without a byte moving either way. The default, zero,
    /// keeps quiet members for as long as they stay connected, whatever the server's
    /// keep-alive: in a chat most members are quiet most of the time.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The longest line accepted.
    pub fn get_max_line(&self) -> usize {
        self.max_line
    }

    /// The slow-member policy.
    pub fn get_slow_member(&self) -> SlowMember {
        self.slow_member
    }
}

/// A [`ChatFactory`] for `config`: pass it to [`TcpServer::builder`](quasar_net::TcpServer::builder).
pub fn factory(config: ChatConfig) -> ChatFactory {
    ChatFactory::new(config)
}

/// Builds the [`ChatMember`] of each connection; every connection of one factory is in the
/// same room.
#[derive(Debug, Clone)]
pub struct ChatFactory {
    config: ChatConfig,
    room: Group,
    users: Arc<AtomicU64>,
}

impl ChatFactory {
    /// A chat room with `config`.
    pub fn new(config: ChatConfig) -> Self {
        ChatFactory {
            config,
            room: Group::new(config.slow_member),
            users: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The room: its members and counters ([`Group::stats`]).
    pub fn room(&self) -> &Group {
        &self.room
    }
}

impl ConsumerFactory for ChatFactory {
    type Consumer = ChatMember;

    fn build(&self, conn: &Connection) -> ChatMember {
        ChatMember {
            config: self.config,
            room: self.room.clone(),
            conn: conn.clone(),
            users: Arc::clone(&self.users),
            name: Bytes::new(),
        }
    }
}

/// One member of the chat: the consumer that serves its whole connection.
#[derive(Debug)]
pub struct ChatMember {
    config: ChatConfig,
    room: Group,
    conn: Connection,
    /// The room's arrivals so far, shared by its members: names follow arrivals.
    users: Arc<AtomicU64>,
    /// `userN`, empty until the member has joined.
    name: Bytes,
}

impl ChatMember {
    /// `prefix` + the member's name + `suffix` + `\n`, as one buffer every member shares.
    fn line(&self, prefix: &[u8], suffix: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(prefix.len() + self.name.len() + suffix.len() + 1);
        out.put_slice(prefix);
        out.put_slice(&self.name);
        out.put_slice(suffix);
        out.put_u8(b'\n');
        out.freeze()
    }

    /// Answers a too-long line and closes this member once the answer is written.
    fn too_long(&self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        cx.write(LINE_TOO_LONG)?;
        cx.close();
        buf.clear();
        Ok(Progress::NeedMore)
    }
}

impl ProtocolConsumer for ChatMember {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        // One consumer serves the whole connection, with no request timeout; full duplex:
        // its lines go to the others, so it reads on while its own output is paused.
        cx.set_full_duplex(true);
        cx.set_idle_timeout(self.config.idle_timeout);
        let n = self.users.fetch_add(1, Ordering::Relaxed) + 1;
        self.name = Bytes::from(format!("user{n}"));
        // The welcome is queued before joining, so it comes before any broadcast; joining
        // before announcing means two members arriving at once still hear of each other.
        let welcome = self.line(b"welcome, you are ", b"");
        if cx.write_bytes(welcome).is_err() {
            // Never joined, so never announced as left.
            self.name = Bytes::new();
            cx.close();
            return;
        }
        self.room.join(&self.conn);
        self.room
            .broadcast_except(&self.conn, self.line(b"* ", b" joined"));
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        while let Some(end) = memchr::memchr(b'\n', buf) {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if line.len() > self.config.max_line {
                return self.too_long(cx, buf);
            }
            let mut out = BytesMut::with_capacity(self.name.len() + 2 + line.len() + 1);
            out.put_slice(&self.name);
            out.put_slice(b": ");
            out.put_slice(&line);
            out.put_u8(b'\n');
            self.room.broadcast_except(&self.conn, out.freeze());
        }
        // An unfinished line already too long is refused now, not once its end arrives: the
        // buffer never holds more than one line. A last `\r` may be half of a `\r\n`.
        let pending = buf.len() - usize::from(buf.last() == Some(&b'\r'));
        if pending > self.config.max_line {
            return self.too_long(cx, buf);
        }
        Ok(Progress::NeedMore)
    }

    fn connection_lost(&mut self, _error: Option<&Error>) -> Option<()> {
        // `leave` is false when a broadcast already dropped this member (closed as slow, or
        // found closed): it is announced either way, once.
        if !self.name.is_empty() {
            self.room.leave(&self.conn);
            self.room.broadcast(self.line(b"* ", b" left"));
            self.name = Bytes::new();
        }
        None
    }
}
