//! A request body on its way from the connection's consumer to the handler.
//!
//! The consumer decodes body bytes ([`BodyDecoder`](crate::BodyDecoder)) into a bounded
//! channel; the handler reads them as a [`Body`](crate::Body). When the channel is full the
//! consumer pauses the connection's reading and raises `paused`; the receiver, after taking
//! a chunk, lowers it and calls `Connection::resume_reading`. The flag is raised *before*
//! the consumer re-checks for room, and lowered *after* the receiver made room, so one of
//! the two always sees the other and no wake-up is lost (a spare resume is harmless).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use quasar_net::Connection;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::body::{size_hint, BodyError, PollFrame};
use crate::HttpError;

/// State shared by the two ends of a request body.
#[derive(Debug, Default)]
pub(crate) struct BodyFlow {
    /// The consumer paused reading because the channel was full.
    paused: AtomicBool,
    /// The handler polled the body (the lazy `100 Continue` trigger).
    pub(crate) polled: AtomicBool,
    /// The whole body was decoded and sent.
    complete: AtomicBool,
    /// Body bytes in the channel, not yet taken by the handler (reported to the
    /// server's memory budget by the consumer).
    queued: AtomicUsize,
}

impl BodyFlow {
    /// Body bytes decoded and not yet taken by the handler.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

type Item = Result<Bytes, HttpError>;

/// The consumer's end.
#[derive(Debug)]
pub(crate) struct BodySender {
    tx: Option<mpsc::Sender<Item>>,
    flow: Arc<BodyFlow>,
}

/// What the consumer may do with the next decoded chunk.
pub(crate) enum Room<'a> {
    /// Send it.
    Send(mpsc::Permit<'a, Item>),
    /// The handler dropped the body: decode and drop it.
    Discard,
    /// The channel is full: reading is to pause until the handler takes a chunk.
    Full,
}

impl BodySender {
    /// Room for one more chunk.
    pub(crate) fn room(&self) -> Room<'_> {
        let Some(tx) = &self.tx else {
            return Room::Discard;
        };
        match tx.try_reserve() {
            Ok(permit) => Room::Send(permit),
            Err(TrySendError::Closed(())) => Room::Discard,
            Err(TrySendError::Full(())) => {
                self.flow.paused.store(true, Ordering::SeqCst);
                // Re-check after raising the flag: a chunk taken in between made room and
                // the receiver may have missed the flag.
                match tx.try_reserve() {
                    Ok(permit) => Room::Send(permit),
                    Err(TrySendError::Closed(())) => Room::Discard,
                    Err(TrySendError::Full(())) => Room::Full,
                }
            }
        }
    }

    /// Sends a decoded chunk through a permit of [`room`](Self::room), counting it.
    pub(crate) fn send(&self, permit: mpsc::Permit<'_, Item>, data: Bytes) {
        self.flow.queued.fetch_add(data.len(), Ordering::Relaxed);
        permit.send(Ok(data));
    }

    /// Body bytes in the channel (see [`BodyFlow::queued`]).
    pub(crate) fn queued(&self) -> usize {
        self.flow.queued()
    }

    /// The body ended: the receiver sees the end once it drained the channel.
    pub(crate) fn finish(&mut self) {
        self.flow.complete.store(true, Ordering::SeqCst);
        self.tx = None;
    }

    /// The body is broken: the handler's next read fails with `err` (if there is room).
    pub(crate) fn fail(&mut self, err: HttpError) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Err(err));
        }
    }

    /// Whether the handler still reads the body.
    pub(crate) fn is_open(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

/// The handler's end: an [`http_body::Body`].
#[derive(Debug)]
pub(crate) struct Incoming {
    rx: mpsc::Receiver<Item>,
    flow: Arc<BodyFlow>,
    conn: Connection,
    /// Bytes still to come for a `Content-Length` body.
    remaining: Option<u64>,
    done: bool,
}

/// A channel for one request body of `length` bytes (`None`: chunked).
pub(crate) fn channel(
    conn: Connection,
    capacity: usize,
    length: Option<u64>,
) -> (BodySender, Incoming, Arc<BodyFlow>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let flow = Arc::new(BodyFlow::default());
    let sender = BodySender {
        tx: Some(tx),
        flow: flow.clone(),
    };
    let incoming = Incoming {
        rx,
        flow: flow.clone(),
        conn,
        remaining: length,
        done: false,
    };
    (sender, incoming, flow)
}

impl Incoming {
    fn relieve(&self) {
        if self.flow.paused.swap(false, Ordering::SeqCst) {
            self.conn.resume_reading();
        }
    }
}

impl http_body::Body for Incoming {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> PollFrame {
        if self.done {
            return Poll::Ready(None);
        }
        self.flow.polled.store(true, Ordering::Relaxed);
        let polled = self.rx.poll_recv(cx);
        match polled {
            Poll::Ready(Some(Ok(data))) => {
                self.flow.queued.fetch_sub(data.len(), Ordering::Relaxed);
                self.relieve();
                if let Some(r) = &mut self.remaining {
                    *r = r.saturating_sub(data.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                self.done = true;
                if self.flow.complete.load(Ordering::SeqCst) {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(Box::new(HttpError::IncompleteBody))))
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.remaining == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        size_hint(self.remaining)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        // The consumer goes on decoding and dropping the rest of the body: let it read.
        self.rx.close();
        self.relieve();
    }
}
