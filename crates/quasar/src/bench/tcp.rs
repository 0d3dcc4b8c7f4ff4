//! The engine of one TCP connection: keep requests outstanding, verify replies in order.
//!
//! One task per connection owns its socket, a read buffer and a write buffer, both reused for
//! the whole run. Each turn of the loop queues every request that is due (closed loop: until
//! `--pipeline` are outstanding; open loop: those whose time has come, up to `--pipeline`),
//! writes them with one `write` call, and checks every whole reply that one `read` brought. Reads
//! and writes are polled together so a large pipelined batch cannot deadlock against a server
//! that is blocked writing its replies back.
//!
//! A connection stops at its first bad reply, socket error or end of stream: after a lost or
//! extra byte the rest of the stream cannot be matched to requests any more.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::bench::pacing::Pacing;
use crate::bench::runner::WorkerCtx;
use crate::bench::stats::ErrorKind;
use crate::bench::workload::{ReplyError, StreamWorkload};

/// When one outstanding request was meant to leave, and when it did.
#[derive(Debug, Clone, Copy)]
struct Sent {
    intended: Instant,
    sent: Instant,
}

/// Drives `workload` over a stream's read and write halves until the run's drain deadline.
pub(crate) async fn run_stream<W, R, S>(
    mut reader: R,
    mut writer: S,
    mut workload: W,
    id: u32,
    ctx: Rc<WorkerCtx>,
) where
    W: StreamWorkload,
    R: AsyncRead + Unpin,
    S: AsyncWrite + Unpin,
{
    let schedule = ctx.schedule;
    let progress = &*ctx.progress;
    let pipeline = ctx.cfg.pipeline as usize;
    let pacing = Pacing::new(ctx.cfg.rate, schedule.start, id, ctx.cfg.connections);

    let mut rbuf = vec![0u8; workload.read_buffer_size().max(1)];
    let mut filled = 0;
    let mut wbuf = Vec::with_capacity(workload.request_size() * pipeline);
    let mut written = 0;
    let mut outstanding: VecDeque<Sent> = VecDeque::with_capacity(pipeline);
    let (mut next_send, mut next_reply) = (0u64, 0u64);

    let Some(mut timer) = ctx.timer(format_args!("connection {id}")) else {
        return;
    };

    loop {
        // Before the check below, so a budget spent in between still wakes this task.
        let spent = ctx.budget.spent_signal();
        let now = Instant::now();
        let sending = ctx.sending(now);
        if sending {
            while let Some(due) = ctx.send_due(&pacing, next_send, outstanding.len(), now) {
                workload.write_request(next_send, &mut wbuf);
                outstanding.push_back(Sent {
                    intended: due,
                    sent: now,
                });
                next_send += 1;
            }
        } else if outstanding.is_empty()
            || ctx.drain_expired(format_args!("connection {id}"), outstanding.len(), now)
        {
            break;
        }

        let wake = ctx.next_wake(&pacing, next_send, outstanding.len(), now);
        if !ctx.arm(&mut timer, wake, format_args!("connection {id}")) {
            return;
        }

        tokio::select! {
            // Replies first: they free pipeline slots for the next requests.
            biased;
            read = reader.read(&mut rbuf[filled..]) => match read {
                Ok(0) => {
                    ctx.stats.borrow_mut().error(
                        progress,
                        ErrorKind::Eof,
                        1,
                        format_args!(
                            "connection {id}: server closed the connection with {} requests outstanding",
                            outstanding.len()
                        ),
                    );
                    break;
                }
                Ok(n) => {
                    filled += n;
                    let (consumed, ok) = check_replies(
                        &mut workload,
                        &rbuf[..filled],
                        &mut outstanding,
                        &mut next_reply,
                        id,
                        &ctx,
                    );
                    if !ok {
                        break;
                    }
                    // Keep the partial reply at the front; grow only when one reply does not fit.
                    rbuf.copy_within(consumed..filled, 0);
                    filled -= consumed;
                    if filled == rbuf.len() {
                        rbuf.resize(rbuf.len() * 2, 0);
                    }
                }
                Err(e) => {
                    ctx.stats.borrow_mut().error(progress, ErrorKind::Io, 1, format_args!("connection {id}: read: {e}"));
                    break;
                }
            },
            write = writer.write(&wbuf[written..]), if written < wbuf.len() => match write {
                Ok(n) => {
                    written += n;
                    if written == wbuf.len() {
                        wbuf.clear();
                        written = 0;
                    }
                }
                Err(e) => {
                    ctx.stats.borrow_mut().error(progress, ErrorKind::Io, 1, format_args!("connection {id}: write: {e}"));
                    break;
                }
            },
            () = timer.fired() => {}
            () = spent, if sending && ctx.budget.limit().is_some() => {}
        }
    }
}

/// Checks every whole reply at the front of `buf`; returns the bytes consumed and whether the
/// connection may go on.
fn check_replies<W: StreamWorkload>(
    workload: &mut W,
    buf: &[u8],
    outstanding: &mut VecDeque<Sent>,
    next_reply: &mut u64,
    id: u32,
    ctx: &WorkerCtx,
) -> (usize, bool) {
    let now = Instant::now();
    let mut stats = ctx.stats.borrow_mut();
    let mut pos = 0;
    let mut done = 0;
    let mut ok = true;
    while pos < buf.len() {
        let Some(sent) = outstanding.front().copied() else {
            stats.error(
                &ctx.progress,
                ErrorKind::Unexpected,
                1,
                format_args!(
                    "connection {id}: {} bytes arrived with no request outstanding",
                    buf.len() - pos
                ),
            );
            ok = false;
            break;
        };
        match workload.check_reply(*next_reply, &buf[pos..]) {
            Ok(Some(n)) => {
                stats.record(&ctx.schedule, &ctx.budget, now, sent.intended, sent.sent, n);
                outstanding.pop_front();
                *next_reply += 1;
                pos += n;
                done += 1;
            }
            Ok(None) => break,
            // Counted as an error, but framed: the next response starts right after it.
            Err(e @ ReplyError::Status { len, .. }) => {
                stats.error(
                    &ctx.progress,
                    e.kind(),
                    1,
                    format_args!("connection {id}, request {}: {e}", *next_reply),
                );
                outstanding.pop_front();
                *next_reply += 1;
                pos += len;
            }
            Err(e) => {
                stats.error(
                    &ctx.progress,
                    e.kind(),
                    1,
                    format_args!("connection {id}, request {}: {e}", *next_reply),
                );
                ok = false;
                break;
            }
        }
    }
    ctx.progress.completed.fetch_add(done, Ordering::Relaxed);
    (pos, ok)
}
