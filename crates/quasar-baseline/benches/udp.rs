//! UDP echo throughput: quasar's DatagramServer (portable and batched paths) beside a
//! minimal hand-written tokio `recv_from`/`send_to` echo loop, measured in one run.
//!
//! A plain `main` (harness = false) rather than criterion: the quantity is a steady-state
//! rate of a running server under a closed-loop load, which criterion's
//! iterations-of-a-routine model fits badly; we want datagrams/s per variant, rounds
//! interleaved to spread machine noise evenly, and the ratios printed.
//!
//! Shape: each server runs on one thread with a current-thread runtime (`workers(1)` for
//! quasar); the load generator runs on another, with `CLIENTS` connected sockets each
//! keeping `WINDOW` 64-byte datagrams in flight. The generator batches its own syscalls
//! (`sendmmsg` with GSO, `recvmmsg`, via `UdpEndpoint::{send_batch, recv_batch}`) so that
//! it costs less than the server and the server's cost is what the rate shows. It is
//! the same generator for every variant.
//!
//! Traffic shape matters for GSO: each client's window arrives as a run of equal-size
//! datagrams from one peer, so the batched server's replies to it merge into one GSO
//! send. Traffic from many peers sending one datagram each has no runs; there only the
//! "batched, no GSO" row applies.
//!
//! `cargo bench -p quasar-baseline --bench udp` runs 3 rounds of 3 s per variant (override
//! with `UDP_BENCH_SECS` and `UDP_BENCH_ROUNDS`); without `--bench` (as under
//! `cargo test --all-targets`) it runs a short smoke round.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quasar_net::udp::{DatagramConsumer, DatagramContext, DatagramServer, UdpEndpoint};

const PAYLOAD: usize = 64;
const CLIENTS: usize = 8;
const WINDOW: usize = 16;
const SLOT: usize = 128;
/// A window not answered in this long is taken as lost and refilled.
const LOSS_TIMEOUT: Duration = Duration::from_millis(50);
const SOCKET_BUFFER: usize = 4 << 20;

struct Echo;

impl DatagramConsumer for Echo {
    fn datagram_received(
        &mut self,
        cx: &mut DatagramContext<'_>,
        data: &[u8],
        _peer: SocketAddr,
    ) -> quasar_net::Result<()> {
        cx.reply(data)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Variant {
    Baseline,
    Portable,
    Batched,
    BatchedGso,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Baseline => "tokio recv_from/send_to loop (baseline)",
            Variant::Portable => "quasar DatagramServer, portable path",
            Variant::Batched => "quasar DatagramServer, batched, no GSO",
            Variant::BatchedGso => "quasar DatagramServer, batched + GSO",
        }
    }
}

/// A running server of one variant; dropping it stops it.
enum Running {
    Baseline {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
    Quasar(DatagramServer),
}

impl Running {
    fn addr(&self) -> SocketAddr {
        match self {
            Running::Baseline { addr, .. } => *addr,
            Running::Quasar(s) => s.address(),
        }
    }

    async fn stop(self) {
        match self {
            Running::Baseline {
                stop, mut thread, ..
            } => {
                stop.store(true, Ordering::Relaxed);
                let t = thread.take().unwrap();
                tokio::task::spawn_blocking(move || t.join().unwrap())
                    .await
                    .unwrap();
            }
            Running::Quasar(s) => {
                s.close(Duration::from_secs(1)).await;
            }
        }
    }
}

fn bound_socket() -> std::net::UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    s.set_nonblocking(true).unwrap();
    s.into()
}

/// The baseline: the echo loop every tokio UDP tutorial writes.
fn start_baseline() -> Running {
    let std_sock = bound_socket();
    let addr = std_sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sock = tokio::net::UdpSocket::from_std(std_sock).unwrap();
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                let r = tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf))
                    .await;
                if let Ok(Ok((n, peer))) = r {
                    let _ = sock.send_to(&buf[..n], peer).await;
                }
            }
        });
    });
    Running::Baseline {
        addr,
        stop,
        thread: Some(thread),
    }
}

async fn start(variant: Variant) -> Running {
    match variant {
        Variant::Baseline => start_baseline(),
        Variant::Portable | Variant::Batched | Variant::BatchedGso => Running::Quasar(
            DatagramServer::builder(|| Echo)
                .workers(1)
                .batching(variant != Variant::Portable)
                .gso(variant == Variant::BatchedGso)
                .max_datagram_size(2048)
                .recv_buffer_size(SOCKET_BUFFER)
                .send_buffer_size(SOCKET_BUFFER)
                .start()
                .await
                .unwrap(),
        ),
    }
}

/// The closed-loop load: `CLIENTS` sockets, `WINDOW` datagrams in flight each.
struct Load {
    received: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn start_load(addr: SocketAddr) -> Load {
    let received = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (r, l, s) = (Arc::clone(&received), Arc::clone(&lost), Arc::clone(&stop));
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut tasks = Vec::new();
            for _ in 0..CLIENTS {
                let ep = UdpEndpoint::connect(addr, Duration::from_secs(1))
                    .await
                    .unwrap();
                tasks.push(tokio::spawn(client(
                    ep,
                    Arc::clone(&r),
                    Arc::clone(&l),
                    Arc::clone(&s),
                )));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
    Load {
        received,
        lost,
        stop,
        thread,
    }
}

async fn client(
    ep: UdpEndpoint,
    received: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let payload = [b'x'; PAYLOAD];
    let refs = [&payload[..]; WINDOW];
    let mut buf = vec![0u8; SLOT * WINDOW];
    let mut lens = [0usize; WINDOW];
    ep.send_batch(&refs).await.unwrap();
    let mut outstanding = WINDOW;
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(LOSS_TIMEOUT, ep.recv_batch(&mut buf, SLOT, &mut lens)).await {
            Ok(Ok(n)) => {
                received.fetch_add(n as u64, Ordering::Relaxed);
                ep.send_batch(&refs[..n]).await.unwrap();
                outstanding = outstanding.saturating_sub(n) + n;
            }
            Ok(Err(e)) => panic!("client: {e}"),
            Err(_) => {
                lost.fetch_add(outstanding as u64, Ordering::Relaxed);
                ep.send_batch(&refs).await.unwrap();
                outstanding = WINDOW;
            }
        }
    }
}

struct Sample {
    rate: f64,
    lost: u64,
}

async fn measure(variant: Variant, warmup: Duration, secs: Duration) -> Sample {
    let server = start(variant).await;
    let load = start_load(server.addr());
    tokio::time::sleep(warmup).await;
    let (r0, l0, t0) = (
        load.received.load(Ordering::Relaxed),
        load.lost.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(secs).await;
    let (r1, l1, t1) = (
        load.received.load(Ordering::Relaxed),
        load.lost.load(Ordering::Relaxed),
        Instant::now(),
    );
    load.stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || load.thread.join().unwrap())
        .await
        .unwrap();
    server.stop().await;
    Sample {
        rate: (r1 - r0) as f64 / (t1 - t0).as_secs_f64(),
        lost: l1 - l0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (secs, rounds, warmup) = if bench {
        (
            Duration::from_secs_f64(env_or("UDP_BENCH_SECS", 3.0)),
            env_or("UDP_BENCH_ROUNDS", 3usize).max(1),
            Duration::from_millis(500),
        )
    } else {
        (Duration::from_millis(200), 1, Duration::from_millis(50))
    };
    let variants = [
        Variant::Baseline,
        Variant::Portable,
        Variant::Batched,
        Variant::BatchedGso,
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut losses = vec![0u64; variants.len()];
    println!(
        "udp echo: {PAYLOAD}-byte datagrams, {CLIENTS} client sockets x {WINDOW} in flight, \
         {rounds} round(s) of {:.1} s per variant, interleaved",
        secs.as_secs_f64()
    );
    for round in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            let s = rt.block_on(measure(*v, warmup, secs));
            println!(
                "  round {round}: {:<42} {:>10.0} datagrams/s (lost {})",
                v.name(),
                s.rate,
                s.lost
            );
            rates[i].push(s.rate);
            losses[i] += s.lost;
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    let base = medians[0];
    println!("\nmedian of {rounds} round(s):");
    for (i, v) in variants.iter().enumerate() {
        println!(
            "  {:<42} {:>10.0} datagrams/s  {:>5.2}x baseline  (lost {})",
            v.name(),
            medians[i],
            medians[i] / base,
            losses[i]
        );
    }
}
