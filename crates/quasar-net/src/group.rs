//! [`Group`]: a set of connections that hear the same messages (chat rooms, pub/sub
//! channels, presence lists).
//!
//! A consumer joins its connection to a group (typically in
//! [`connection_made`](crate::ProtocolConsumer::connection_made)), and anyone holding the group
//! [`broadcast`](Group::broadcast)s [`Bytes`] to every member: each member gets a clone of the
//! same `Bytes` (a reference count, not a copy) queued with [`Connection::write`].
//!
//! Membership follows the connection's life: a closed connection leaves by itself (it is
//! dropped from the group by the next broadcast or [`len`](Group::len)), so no task watches
//! the members. What happens to a member too slow to take a message (its write queue would
//! pass its hard cap) is the author's choice, made when the group is built: [`SlowMember`].
//!
//! # Examples
//!
//! A room that greets each connection and tells the others who arrived:
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quasar_net::group::{Group, SlowMember};
//! use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};
//! use tokio::io::{AsyncBufReadExt, BufReader};
//!
//! struct Member {
//!     room: Group,
//! }
//!
//! impl ProtocolConsumer for Member {
//!     type Request = ();
//!     type Response = ();
//!
//!     fn connection_made(&mut self, cx: &mut Context<'_>) {
//!         cx.set_long_lived(true);
//!         let conn = cx.connection();
//!         // Join first, then tell the others: two arriving at once still hear of each other.
//!         self.room.join(conn);
//!         let name = conn.address().port();
//!         self.room.broadcast_except(conn, Bytes::from(format!("* {name} joined\n")));
//!     }
//!
//!     fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
//!         // Whatever a member sends goes to the others as it is.
//!         let data = buf.split().freeze();
//!         self.room.broadcast_except(cx.connection(), data);
//!         Ok(Progress::NeedMore)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> quasar_net::Result<()> {
//! let room = Group::new(SlowMember::Skip);
//! let factory = {
//!     let room = room.clone();
//!     move || Member { room: room.clone() }
//! };
//! let server = TcpServer::builder(factory).start().await?;
//!
//! let first = tokio::net::TcpStream::connect(server.address()).await?;
//! // The consumer is built at accept: the first member is in the room without a word.
//! while room.len() < 1 {
//!     tokio::task::yield_now().await;
//! }
//! let second = tokio::net::TcpStream::connect(server.address()).await?;
//! let mut line = String::new();
//! BufReader::new(first).read_line(&mut line).await?;
//! assert_eq!(line, format!("* {} joined\n", second.local_addr()?.port()));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde::Serialize;

use crate::Connection;

/// What a [`Group`] does with a member that cannot take a message: its write queue would pass
/// its hard cap (the connection's [`WaterMarks`](crate::flow_control::WaterMarks) cap), because
/// its reader is slower than the messages arrive.
///
/// A broadcast never waits for a member: waiting would let the slowest reader set everyone's
/// pace. So the choice is between losing messages and losing the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowMember {
    /// The member misses that message (counted in [`Broadcast::skipped`]) and stays; it gets
    /// the next messages once its queue has drained below the cap. Each message is queued
    /// whole or not at all, so a member never sees half a message. For presence, tickers and
    /// anything where the latest message matters more than every message.
    Skip,
    /// The member is aborted (counted in [`Broadcast::closed`]) and leaves the group: the
    /// members that stay have seen every message. For chats, logs and anything a reader must
    /// not see with holes in it.
    Close,
}

/// A cheap-[`Clone`] set of connections with a broadcast.
///
/// Clones share the same members and counters. See the [module docs](self) for an example.
pub struct Group {
    shared: Arc<Shared>,
}

struct Shared {
    policy: SlowMember,
    /// The members, copied on write: a broadcast holds the lock only to clone the `Arc`, and
    /// writes to the members with no lock held; a join or leave during a broadcast copies the
    /// list instead of waiting for it.
    members: Mutex<Arc<Vec<Connection>>>,
    joined: AtomicU64,
    left: AtomicU64,
    broadcasts: AtomicU64,
    delivered: AtomicU64,
    skipped: AtomicU64,
    closed: AtomicU64,
}

/// What one [`Group::broadcast`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Broadcast {
    /// Members the message was queued for.
    pub delivered: u64,
    /// Slow members that missed it ([`SlowMember::Skip`]).
    pub skipped: u64,
    /// Slow members aborted and removed ([`SlowMember::Close`]).
    pub closed: u64,
    /// Members found closed (their connection had ended, or its write side was shut down)
    /// and removed.
    pub gone: u64,
}

/// A [`Group`]'s counters since it was built, and its size now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GroupStats {
    /// Members now (closed connections not yet noticed included).
    pub members: u64,
    /// Successful [`Group::join`]s.
    pub joined: u64,
    /// Members that left: by [`Group::leave`], because their connection ended, or closed as
    /// slow.
    pub left: u64,
    /// Calls to [`Group::broadcast`] and [`Group::broadcast_except`].
    pub broadcasts: u64,
    /// Messages queued for a member, over all broadcasts.
    pub delivered: u64,
    /// Messages a slow member missed ([`SlowMember::Skip`]).
    pub skipped: u64,
    /// Slow members aborted ([`SlowMember::Close`]).
    pub closed: u64,
}

/// Two handles to the same connection: the session number is unique within a server, and the
/// address pair tells apart connections of different servers that share a group.
fn same(a: &Connection, b: &Connection) -> bool {
    a.session() == b.session()
        && a.address() == b.address()
        && a.local_address() == b.local_address()
}

// ===== impl Group =====

impl Group {
    /// An empty group whose slow members are handled by `policy`.
    pub fn new(policy: SlowMember) -> Group {
        Group {
            shared: Arc::new(Shared {
                policy,
                members: Mutex::new(Arc::new(Vec::new())),
                joined: AtomicU64::new(0),
                left: AtomicU64::new(0),
                broadcasts: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
                closed: AtomicU64::new(0),
            }),
        }
    }

    /// The slow-member policy the group was built with.
    pub fn policy(&self) -> SlowMember {
        self.shared.policy
    }

    /// Adds `conn` to the group. Returns `false`, changing nothing, when it is already a member
    /// or already closed.
    pub fn join(&self, conn: &Connection) -> bool {
        if conn.is_closed() {
            return false;
        }
        let mut members = self.lock();
        if members.iter().any(|m| same(m, conn)) {
            return false;
        }
        Arc::make_mut(&mut members).push(conn.clone());
        drop(members);
        self.shared.joined.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes `conn` from the group. Returns whether it was a member (a closed connection may
    /// have been removed already by a broadcast).
    pub fn leave(&self, conn: &Connection) -> bool {
        let mut members = self.lock();
        let Some(at) = members.iter().position(|m| same(m, conn)) else {
            return false;
        };
        Arc::make_mut(&mut members).swap_remove(at);
        drop(members);
        self.shared.left.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Whether `conn` is a member.
    pub fn contains(&self, conn: &Connection) -> bool {
        self.lock().iter().any(|m| same(m, conn))
    }

    /// The open members, after dropping those whose connection has ended.
    pub fn len(&self) -> usize {
        self.purge(&[]);
        self.lock().len()
    }

    /// Whether the group has no open member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the members (closed ones not yet noticed included).
    pub fn members(&self) -> Vec<Connection> {
        self.lock().to_vec()
    }

    /// Queues `data` on every member.
    ///
    /// Never waits: a member that cannot take `data` is handled by the group's [`SlowMember`]
    /// policy, and members whose connection has ended are removed. `data` is shared, not
    /// copied: each member's queue holds a clone of the same [`Bytes`].
    pub fn broadcast(&self, data: Bytes) -> Broadcast {
        self.send(None, &data)
    }

    /// Queues `data` on every member but `except` (the sender of a chat line), as
    /// [`broadcast`](Self::broadcast) does.
    pub fn broadcast_except(&self, except: &Connection, data: Bytes) -> Broadcast {
        self.send(Some(except), &data)
    }

    /// The group's counters.
    pub fn stats(&self) -> GroupStats {
        let s = &self.shared;
        GroupStats {
            members: self.lock().len() as u64,
            joined: s.joined.load(Ordering::Relaxed),
            left: s.left.load(Ordering::Relaxed),
            broadcasts: s.broadcasts.load(Ordering::Relaxed),
            delivered: s.delivered.load(Ordering::Relaxed),
            skipped: s.skipped.load(Ordering::Relaxed),
            closed: s.closed.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<Vec<Connection>>> {
        // The lock guards no invariant a panic could break halfway: take it back.
        self.shared
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, except: Option<&Connection>, data: &Bytes) -> Broadcast {
        let members = Arc::clone(&self.lock());
        let mut report = Broadcast::default();
        // Members leaving because of this broadcast: aborted as slow (their `is_closed` is set
        // only when their driver runs) or refusing writes (closed, or their write side shut
        // down), so `purge` is told about them.
        let mut leaving = Vec::new();
        for member in members.iter() {
            if except.is_some_and(|e| same(e, member)) {
                continue;
            }
            match member.write(data.clone()) {
                Ok(()) => report.delivered += 1,
                Err(e) if e.is_write_buffer_full() => match self.shared.policy {
                    SlowMember::Skip => report.skipped += 1,
                    SlowMember::Close => {
                        member.abort();
                        leaving.push(member.clone());
                        report.closed += 1;
                    }
                },
                Err(_) => {
                    leaving.push(member.clone());
                    report.gone += 1;
                }
            }
        }
        drop(members);
        if !leaving.is_empty() {
            self.purge(&leaving);
        }
        let s = &self.shared;
        s.broadcasts.fetch_add(1, Ordering::Relaxed);
        s.delivered.fetch_add(report.delivered, Ordering::Relaxed);
        s.skipped.fetch_add(report.skipped, Ordering::Relaxed);
        s.closed.fetch_add(report.closed, Ordering::Relaxed);
        report
    }

    /// Drops the members whose connection has ended, and `also`.
    fn purge(&self, also: &[Connection]) {
        let mut members = self.lock();
        let leaving = |m: &Connection| m.is_closed() || also.iter().any(|a| same(a, m));
        if !members.iter().any(leaving) {
            return;
        }
        let list = Arc::make_mut(&mut members);
        let before = list.len();
        list.retain(|m| !leaving(m));
        let gone = (before - list.len()) as u64;
        drop(members);
        self.shared.left.fetch_add(gone, Ordering::Relaxed);
    }
}

impl Clone for Group {
    fn clone(&self) -> Group {
        Group {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("policy", &self.shared.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(session: u64) -> Connection {
        let addr = "127.0.0.1:1".parse().unwrap();
        Connection::new(session, addr, addr)
    }

    fn queued(c: &Connection) -> Vec<Bytes> {
        c.shared()
            .take_external()
            .map(Vec::from)
            .unwrap_or_default()
    }

    #[test]
    fn join_is_once_and_leave_reports_membership() {
        let g = Group::new(SlowMember::Skip);
        let a = conn(1);
        assert!(g.join(&a));
        assert!(!g.join(&a.clone()), "a clone is the same member");
        assert!(g.join(&conn(2)));
        assert_eq!(g.len(), 2);
        assert!(g.leave(&a));
        assert!(!g.leave(&a));
        assert!(!g.contains(&a));
        let stats = g.stats();
        assert_eq!((stats.members, stats.joined, stats.left), (1, 2, 1));
    }

    #[test]
    fn broadcast_shares_one_buffer_and_skips_the_sender() {
        let g = Group::new(SlowMember::Skip);
        let (a, b, c) = (conn(1), conn(2), conn(3));
        for m in [&a, &b, &c] {
            g.join(m);
        }
        let msg = Bytes::from_static(b"hello\n");
        let report = g.broadcast_except(&a, msg.clone());
        assert_eq!(report.delivered, 2);
        assert!(queued(&a).is_empty());
        for m in [&b, &c] {
            let got = queued(m);
            assert_eq!(got, vec![msg.clone()]);
            // The same allocation, not a copy.
            assert_eq!(got[0].as_ptr(), msg.as_ptr());
        }
    }

    #[test]
    fn closed_members_leave_by_themselves() {
        let g = Group::new(SlowMember::Close);
        let (a, b) = (conn(1), conn(2));
        g.join(&a);
        g.join(&b);
        b.shared().mark_closed();
        assert!(!g.join(&b), "a closed connection cannot join");
        let report = g.broadcast(Bytes::from_static(b"x"));
        assert_eq!((report.delivered, report.gone), (1, 1));
        assert!(!g.contains(&b));
        assert_eq!(g.stats().left, 1);
        a.shared().mark_closed();
        assert!(g.is_empty(), "len() drops closed members too");
    }

    #[test]
    fn a_full_member_is_skipped_or_closed_by_the_policy() {
        for policy in [SlowMember::Skip, SlowMember::Close] {
            let g = Group::new(policy);
            let (fast, slow) = (conn(1), conn(2));
            g.join(&fast);
            g.join(&slow);
            // The slow member's queue is at its cap: one more byte would pass it.
            slow.shared().set_buffered(16, 8, 16);
            let report = g.broadcast(Bytes::from_static(b"x"));
            assert_eq!(report.delivered, 1);
            match policy {
                SlowMember::Skip => {
                    assert_eq!(report.skipped, 1);
                    assert!(g.contains(&slow));
                }
                _ => {
                    assert_eq!(report.closed, 1);
                    assert!(!g.contains(&slow), "a closed slow member leaves at once");
                    assert_eq!(
                        slow.shared().close_requested(),
                        crate::connection::CloseRequest::Abort
                    );
                }
            }
            assert!(queued(&slow).is_empty(), "nothing half-queued");
            let stats = g.stats();
            assert_eq!((stats.skipped + stats.closed, stats.delivered), (1, 1));
        }
    }

    #[test]
    fn joins_and_leaves_during_broadcasts_lose_no_member() {
        let g = Group::new(SlowMember::Skip);
        let steady = conn(0);
        g.join(&steady);
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let g = g.clone();
                scope.spawn(move || {
                    for i in 0..200 {
                        let c = conn(1 + t * 1000 + i);
                        assert!(g.join(&c));
                        g.broadcast(Bytes::from_static(b"x"));
                        assert!(g.leave(&c));
                    }
                });
            }
        });
        let stats = g.stats();
        assert_eq!((stats.members, stats.joined, stats.left), (1, 801, 800));
        // The one member present throughout got every broadcast.
        assert_eq!(queued(&steady).len(), 800);
    }
}
