//! The outgoing side of a connection as consumers see it: the write queue plus the
//! responses still being produced, in request order.

use std::task::{Context, Poll};

use bytes::Bytes;

use super::responses::{BoxBody, BoxResponse, Responses};
use super::write_queue::WriteQueue;
use crate::flow_control::WaterMarks;
use crate::Result;

/// Outgoing bytes of one connection.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) queue: WriteQueue,
    pub(crate) responses: Responses,
}

impl Output {
    pub(crate) fn new(marks: WaterMarks) -> Output {
        Output {
            queue: WriteQueue::new(marks),
            responses: Responses::default(),
        }
    }

    /// Copies `data` in after everything queued so far (behind unfinished responses).
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.responses.is_empty() {
            return self.queue.write(data);
        }
        self.queue.check_cap(self.responses.held(), data.len())?;
        self.responses.hold(data);
        Ok(())
    }

    /// Queues an owned chunk after everything queued so far.
    pub(crate) fn write_bytes(&mut self, data: Bytes) -> Result<()> {
        if self.responses.is_empty() {
            return self.queue.write_bytes(data);
        }
        self.queue.check_cap(self.responses.held(), data.len())?;
        // Parked bytes are rare (only behind an unfinished response): a copy is fine.
        self.responses.hold(&data);
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
        self.responses.poll_pull(cx, &mut self.queue)
    }

    /// Bytes held in memory for the peer: queued plus parked.
    pub(crate) fn len(&self) -> usize {
        self.queue.len() + self.responses.held()
    }

    /// Whether nothing is queued and no response is unfinished.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.responses.is_empty()
    }

    pub(crate) fn is_above_high(&self) -> bool {
        self.len() >= self.queue.marks().high()
    }

    /// Whether producers of output must wait: above the high mark, or paused there and
    /// not yet drained to the low one.
    pub(crate) fn is_full(&self) -> bool {
        self.queue.is_paused() || self.is_above_high()
    }
}
