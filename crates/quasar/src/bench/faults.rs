//! `quasar bench --faults RATE`: client faults injected next to the measured load, for
//! soak runs (scripts/soak.sh). Each fault opens a connection of its own, so the
//! measured connections' figures stay clean; the kinds take turns:
//!
//! - **reset**: half a request, then an RST (`SO_LINGER` 0) mid-message;
//! - **half-close**: a whole request, then `shutdown(Write)`; the rest is read to EOF
//!   (the server must answer and close);
//! - **stall**: half a request, then nothing for [`STALL`] (the progress timeouts'
//!   business), then a plain close.
//!
//! The counts are printed after the report.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::args::{Config, Protocol};

/// How long a stalled fault connection stays silent.
pub(crate) const STALL: Duration = Duration::from_secs(5);

/// What the injector did.
#[derive(Debug, Default)]
pub(crate) struct FaultCounts {
    resets: AtomicU64,
    half_closes: AtomicU64,
    half_closes_answered: AtomicU64,
    stalls: AtomicU64,
    connect_errors: AtomicU64,
}

impl FaultCounts {
    /// One line for the report.
    pub(crate) fn line(&self) -> String {
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "faults: {} resets, {} half-closes ({} answered and closed), {} stalls of {}s, {} connect errors\n",
            c(&self.resets),
            c(&self.half_closes),
            c(&self.half_closes_answered),
            c(&self.stalls),
            STALL.as_secs(),
            c(&self.connect_errors)
        )
    }
}

/// A whole request of `protocol` and where to cut it in half.
fn request(protocol: Protocol) -> &'static [u8] {
    match protocol {
        Protocol::Http | Protocol::Ws => {
            b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        }
        Protocol::Resp => b"*1\r\n$4\r\nPING\r\n",
        _ => b"fault injected\r\n\r\n",
    }
}

/// Injects `rate` faults a second until `stop` is set; returns the counts when done.
pub(crate) fn start(
    cfg: &Config,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Arc<FaultCounts>> {
    let (addr, protocol) = (cfg.addr, cfg.protocol);
    thread::spawn(move || {
        let counts = Arc::new(FaultCounts::default());
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return counts;
        };
        rt.block_on(async {
            let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let mut next = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let kind = n % 3;
                n += 1;
                tasks.spawn(one(addr, request(protocol), kind, counts.clone()));
                next += period;
                tokio::time::sleep_until(next.into()).await;
                while tasks.try_join_next().is_some() {}
            }
            // Stalls still open end with the run.
            tasks.abort_all();
        });
        counts
    })
}

async fn one(addr: SocketAddr, req: &'static [u8], kind: u64, counts: Arc<FaultCounts>) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        counts.connect_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let half = &req[..req.len() / 2];
    match kind {
        0 => {
            let _ = s.write_all(half).await;
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            drop(s);
            counts.resets.fetch_add(1, Ordering::Relaxed);
        }
        1 => {
            // Counted once it ended: one cut short by the end of the run is not.
            if s.write_all(req).await.is_err() || s.shutdown().await.is_err() {
                counts.half_closes.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut buf = vec![0u8; 64 * 1024];
            let answered = tokio::time::timeout(Duration::from_secs(10), async {
                let mut got = 0;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) => return got > 0,
                        Ok(n) => got += n,
                        Err(_) => return false,
                    }
                }
            })
            .await;
            counts.half_closes.fetch_add(1, Ordering::Relaxed);
            if answered == Ok(true) {
                counts.half_closes_answered.fetch_add(1, Ordering::Relaxed);
            }
        }
        _ => {
            counts.stalls.fetch_add(1, Ordering::Relaxed);
            let _ = s.write_all(half).await;
            tokio::time::sleep(STALL).await;
        }
    }
}
