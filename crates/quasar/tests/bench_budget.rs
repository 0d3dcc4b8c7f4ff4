//! `quasar bench --requests N`: a request budget ends the run after exactly N measured
//! requests in every mode, with `--duration` only as an upper bound.
//!
//! Every run here gives `-d 60s`: on a working tool the budget ends the run long before, so
//! the figures asserted (`requests == N`, a window shorter than the duration) do not depend
//! on the machine's speed.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{
    bench, describe, json_path, read_json, spawn_listening, start_http, start_tcp_echo,
    start_udp_echo, Fault,
};

/// The upper bound every budgeted run here gives; the budget must end the run first.
const UPPER_BOUND_SECS: f64 = 60.0;

/// Runs `quasar bench` with `args` plus `-n N -d 60s --json FILE`, expects exit 0 and returns
/// the JSON report after checking that the budget, not the duration, ended the run with exactly
/// `n` requests and no errors. Replies still in flight when the budget runs out are verified
/// too; `--drain 20s` gives them that long on a loaded machine (a working one waits for none).
fn run_budgeted(name: &str, n: u64, args: &[&str]) -> serde_json::Value {
    let path = json_path(name);
    let n_text = n.to_string();
    let mut all = args.to_vec();
    all.extend(["-n", &n_text, "-d", "60s", "--drain", "20s"]);
    all.extend(["--json", path.to_str().unwrap()]);
    let out = bench(&all);
    assert_eq!(out.status.code(), Some(0), "{all:?}\n{}", describe(&out));
    let report = read_json(&path);
    assert_eq!(report["requests_budget"], n, "{report}");
    assert_eq!(report["requests"], n, "{all:?}: {report}");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    let window = report["duration_secs"].as_f64().unwrap();
    assert!(
        window > 0.0 && window < UPPER_BOUND_SECS,
        "the budget should end the window: {window} s"
    );
    let rate = report["requests_per_sec"].as_f64().unwrap();
    // The rate is over the real window, not the nominal 60 s.
    assert!(
        (rate * window - n as f64).abs() < 1e-6 * n as f64,
        "{rate} req/s over {window} s for {n} requests"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("(budget {n} requests)")),
        "{}",
        describe(&out)
    );
    report
}

/// A `quasar serve` child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_budget_ends_pipelined_echo_runs_at_exactly_n_requests() {
    let addr = start_tcp_echo(Fault::None).to_string();
    // Deep pipelines on several threads: replies to requests still in flight when the budget
    // runs out are verified but not counted.
    let framed = run_budgeted(
        "budget-framed",
        500,
        &[
            "echo",
            "--addr",
            &addr,
            "-c",
            "4",
            "-p",
            "8",
            "--threads",
            "2",
        ],
    );
    assert_eq!(framed["bytes"], 500 * 64);
    let raw = run_budgeted(
        "budget-raw",
        300,
        &["echo", "--addr", &addr, "--raw", "-c", "3", "-p", "16"],
    );
    assert_eq!(raw["raw"], true);
}

#[test]
fn warm_up_requests_do_not_spend_the_budget() {
    let addr = start_tcp_echo(Fault::None).to_string();
    // Warm-up replies run in the thousands here; had they claimed slots, the budget would be
    // gone before measuring starts and the run would count none.
    let report = run_budgeted(
        "budget-warmup",
        50,
        &[
            "echo", "--addr", &addr, "--raw", "-c", "2", "--warmup", "300ms",
        ],
    );
    assert!(report["warmup_secs"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_budget_ends_udp_runs_in_closed_and_open_loop() {
    let addr = start_udp_echo(Fault::None).to_string();
    run_budgeted(
        "budget-udp",
        300,
        &["udp", "--addr", &addr, "-c", "3", "-p", "4"],
    );
    let open = run_budgeted(
        "budget-udp-open",
        20,
        &["udp", "--addr", &addr, "-c", "2", "--rate", "200"],
    );
    assert_eq!(open["mode"], "open");
}

#[test]
fn a_budget_ends_http_and_websocket_runs() {
    let addr = start_http(200).to_string();
    let report = run_budgeted(
        "budget-http",
        200,
        &["http", "--addr", &addr, "-c", "3", "-p", "4"],
    );
    let response = "HTTP/1.1 200 Whatever\r\nContent-Length: 13\r\n\r\nHello, World!";
    assert_eq!(report["bytes"], 200 * response.len() as u64);

    // `quasar serve http` answers WebSocket echo on /ws.
    let (child, ws_addr) = spawn_listening(Command::new(env!("CARGO_BIN_EXE_quasar")).args([
        "serve",
        "http",
        "--bind",
        "127.0.0.1:0",
    ]));
    let _server = Server(child);
    let ws_addr = ws_addr.to_string();
    let ws = run_budgeted(
        "budget-ws",
        100,
        &[
            "ws", "--addr", &ws_addr, "--path", "/ws", "-c", "2", "-p", "2",
        ],
    );
    assert_eq!(ws["bytes"], 100 * (2 + 64));
}

#[test]
fn a_budget_counts_whole_exchanges_with_a_connection_per_request() {
    let addr = start_tcp_echo(Fault::None).to_string();
    let report = run_budgeted(
        "budget-per-request",
        30,
        &[
            "echo",
            "--addr",
            &addr,
            "--raw",
            "--connect-per-request",
            "-c",
            "3",
        ],
    );
    assert_eq!(report["connect_per_request"], true);
    let http = start_http(200).to_string();
    run_budgeted(
        "budget-http-per-request",
        20,
        &["http", "--addr", &http, "--connect-per-request", "-c", "2"],
    );
}

#[test]
fn a_spent_budget_wakes_connections_waiting_for_their_next_paced_send() {
    let addr = start_tcp_echo(Fault::None).to_string();
    // At 0.1 requests/s over 4 connections each connection sends every 40 s, staggered by
    // 10 s: connection 0 sends at once and spends the budget of 1, while the others would
    // sleep until 10, 20 and 30 s unless the spent budget wakes them.
    let started = Instant::now();
    run_budgeted(
        "budget-wake",
        1,
        &["echo", "--addr", &addr, "--raw", "-c", "4", "--rate", "0.1"],
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "the run took {took:?}: sleeping connections were not woken"
    );
}
