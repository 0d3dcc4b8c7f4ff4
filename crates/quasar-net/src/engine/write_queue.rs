//! The connection's write queue: `Bytes` chunks behind water marks, written vectored.
//!
//! Small writes (`Context::write(&[u8])`, a few bytes of framing) are copied into one
//! growing tail buffer, so a pipelined batch of small responses is one contiguous slice
//! and one `send`, with no allocation once the tail has its capacity. Large owned
//! chunks (`Bytes` bodies, pulled responses) are queued as they are, never copied, and
//! the socket sees them through `writev`.
//!
//! The queue only holds bytes: when producers pause and what the cap refuses is the
//! policy of [`flow_control`](crate::flow_control), which [`Output`](super::Output) asks
//! before it queues.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Owned chunks at most this long are copied into the tail: one `memcpy` of a few
/// hundred bytes is cheaper than an extra iovec and a reference count.
const COPY_LIMIT: usize = 512;

/// Most slices handed to one `writev` (Linux takes 1024; 64 covers any real batch).
pub(crate) const MAX_IOVECS: usize = 64;

/// A drained tail larger than this is freed rather than kept for the next response, so
/// an idle connection does not hold the memory of its largest burst.
const KEEP_TAIL: usize = 64 * 1024;

/// Bytes waiting to be written, in order.
#[derive(Debug)]
pub(crate) struct WriteQueue {
    /// Owned chunks, written before `tail`.
    chunks: VecDeque<Bytes>,
    /// Copied small writes, after every chunk.
    tail: BytesMut,
    len: usize,
    peak: usize,
}

// ===== impl WriteQueue =====

impl WriteQueue {
    pub(crate) fn new() -> WriteQueue {
        WriteQueue {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            len: 0,
            peak: 0,
        }
    }

    /// Queues an owned chunk: a short one is copied into the tail, a long one queued as
    /// it is.
    pub(crate) fn push(&mut self, data: Bytes) {
        if data.len() <= COPY_LIMIT {
            return self.copy_in(&data);
        }
        if !self.tail.is_empty() {
            // Keep the order: what was copied before this chunk goes first.
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += data.len();
        self.peak = self.peak.max(self.len);
        self.chunks.push_back(data);
    }

    /// Copies `data` in after everything queued.
    pub(crate) fn copy_in(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
        self.peak = self.peak.max(self.len);
    }

    /// Fills `out` with the queued slices, front first; returns how many.
    pub(crate) fn io_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let tail: &'a [u8] = &self.tail;
        let mut n = 0;
        for chunk in self
            .chunks
            .iter()
            .map(|c| &c[..])
            .chain(std::iter::once(tail))
        {
            if n == out.len() {
                break;
            }
            if !chunk.is_empty() {
                out[n] = IoSlice::new(chunk);
                n += 1;
            }
        }
        n
    }

    /// Whether the queued bytes are one slice (no vectored write needed).
    pub(crate) fn is_contiguous(&self) -> bool {
        self.chunks.is_empty() || (self.chunks.len() == 1 && self.tail.is_empty())
    }

    /// The first contiguous slice (for transports without vectored writes).
    pub(crate) fn front(&self) -> &[u8] {
        match self.chunks.front() {
            Some(chunk) => chunk,
            None => &self.tail,
        }
    }

    /// Drops `n` written bytes from the front.
    pub(crate) fn advance(&mut self, mut n: usize) {
        debug_assert!(n <= self.len);
        if n == self.len && self.chunks.is_empty() {
            // Everything went (the usual write of a whole answer): empty the tail in
            // place. `clear` keeps the tail's start where it is; `advance` would move it
            // to the end, and the next response's copy would pay a `reserve` to move it
            // back.
            self.len = 0;
            self.tail.clear();
            if self.tail.capacity() > KEEP_TAIL {
                self.tail = BytesMut::new();
            }
            return;
        }
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.len() <= n => {
                    n -= chunk.len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    break;
                }
            }
        }
        if self.tail.is_empty() && self.tail.capacity() > KEEP_TAIL {
            self.tail = BytesMut::new();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut WriteQueue) -> Vec<u8> {
        let mut out = Vec::new();
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = q.io_slices(&mut slices);
            // Take only part of the second slice, as a short writev would.
            let mut take = 0;
            for (i, s) in slices[..n].iter().enumerate() {
                let part = if i == 1 { s.len() / 2 + 1 } else { s.len() };
                out.extend_from_slice(&s[..part]);
                take += part;
                if part < s.len() {
                    break;
                }
            }
            q.advance(take);
        }
        out
    }

    #[test]
    fn small_and_large_writes_keep_their_order() {
        let mut q = WriteQueue::new();
        q.copy_in(b"head ");
        q.push(Bytes::from(vec![b'x'; 1000]));
        q.copy_in(b" tail");
        q.push(Bytes::from(vec![b'y'; 600]));
        let mut want = b"head ".to_vec();
        want.extend(vec![b'x'; 1000]);
        want.extend(b" tail");
        want.extend(vec![b'y'; 600]);
        assert_eq!(q.len(), want.len());
        assert_eq!(drain(&mut q), want);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_drained_tail_keeps_its_room_for_the_next_response() {
        let mut q = WriteQueue::new();
        q.copy_in(&[1; 100]);
        let room = q.tail.capacity();
        q.advance(100);
        assert!(q.is_empty());
        // Emptied in place: the whole capacity is there again without a `reserve`.
        assert_eq!(q.tail.capacity(), room);
        q.copy_in(b"next");
        assert_eq!(q.front(), b"next");
        // A partial write still leaves the rest in order.
        q.advance(2);
        assert_eq!(q.front(), b"xt");
        assert_eq!(q.len(), 2);
    }
}
