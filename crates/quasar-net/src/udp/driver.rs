//! The task that serves one bound socket: receive a batch, hand each datagram to the
//! consumer (hooks and counters around it), send the queued replies in one go, repeat.
//!
//! Per batch the loop makes one receive and one send syscall on the batched path (plus
//! one `EAGAIN` receive per drain on the portable path, as any tokio UDP loop does).
//! Shared counters and the session's hooks are touched once per batch, not per datagram,
//! unless hooks are registered.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::amplification::ReplyBudget;
use super::batch::{self, RecvMeta, BATCH_MAX};
use super::consumer::{BoxReply, DatagramConsumer, DatagramConsumerFactory, DatagramContext};
use super::info::{LocalStats, Stats};
use super::queue::OutQueue;
use super::{Reply, SocketInfo};
use crate::connection::shutdown::Shutdown;
use crate::connection::signal::Signal;
use crate::hooks::{DataEvent, Hooks, RequestEvent};
use crate::{Error, Producer, Result};

/// How long a loop waits after a receive error before trying again, so a persistent
/// error (a socket in a bad state) logs a few lines a second instead of spinning.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// The server-wide `max_requests`: datagrams handed to consumers, across all sockets.
#[derive(Debug)]
pub(crate) struct Limit {
    pub(crate) max: u64,
    pub(crate) claimed: AtomicU64,
    /// Cancelled by the loop that handled the last allowed datagram.
    pub(crate) reached: Signal,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopConfig {
    pub(crate) max_datagram_size: usize,
    pub(crate) batch_size: usize,
    pub(crate) max_pending: usize,
    pub(crate) gso: bool,
    /// Anti-amplification: most datagrams / byte ratio per received datagram (0 = off).
    pub(crate) max_replies: usize,
    pub(crate) reply_ratio: usize,
}

impl LoopConfig {
    fn reply_budget(&self, request_len: usize) -> ReplyBudget {
        ReplyBudget::new(self.max_replies, self.reply_ratio, request_len)
    }
}

/// Everything a socket loop needs, shared by all loops of a server.
pub(crate) struct LoopCtx<F> {
    pub(crate) factory: Arc<F>,
    pub(crate) producer: Producer,
    pub(crate) stats: Arc<Stats>,
    pub(crate) limit: Option<Arc<Limit>>,
    pub(crate) config: LoopConfig,
    pub(crate) shutdown: Shutdown,
}

// ===== Transport =====

/// A bound socket and the I/O path chosen for it.
#[derive(Debug)]
pub(crate) enum Transport {
    /// `recv_from`/`send_to`, one datagram per syscall; every platform.
    Portable(tokio::net::UdpSocket),
    /// `recvmmsg`/`sendmmsg` (Linux).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Batched(tokio::io::unix::AsyncFd<std::net::UdpSocket>),
}

impl Transport {
    /// Registers `socket` with the current runtime. Must run on the runtime that will
    /// drive the loop.
    pub(crate) fn new(socket: std::net::UdpSocket, batching: bool) -> io::Result<Transport> {
        socket.set_nonblocking(true)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if batching {
            return Ok(Transport::Batched(batch::register(socket)?));
        }
        let _ = batching;
        Ok(Transport::Portable(tokio::net::UdpSocket::from_std(
            socket,
        )?))
    }

    /// Waits for datagrams and receives up to `metas.len()` of them (at least one).
    ///
    /// Cancel safe: the only await is the readiness wait; receiving is synchronous.
    async fn recv(
        &self,
        bufs: &mut [u8],
        stride: usize,
        metas: &mut [RecvMeta],
    ) -> io::Result<usize> {
        match self {
            Transport::Portable(sock) => loop {
                sock.readable().await?;
                let mut n = 0;
                while n < metas.len() {
                    match sock.try_recv_from(&mut bufs[n * stride..(n + 1) * stride]) {
                        Ok((len, peer)) => {
                            metas[n] = RecvMeta {
                                len,
                                peer,
                                // The slot is one byte longer than the largest datagram
                                // allowed, so `len > max` tells an oversize one.
                                truncated: false,
                            };
                            n += 1;
                        }
                        Err(e) if batch::is_would_block(&e) => break,
                        Err(e) if n == 0 => return Err(e),
                        Err(_) => break,
                    }
                }
                if n > 0 {
                    return Ok(n);
                }
            },
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Transport::Batched(fd) => loop {
                let mut guard = fd.readable().await?;
                match guard.try_io(|s| {
                    batch::recv(std::os::fd::AsFd::as_fd(s.get_ref()), bufs, stride, metas)
                }) {
                    Ok(Ok(n)) => {
                        // A short batch means the queue was empty when the kernel looked:
                        // forget the readiness now instead of paying an EAGAIN next time.
                        // (The guard's tick makes this race-free against new arrivals.)
                        if n < metas.len().min(BATCH_MAX) {
                            guard.clear_ready();
                        }
                        return Ok(n);
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_would_block) => continue,
                }
            },
        }
    }

    /// Sends everything queued, waiting for buffer space when the socket is full. A
    /// datagram that fails is counted as an error and skipped. `gso` lets the batched
    /// path merge runs of equal-size replies to one peer.
    async fn flush(&self, out: &mut OutQueue, local: &mut LocalStats, gso: bool) {
        while !out.is_empty() {
            match self {
                Transport::Portable(sock) => {
                    let (data, peer) = out.get(0);
                    match sock.try_send_to(data, peer) {
                        Ok(_) => {
                            local.sent += 1;
                            out.advance(1);
                        }
                        Err(e) if batch::is_would_block(&e) => {
                            if let Err(e) = sock.writable().await {
                                drop_all(out, local, &e);
                            }
                        }
                        Err(e) => {
                            send_failed(&e, peer, local);
                            out.advance(1);
                        }
                    }
                }
                #[cfg(any(target_os = "linux", target_os = "android"))]
                Transport::Batched(fd) => {
                    let mut guard = match fd.writable().await {
                        Ok(g) => g,
                        Err(e) => {
                            drop_all(out, local, &e);
                            continue;
                        }
                    };
                    let q = &*out;
                    let res = guard.try_io(|s| {
                        batch::send(std::os::fd::AsFd::as_fd(s.get_ref()), gso, q.len(), |i| {
                            let (data, peer) = q.get(i);
                            (data, Some(peer))
                        })
                    });
                    match res {
                        Ok(Ok(n)) if n > 0 => {
                            local.sent += n as u64;
                            out.advance(n);
                        }
                        // sendmmsg reports the first datagram's failure as the call's.
                        Ok(Ok(_)) => out.advance(1),
                        Ok(Err(e)) => {
                            send_failed(&e, out.get(0).1, local);
                            out.advance(1);
                        }
                        Err(_would_block) => {}
                    }
                }
            }
        }
    }
}

fn send_failed(e: &io::Error, peer: SocketAddr, local: &mut LocalStats) {
    local.errors += 1;
    tracing::debug!(%peer, error = %e, "udp send failed; datagram dropped");
}

fn drop_all(out: &mut OutQueue, local: &mut LocalStats, e: &io::Error) {
    local.errors += out.len() as u64;
    tracing::warn!(error = %e, dropped = out.len(), "udp socket not writable; replies dropped");
    out.advance(out.len());
}

// ===== PendingReply =====

/// A spawned reply and the datagram it answers.
struct PendingReply {
    request: u64,
    peer: SocketAddr,
    /// The anti-amplification budget left after the replies queued synchronously.
    budget: ReplyBudget,
    fut: BoxReply,
}

impl Future for PendingReply {
    type Output = (u64, SocketAddr, ReplyBudget, Result<Reply>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.fut
            .as_mut()
            .poll(cx)
            .map(|r| (this.request, this.peer, this.budget.clone(), r))
    }
}

// ===== SocketLoop =====

/// The state of one socket's loop.
struct SocketLoop<F: DatagramConsumerFactory> {
    info: SocketInfo,
    ctx: Arc<LoopCtx<F>>,
    consumer: F::Consumer,
    hooks: Arc<Hooks>,
    wants_requests: bool,
    wants_data: bool,
    /// `batch_size` slots of `max_datagram_size + 1` bytes.
    bufs: Vec<u8>,
    stride: usize,
    metas: Vec<RecvMeta>,
    out: OutQueue,
    pending: FuturesUnordered<PendingReply>,
    /// Datagrams handed to the consumer on this socket.
    requests: u64,
    local: LocalStats,
    /// The server's `max_requests` was reached: read no more.
    limited: bool,
}

/// Serves `transport` until the server closes.
pub(crate) async fn serve<F: DatagramConsumerFactory>(
    transport: Transport,
    info: SocketInfo,
    ctx: Arc<LoopCtx<F>>,
) {
    let consumer = ctx.factory.build(&info);
    let hooks = Arc::clone(ctx.producer.hooks());
    let cfg = ctx.config;
    let stride = cfg.max_datagram_size + 1;
    let batch_size = cfg.batch_size.clamp(1, BATCH_MAX);
    let mut lp = SocketLoop {
        info,
        consumer,
        wants_requests: hooks.wants_requests(),
        wants_data: hooks.wants_data(),
        hooks,
        // Zeroed allocation: pages are mapped as datagrams first touch them, so a large
        // `max_datagram_size` costs address space, not memory, until used.
        bufs: vec![0u8; stride * batch_size],
        stride,
        metas: vec![RecvMeta::default(); batch_size],
        out: OutQueue::default(),
        pending: FuturesUnordered::new(),
        requests: 0,
        local: LocalStats::default(),
        limited: false,
        ctx,
    };
    tracing::debug!(session = lp.info.session, addr = %lp.info.local_addr, worker = lp.info.worker, "udp socket serving");
    lp.run(&transport).await;
    lp.drain(&transport).await;
    tracing::debug!(session = lp.info.session, "udp socket closed");
}

impl<F: DatagramConsumerFactory> SocketLoop<F> {
    async fn run(&mut self, transport: &Transport) {
        let drain = self.ctx.shutdown.drain.clone();
        loop {
            if self.limited && self.pending.is_empty() {
                // Everything allowed was handled; the server's close (already started by
                // whoever reached the limit) finishes the job.
                drain.cancelled().await;
                return;
            }
            // Bound outstanding spawned replies: read only as many datagrams as could
            // each spawn one more.
            let room = self
                .ctx
                .config
                .max_pending
                .saturating_sub(self.pending.len())
                .min(self.metas.len());
            let can_read = room > 0 && !self.limited;
            let stride = self.stride;
            tokio::select! {
                biased;
                _ = drain.cancelled() => return,
                Some(done) = self.pending.next(), if !self.pending.is_empty() => {
                    self.finish_spawned(done);
                }
                r = transport.recv(&mut self.bufs, stride, &mut self.metas[..room]), if can_read => {
                    match r {
                        Ok(n) => self.handle_batch(n),
                        Err(e) => {
                            self.local.errors += 1;
                            tracing::warn!(addr = %self.info.local_addr, error = %e, "udp receive failed");
                            tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                        }
                    }
                }
            }
            transport
                .flush(&mut self.out, &mut self.local, self.ctx.config.gso)
                .await;
            self.ctx.stats.add(&mut self.local);
        }
    }

    /// After the drain began: send what is queued, let spawned replies finish until the
    /// abort, then drop the rest.
    async fn drain(&mut self, transport: &Transport) {
        transport
            .flush(&mut self.out, &mut self.local, self.ctx.config.gso)
            .await;
        let abort = self.ctx.shutdown.abort.clone();
        while !self.pending.is_empty() {
            tokio::select! {
                biased;
                _ = abort.cancelled() => {
                    let forced = self.pending.len() as u64;
                    self.ctx.stats.forced.fetch_add(forced, Ordering::Relaxed);
                    self.ctx.stats.pending.fetch_sub(forced, Ordering::Relaxed);
                    self.pending.clear();
                }
                Some(done) = self.pending.next() => {
                    self.finish_spawned(done);
                    self.ctx.stats.finished_in_flight.fetch_add(1, Ordering::Relaxed);
                    transport.flush(&mut self.out, &mut self.local, self.ctx.config.gso).await;
                }
            }
        }
        self.ctx.stats.add(&mut self.local);
    }

    fn handle_batch(&mut self, n: usize) {
        let max = self.ctx.config.max_datagram_size;
        let mut started = 0;
        for i in 0..n {
            let RecvMeta {
                len,
                peer,
                truncated,
            } = self.metas[i];
            self.local.received += 1;
            if truncated || len > max {
                self.local.oversize += 1;
                self.ctx.producer.abuse().record(
                    crate::AbuseKind::OversizeDatagram,
                    1,
                    Some(peer),
                    format_args!(
                        "datagram of at least {len} bytes over max_datagram_size {max} dropped"
                    ),
                );
                continue;
            }
            if let Some(limit) = &self.ctx.limit {
                let claimed = limit.claimed.fetch_add(1, Ordering::AcqRel) + 1;
                if claimed > limit.max {
                    // Another socket handled the last allowed datagram.
                    self.limited = true;
                    break;
                }
                if claimed == limit.max {
                    tracing::info!(limit = limit.max, "reached max_requests; stop serving");
                    self.limited = true;
                    limit.reached.cancel();
                }
            }
            started += 1;
            self.handle_datagram(i * self.stride, len, peer);
            if self.limited {
                break;
            }
        }
        self.ctx.producer.add_requests(started);
    }

    fn handle_datagram(&mut self, start: usize, len: usize, peer: SocketAddr) {
        self.requests += 1;
        let request = self.requests;
        let session = self.info.session;
        let data = &self.bufs[start..start + len];
        if self.wants_requests {
            let ev = RequestEvent {
                session,
                peer,
                request,
                error: None,
            };
            if let Err(err) = self.hooks.fire_pre_request(&ev) {
                // Aborted: the consumer never sees the datagram.
                self.hooks.fire_post_request(&RequestEvent {
                    error: Some(&err),
                    ..ev
                });
                return;
            }
        }
        if self.wants_data {
            self.hooks.fire_data_received(&DataEvent { session, data });
        }
        let mut spawned = None;
        let mark = self.out.mark();
        let result = {
            let mut cx =
                DatagramContext::new(&self.info, peer, request, &mut self.out, &mut spawned);
            self.consumer.datagram_received(&mut cx, data, peer)
        };
        let mut budget = self.ctx.config.reply_budget(len);
        // What the synchronous replies spend is gone for a spawned one.
        let dropped = self.out.cap_since(mark, &mut budget);
        if dropped > 0 {
            // `data` still borrows the receive slots: only these two fields are touched.
            replies_dropped(&mut self.local, &self.ctx.producer, peer, dropped);
        }
        if self.wants_data {
            self.hooks.fire_data_processed(&DataEvent { session, data });
        }
        match (result, spawned) {
            (Ok(()), Some(fut)) => {
                self.ctx.stats.pending.fetch_add(1, Ordering::Relaxed);
                self.pending.push(PendingReply {
                    request,
                    peer,
                    budget,
                    fut,
                });
            }
            (Ok(()), None) => self.post_request(request, peer, None),
            // A spawned future is dropped with the failed request.
            (Err(err), _) => {
                self.local.errors += 1;
                tracing::debug!(%peer, error = %err, "datagram consumer failed");
                self.post_request(request, peer, Some(&err));
            }
        }
    }

    fn finish_spawned(
        &mut self,
        (request, peer, mut budget, result): (u64, SocketAddr, ReplyBudget, Result<Reply>),
    ) {
        self.ctx.stats.pending.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(reply) => {
                let mut failed = None;
                let mut dropped = 0;
                for (data, to) in reply.into_datagrams() {
                    if !budget.take(data.len()) {
                        dropped += 1;
                        continue;
                    }
                    if let Err(e) = self.out.push(&data, to.unwrap_or(peer)) {
                        self.local.errors += 1;
                        failed = Some(e);
                    }
                }
                if dropped > 0 {
                    replies_dropped(&mut self.local, &self.ctx.producer, peer, dropped);
                }
                self.post_request(request, peer, failed.as_ref());
            }
            Err(err) => {
                self.local.errors += 1;
                tracing::debug!(%peer, error = %err, "spawned datagram reply failed");
                self.post_request(request, peer, Some(&err));
            }
        }
    }

    fn post_request(&self, request: u64, peer: SocketAddr, error: Option<&Error>) {
        if self.wants_requests {
            self.hooks.fire_post_request(&RequestEvent {
                session: self.info.session,
                peer,
                request,
                error,
            });
        }
    }
}

/// Counts (and logs, rate-limited) replies the anti-amplification cap dropped.
fn replies_dropped(local: &mut LocalStats, producer: &Producer, peer: SocketAddr, dropped: usize) {
    local.replies_dropped += dropped as u64;
    producer.abuse().record(
        crate::AbuseKind::RepliesDropped,
        dropped as u64,
        Some(peer),
        "udp replies over the amplification cap dropped",
    );
}
