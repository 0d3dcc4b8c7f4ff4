//! The connection's write queue: `Bytes` chunks behind water marks, written vectored.
//!
//! Small writes (`Context::write(&[u8])`, a few bytes of framing) are copied into one
//! growing tail buffer, so a pipelined batch of small responses is one contiguous slice
//! and one `send`, with no allocation once the tail has its capacity. Large owned
//! chunks (`Bytes` bodies, pulled responses) are queued as they are, never copied, and
//! the socket sees them through `writev`.
//!
//! Two limits apply. The *high mark* pauses the producers of output: consumers stop
//! being fed, async responses and body streams stop being pulled, `writable()` waits.
//! The *cap* refuses writes from code that ignores the pause
//! ([`Error::is_write_buffer_full`](crate::Error::is_write_buffer_full)). Chunks the
//! engine pulled itself (only ever while below the high mark) are exempt from the cap,
//! so a response of any size streams out to a peer that reads.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::flow_control::WaterMarks;
use crate::{Error, Result};

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
    marks: WaterMarks,
    paused: bool,
    peak: usize,
}

// ===== impl WriteQueue =====

impl WriteQueue {
    pub(crate) fn new(marks: WaterMarks) -> WriteQueue {
        WriteQueue {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            len: 0,
            marks,
            paused: false,
            peak: 0,
        }
    }

    /// Refuses `extra` more bytes on top of `held` elsewhere if that passes the cap.
    pub(crate) fn check_cap(&self, held: usize, extra: usize) -> Result<()> {
        let total = self.len + held + extra;
        if total > self.marks.cap() {
            return Err(Error::new_write_buffer_full(total, self.marks.cap()));
        }
        Ok(())
    }

    /// Copies `data` in, within the cap.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        self.check_cap(0, data.len())?;
        self.copy_in(data);
        Ok(())
    }

    /// Queues an owned chunk, within the cap.
    pub(crate) fn write_bytes(&mut self, data: Bytes) -> Result<()> {
        self.check_cap(0, data.len())?;
        self.push(data);
        Ok(())
    }

    /// Queues a chunk the engine pulled at its own pace (below the high mark): no cap.
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

    fn copy_in(&mut self, data: &[u8]) {
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

    /// Re-evaluates the marks with `held` bytes parked elsewhere; returns whether the
    /// queue is paused: it pauses at the high mark and resumes at the low one.
    pub(crate) fn update_paused(&mut self, held: usize) -> bool {
        let len = self.len + held;
        if !self.paused && len >= self.marks.high() {
            self.paused = true;
        } else if self.paused && len <= self.marks.low() {
            self.paused = false;
        }
        self.paused
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak
    }

    pub(crate) fn marks(&self) -> WaterMarks {
        self.marks
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
        let mut q = WriteQueue::new(WaterMarks::default());
        q.write(b"head ").unwrap();
        q.write_bytes(Bytes::from(vec![b'x'; 1000])).unwrap();
        q.write(b" tail").unwrap();
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
        let mut q = WriteQueue::new(WaterMarks::default());
        q.write(&[1; 100]).unwrap();
        let room = q.tail.capacity();
        q.advance(100);
        assert!(q.is_empty());
        // Emptied in place: the whole capacity is there again without a `reserve`.
        assert_eq!(q.tail.capacity(), room);
        q.write(b"next").unwrap();
        assert_eq!(q.front(), b"next");
        // A partial write still leaves the rest in order.
        q.advance(2);
        assert_eq!(q.front(), b"xt");
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn the_cap_refuses_writes_but_not_pulled_chunks() {
        let marks = WaterMarks::new(4, 8).unwrap().with_cap(16).unwrap();
        let mut q = WriteQueue::new(marks);
        q.write(&[0; 10]).unwrap();
        assert!(q.write(&[0; 7]).unwrap_err().is_write_buffer_full());
        assert!(q.write_bytes(Bytes::from(vec![0; 700])).is_err());
        q.push(Bytes::from(vec![0; 700]));
        assert_eq!(q.len(), 710);
        assert!(q.update_paused(0));
        q.advance(706);
        assert!(!q.update_paused(0), "at the low mark: resume");
    }
}
