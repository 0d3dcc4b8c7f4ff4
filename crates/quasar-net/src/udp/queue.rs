//! Outgoing datagrams queued during one receive batch, sent together after it.
//!
//! Every datagram's bytes are copied into one arena and indexed by `(start, len, peer)`,
//! so the steady state allocates nothing: both vectors keep their capacity between
//! batches. The copy is cheap next to a syscall and frees consumers from lifetimes.

use std::net::SocketAddr;

use super::MAX_QUEUED_BYTES;
use crate::{Error, Result};

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
        let buffered = self.arena.len() + data.len();
        if buffered > MAX_QUEUED_BYTES {
            return Err(Error::new_write_buffer_full(buffered, MAX_QUEUED_BYTES));
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(data);
        self.msgs.push(OutMsg {
            start,
            len: data.len(),
            peer,
        });
        Ok(())
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
