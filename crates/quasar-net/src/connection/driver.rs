//! The task that moves a connection's bytes: a thin loop over the [`Engine`].
//!
//! One driver runs per connection, on the runtime that accepted (or opened) it. It
//! owns the transport and knows no consumer rule: each turn it applies the handle's
//! requests (close, external writes, resumed reading), lets the engine run a round, and
//! then waits for the first of: the server's abort or drain, a pulled response, room in
//! the push sink, a write, a flush, a read, a client call, the timer. Everything a
//! batch produced leaves in one (vectored) write.
//!
//! Timers are lazy: one `Sleep` is armed at the earliest moment a timeout *could* fire;
//! when it fires, the engine computes the real deadlines and it is re-armed. Reads never
//! touch the timer.

use std::future::{poll_fn, Future};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, Instant};

use super::call_queue::CallReceiver;
use super::clock::{now, Clock};
use super::scratch;
use super::shutdown::{Ended, Shutdown};
use super::signal::Signal;
use super::CloseRequest;
use crate::consumer::{Req, Resp};
use crate::engine::write_queue::MAX_IOVECS;
use crate::engine::{Call, Engine};
use crate::transport::Transport;
use crate::{ConsumerFactory, Error, Result};

mod calls;

/// How to dispose of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposal {
    /// Flush, shut down the write side, wait for the peer's EOF up to the close timeout.
    Graceful,
    /// Reset now (SO_LINGER 0 on TCP), dropping buffered output.
    Abort,
    /// The transport is already dead (reset, I/O error): just drop it.
    Drop,
}

enum Event<Req, Resp> {
    Read(usize),
    Eof,
    Progress,
    Timer,
    Wake,
    Drain,
    Abort,
    Call(Call<Req, Resp>),
    CallsClosed,
}

type Fail = (Error, Disposal);
/// What one poll of the driver's wait yields.
type Polled<F> = Poll<Result<Event<Req<F>, Resp<F>>, Fail>>;

/// Owns the transport and the engine of one connection.
pub(crate) struct Driver<T, F: ConsumerFactory> {
    io: T,
    engine: Engine<F>,
    calls: Option<CallReceiver<Req<F>, Resp<F>>>,
    /// Bytes were written since the last flush (TLS buffers; TCP's flush is free).
    needs_flush: bool,
    draining: bool,
    /// Closed while idle by a drain: nothing of ours is in flight for a reset to destroy,
    /// so the close does not wait for the peer's FIN.
    idle_close: bool,
    /// Client: callers given their reply since the last batch of calls whose next call
    /// has not come yet (see [`Driver::start_calls`]).
    awaited: usize,
}

// ===== impl Driver =====

impl<T: Transport, F: ConsumerFactory> Driver<T, F> {
    pub(crate) fn new(
        io: T,
        engine: Engine<F>,
        calls: Option<CallReceiver<Req<F>, Resp<F>>>,
    ) -> Self {
        // Published before the driver runs, so consumers see it from `connection_made` on.
        engine
            .connection()
            .shared()
            .set_transport_info(io.transport_info());
        if engine.config().nodelay {
            if let Some(tcp) = io.tcp_stream() {
                // Responses are coalesced per batch already; Nagle would only add latency.
                let _ = tcp.set_nodelay(true);
            }
        }
        Driver {
            io,
            engine,
            calls,
            needs_flush: false,
            draining: false,
            idle_close: false,
            awaited: 0,
        }
    }

    /// Runs the connection to its end and reports how it ended.
    pub(crate) async fn run(mut self, shutdown: Shutdown) -> Ended {
        let conn = self.engine.connection().clone();
        let hooks = Arc::clone(self.engine.producer().hooks());
        let _ = conn.connection_made().fire(Ok(()));
        let ev = self.engine.conn_event();
        hooks.fire_connection_made(&ev);
        tracing::debug!(session = ev.session, peer = %ev.peer, "connection made");

        let (error, disposal, ended) = match self.serve(&shutdown).await {
            Ok(Ended::Forced) => (
                Some(Error::closed(
                    "forced closed at the server's shutdown deadline",
                )),
                Disposal::Abort,
                Ended::Forced,
            ),
            // (`serve` never hands over itself: that is decided below.)
            Ok(Ended::Normally | Ended::Detached(_)) => (None, Disposal::Graceful, Ended::Normally),
            Err((err, disposal)) => (Some(err), disposal, Ended::Normally),
        };
        if error.is_none() {
            if let Some(to) = self.engine.take_detach() {
                return self.hand_over(to, &conn, &hooks).await;
            }
        }
        conn.shared().mark_closed();
        self.engine.fail_in_flight(error.as_ref());
        self.close_calls(error.as_ref());
        match disposal {
            Disposal::Graceful => self.close_gracefully(&shutdown.abort).await,
            Disposal::Abort => self.abort_socket(),
            Disposal::Drop => {}
        }
        conn.shared().set_write_paused(false);
        if !self.engine.is_client() {
            let kind = match (&error, &ended) {
                (_, Ended::Forced) => Some(crate::AbuseKind::ForcedClose),
                (Some(err), _) => crate::AbuseKind::of_error(err),
                (None, _) => None,
            };
            if let (Some(kind), Some(err)) = (kind, &error) {
                self.engine.producer().abuse().record(
                    kind,
                    1,
                    Some(conn.address()),
                    format_args!("connection closed: {err}"),
                );
            }
        }
        match &error {
            Some(err) if err.is_idle_timeout() => {
                tracing::debug!(session = conn.session(), "closed idle connection")
            }
            Some(err) => {
                tracing::debug!(session = conn.session(), error = %err, "connection closed with error")
            }
            None => tracing::debug!(session = conn.session(), "connection closed"),
        }
        // An idle timeout is the normal end of a keep-alive connection, not a failure.
        let lost_error = error.filter(|e| !e.is_idle_timeout());
        hooks.fire_connection_lost(&crate::hooks::LostEvent {
            session: conn.session(),
            peer: conn.address(),
            error: lost_error.as_ref(),
        });
        let _ = conn.connection_lost().fire(lost_error.map_or(Ok(()), Err));
        ended
    }

    async fn serve(&mut self, shutdown: &Shutdown) -> Result<Ended, Fail> {
        let conn = self.engine.connection().clone();
        self.engine.start().map_err(|e| (e, Disposal::Graceful))?;
        let first = self.next_deadline(now())?;
        let timer = sleep_until(Instant::from_std(first));
        tokio::pin!(timer);
        // Whether the timer was polled since it was last set. One poll registers this
        // task's waker with the timer; until the timer is set again, `is_elapsed` (an
        // atomic load) tells whether it fired, which costs far less than a `Sleep` poll
        // on every wait of the hot loop.
        let mut timer_polled = false;
        // Polled once each to register this task's waker; afterwards the hot loop only
        // reads the flags (see `Signal`).
        let drain = shutdown.drain.cancelled();
        let abort = shutdown.abort.cancelled();
        tokio::pin!(drain, abort);
        let mut registered = false;
        let mut clock = Clock::default();

        loop {
            // What this turn queues (external bytes, a resumed feed) is stamped now.
            self.engine.set_now(clock.now());
            let seen = conn.shared().close_requested();
            match seen {
                CloseRequest::Abort => {
                    return Err((Error::closed("connection aborted"), Disposal::Abort))
                }
                CloseRequest::Graceful => self.engine.close(),
                CloseRequest::None => {}
            }
            if let Some(chunks) = conn.shared().take_external() {
                self.engine
                    .take_external(chunks)
                    .map_err(|e| (e, Disposal::Abort))?;
            }
            if conn.shared().take_resume_reading() {
                self.engine.resume_reading();
            }
            // After the external bytes above: they leave before the FIN.
            if conn.shared().take_shutdown_write() {
                self.engine.shutdown_write();
            }
            let in_flight = self.engine.in_flight();
            if self.engine.round().map_err(|e| (e, Disposal::Graceful))? {
                return Ok(Ended::Normally);
            }
            if self.calls.is_some() {
                // Replies handed to their callers in this round (a client's exchanges
                // only leave by finishing).
                self.awaited += in_flight.saturating_sub(self.engine.in_flight());
            }
            if self.engine.take_timer_changed() {
                let next = self.next_deadline(now())?;
                timer.as_mut().reset(Instant::from_std(next));
                timer_polled = false;
            }

            let mut parked = false;
            let event = poll_fn(|cx| {
                if parked {
                    // Woken after waiting: what happens in this poll (a read, or a
                    // write done inline) is stamped with a fresh clock.
                    clock.parked();
                }
                if !registered {
                    // Same task, same waker: one registration lasts the connection.
                    let _ = abort.as_mut().poll(cx);
                    let _ = drain.as_mut().poll(cx);
                    registered = true;
                }
                if shutdown.abort.is_cancelled() {
                    return Poll::Ready(Ok(Event::Abort));
                }
                // Register, then check: a request made after the check wakes us.
                conn.shared().driver_waker().register(cx.waker());
                if conn.shared().close_requested() != seen || conn.shared().has_pending() {
                    return Poll::Ready(Ok(Event::Wake));
                }
                if !self.draining && shutdown.drain.is_cancelled() {
                    return Poll::Ready(Ok(Event::Drain));
                }
                if let Poll::Ready(res) = self.engine.poll_pull(cx) {
                    // Graceful on error: the responses before the failed one are whole
                    // and already queued; flush them.
                    return Poll::Ready(
                        res.map(|()| Event::Progress)
                            .map_err(|e| (e, Disposal::Graceful)),
                    );
                }
                if self.engine.poll_push(cx).is_ready() {
                    return Poll::Ready(Ok(Event::Progress));
                }
                if !self.engine.output().queue.is_empty() {
                    match poll_write_queue(&mut self.io, &self.engine, cx) {
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err((Error::connection_lost(None), Disposal::Drop)))
                        }
                        Poll::Ready(Ok(n)) => {
                            self.needs_flush = true;
                            // The common write (a whole answer, nothing else changed)
                            // needs no round of rules: flush and read on in this poll.
                            if self.engine.on_written(n, clock.now())
                                || !self.engine.output().queue.is_empty()
                            {
                                return Poll::Ready(Ok(Event::Progress));
                            }
                        }
                        Poll::Ready(Err(e)) => {
                            return Poll::Ready(Err((Error::from(e), Disposal::Drop)))
                        }
                        Poll::Pending => {}
                    }
                }
                if self.needs_flush && self.engine.output().queue.is_empty() {
                    // A finished flush needs no new round (TCP's is immediate): go on to
                    // reading in this same poll.
                    match Pin::new(&mut self.io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.needs_flush = false,
                        Poll::Ready(Err(e)) => {
                            return Poll::Ready(Err((Error::from(e), Disposal::Drop)))
                        }
                        Poll::Pending => {}
                    }
                }
                if !self.needs_flush && self.engine.wants_shutdown() {
                    match Pin::new(&mut self.io).poll_shutdown(cx) {
                        Poll::Ready(Ok(())) => {
                            self.engine.on_shutdown_written();
                            return Poll::Ready(Ok(Event::Progress));
                        }
                        Poll::Ready(Err(e)) => {
                            return Poll::Ready(Err((Error::from(e), Disposal::Drop)))
                        }
                        Poll::Pending => {}
                    }
                }
                if self.engine.wants_read() {
                    if let Poll::Ready(ev) = poll_read(&mut self.io, &mut self.engine, cx) {
                        return Poll::Ready(ev);
                    }
                }
                if let Poll::Ready(ev) = self.poll_call(cx) {
                    return Poll::Ready(Ok(ev));
                }
                if timer_polled {
                    if timer.is_elapsed() {
                        return Poll::Ready(Ok(Event::Timer));
                    }
                } else if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(Event::Timer));
                } else {
                    timer_polled = true;
                }
                parked = true;
                Poll::Pending
            })
            .await?;

            match event {
                Event::Read(n) => self
                    .engine
                    .on_read(n, clock.now())
                    .map_err(|e| (e, Disposal::Graceful))?,
                Event::Eof => self.engine.on_eof().map_err(|e| (e, Disposal::Graceful))?,
                Event::Progress | Event::Wake => {}
                Event::Timer => {
                    let next = self.next_deadline(now())?;
                    timer.as_mut().reset(Instant::from_std(next));
                    timer_polled = false;
                }
                Event::Drain => {
                    self.draining = true;
                    let counter = if self.engine.on_drain() {
                        &shutdown.drained_busy
                    } else {
                        self.idle_close = true;
                        &shutdown.drained_idle
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Event::Abort => return Ok(Ended::Forced),
                Event::Call(call) => {
                    if let Some(at) = self.start_calls(call, &mut clock).await {
                        let at = Instant::from_std(at);
                        if timer.deadline() > at {
                            timer.as_mut().reset(at);
                            timer_polled = false;
                        }
                    }
                }
                Event::CallsClosed => self.engine.close(),
            }
        }
    }

    /// When the timer must fire next: the engine's timeouts and ticks, and for a client
    /// with a call timeout the first call deadline (failing the calls already past it).
    fn next_deadline(&mut self, now: std::time::Instant) -> Result<std::time::Instant, Fail> {
        let next = self.engine.check_timers(now).map_err(timer_failed)?;
        Ok(match self.call_deadline(now)? {
            Some(at) => next.min(at),
            None => next,
        })
    }

    /// Ends this driver without closing the transport: flushes, then sends the transport
    /// and the unparsed bytes to the new owner. For this connection's handle it is a
    /// clean end (`connection_lost` fires with `Ok`).
    async fn hand_over(
        mut self,
        to: tokio::sync::oneshot::Sender<crate::transport::Detached>,
        conn: &super::Connection,
        hooks: &crate::Hooks,
    ) -> Ended {
        let _ = poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await;
        conn.shared().mark_closed();
        let (held, released) = tokio::sync::oneshot::channel();
        let detached = crate::transport::Detached {
            read_buf: self.engine.take_read_buf(),
            peer: conn.address(),
            local: conn.local_address(),
            io: Box::new(crate::transport::Counted {
                io: Box::new(self.io),
                _held: held,
            }),
        };
        if to.send(detached).is_err() {
            tracing::debug!(
                session = conn.session(),
                "detached connection dropped: nobody took it"
            );
        }
        tracing::debug!(session = conn.session(), "connection handed over");
        hooks.fire_connection_lost(&crate::hooks::LostEvent {
            session: conn.session(),
            peer: conn.address(),
            error: None,
        });
        let _ = conn.connection_lost().fire(Ok(()));
        Ended::Detached(released)
    }

    /// Flushes, shuts the write side down (a TLS `close_notify`) and waits for the peer's
    /// EOF, up to the close timeout; the server's shutdown deadline (`abort`) cuts it
    /// short.
    async fn close_gracefully(&mut self, abort: &Signal) {
        // What the peer sent is never parsed now: free it and give it back to the memory
        // budget at once, not when the peer finally closes (it may never).
        self.engine.discard_input();
        // `Connection::abort` (an operator's second signal) cuts the wait short too.
        let conn = self.engine.connection().clone();
        let aborted = poll_fn(|cx| {
            conn.shared().driver_waker().register(cx.waker());
            if conn.shared().close_requested() == CloseRequest::Abort {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        let finished = tokio::select! {
            () = self.flush_and_shutdown() => true,
            () = abort.cancelled() => false,
            () = aborted => false,
        };
        if !finished {
            self.abort_socket();
        }
    }

    async fn flush_and_shutdown(&mut self) {
        let deadline = Instant::now() + self.engine.config().close_timeout;
        while !self.engine.output().queue.is_empty() {
            // Moved `&mut`s keep the future `Send` without the engine being `Sync`.
            let (io, engine) = (&mut self.io, &mut self.engine);
            let wrote = tokio::time::timeout_at(
                deadline,
                poll_fn(move |cx| poll_write_queue(&mut *io, &*engine, cx)),
            )
            .await;
            match wrote {
                Ok(Ok(n)) if n > 0 => {
                    self.engine.on_written(n, now());
                }
                Ok(_) => return,
                Err(_) => return self.abort_socket(),
            }
        }
        match tokio::time::timeout_at(deadline, self.io.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => return self.abort_socket(),
        }
        if self.engine.saw_eof() || self.idle_close {
            return;
        }
        // Wait for the peer to close its side, discarding what it still sends, so the
        // close does not turn into a reset that could destroy our last response.
        let mut rbuf = BytesMut::with_capacity(CLOSE_READ_CHUNK);
        loop {
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut rbuf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => rbuf.clear(),
                Err(_) => {
                    tracing::debug!(
                        session = self.engine.connection().session(),
                        "peer did not close in time: abort"
                    );
                    return self.abort_socket();
                }
            }
        }
    }

    fn abort_socket(&mut self) {
        if let Some(tcp) = self.io.tcp_stream() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
    }
}

/// The buffer for what a closing connection's peer still sends (discarded).
const CLOSE_READ_CHUNK: usize = 4096;

/// How a timer's failure closes: a peer too slow to take output gets no graceful
/// flush (it would only hold the connection for the close timeout); others do.
fn timer_failed(e: Error) -> Fail {
    let disposal = if e.is_send_too_slow() {
        Disposal::Abort
    } else {
        Disposal::Graceful
    };
    (e, disposal)
}

/// Writes the front of the queue: one slice with `write`, several with `writev` when
/// the transport supports it.
fn poll_write_queue<T: AsyncWrite + Unpin, F: ConsumerFactory>(
    io: &mut T,
    engine: &Engine<F>,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    let queue = &engine.output().queue;
    if !queue.is_contiguous() && io.is_write_vectored() {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = queue.io_slices(&mut slices);
        return Pin::new(io).poll_write_vectored(cx, &slices[..n]);
    }
    Pin::new(io).poll_write(cx, queue.front())
}

fn poll_read<T: AsyncRead + Unpin, F: ConsumerFactory>(
    io: &mut T,
    engine: &mut Engine<F>,
    cx: &mut Context<'_>,
) -> Polled<F> {
    let read_chunk = engine.config().read_chunk;
    let rbuf = engine.read_buf();
    if rbuf.is_empty() && rbuf.capacity() == 0 {
        // Idle connections hold no buffer: borrow the thread's.
        *rbuf = scratch::borrow();
    }
    if rbuf.capacity() - rbuf.len() < read_chunk / 2 {
        rbuf.reserve(read_chunk);
    }
    let before = rbuf.len();
    // A read fills all the buffer's spare room, which doubling makes up to half its size,
    // and the budget is checked after the read: under pressure read one chunk at most, so
    // that a connection cannot overshoot the budget by more than that.
    let max_read = match engine.config().memory_budget.as_deref() {
        Some(budget) if budget.is_under_pressure() => read_chunk,
        _ => usize::MAX,
    };
    let rbuf = engine.read_buf();
    let polled =
        tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut BufMut::limit(&mut *rbuf, max_read));
    match polled {
        Poll::Ready(Ok(0)) if rbuf.len() == before => Poll::Ready(Ok(Event::Eof)),
        Poll::Ready(Ok(n)) => Poll::Ready(Ok(Event::Read(n))),
        Poll::Ready(Err(e)) => Poll::Ready(Err((Error::from(e), Disposal::Drop))),
        Poll::Pending => {
            if rbuf.is_empty() {
                // Nothing to parse while waiting: lend the buffer back to the thread
                // (see `scratch`).
                scratch::give_back(std::mem::take(rbuf));
            }
            Poll::Pending
        }
    }
}
