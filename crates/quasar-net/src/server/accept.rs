//! Listening sockets and the accept loop.
//!
//! The loop takes a connection permit *before* accepting, so a server at its connection
//! limit leaves new connections in the kernel's backlog instead of accepting and dropping
//! them. Accept errors that concern one connection (reset before accept) are skipped;
//! others (EMFILE, ENFILE, ENOBUFS) back off exponentially up to a second, so running
//! out of descriptors never spins a core.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::tracker::Tracker;
use crate::connection::clock::now;
use crate::connection::driver::Driver;
use crate::connection::shutdown::{Ended, Shutdown};
use crate::engine::{Engine, Role};
use crate::transport::Acceptor;
use crate::{Connection, ConnectionConfig, ConsumerFactory, Error, Producer, Result};

const BACKOFF_START: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one "max_connections reached" warning per server in this interval: a server
/// held at its limit would otherwise log once per freed permit.
const LIMIT_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Binds a listening socket with the options every server wants.
pub(crate) fn bind(
    addr: SocketAddr,
    backlog: u32,
    reuse_port: bool,
) -> Result<std::net::TcpListener> {
    let make = || -> io::Result<std::net::TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        if reuse_port {
            socket.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog.min(i32::MAX as u32) as i32)?;
        Ok(socket.into())
    };
    make().map_err(|e| Error::new_bind(addr, e))
}

/// Everything an accept loop needs, shared by all workers.
pub(crate) struct AcceptCtx<F, A> {
    pub(crate) factory: Arc<F>,
    pub(crate) acceptor: Arc<A>,
    pub(crate) config: Arc<ConnectionConfig>,
    pub(crate) producer: Producer,
    pub(crate) tracker: Arc<Tracker>,
    pub(crate) stop_accepting: CancellationToken,
    pub(crate) limit: Option<Arc<Semaphore>>,
    /// The `max_connections` behind `limit`, for the warning.
    pub(crate) limit_max: usize,
    /// Stop accepting once this many sessions were made (0 = never).
    pub(crate) max_sessions: u64,
    /// Fired when `max_sessions` is reached, to start the server's drain.
    pub(crate) on_limit: CancellationToken,
    pub(crate) overflow: super::OverflowPolicy,
    pub(crate) max_queue_time: Duration,
    /// Slots for accepted connections waiting for a `limit` permit (policy `wait` with
    /// a queue-time limit).
    pub(crate) queue: Option<Arc<Semaphore>>,
    /// Refusals in progress (see `shed::MAX_REJECTING`).
    pub(crate) rejecting: Arc<Semaphore>,
    /// Whether each connection's task carries the accepting span around its polls. Not on
    /// a worker's own thread, where that span is entered for the thread's whole life.
    pub(crate) span_per_task: bool,
}

/// How an accepted connection gets (or does not get) its slot.
enum Slot {
    /// No limit, or a permit taken before accepting.
    Ready(Option<OwnedSemaphorePermit>),
    /// Wait for a permit up to the queue time, holding this queue slot meanwhile.
    Queued(OwnedSemaphorePermit),
    /// At the limit under `reject`.
    Refuse,
}

pub(crate) async fn accept_loop<F: ConsumerFactory, A: Acceptor>(
    listener: TcpListener,
    ctx: Arc<AcceptCtx<F, A>>,
) {
    let mut backoff = BACKOFF_START;
    loop {
        // Before accepting: a slot (or a queue slot) to wait for, unless the policy
        // is to refuse, which needs the connection accepted first.
        let wait_for = match (&ctx.limit, &ctx.queue, ctx.overflow) {
            (None, _, _) | (Some(_), _, super::OverflowPolicy::Reject) => None,
            (Some(_), Some(queue), _) => Some((queue, true)),
            (Some(limit), None, _) => Some((limit, false)),
        };
        let mut slot = match wait_for {
            Some((sem, queued)) => {
                if sem.available_permits() == 0 && !queued {
                    note_limit_reached(&ctx);
                }
                tokio::select! {
                // Once closing, stop: never take a permit or a connection after it.
                biased;
                _ = ctx.stop_accepting.cancelled() => break,
                p = Arc::clone(sem).acquire_owned() => match p {
                    Ok(p) if queued => Slot::Queued(p),
                    Ok(p) => Slot::Ready(Some(p)),
                    Err(_) => break,
                },
                }
            }
            None => Slot::Ready(None),
        };
        let accepted = tokio::select! {
            // A connection waiting in the backlog when the close began is not accepted
            // (an unbiased select would take it half the time, and serve it).
            biased;
            _ = ctx.stop_accepting.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = BACKOFF_START;
                pair
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                ctx.tracker.accept_backoffs.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = ctx.stop_accepting.cancelled() => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if let (Some(limit), super::OverflowPolicy::Reject) = (&ctx.limit, ctx.overflow) {
            slot = match Arc::clone(limit).try_acquire_owned() {
                Ok(p) => Slot::Ready(Some(p)),
                Err(_) => Slot::Refuse,
            };
        }
        let permit = match slot {
            Slot::Ready(p) => p,
            Slot::Refuse => {
                note_limit_reached(&ctx);
                refuse(stream, peer, &ctx, crate::AbuseKind::Rejected);
                continue;
            }
            Slot::Queued(queue_slot) => {
                // A slot now, or wait for one in the connection's own task.
                if let Some(p) = ctx
                    .limit
                    .as_ref()
                    .and_then(|l| Arc::clone(l).try_acquire_owned().ok())
                {
                    drop(queue_slot);
                    Some(p)
                } else {
                    note_limit_reached(&ctx);
                    let ctx2 = Arc::clone(&ctx);
                    let span = tracing::Span::current();
                    let wait = ctx.tracker.tasks.track_future(async move {
                        let Some(limit) = ctx2.limit.clone() else { return };
                        let got = tokio::select! {
                            biased;
                            _ = ctx2.stop_accepting.cancelled() => return,
                            r = tokio::time::timeout(ctx2.max_queue_time, limit.acquire_owned()) => r,
                        };
                        drop(queue_slot);
                        match got {
                            // At the session limit this stops the accept loop itself
                            // (through `stop_accepting`).
                            Ok(Ok(p)) => {
                                start_connection(stream, peer, &ctx2, Some(p));
                            }
                            _ => refuse(stream, peer, &ctx2, crate::AbuseKind::QueueTimeout),
                        }
                    });
                    tokio::spawn(tracing::Instrument::instrument(wait, span));
                    continue;
                }
            }
        };
        if start_connection(stream, peer, &ctx, permit) {
            break;
        }
    }
}

/// Counts a connection that found `max_connections` open, with a warning at most once per
/// `LIMIT_WARN_INTERVAL`. With workers, a permit may be held by another worker's loop that
/// is still waiting in accept: only open connections make the limit reached.
fn note_limit_reached<F, A>(ctx: &AcceptCtx<F, A>) {
    if ctx.tracker.connected() < ctx.limit_max as u64 {
        return;
    }
    let waits = ctx.tracker.limit_waits.fetch_add(1, Ordering::Relaxed) + 1;
    if ctx.tracker.limit_warning_due(LIMIT_WARN_INTERVAL) {
        tracing::warn!(
            max_connections = ctx.limit_max,
            waits,
            policy = ?ctx.overflow,
            "max_connections reached"
        );
    }
}

/// Serves an accepted connection that has its slot, in its own task. Returns whether
/// the server's session limit was reached (stop accepting).
fn start_connection<F: ConsumerFactory, A: Acceptor>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    ctx: &Arc<AcceptCtx<F, A>>,
    permit: Option<OwnedSemaphorePermit>,
) -> bool {
    {
        let local = stream.local_addr().unwrap_or(peer);
        let session = ctx.producer.next_session();
        let conn = Connection::new(session, peer, local);
        ctx.tracker.enter(&conn);
        let tracker = Arc::clone(&ctx.tracker);
        let last = ctx.max_sessions > 0 && session >= ctx.max_sessions;
        let mut shutdown = tracker.shutdown.clone();
        if last {
            // pulsar: the connection that reached the limit is still served, for one
            // exchange. The drain its own arrival starts must not close it before its
            // first byte (drained connections that never spoke close at once); the
            // server's deadline still aborts it.
            shutdown.drain = Default::default();
        }
        let ctx2 = Arc::clone(ctx);
        let abort = shutdown.abort.clone();
        let task = ctx.tracker.tasks.track_future(async move {
            match serve_accepted(stream, conn.clone(), &ctx2, shutdown, last).await {
                Ended::Forced => {
                    tracker.forced.fetch_add(1, Ordering::Relaxed);
                }
                Ended::Detached(released) => {
                    // A detached socket is still this server's connection: counted, and
                    // waited for by a close, until its new owner drops it (or the
                    // close's deadline passes: the owner keeps the socket, uncounted).
                    tokio::select! {
                        _ = released => {}
                        () = abort.cancelled() => {}
                    }
                }
                Ended::Normally => {}
            }
            tracker.leave(&conn);
            drop(permit);
        });
        // On the caller's runtime the connection's task inherits the span the server was
        // started in, so its log lines carry it (a worker's thread is in its span already).
        let span = tracing::Span::current();
        if ctx.span_per_task && !span.is_none() {
            tokio::spawn(tracing::Instrument::instrument(task, span));
        } else {
            tokio::spawn(task);
        }
        if ctx.max_sessions > 0 && session >= ctx.max_sessions {
            // pulsar: the connection that reached the limit is still served.
            tracing::info!(
                limit = ctx.max_sessions,
                "reached maximum number of connections; stop serving"
            );
            ctx.stop_accepting.cancel();
            ctx.on_limit.cancel();
            return true;
        }
        false
    }
}

/// Refuses an accepted connection with the factory's busy reply, in its own task
/// (bounded; see `shed`), or resets it when too many refusals are in progress.
fn refuse<F: ConsumerFactory, A: Acceptor>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    ctx: &Arc<AcceptCtx<F, A>>,
    kind: crate::AbuseKind,
) {
    let what = match kind {
        crate::AbuseKind::QueueTimeout => "connection refused: no slot within max_queue_time",
        _ => "connection refused: max_connections reached",
    };
    ctx.producer.abuse().record(kind, 1, Some(peer), what);
    let Ok(permit) = Arc::clone(&ctx.rejecting).try_acquire_owned() else {
        super::shed::reset(stream);
        return;
    };
    let ctx2 = Arc::clone(ctx);
    tokio::spawn(ctx.tracker.tasks.track_future(async move {
        super::shed::refuse(stream, &*ctx2.acceptor, ctx2.factory.busy_reply()).await;
        drop(permit);
    }));
}

/// Runs the acceptor's handshake (bounded by the handshake timeout and cut short by the
/// server's abort), then the connection, all in the connection's own task.
async fn serve_accepted<F: ConsumerFactory, A: Acceptor>(
    stream: tokio::net::TcpStream,
    conn: Connection,
    ctx: &AcceptCtx<F, A>,
    shutdown: Shutdown,
    last: bool,
) -> Ended {
    let limit = ctx.config.handshake_timeout;
    let handshake = async {
        if limit.is_zero() {
            ctx.acceptor.accept(stream).await
        } else {
            tokio::time::timeout(limit, ctx.acceptor.accept(stream))
                .await
                .unwrap_or_else(|_| {
                    ctx.producer.abuse().record(
                        crate::AbuseKind::HandshakeTimeout,
                        1,
                        Some(conn.address()),
                        "transport handshake timed out",
                    );
                    Err(Error::timeout("transport handshake"))
                })
        }
    };
    let io = tokio::select! {
        io = handshake => io,
        () = shutdown.abort.cancelled() => Err(Error::closed("server closed during the handshake")),
    };
    let io = match io {
        Ok(io) => io,
        Err(err) => {
            tracing::debug!(session = conn.session(), peer = %conn.address(), error = %err, "handshake failed");
            conn.shared().mark_closed();
            let _ = conn.connection_lost().fire(Err(err));
            return Ended::Normally;
        }
    };
    let mut engine = Engine::new(
        conn,
        Arc::clone(&ctx.factory),
        Arc::clone(&ctx.config),
        ctx.producer.clone(),
        Role::Server,
        now(),
    );
    if last {
        engine.close_after_exchange();
    }
    Driver::new(io, engine, None).run(shutdown).await
}

/// Errors that concern the one connection being accepted, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
