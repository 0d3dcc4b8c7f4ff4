//! Memory mode: what an idle connection costs the server.
//!
//! `quasar bench echo --idle-connections N --server-pid P` reads the server's `VmRSS`, opens N
//! connections (a bounded number at a time, so the listen backlog never overflows), proves each
//! one live with a single verified echo (so the server has accepted it and set up its buffers,
//! as it would for a real client that then goes quiet), holds them all for `--duration`, reads
//! `VmRSS` again and reports the growth per connection. Raise `ulimit -n` on both sides first;
//! the tool raises its own soft limit to the hard limit.

use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bench::args::Config;
use crate::bench::payload::Payload;
use crate::bench::proc_stat;
use crate::bench::report::{IdleReport, ServerMemory};
use crate::bench::stats::{ErrorKind, Progress, WorkerStats};

/// Connections opened at once: well under the usual listen backlog of 1024.
const OPEN_AT_ONCE: usize = 256;

/// Longest wait for one connection to open and echo.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens `count` idle connections and measures the server's memory growth.
pub(crate) fn run_idle(cfg: &Config, count: u32) -> IdleReport {
    let limit = proc_stat::raise_open_file_limit();
    if u64::from(count) + 64 > limit {
        eprintln!(
            "quasar bench: the open-file limit is {limit}; {count} connections may not all open (raise ulimit -n)"
        );
    }
    let rss_before = cfg.server_pid.and_then(|pid| proc_stat::rss_kib(pid).ok());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread runtime");
    let progress = Progress::default();
    let mut stats = WorkerStats::new();
    let bar = if cfg.progress && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(u64::from(count))
    } else {
        ProgressBar::hidden()
    };

    let payload = Payload::new(cfg.size, !cfg.raw, 0);
    let mut held: Vec<TcpStream> = Vec::with_capacity(count as usize);
    let hold_started = runtime.block_on(async {
        let ids: Vec<u32> = (0..count).collect();
        for chunk in ids.chunks(OPEN_AT_ONCE) {
            let opened = futures_util::future::join_all(
                chunk.iter().map(|&id| open_and_echo(cfg, &payload, id)),
            )
            .await;
            for (&id, result) in chunk.iter().zip(opened) {
                match result {
                    Ok(stream) => held.push(stream),
                    Err((kind, message)) => stats.error(
                        &progress,
                        kind,
                        1,
                        format_args!("connection {id}: {message}"),
                    ),
                }
            }
            bar.set_position(held.len() as u64);
        }
        let started = Instant::now();
        tokio::time::sleep(cfg.duration).await;
        started
    });
    let hold_secs = hold_started.elapsed().as_secs_f64();
    let rss_after = cfg.server_pid.and_then(|pid| proc_stat::rss_kib(pid).ok());
    bar.finish_and_clear();
    let opened = held.len() as u32;
    drop(held);

    let server = match (cfg.server_pid, rss_before, rss_after) {
        (Some(pid), Some(before), Some(after)) => Some(ServerMemory {
            pid,
            rss_before_kib: before,
            rss_after_kib: after,
            rss_bytes_per_connection: (opened > 0)
                .then(|| (after as f64 - before as f64) * 1024.0 / f64::from(opened)),
        }),
        (Some(pid), _, _) => {
            eprintln!("quasar bench: cannot read VmRSS of process {pid}");
            None
        }
        _ => None,
    };
    IdleReport {
        mode: "idle",
        addr: cfg.addr_text.clone(),
        connections: count,
        opened,
        hold_secs,
        errors: stats.errors,
        error_samples: stats.samples,
        server,
    }
}

async fn open_and_echo(
    cfg: &Config,
    payload: &Payload,
    id: u32,
) -> Result<TcpStream, (ErrorKind, String)> {
    let attempt = async {
        let mut stream = TcpStream::connect(cfg.addr)
            .await
            .map_err(|e| (ErrorKind::Connect, format!("connect: {e}")))?;
        let io = |e: std::io::Error| (ErrorKind::Io, e.to_string());
        stream.set_nodelay(true).map_err(io)?;
        let mut request = Vec::with_capacity(payload.size());
        payload.write_to(u64::from(id), &mut request);
        stream.write_all(&request).await.map_err(io)?;
        let mut reply = vec![0u8; payload.size()];
        stream.read_exact(&mut reply).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                (ErrorKind::Eof, "server closed the connection".to_string())
            } else {
                io(e)
            }
        })?;
        payload.check(u64::from(id), &reply).map_err(|m| {
            (
                ErrorKind::Mismatch,
                format!("echo differs from the request at byte {}", m.offset),
            )
        })?;
        Ok(stream)
    };
    tokio::time::timeout(OPEN_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| {
            Err((
                ErrorKind::Timeout,
                format!("no echo within {OPEN_TIMEOUT:?}"),
            ))
        })
}
