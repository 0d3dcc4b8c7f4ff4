//! The connection's outgoing side: the water-marked buffer plus responses still being
//! produced by futures, kept in request order.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};

use crate::flow_control::{WaterMarks, WriteBuffer};
use crate::Result;

type BoxResponse = Pin<Box<dyn Future<Output = Result<Bytes>> + Send>>;

/// A queued response: a future, or bytes written while a future ahead of them runs.
enum Queued {
    Future(BoxResponse),
    Ready(Option<Bytes>),
}

impl Future for Queued {
    type Output = (Result<Bytes>, usize);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Queued::Future(f) => f.as_mut().poll(cx).map(|r| (r, 0)),
            Queued::Ready(b) => {
                let bytes = b.take().unwrap_or_default();
                let held = bytes.len();
                Poll::Ready((Ok(bytes), held))
            }
        }
    }
}

/// Outgoing bytes of one connection.
pub(crate) struct Output {
    buf: WriteBuffer,
    queued: FuturesOrdered<Queued>,
    /// Bytes parked in `Queued::Ready` entries; they count toward the cap.
    held: usize,
}

impl Output {
    pub(crate) fn new(marks: WaterMarks) -> Output {
        Output {
            buf: WriteBuffer::new(marks),
            queued: FuturesOrdered::new(),
            held: 0,
        }
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.queued.is_empty() {
            return self.buf.extend(data);
        }
        let total = self.buf.len() + self.held + data.len();
        let cap = self.buf.marks().cap();
        if total > cap {
            return Err(crate::Error::new_write_buffer_full(total, cap));
        }
        self.held += data.len();
        self.queued
            .push_back(Queued::Ready(Some(Bytes::copy_from_slice(data))));
        Ok(())
    }

    pub(crate) fn spawn(&mut self, fut: BoxResponse) {
        self.queued.push_back(Queued::Future(fut));
    }

    /// Moves finished responses, in order, into the buffer.
    pub(crate) fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut progressed = false;
        while let Poll::Ready(Some((res, held))) = self.queued.poll_next_unpin(cx) {
            self.held -= held;
            progressed = true;
            let bytes = res?;
            self.buf.extend(&bytes)?;
        }
        if progressed {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    pub(crate) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    pub(crate) fn queued_len(&self) -> usize {
        self.queued.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len() + self.held
    }

    pub(crate) fn is_above_high(&self) -> bool {
        self.len() >= self.buf.marks().high()
    }

    pub(crate) fn buffer(&mut self) -> &mut WriteBuffer {
        &mut self.buf
    }

    pub(crate) fn chunk(&self) -> &[u8] {
        self.buf.chunk()
    }
}
