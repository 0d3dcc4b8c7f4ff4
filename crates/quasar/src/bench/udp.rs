//! The engine of one UDP socket: datagrams with sequence numbers, replies matched by number.
//!
//! Each task owns a socket connected to the server (so the kernel filters out strangers and
//! reports ICMP errors). A request is one datagram of `--size` bytes with no `\n`, so the line
//! echo answers it with the identical bytes. Datagrams may be lost or reordered, so replies are
//! matched by the sequence number they carry rather than by arrival order, and a request with no
//! reply after `--timeout` is counted lost (checked every half timeout) and frees its pipeline
//! slot. Unlike TCP, a bad reply does not stop the socket: the next datagram does not depend on
//! it.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::UdpSocket;

use crate::bench::pacing::Pacing;
use crate::bench::payload::Payload;
use crate::bench::runner::WorkerCtx;
use crate::bench::stats::ErrorKind;

/// Largest datagram the socket accepts; bigger replies would be truncated by the kernel.
const MAX_DATAGRAM: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u64,
    intended: Instant,
    sent: Instant,
}

/// Drives the UDP echo load over `socket` until the run's drain deadline.
pub(crate) async fn run_udp(socket: UdpSocket, id: u32, ctx: Rc<WorkerCtx>) {
    let schedule = ctx.schedule;
    let progress = &*ctx.progress;
    let pipeline = ctx.cfg.pipeline as usize;
    let timeout = ctx.cfg.timeout;
    let pacing = Pacing::new(ctx.cfg.rate, schedule.start, id, ctx.cfg.connections);
    let payload = Payload::new(ctx.cfg.size, false, u64::from(id));

    let mut sbuf = Vec::with_capacity(payload.size());
    let mut rbuf = vec![0u8; MAX_DATAGRAM];
    let mut outstanding: VecDeque<Sent> = VecDeque::with_capacity(pipeline);
    let mut next_send = 0u64;
    let mut loss_check = schedule.start + timeout / 2;

    let Some(mut timer) = ctx.timer(format_args!("socket {id}")) else {
        return;
    };

    loop {
        // Before the check below, so a budget spent in between still wakes this task.
        let spent = ctx.budget.spent_signal();
        let now = Instant::now();
        let mut lost = 0;
        while outstanding
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.sent) >= timeout)
        {
            outstanding.pop_front();
            lost += 1;
        }
        if lost > 0 {
            ctx.stats.borrow_mut().error(
                progress,
                ErrorKind::Timeout,
                lost,
                format_args!("socket {id}: {lost} datagrams got no reply within {timeout:?}"),
            );
        }

        let sending = ctx.sending(now);
        if sending {
            while let Some(due) = ctx.send_due(&pacing, next_send, outstanding.len(), now) {
                sbuf.clear();
                payload.write_to(next_send, &mut sbuf);
                if let Err(e) = socket.send(&sbuf).await {
                    ctx.stats.borrow_mut().error(
                        progress,
                        ErrorKind::Io,
                        1,
                        format_args!("socket {id}: send: {e}"),
                    );
                    return;
                }
                outstanding.push_back(Sent {
                    seq: next_send,
                    intended: due,
                    sent: now,
                });
                next_send += 1;
            }
        } else if outstanding.is_empty()
            || ctx.drain_expired(format_args!("socket {id}"), outstanding.len(), now)
        {
            return;
        }

        let mut wake = ctx.next_wake(&pacing, next_send, outstanding.len(), now);
        // Wake for lost datagrams on a coarse beat (half the timeout), not at each datagram's own
        // deadline: that would re-arm the timer, a syscall, on every request.
        if now >= loss_check {
            loss_check = now + timeout / 2;
        }
        if !outstanding.is_empty() {
            wake = wake.min(loss_check);
        }
        if !ctx.arm(&mut timer, wake, format_args!("socket {id}")) {
            return;
        }

        tokio::select! {
            biased;
            received = socket.recv(&mut rbuf) => match received {
                Ok(n) => check_datagram(&payload, &rbuf[..n], &mut outstanding, id, &ctx),
                Err(e) => {
                    ctx.stats.borrow_mut().error(progress, ErrorKind::Io, 1, format_args!("socket {id}: receive: {e}"));
                    return;
                }
            },
            () = timer.fired() => {}
            () = spent, if sending && ctx.budget.limit().is_some() => {}
        }
    }
}

/// Matches one reply datagram to its outstanding request and checks its bytes.
fn check_datagram(
    payload: &Payload,
    datagram: &[u8],
    outstanding: &mut VecDeque<Sent>,
    id: u32,
    ctx: &WorkerCtx,
) {
    let now = Instant::now();
    let mut stats = ctx.stats.borrow_mut();
    let Some(seq) = Payload::seq_of(datagram) else {
        stats.error(
            &ctx.progress,
            ErrorKind::Mismatch,
            1,
            format_args!(
                "socket {id}: a {}-byte reply carries no sequence number",
                datagram.len()
            ),
        );
        return;
    };
    // On loopback the reply is almost always to the oldest request; search only when not.
    let index = match outstanding.front() {
        Some(front) if front.seq == seq => Some(0),
        _ => outstanding.iter().position(|s| s.seq == seq),
    };
    let Some(index) = index else {
        stats.error(
            &ctx.progress,
            ErrorKind::Unexpected,
            1,
            format_args!("socket {id}: reply to request {seq}, which is not outstanding (late, duplicated or never sent)"),
        );
        return;
    };
    let sent = outstanding.remove(index).expect("index found above");
    match payload.check(seq, datagram) {
        Ok(()) => {
            stats.record(
                &ctx.schedule,
                &ctx.budget,
                now,
                sent.intended,
                sent.sent,
                datagram.len(),
            );
            ctx.progress.completed.fetch_add(1, Ordering::Relaxed);
        }
        Err(m) => stats.error(
            &ctx.progress,
            ErrorKind::Mismatch,
            1,
            format_args!(
                "socket {id}, request {seq}: reply of {} bytes differs from the request at byte {}",
                m.got_len, m.offset
            ),
        ),
    }
}
