//! Requests per second on ONE client connection to an in-process echo server, with 1,
//! 16 and 128 concurrent callers: multiplexed (`max_in_flight` 128: requests pipelined,
//! replies matched in order) next to exclusive checkout (a `Client` with `pool_size(1)`:
//! one request on the wire at a time, as pulsar's pool lends connections). Same run, same
//! server, same messages (64 bytes, pulsar's echo framing). The reported time is per
//! request over all callers (lower is better).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory};
use quasar_net::{Client, ClientConnectionBuilder, ConnectionConfig, TcpServer};

const CALLERS: [usize; 3] = [1, 16, 128];

fn message() -> Bytes {
    Bytes::from(vec![b'x'; 64])
}

/// Runs `iters` requests split among `callers` tasks, each awaiting `call` in a loop.
async fn spread<F, Fut>(iters: u64, callers: usize, call: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let call = Arc::clone(&call);
            // Spread the remainder so the total is exactly `iters`.
            let n = iters / callers as u64 + u64::from((i as u64) < iters % callers as u64);
            tokio::spawn(async move {
                for _ in 0..n {
                    call().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("caller task");
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(async {
        TcpServer::builder(EchoServerFactory::new(EchoConfig::default()))
            .start()
            .await
            .expect("server")
    });
    let addr = server.address();
    let mut group = c.benchmark_group("client_one_connection");
    group.throughput(Throughput::Elements(1));
    for callers in CALLERS {
        let mut config = ConnectionConfig::default();
        config.max_in_flight(128);
        let conn = rt.block_on(async {
            ClientConnectionBuilder::new(EchoClientFactory::default())
                .config(config)
                .connect(addr)
                .await
                .expect("connect")
        });
        group.bench_with_input(
            BenchmarkId::new("multiplexed", callers),
            &callers,
            |b, &callers| {
                b.to_async(&rt).iter_custom(|iters| {
                    let conn = conn.clone();
                    spread(iters, callers, move || {
                        let conn = conn.clone();
                        async move {
                            conn.request(message()).await.expect("reply");
                        }
                    })
                })
            },
        );
        let client = Client::builder(EchoClientFactory::default())
            .pool_size(1)
            .build()
            .expect("client");
        group.bench_with_input(
            BenchmarkId::new("exclusive", callers),
            &callers,
            |b, &callers| {
                b.to_async(&rt).iter_custom(|iters| {
                    let client = client.clone();
                    spread(iters, callers, move || {
                        let client = client.clone();
                        async move {
                            client.request(addr, message()).await.expect("reply");
                        }
                    })
                })
            },
        );
        rt.block_on(client.close());
    }
    group.finish();
    rt.block_on(server.close(Duration::from_secs(1)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
