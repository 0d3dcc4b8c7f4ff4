//! Checkout + return of a trivial in-memory connection under contention, for quasar's
//! `Pool`, bb8 0.9 and deadpool 0.13 (managed), measured in the same run.
//!
//! Three groups: `pool_checkout_return` checks out and returns back to back, so it
//! measures the pool itself under contention from 1, 8 and 64 tasks on two workers;
//! `pool_checkout_queued` holds each connection across one `yield_now` (a stand-in for
//! a request), so when tasks outnumber connections callers really queue;
//! `pool_shared_vs_exclusive` runs that held checkout from 64 tasks through quasar's
//! exclusive `connect` and its shared `connect_shared` (where callers join a busy
//! connection instead of queueing for it). The reported time is per checkout over all
//! tasks (lower is better).
//!
//! bb8 runs with `test_on_check_out(false)`: its default is an async `is_valid` call per
//! checkout, where quasar and deadpool only run a cheap synchronous check.
//!
//! Instruction counts: with `COUNT_POOL=quasar|bb8|deadpool` set, the binary skips
//! criterion and runs `OPS` [100000] checkouts of one row (`SIZE` [32], `TASKS` [8],
//! `HOLD` [1]: across a `yield_now`; `WORKERS` [2]) once, for
//! `valgrind --tool=callgrind <bench binary> --bench`; subtract a run with `OPS=0` (the
//! setup) and divide by `OPS` for instructions per checkout (add `--collect-bus=yes` to
//! count atomic read-modify-writes and fences too). Wall-clock time under
//! contention moves by tens of percent between runs; instruction counts do not.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use quasar_net::pool::{Manager, Pool};
use quasar_net::Error;
use tokio::runtime::Runtime;

const TASKS: [usize; 3] = [1, 8, 64];
const SIZES: [usize; 2] = [4, 32];

// ===== the three managers =====

struct Quasar;

impl Manager for Quasar {
    type Connection = u64;

    async fn connect(&self) -> Result<u64, Error> {
        Ok(7)
    }

    fn is_closed(&self, _conn: &u64) -> bool {
        false
    }
}

struct Bb8;

impl bb8::ManageConnection for Bb8 {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(7)
    }

    async fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

struct Deadpool;

impl deadpool::managed::Manager for Deadpool {
    type Type = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(7)
    }

    async fn recycle(
        &self,
        _conn: &mut u64,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

// ===== the harness =====

/// Splits `iters` checkouts over `tasks` spawned tasks and times them all. The driver
/// itself runs on a worker, so the bench thread only sleeps in `block_on` and the two
/// workers have the two cores to themselves.
async fn run<F, Fut>(iters: u64, tasks: usize, checkout: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let checkout = Arc::new(checkout);
    let per_task = iters.div_ceil(tasks as u64);
    let elapsed = tokio::spawn(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let checkout = checkout.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        checkout().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        start.elapsed()
    })
    .await
    .unwrap();
    // Scale to the requested count; rounding up ran at most `tasks - 1` extra checkouts.
    elapsed.mul_f64(iters as f64 / (per_task * tasks as u64) as f64)
}

/// Checks out, optionally holds across one `yield_now`, returns.
macro_rules! checkout {
    ($pool:expr, $get:ident, $hold:expr) => {{
        let pool = $pool.clone();
        async move {
            let conn = pool.$get().await.unwrap();
            if $hold {
                tokio::task::yield_now().await;
            }
            black_box(*conn);
        }
    }};
}

fn bench_group(c: &mut Criterion, rt: &Runtime, name: &str, hold: bool) {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    for size in SIZES {
        for tasks in TASKS {
            let id = |name: &str| BenchmarkId::new(name, format!("size{size}/tasks{tasks}"));

            let pool = Pool::builder(Quasar).pool_size(size).build().unwrap();
            group.bench_function(id("quasar"), |b| {
                b.to_async(rt).iter_custom(|iters| {
                    let pool = pool.clone();
                    run(iters, tasks, move || checkout!(pool, connect, hold))
                })
            });

            let pool = rt
                .block_on(
                    bb8::Pool::builder()
                        .max_size(size as u32)
                        .test_on_check_out(false)
                        .build(Bb8),
                )
                .unwrap();
            group.bench_function(id("bb8"), |b| {
                b.to_async(rt).iter_custom(|iters| {
                    let pool = pool.clone();
                    run(iters, tasks, move || checkout!(pool, get, hold))
                })
            });

            let pool: deadpool::managed::Pool<Deadpool> =
                deadpool::managed::Pool::builder(Deadpool)
                    .max_size(size)
                    .build()
                    .unwrap();
            group.bench_function(id("deadpool"), |b| {
                b.to_async(rt).iter_custom(|iters| {
                    let pool = pool.clone();
                    run(iters, tasks, move || checkout!(pool, get, hold))
                })
            });
        }
    }
    group.finish();
}

/// Exclusive vs shared checkout of quasar's pool, each held across one `yield_now`.
fn bench_shared(c: &mut Criterion, rt: &Runtime) {
    const SHARED_TASKS: usize = 64;
    let mut group = c.benchmark_group("pool_shared_vs_exclusive");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for size in SIZES {
        let id = |name: &str| BenchmarkId::new(name, format!("size{size}/tasks{SHARED_TASKS}"));
        let pool = Pool::builder(Quasar).pool_size(size).build().unwrap();
        group.bench_function(id("exclusive"), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let pool = pool.clone();
                run(iters, SHARED_TASKS, move || checkout!(pool, connect, true))
            })
        });
        let pool = Pool::builder(Quasar).pool_size(size).build().unwrap();
        group.bench_function(id("shared"), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let pool = pool.clone();
                run(iters, SHARED_TASKS, move || {
                    checkout!(pool, connect_shared, true)
                })
            })
        });
    }
    group.finish();
}

fn bench_pools(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Checkout and return back to back: the pool's own cost under contention.
    bench_group(c, &rt, "pool_checkout_return", false);
    // Hold across a yield: with more tasks than connections, callers really queue and
    // every checkout is a FIFO hand-off (a wake and a park, mostly scheduler cost).
    bench_group(c, &rt, "pool_checkout_queued", true);
    // Many requests in flight per connection instead of one.
    bench_shared(c, &rt);
}

criterion_group!(benches, bench_pools);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One row, a fixed number of checkouts, no timing: for callgrind (see the module doc).
fn count(which: &str) {
    let ops = env_or("OPS", 100_000) as u64;
    let (size, tasks) = (env_or("SIZE", 32), env_or("TASKS", 8));
    let hold = env_or("HOLD", 1) != 0;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_or("WORKERS", 2))
        .enable_all()
        .build()
        .unwrap();
    match which {
        "quasar" => {
            let pool = Pool::builder(Quasar).pool_size(size).build().unwrap();
            if hold {
                rt.block_on(run(ops, tasks, move || checkout!(pool, connect, true)));
            } else {
                rt.block_on(run(ops, tasks, move || checkout!(pool, connect, false)));
            }
        }
        "bb8" => {
            let pool = rt
                .block_on(
                    bb8::Pool::builder()
                        .max_size(size as u32)
                        .test_on_check_out(false)
                        .build(Bb8),
                )
                .unwrap();
            if hold {
                rt.block_on(run(ops, tasks, move || checkout!(pool, get, true)));
            } else {
                rt.block_on(run(ops, tasks, move || checkout!(pool, get, false)));
            }
        }
        "deadpool" => {
            let pool: deadpool::managed::Pool<Deadpool> =
                deadpool::managed::Pool::builder(Deadpool)
                    .max_size(size)
                    .build()
                    .unwrap();
            if hold {
                rt.block_on(run(ops, tasks, move || checkout!(pool, get, true)));
            } else {
                rt.block_on(run(ops, tasks, move || checkout!(pool, get, false)));
            }
        }
        other => panic!("COUNT_POOL={other}: quasar, bb8 or deadpool"),
    }
}

fn main() {
    if let Ok(which) = std::env::var("COUNT_POOL") {
        return count(&which);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
