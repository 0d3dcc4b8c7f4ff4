//! `quasar bench echo` against in-process TCP echo servers over loopback.

mod common;

use common::{bench, describe, json_path, read_json, start_tcp_echo, Fault};

#[test]
fn framed_echo_against_a_correct_server_reports_no_errors_and_exits_zero() {
    let addr = start_tcp_echo(Fault::None).to_string();
    let out = bench(&["echo", "--addr", &addr, "-c", "4", "-n", "200", "-d", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for figure in [
        "requests/s",
        "MB/s",
        "p50",
        "p99.9",
        "max",
        "errors        0",
    ] {
        assert!(stdout.contains(figure), "missing {figure:?}:\n{stdout}");
    }
}

#[test]
fn raw_echo_with_a_deep_pipeline_and_large_messages_reports_no_errors() {
    let addr = start_tcp_echo(Fault::None).to_string();
    let path = json_path("raw");
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "--raw",
        "-c",
        "3",
        "-p",
        "16",
        "-s",
        "20000",
        "-n",
        "300",
        "-d",
        "60s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    assert_eq!(report["raw"], true);
    assert_eq!(report["requests"], 300);
    assert_eq!(
        report["bytes"].as_u64().unwrap(),
        report["requests"].as_u64().unwrap() * 20_000
    );
}

#[test]
fn a_server_that_drops_a_byte_is_reported_as_a_mismatch_and_exits_one() {
    let addr = start_tcp_echo(Fault::Corrupt).to_string();
    let path = json_path("drop");
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "-c",
        "2",
        "-p",
        "4",
        "-d",
        "1s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report = read_json(&path);
    assert!(
        report["errors"]["mismatch"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("differs from the request"));
}

#[test]
fn a_raw_client_catches_a_dropped_byte_too() {
    let addr = start_tcp_echo(Fault::Corrupt).to_string();
    let out = bench(&["echo", "--addr", &addr, "--raw", "-c", "1", "-d", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mismatch"));
}

#[test]
fn json_report_parses_and_has_the_expected_fields() {
    let addr = start_tcp_echo(Fault::None).to_string();
    let path = json_path("fields");
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "-c",
        "2",
        "-p",
        "2",
        "-n",
        "100",
        "-d",
        "60s",
        "--warmup",
        "200ms",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    assert_eq!(report["protocol"], "echo");
    assert_eq!(report["mode"], "closed");
    assert_eq!(report["connections"], 2);
    assert_eq!(report["pipeline"], 2);
    assert_eq!(report["size"], 64);
    assert_eq!(report["requests_budget"], 100);
    for field in [
        "requests_per_sec",
        "mb_per_sec",
        "duration_secs",
        "warmup_secs",
    ] {
        assert!(report[field].as_f64().unwrap() > 0.0, "{field} in {report}");
    }
    let latency = &report["latency_us"];
    for field in ["p50", "p90", "p99", "p999", "max", "mean"] {
        assert!(
            latency[field].as_f64().unwrap() > 0.0,
            "{field} in {latency}"
        );
    }
    assert!(latency["p50"].as_f64() <= latency["p99"].as_f64());
    assert!(latency["p99"].as_f64() <= latency["max"].as_f64());
    assert_eq!(report["errors"]["total"], 0);
    assert!(report["server"].is_null());
    assert!(report["service_time_us"].is_null());
}

#[test]
fn open_loop_at_a_fixed_rate_completes_about_the_requested_number() {
    let addr = start_tcp_echo(Fault::None).to_string();
    let path = json_path("open");
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "-c",
        "4",
        "--rate",
        "400",
        "-d",
        "1s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    assert_eq!(report["mode"], "open");
    assert!(report["requests_budget"].is_null(), "{report}");
    let requests = report["requests"].as_u64().unwrap();
    assert!(
        (360..=440).contains(&requests),
        "{requests} requests at 400/s for 1 s"
    );
    assert!(report["service_time_us"]["p50"].as_f64().unwrap() > 0.0);
}

#[test]
fn server_pid_adds_the_servers_cpu_seconds_per_thousand_requests() {
    // The server runs inside this test process, so its pid is ours.
    let addr = start_tcp_echo(Fault::None).to_string();
    let pid = std::process::id().to_string();
    let path = json_path("cpu");
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "-c",
        "4",
        "-p",
        "8",
        "-n",
        "500",
        "-d",
        "60s",
        "--server-pid",
        &pid,
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    let server = &report["server"];
    assert_eq!(server["pid"].as_u64().unwrap().to_string(), pid);
    assert!(server["cpu_seconds"].as_f64().unwrap() >= 0.0);
    assert!(
        server["cpu_seconds_per_1000_requests"].is_number(),
        "{server}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("per 1000 requests"));
}

#[test]
fn several_tool_threads_share_the_connections() {
    let addr = start_tcp_echo(Fault::None).to_string();
    let path = json_path("threads");
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "-c",
        "5",
        "--threads",
        "2",
        "-n",
        "200",
        "-d",
        "60s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    assert_eq!(report["threads"], 2);
    assert_eq!(report["requests"], 200);
}

#[test]
fn idle_connections_mode_reports_rss_growth_per_connection() {
    let addr = start_tcp_echo(Fault::None).to_string();
    let pid = std::process::id().to_string();
    let path = json_path("idle");
    let out = bench(&[
        "echo",
        "--addr",
        &addr,
        "--idle-connections",
        "200",
        "--server-pid",
        &pid,
        "-d",
        "200ms",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report = read_json(&path);
    assert_eq!(report["mode"], "idle");
    assert_eq!(report["opened"], 200);
    assert!(report["server"]["rss_before_kib"].as_u64().unwrap() > 0);
    assert!(report["server"]["rss_bytes_per_connection"].is_number());
}

#[test]
fn a_server_that_is_not_listening_is_a_connect_error() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = bench(&["echo", "--addr", &addr, "-c", "2", "-d", "200ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    // The probe connection fails first: a clear message, and no report of a run that
    // never started.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && err.contains(&addr),
        "{}",
        describe(&out)
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));
}
