//! The `/chat` room of `quasar serve http`, with three Python `websockets` clients
//! (`tests/chat_room.py`): on one process (in-process broker), and across two processes
//! sharing the room through `--pubsub redis://...`, with a real `redis-server` and with
//! `quasar serve resp`.
//!
//! Needs a Python with `websockets` (`QUASAR_PYTHON`, the venv of
//! `scripts/requirements-test.txt`) and `redis-server`: ignored by a plain `cargo test`, run
//! by `cargo test -- --include-ignored` (as CI does), where a missing one fails the test.

mod common;

#[path = "../../quasar-redis/tests/client_support/mod.rs"]
mod redis_support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::spawn_listening;

/// Messages each client sends.
const MESSAGES: usize = 200;

/// A child process killed (by PID) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(args: &[&str]) -> (Proc, SocketAddr) {
    let (child, addr) = spawn_listening(
        Command::new(env!("CARGO_BIN_EXE_quasar"))
            .args(["serve"])
            .args(args)
            .args(["--bind", "127.0.0.1:0"]),
    );
    (Proc(child), addr)
}

fn http(pubsub: Option<&str>) -> (Proc, SocketAddr) {
    match pubsub {
        Some(url) => serve(&["http", "--pubsub", url]),
        None => serve(&["http"]),
    }
}

fn python_with_websockets() -> String {
    let python = std::env::var("QUASAR_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has,
        "{python} cannot import websockets: `python3 -m venv VENV && \
         VENV/bin/pip install -r scripts/requirements-test.txt`, then set \
         QUASAR_PYTHON=VENV/bin/python (.ci/run does both)"
    );
    python
}

/// Runs the three clients against `urls` and checks they all saw everything.
fn chat(urls: &[String]) {
    let python = python_with_websockets();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chat_room.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(MESSAGES.to_string())
        .args(urls)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    // The script bounds its own waits (30 s per message); this bounds the whole run.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == format!("ok {} {MESSAGES}", urls.len()),
        "status {:?}\n--- stdout\n{stdout}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn urls(first: SocketAddr, second: SocketAddr) -> Vec<String> {
    vec![
        format!("ws://{first}/chat?name=ann"),
        format!("ws://{first}/chat?name=bob"),
        // Known by its address.
        format!("ws://{second}/chat"),
    ]
}

#[test]
#[ignore = "needs python3 with websockets and curl; run with --include-ignored"]
fn a_chat_publish_call_from_curl_reaches_every_client() {
    use std::io::BufRead;
    let (_server, addr) = http(None);
    let python = python_with_websockets();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chat_room.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg("rpc")
        .args(urls(addr, addr))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Killed if an assertion below fails.
    let mut child = Proc(child);
    assert_eq!(lines.next().unwrap().unwrap(), "joined");
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"chat.publish","params":{"message":"published by curl","from":"curl"}}"#;
    let out = Command::new("curl")
        .args([
            "-sS",
            "-H",
            "Content-Type: application/json",
            "--data",
            call,
        ])
        .arg(format!("http://{addr}/rpc"))
        .output()
        .expect("curl runs (apt-get install curl)");
    let reply = String::from_utf8_lossy(&out.stdout);
    // Every member of the room received it: the three clients.
    assert_eq!(
        reply.trim(),
        r#"{"jsonrpc":"2.0","result":3,"id":7}"#,
        "{out:?}"
    );
    assert_eq!(lines.next().unwrap().unwrap(), "ok 3 rpc");
    assert!(child.0.wait().unwrap().success());
}

#[test]
#[ignore = "needs python3 with websockets (scripts/requirements-test.txt); run with --include-ignored"]
fn three_clients_share_the_room_of_one_process() {
    let (_server, addr) = http(None);
    chat(&urls(addr, addr));
}

#[test]
#[ignore = "needs python3 with websockets and redis-server; run with --include-ignored"]
fn two_processes_share_a_room_through_redis_server() {
    let redis = redis_support::start();
    let url = redis.url("");
    let (_a, a) = http(Some(&url));
    let (_b, b) = http(Some(&url));
    chat(&urls(a, b));
}

#[test]
#[ignore = "needs python3 with websockets; run with --include-ignored"]
fn two_processes_share_a_room_through_quasar_serve_resp() {
    let (_resp, resp) = serve(&["resp"]);
    let url = format!("redis://{resp}");
    let (_a, a) = http(Some(&url));
    let (_b, b) = http(Some(&url));
    chat(&urls(a, b));
}

#[test]
fn a_pubsub_that_is_neither_memory_nor_redis_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args([
            "serve",
            "http",
            "--bind",
            "127.0.0.1:0",
            "--pubsub",
            "ftp://x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pubsub must be `memory` or a redis://"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_redis_stops_the_start() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args(["serve", "http", "--bind", "127.0.0.1:0", "--pubsub"])
        .arg(format!("redis://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--pubsub redis://127.0.0.1"), "{stderr}");
}
