//! Outgoing datagrams queued during one receive batch, sent together after it.
//!
//! Every datagram's bytes are copied into one arena and indexed by `(start, len, peer)`,
//! so the steady state allocates nothing: both vectors keep their capacity between
//! batches. The copy is cheap next to a syscall and frees consumers from lifetimes.

use std::net::SocketAddr;

use super::amplification::ReplyBudget;
use crate::flow_control::{check_cap, MAX_QUEUED_BYTES};
use crate::Result;

#[derive(Debug, Clone, Copy)]
pub(crate) struct OutMsg {
    start: usize,
    len: usize,
    pub(crate) peer: SocketAddr,
}

#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    arena: Vec<u8>,
    msgs: Vec<OutMsg>,
    /// Index of the first message not sent yet.
    head: usize,
}

impl OutQueue {
    pub(crate) fn push(&mut self, data: &[u8], peer: SocketAddr) -> Result<()> {
        check_cap(self.arena.len() + data.len(), MAX_QUEUED_BYTES)?;
        let start = self.arena.len();
        self.arena.extend_from_slice(data);
        self.msgs.push(OutMsg {
            start,
            len: data.len(),
            peer,
        });
        Ok(())
    }

    /// The number of messages queued so far (sent or not): a mark for [`cap_since`](Self::cap_since).
    pub(crate) fn mark(&self) -> usize {
        self.msgs.len()
    }

    /// Keeps, of the messages queued after `mark`, the longest prefix `budget` pays for
    /// (count and wire bytes) and drops the rest; returns how many were dropped.
    pub(crate) fn cap_since(&mut self, mark: usize, budget: &mut ReplyBudget) -> usize {
        let mut keep = mark;
        while keep < self.msgs.len() && budget.take(self.msgs[keep].len) {
            keep += 1;
        }
        let dropped = self.msgs.len() - keep;
        if dropped > 0 {
            let end = self.msgs[keep].start;
            self.msgs.truncate(keep);
            self.arena.truncate(end);
            if self.head >= self.msgs.len() {
                self.advance(0);
            }
        }
        dropped
    }

    /// Messages not sent yet.
    pub(crate) fn len(&self) -> usize {
        self.msgs.len() - self.head
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th unsent message.
    pub(crate) fn get(&self, i: usize) -> (&[u8], SocketAddr) {
        let m = &self.msgs[self.head + i];
        (&self.arena[m.start..m.start + m.len], m.peer)
    }

    /// Marks the first `n` unsent messages as done (sent or failed); empties the queue,
    /// keeping its capacity, once everything is done.
    pub(crate) fn advance(&mut self, n: usize) {
        self.head += n;
        debug_assert!(self.head <= self.msgs.len());
        if self.head >= self.msgs.len() {
            self.arena.clear();
            self.msgs.clear();
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keeps_order_and_resets_when_drained() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut q = OutQueue::default();
        q.push(b"one", peer).unwrap();
        q.push(b"", peer).unwrap();
        q.push(b"three", peer).unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(q.get(0).0, b"one");
        q.advance(1);
        assert_eq!(q.get(0).0, b"");
        assert_eq!(q.get(1).0, b"three");
        q.advance(2);
        assert!(q.is_empty());
        assert!(q.arena.is_empty(), "arena cleared once everything was sent");
    }

    #[test]
    fn cap_since_keeps_a_prefix_and_only_touches_new_messages() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut q = OutQueue::default();
        q.push(b"earlier", peer).unwrap();
        let mark = q.mark();
        for _ in 0..10 {
            q.push(b"x", peer).unwrap();
        }
        let dropped = q.cap_since(mark, &mut ReplyBudget::new(3, 0, 1));
        assert_eq!(dropped, 7);
        assert_eq!(q.len(), 4);
        assert_eq!(q.get(0).0, b"earlier");
        assert_eq!(q.get(3).0, b"x");
        // The arena lost the dropped bytes too: a push lands right after the kept ones.
        q.push(b"next", peer).unwrap();
        assert_eq!(q.get(4).0, b"next");
        assert_eq!(q.arena.len(), 7 + 3 + 4);
    }

    #[test]
    fn queue_refuses_past_its_cap() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut q = OutQueue::default();
        let big = vec![0u8; MAX_QUEUED_BYTES];
        q.push(&big, peer).unwrap();
        let err = q.push(b"x", peer).unwrap_err();
        assert!(err.is_write_buffer_full());
        assert_eq!(q.len(), 1);
    }
}
