//! Responses still being produced: futures and body streams, kept in request order.
//!
//! A consumer that cannot answer synchronously hands the engine a future
//! (`Context::spawn_response`) or a stream of body chunks (`Context::stream_response`).
//! Each takes a slot in an ordered list; bytes written while a slot is ahead of them
//! wait in a slot of their own, so the peer sees responses in request order.
//!
//! Futures run concurrently (a `FuturesUnordered` polls only the woken ones) and park
//! their result in their slot. Output is *pulled* from the front slot as flow control
//! allows (`FlowControl::may_pull`): a stream is polled for its next chunk only below
//! the high mark, so a slow reader pauses the producer of a body and memory stays at the
//! high mark plus one chunk, whatever the body's length.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, Stream, StreamExt};

use super::write_queue::WriteQueue;
use crate::flow_control::FlowControl;
use crate::Result;

/// A response produced by a future.
pub(crate) type BoxResponse = Pin<Box<dyn Future<Output = Result<Bytes>> + Send>>;
/// A response body produced chunk by chunk.
pub(crate) type BoxBody = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

enum Slot {
    /// A future still running in `running`.
    Running,
    /// A future's result, waiting for the slots ahead of it.
    Done(Result<Bytes>),
    /// A body stream, pulled only at the front.
    Body(BoxBody),
    /// Bytes written while a slot ahead of them was unfinished.
    Held(BytesMut),
}

/// A future tagged with the id of its slot.
struct Tagged {
    id: u64,
    fut: BoxResponse,
}

impl Future for Tagged {
    type Output = (u64, Result<Bytes>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        self.fut.as_mut().poll(cx).map(|r| (id, r))
    }
}

/// The ordered responses of one connection.
#[derive(Default)]
pub(crate) struct Responses {
    slots: VecDeque<Slot>,
    /// The id of `slots[0]`; ids grow by one per slot.
    base: u64,
    /// Created on the first spawned response: `FuturesUnordered::new` allocates, and most
    /// connections never spawn one.
    running: Option<FuturesUnordered<Tagged>>,
    /// Bytes parked in `Held` slots and finished futures; they count toward the cap and
    /// the water marks.
    held: usize,
}

impl Responses {
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slots not yet written out (the bound on concurrently processed requests).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn held(&self) -> usize {
        self.held
    }

    pub(crate) fn spawn(&mut self, fut: BoxResponse) {
        let id = self.base + self.slots.len() as u64;
        self.slots.push_back(Slot::Running);
        self.running
            .get_or_insert_with(FuturesUnordered::new)
            .push(Tagged { id, fut });
    }

    pub(crate) fn stream(&mut self, body: BoxBody) {
        self.slots.push_back(Slot::Body(body));
    }

    /// Parks bytes behind the unfinished slots (the caller checked the cap).
    pub(crate) fn hold(&mut self, data: &[u8]) {
        self.held += data.len();
        if let Some(Slot::Held(buf)) = self.slots.back_mut() {
            buf.extend_from_slice(data);
        } else {
            self.slots.push_back(Slot::Held(BytesMut::from(data)));
        }
    }

    /// Collects finished futures and moves the front slots' output into `queue` as far as
    /// `flow` allows ([`FlowControl::may_pull`]). `Ready(Ok(true))` when anything moved.
    ///
    /// # Errors
    ///
    /// The error of the front future or stream; the slots before it were written whole.
    pub(crate) fn poll_pull(
        &mut self,
        cx: &mut Context<'_>,
        queue: &mut WriteQueue,
        flow: &FlowControl,
    ) -> Poll<Result<bool>> {
        while let Some(Poll::Ready(Some((id, res)))) =
            self.running.as_mut().map(|r| r.poll_next_unpin(cx))
        {
            if let Ok(bytes) = &res {
                self.held += bytes.len();
            }
            // Slots before `id` leave only from the front, after their own future ended.
            let index = (id - self.base) as usize;
            self.slots[index] = Slot::Done(res);
        }
        let mut moved = false;
        while flow.may_pull(queue.len() + self.held, self.held_at_front()) {
            let Some(front) = self.slots.front_mut() else {
                break;
            };
            match front {
                Slot::Running => break,
                Slot::Body(body) => match body.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(chunk))) => {
                        moved = true;
                        queue.push(chunk);
                        continue;
                    }
                    Poll::Ready(Some(Err(err))) => {
                        self.pop();
                        return Poll::Ready(Err(err));
                    }
                    Poll::Ready(None) => {}
                    Poll::Pending => break,
                },
                Slot::Done(_) | Slot::Held(_) => {}
            }
            moved = true;
            match self.pop() {
                Some(Slot::Done(Ok(bytes))) => {
                    self.held -= bytes.len();
                    queue.push(bytes);
                }
                Some(Slot::Done(Err(err))) => return Poll::Ready(Err(err)),
                Some(Slot::Held(buf)) => {
                    self.held -= buf.len();
                    queue.push(buf.freeze());
                }
                _ => {}
            }
        }
        if moved {
            Poll::Ready(Ok(true))
        } else {
            Poll::Pending
        }
    }

    /// Whether the front slot holds finished bytes, already counted in memory: moving
    /// them to the queue costs nothing and unblocks the slots behind.
    fn held_at_front(&self) -> bool {
        matches!(self.slots.front(), Some(Slot::Done(_) | Slot::Held(_)))
    }

    fn pop(&mut self) -> Option<Slot> {
        let slot = self.slots.pop_front();
        if slot.is_some() {
            self.base += 1;
        }
        slot
    }
}

impl std::fmt::Debug for Responses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responses")
            .field("slots", &self.slots.len())
            .field("running", &self.running.as_ref().map_or(0, |r| r.len()))
            .field("held", &self.held)
            .finish()
    }
}
