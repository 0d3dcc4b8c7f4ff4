//! The outgoing side of a connection as consumers see it: the write queue plus the
//! responses still being produced, in request order, under the connection's flow control.

use std::task::{Context, Poll};

use bytes::Bytes;

use super::responses::{BoxBody, BoxResponse, Responses};
use super::write_queue::WriteQueue;
use crate::flow_control::{FlowControl, WaterMarks};
use crate::Result;

/// Outgoing bytes of one connection.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) queue: WriteQueue,
    pub(crate) responses: Responses,
    /// The write-queue policy: every "may more output come" question goes through it.
    pub(crate) flow: FlowControl,
}

impl Output {
    pub(crate) fn new(marks: WaterMarks) -> Output {
        Output {
            queue: WriteQueue::new(),
            responses: Responses::default(),
            flow: FlowControl::new(marks),
        }
    }

    /// Copies `data` in after everything queued so far (behind unfinished responses).
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        self.flow.check_cap(self.len(), data.len())?;
        if self.responses.is_empty() {
            self.queue.copy_in(data);
        } else {
            self.responses.hold(data);
        }
        Ok(())
    }

    /// Queues an owned chunk after everything queued so far.
    pub(crate) fn write_bytes(&mut self, data: Bytes) -> Result<()> {
        self.flow.check_cap(self.len(), data.len())?;
        if self.responses.is_empty() {
            self.queue.push(data);
        } else {
            // Parked bytes are rare (only behind an unfinished response): a copy is fine.
            self.responses.hold(&data);
        }
        Ok(())
    }

    pub(crate) fn spawn(&mut self, fut: BoxResponse) {
        self.responses.spawn(fut);
    }

    pub(crate) fn stream(&mut self, body: BoxBody) {
        self.responses.stream(body);
    }

    pub(crate) fn poll_pull(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool>> {
        if self.responses.is_empty() {
            return Poll::Pending;
        }
        self.responses.poll_pull(cx, &mut self.queue, &self.flow)
    }

    /// Bytes held in memory for the peer: queued plus parked (the level flow control
    /// judges).
    pub(crate) fn len(&self) -> usize {
        self.queue.len() + self.responses.held()
    }

    /// Whether nothing is queued and no response is unfinished.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.responses.is_empty()
    }

    /// Whether producers of output must wait (see [`FlowControl::is_full`]).
    pub(crate) fn is_full(&self) -> bool {
        self.flow.is_full(self.len())
    }

    /// Whether the output is paused between the marks, as of the last [`update_flow`].
    ///
    /// [`update_flow`]: Self::update_flow
    pub(crate) fn is_paused(&self) -> bool {
        self.flow.is_paused()
    }

    /// Re-evaluates the pause at the current level; returns whether it is paused.
    pub(crate) fn update_flow(&mut self) -> bool {
        let level = self.len();
        self.flow.update(level)
    }

    /// Whether the front exchange may be fed input now (see [`FlowControl::takes_input`]).
    pub(crate) fn takes_input(&self, full_duplex: bool) -> bool {
        self.flow.takes_input(full_duplex, self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_refuses_writes_but_not_pulled_chunks() {
        let marks = WaterMarks::new(4, 8).unwrap().with_cap(16).unwrap();
        let mut out = Output::new(marks);
        out.write(&[0; 10]).unwrap();
        assert!(out.write(&[0; 7]).unwrap_err().is_write_buffer_full());
        assert!(out.write_bytes(Bytes::from(vec![0; 700])).is_err());
        // What the engine pulls itself is exempt.
        out.queue.push(Bytes::from(vec![0; 700]));
        assert_eq!(out.len(), 710);
        assert!(out.update_flow());
        out.queue.advance(706);
        assert!(!out.update_flow(), "at the low mark: resume");
    }
}
