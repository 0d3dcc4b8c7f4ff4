//! GET/SET throughput of `RedisClient` next to the `redis` crate's `MultiplexedConnection`
//! and `fred`, against one local redis-server, with 1, 16 and 256 concurrent tasks.
//!
//! `cargo bench -p quasar-baseline --bench resp_client` (needs `redis-server` on PATH; the bench
//! starts it on a free loopback port and kills it at the end). Every client gets the same
//! work: `tasks` tasks, each sending alternately `SET k<i> value` and `GET k<i>`, one command
//! awaited at a time, for `DURATION_MS` per measurement. Rounds alternate the clients' order
//! (ROUNDS, default 3), and the table shows each client's median ops/s, its ratio to the
//! best other client, and this process's CPU time per 1k ops (the client side's cost; the
//! server's is the same work for all three).
//!
//! Environment: `ROUNDS` [3], `DURATION_MS` [2000], `TASKS` ["1 16 256"], `CLIENTS`
//! ["quasar redis-rs fred"], `OPS` [unset]: when set, each measurement stops after that many
//! commands instead of after `DURATION_MS` (for instruction counts under callgrind:
//! `OPS=10000 ROUNDS=1 TASKS=16 CLIENTS=quasar valgrind --tool=callgrind <bench> --bench`,
//! minus a run with `OPS=0` for the setup). `WORKERS` [2]: the client runtime's threads.
//! `SERVER_CPU` [unset]: pin redis-server to that CPU with `taskset`; on 2 cores run the bench
//! itself as `SERVER_CPU=1 WORKERS=1 taskset -c 0 <bench> --bench`, so that client and server
//! each own a core (unpinned, three threads trade two cores and a row moves by ±20% between
//! runs). `VERBOSE` [unset]: print every round. The last column is redis-server's CPU time
//! per 1k ops: the cost a client's batching puts on the server; `p99 µs` is the median over
//! rounds of each round's 99th percentile of op latency (all tasks' ops together).

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::{Builder, ClientLike, Config, KeysInterface};
use hdrhistogram::Histogram;
use quasar_redis::client::RedisClient;

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
    // SERVER_CPU pins redis-server to one CPU (with the bench run under `taskset` on the
    // other), so client and server do not trade places on the cores between rounds.
    let mut cmd = match std::env::var("SERVER_CPU") {
        Ok(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu, "redis-server"]);
            c
        }
        Err(_) => Command::new("redis-server"),
    };
    let child = cmd
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

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A process's CPU time (user + system), from /proc/<pid>/stat (`self` for this one).
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with the last ')').
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

type Op = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What one measurement gives: ops, client CPU, elapsed time, and every op's latency.
struct Measured {
    ops: u64,
    cpu: Duration,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// A histogram of op latencies in nanoseconds, 1 µs to 10 s at 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 10_000_000_000, 3).expect("histogram bounds")
}

/// Runs `tasks` tasks doing `op` for `dur` (or until `limit` ops are done).
async fn run(op: Op, tasks: u64, dur: Duration, limit: Option<u64>) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_time("self");
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (op, stop, done) = (op.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut latency = latency_histogram();
                let mut i = t * 1_000_003;
                while !stop.load(Ordering::Relaxed) {
                    // Claim an op first when counting, so exactly `limit` are sent.
                    if limit.is_some_and(|l| done.fetch_add(1, Ordering::Relaxed) >= l) {
                        break;
                    }
                    let sent = Instant::now();
                    op(i).await;
                    latency.saturating_record(sent.elapsed().as_nanos() as u64);
                    if limit.is_none() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
                latency
            })
        })
        .collect();
    if limit.is_none() {
        tokio::time::sleep(dur).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut ops = done.load(Ordering::Relaxed);
    let mut latency = latency_histogram();
    for h in handles {
        latency
            .add(h.await.expect("bench task"))
            .expect("same bounds");
    }
    let elapsed = start.elapsed();
    if let Some(limit) = limit {
        ops = limit;
    }
    Measured {
        ops,
        cpu: cpu_time("self").saturating_sub(cpu0),
        elapsed,
        latency,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no such flag:
    // then one tiny round proves it works.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds: usize = env_or("ROUNDS", if quick { "1" } else { "3" })
        .parse()
        .unwrap_or(3);
    let dur = Duration::from_millis(
        env_or("DURATION_MS", if quick { "100" } else { "2000" })
            .parse()
            .unwrap_or(2000),
    );
    let tasks: Vec<u64> = env_or("TASKS", "1 16 256")
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let limit: Option<u64> = std::env::var("OPS").ok().and_then(|n| n.parse().ok());
    let names: Vec<String> = env_or("CLIENTS", "quasar redis-rs fred")
        .split_whitespace()
        .map(String::from)
        .collect();
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("client bench: redis-server not on PATH; skipped");
        return;
    }
    let (server, url) = start_server();
    let server_pid = server.0.id().to_string();
    if std::env::var_os("FUTURE_SIZES").is_some() {
        let c = RedisClient::new(&url).expect("client");
        eprintln!(
            "future sizes: set {} get {} send {}",
            std::mem::size_of_val(&c.set("k", "v")),
            std::mem::size_of_val(&c.get::<Option<String>>("k")),
            std::mem::size_of_val(&c.send(quasar_redis::client::cmd("PING")))
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_or("WORKERS", "2").parse().unwrap_or(2))
        .enable_all()
        .build()
        .expect("runtime");
    let mut ops: Vec<(String, Op)> = Vec::new();
    for name in &names {
        let op: Op = match name.as_str() {
            // One connection each: the redis crate and fred multiplex on one.
            "quasar" => {
                let c = RedisClient::builder(&url)
                    .and_then(|b| b.pool_size(1).build())
                    .expect("client");
                Arc::new(move |i| {
                    let c = c.clone();
                    Box::pin(async move {
                        let key = format!("k{}", i % 1000);
                        if i % 2 == 0 {
                            c.set(&key, "value").await.expect("SET");
                        } else {
                            c.get::<Option<String>>(&key).await.expect("GET");
                        }
                    })
                })
            }
            "redis-rs" => {
                let con = rt.block_on(async {
                    redis::Client::open(url.as_str())
                        .expect("redis client")
                        .get_multiplexed_async_connection()
                        .await
                        .expect("redis connection")
                });
                Arc::new(move |i| {
                    let mut con = con.clone();
                    Box::pin(async move {
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
                    })
                })
            }
            "fred" => {
                let c = rt.block_on(async {
                    let c = Builder::from_config(Config::from_url(&url).expect("fred url"))
                        .build()
                        .expect("fred client");
                    c.init().await.expect("fred connect");
                    c
                });
                Arc::new(move |i| {
                    let c = c.clone();
                    Box::pin(async move {
                        let key = format!("k{}", i % 1000);
                        if i % 2 == 0 {
                            c.set::<(), _, _>(&key, "value", None, None, false)
                                .await
                                .expect("SET");
                        } else {
                            c.get::<Option<String>, _>(&key).await.expect("GET");
                        }
                    })
                })
            }
            other => panic!("unknown client {other}"),
        };
        ops.push((name.clone(), op));
    }
    let verbose = std::env::var_os("VERBOSE").is_some();
    // results[(client, tasks)] = [(ops/s, client CPU µs per 1k ops, server CPU µs per 1k
    // ops, p99 latency µs)]
    type Sample = (f64, f64, f64, f64);
    let mut results: std::collections::HashMap<(usize, u64), Vec<Sample>> = Default::default();
    for round in 0..rounds {
        for &t in &tasks {
            let mut order: Vec<usize> = (0..ops.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for ci in order {
                let server0 = cpu_time(&server_pid);
                let m = rt.block_on(run(ops[ci].1.clone(), t, dur, limit));
                let server_cpu = cpu_time(&server_pid).saturating_sub(server0);
                // In duration mode, ops are counted at the stop signal.
                let secs = if limit.is_some() { m.elapsed } else { dur };
                let rate = m.ops as f64 / secs.as_secs_f64();
                let per_k = |cpu: Duration| cpu.as_secs_f64() * 1e9 / (m.ops.max(1) as f64);
                let p99 = m.latency.value_at_quantile(0.99) as f64 / 1e3;
                if verbose {
                    eprintln!(
                        "round {round} tasks {t} {}: {rate:.0} ops/s, client {:.0} / server {:.0} µs per 1k ops, p99 {p99:.0} µs",
                        ops[ci].0,
                        per_k(m.cpu),
                        per_k(server_cpu)
                    );
                }
                results.entry((ci, t)).or_default().push((
                    rate,
                    per_k(m.cpu),
                    per_k(server_cpu),
                    p99,
                ));
            }
        }
    }
    println!(
        "| tasks | client | ops/s (median of {rounds}) | ops/s min–max | vs best other | client CPU µs / 1k ops | p99 µs | redis-server CPU µs / 1k ops |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for &t in &tasks {
        let runs: Vec<Vec<Sample>> = (0..ops.len())
            .map(|ci| results.remove(&(ci, t)).unwrap_or_default())
            .collect();
        let med: Vec<Sample> = runs
            .iter()
            .map(|r| {
                (
                    median(r.iter().map(|x| x.0).collect()),
                    median(r.iter().map(|x| x.1).collect()),
                    median(r.iter().map(|x| x.2).collect()),
                    median(r.iter().map(|x| x.3).collect()),
                )
            })
            .collect();
        for (ci, (name, _)) in ops.iter().enumerate() {
            let best_other = med
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != ci)
                .map(|(_, m)| m.0)
                .fold(f64::NAN, f64::max);
            let rates = runs[ci].iter().map(|x| x.0);
            let (lo, hi) = (
                rates.clone().fold(f64::INFINITY, f64::min),
                rates.fold(0.0, f64::max),
            );
            println!(
                "| {t} | {name} | {:.0} | {lo:.0}–{hi:.0} | {:.2} | {:.0} | {:.0} | {:.0} |",
                med[ci].0,
                med[ci].0 / best_other,
                med[ci].1,
                med[ci].3,
                med[ci].2
            );
        }
    }
}
