//! Checkout + return of a trivial in-memory connection under contention, for quasar's
//! `Pool`, bb8 0.9 and deadpool 0.13 (managed), measured in the same run.
//!
//! Each task checks a connection out, holds it across one `yield_now` (a stand-in for a
//! request, so callers really queue when tasks outnumber connections), and returns it.
//! The reported time is per checkout, summed over all tasks: lower is better.
//!
//! bb8 runs with `test_on_check_out(false)`: its default is an async `is_valid` call per
//! checkout, where quasar and deadpool only run a cheap synchronous check.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use quasar_net::pool::{Manager, Pool};
use quasar_net::Error;

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

fn bench_pools(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pool_checkout");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(15)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2));

    for size in SIZES {
        for tasks in TASKS {
            let id = |name: &str| BenchmarkId::new(name, format!("size{size}/tasks{tasks}"));

            let pool = Pool::builder(Quasar).pool_size(size).build().unwrap();
            group.bench_function(id("quasar"), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let pool = pool.clone();
                    run(iters, tasks, move || {
                        let pool = pool.clone();
                        async move {
                            let conn = pool.connect().await.unwrap();
                            tokio::task::yield_now().await;
                            black_box(*conn);
                        }
                    })
                })
            });

            let pool = rt.block_on(
                bb8::Pool::builder()
                    .max_size(size as u32)
                    .test_on_check_out(false)
                    .build(Bb8),
            );
            let pool = pool.unwrap();
            group.bench_function(id("bb8"), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let pool = pool.clone();
                    run(iters, tasks, move || {
                        let pool = pool.clone();
                        async move {
                            let conn = pool.get().await.unwrap();
                            tokio::task::yield_now().await;
                            black_box(*conn);
                        }
                    })
                })
            });

            let pool: deadpool::managed::Pool<Deadpool> = deadpool::managed::Pool::builder(Deadpool)
                .max_size(size)
                .build()
                .unwrap();
            group.bench_function(id("deadpool"), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let pool = pool.clone();
                    run(iters, tasks, move || {
                        let pool = pool.clone();
                        async move {
                            let conn = pool.get().await.unwrap();
                            tokio::task::yield_now().await;
                            black_box(*conn);
                        }
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_pools);
criterion_main!(benches);
