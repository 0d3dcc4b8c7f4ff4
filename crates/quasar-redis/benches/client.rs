//! GET/SET throughput of `RedisClient` next to the `redis` crate's `MultiplexedConnection`,
//! against one local redis-server, with 1, 16 and 256 concurrent tasks.
//!
//! `cargo bench -p quasar-redis --bench client` (needs `redis-server` on PATH; the bench
//! starts it on a free loopback port and kills it at the end). Each iteration is one command,
//! alternately `SET` and `GET`, so criterion's throughput is operations per second.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use quasar_redis::client::RedisClient;
use tokio::runtime::Runtime;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    (server, format!("redis://127.0.0.1:{port}"))
}

/// Runs `iters` operations spread over `tasks` tasks and returns the elapsed time.
async fn run<F, Fut>(iters: u64, tasks: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let per_task = iters.div_ceil(tasks);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                for i in 0..per_task {
                    op(t * per_task + i).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("bench task");
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let (_server, url) = start_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // One connection each, as the redis crate multiplexes on one.
    let quasar = RedisClient::builder(&url)
        .and_then(|b| b.pool_size(1).build())
        .expect("client");
    let redis_con = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).expect("redis client");
        client
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    });

    let mut group = c.benchmark_group("get_set");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for tasks in [1u64, 16, 256] {
        let client = quasar.clone();
        group.bench_with_input(BenchmarkId::new("quasar", tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iters| block(&rt, iters, tasks, client.clone()))
        });
        let con = redis_con.clone();
        group.bench_with_input(BenchmarkId::new("redis-rs", tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iters| {
                let con = con.clone();
                rt.block_on(run(iters, tasks, move |i| {
                    let mut con = con.clone();
                    async move {
                        let key = format!("k{}", i % 1000);
                        if i % 2 == 0 {
                            redis::cmd("SET")
                                .arg(&key)
                                .arg("value")
                                .query_async::<()>(&mut con)
                                .await
                                .expect("SET");
                        } else {
                            redis::cmd("GET")
                                .arg(&key)
                                .query_async::<Option<String>>(&mut con)
                                .await
                                .expect("GET");
                        }
                    }
                }))
            })
        });
    }
    group.finish();
}

fn block(rt: &Runtime, iters: u64, tasks: u64, client: RedisClient) -> Duration {
    rt.block_on(run(iters, tasks, move |i| {
        let client = client.clone();
        async move {
            let key = format!("k{}", i % 1000);
            if i % 2 == 0 {
                client.set(&key, "value").await.expect("SET");
            } else {
                client.get::<Option<String>>(&key).await.expect("GET");
            }
        }
    }))
}

criterion_group!(benches, bench);
criterion_main!(benches);
