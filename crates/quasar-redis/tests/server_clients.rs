//! Real Redis clients against the quasar server: redis-cli, `redis-cli --pipe`,
//! redis-benchmark and the Python `redis` package.

use crate::server_support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use quasar_redis::server::RespServerConfig;
use server_support::*;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn cli(bin: &PathBuf, port: u16, args: &[&str]) -> Output {
    Command::new(bin)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_sets_and_gets() {
    let bin = find_program("redis-cli");
    let server = start_server(RespServerConfig::default()).await;
    let port = server.address().port();
    let out = blocking({
        let bin = bin.clone();
        move || cli(&bin, port, &["set", "a", "1"])
    })
    .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let out = blocking(move || cli(&bin, port, &["get", "a"])).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_pipe_mass_inserts_100k_keys() {
    let bin = find_program("redis-cli");
    let server = start_server(RespServerConfig::default()).await;
    let port = server.address().port();
    let mut input = bytes::BytesMut::new();
    for i in 0..100_000 {
        let key = format!("key:{i}");
        let val = format!("value:{i}");
        quasar_redis::encode_command(&mut input, ["SET", key.as_str(), val.as_str()]);
    }
    let out = blocking(move || {
        let mut child = Command::new(bin)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--pipe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("redis-cli runs");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().expect("redis-cli ends");
        writer.join().expect("writer").expect("stdin written");
        out
    })
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("errors: 0, replies: 100000"), "{text}");
    let mut c = RawClient::connect(server.address()).await;
    assert_eq!(c.call(&["DBSIZE"]).await, b":100000\r\n");
    assert_eq!(
        c.call(&["GET", "key:99999"]).await,
        b"$11\r\nvalue:99999\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_benchmark_runs_every_test() {
    let bin = find_program("redis-benchmark");
    let server = start_server(RespServerConfig::default()).await;
    let port = server.address().port();
    let out = blocking(move || {
        Command::new(bin)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-q",
                "-n",
                "20000",
            ])
            .args([
                "-t",
                "ping,set,get,incr,lpush,rpush,lpop,sadd,hset,lrange_100,mset",
            ])
            .output()
            .expect("redis-benchmark runs")
    })
    .await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "SADD",
        "HSET",
        "LRANGE_100 (first 100 elements)",
        "MSET (10 keys)",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second"));
        assert!(line.is_some(), "no result for {test} in:\n{text}");
    }
}

/// The Python with the `redis` package: `QUASAR_PYTHON` (the venv of
/// `scripts/requirements-test.txt`, set by .ci/run), else the older `QUASAR_REDIS_PYTHON`,
/// else `python3`. Fails saying what to install when it cannot import redis.
fn python_with_redis() -> String {
    let py = ["QUASAR_PYTHON", "QUASAR_REDIS_PYTHON"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok())
        .unwrap_or_else(|| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import redis"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{py} cannot import redis: `python3 -m venv VENV && \
         VENV/bin/pip install -r scripts/requirements-test.txt`, then set \
         QUASAR_PYTHON=VENV/bin/python (.ci/run does both)"
    );
    py
}

async fn run_redis_py(protocol: &str) {
    let py = python_with_redis();
    let server = start_server(RespServerConfig::default()).await;
    let port = server.address().port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/redis_py_check.py"
    );
    let protocol = protocol.to_string();
    let out = blocking(move || {
        Command::new(py)
            .args([script, &port.to_string(), &protocol])
            .output()
            .expect("python runs")
    })
    .await;
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "redis-py ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with redis (scripts/requirements-test.txt); run with --include-ignored"]
async fn redis_py_pipeline_transactions_and_pubsub_over_resp2() {
    run_redis_py("2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with redis (scripts/requirements-test.txt); run with --include-ignored"]
async fn redis_py_pipeline_transactions_and_pubsub_over_resp3() {
    run_redis_py("3").await;
}
