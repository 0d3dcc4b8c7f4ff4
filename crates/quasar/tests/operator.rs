//! Running `quasar` as an operator would: layered configuration, logs for files and
//! machines, a shutdown you can see, a load tool that fails fast (Prometheus metrics are in
//! `metrics.rs`). Every test drives the binary as a process.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

mod served;

use served::{echo, run, scrape, serve, show_json, temp_file};

// ===== configuration =====

#[test]
fn a_partial_file_sets_one_field_and_keeps_every_default() {
    let file = temp_file("partial.toml", "[echo]\nbind = \"127.0.0.1:0\"\n");
    let path = file.to_str().unwrap();
    let cfg = show_json(&["--config", path], &[]);
    assert_eq!(cfg["echo"]["bind"], "127.0.0.1:0");
    assert_eq!(cfg["echo"]["keep_alive"], 15.0);
    assert_eq!(cfg["udp_echo"]["bind"], "127.0.0.1:8060");
    // And the server runs from it.
    let s = serve(&["serve", "echo", "--config", path], &[], 1);
    assert_eq!(echo(s.addr("echo"), b"hi\r\n\r\n"), b"hi\r\n\r\n");
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let file = temp_file(
        "layers.toml",
        "[echo]\nkeep_alive = 3\nmax_connections = 9\n",
    );
    let path = file.to_str().unwrap();
    let env = [
        ("QUASAR_ECHO_KEEP_ALIVE", "4"),
        ("QUASAR_UDP_ECHO_WORKERS", "2"),
        ("QUASAR_RESP_REQUIREPASS", "123"),
        ("QUASAR_ECHO_CMD", "not a setting"),
    ];
    let cfg = show_json(&["--config", path], &env);
    assert_eq!(cfg["echo"]["keep_alive"], 4.0, "environment beats file");
    assert_eq!(cfg["echo"]["max_connections"], 9, "file beats default");
    assert_eq!(cfg["udp_echo"]["workers"], 2);
    assert_eq!(
        cfg["resp"]["requirepass"], "123",
        "a numeric value for a string field"
    );

    let s = serve(
        &[
            "serve",
            "echo",
            "--config",
            path,
            "--bind",
            "127.0.0.1:0",
            "--keep-alive",
            "5",
            "--log-format",
            "json",
        ],
        &env,
        1,
    );
    let line = s.log_line("effective settings");
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    let settings: serde_json::Value =
        serde_json::from_str(v["fields"]["settings"].as_str().unwrap()).unwrap();
    assert_eq!(
        settings["keep_alive"], 5.0,
        "flag beats environment: {line}"
    );
    assert_eq!(settings["max_connections"], 9);
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}

#[test]
fn an_unknown_key_is_an_error_naming_the_key_and_the_file() {
    let file = temp_file(
        "unknown.toml",
        "[echo]\nbind = \"127.0.0.1:0\"\nbogus_key = 1\n",
    );
    let path = file.to_str().unwrap();
    for args in [
        vec!["serve", "echo", "--config", path],
        vec!["config", "show", "--config", path],
    ] {
        let out = run(&args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("bogus_key") && err.contains(path), "{err}");
    }
    let out = run(&["config", "show", "--config", "/no/such/quasar.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/quasar.toml"));
}

#[test]
fn config_show_prints_toml_that_reads_back() {
    let out = run(&["config", "show"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("[udp_echo]") && text.contains("[resp]"),
        "{text}"
    );
    let file = temp_file("roundtrip.toml", &text);
    let again = run(&["config", "show", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
}

// ===== logs =====

#[test]
fn json_logs_parse_and_worker_lines_carry_the_worker_id() {
    let s = serve(
        &[
            "serve",
            "echo",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--log-format",
            "json",
        ],
        &[("RUST_LOG", "info,quasar_net::connection=debug")],
        1,
    );
    for _ in 0..4 {
        assert_eq!(echo(s.addr("echo"), b"w\r\n\r\n"), b"w\r\n\r\n");
    }
    // Wait for the last connection's close line, then stop.
    std::thread::sleep(Duration::from_millis(200));
    s.signal();
    let (status, lines) = s.wait(Duration::from_secs(15));
    assert!(status.success());
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let serving: Vec<_> = parsed
        .iter()
        .filter(|v| v["fields"]["message"] == "serving")
        .map(|v| {
            v["fields"]["worker"]
                .as_u64()
                .expect("serving line has worker")
        })
        .collect();
    assert_eq!(serving, [0, 1]);
    let conn_lines: Vec<_> = parsed
        .iter()
        .filter(|v| {
            v["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("quasar_net::connection"))
        })
        .collect();
    assert!(conn_lines.len() >= 4, "{lines:?}");
    for v in conn_lines {
        assert_eq!(v["span"]["name"], "worker", "{v}");
        assert!(v["span"]["id"].as_u64().is_some_and(|id| id < 2), "{v}");
    }
}

#[test]
fn text_logs_to_a_pipe_have_no_escape_codes() {
    let s = serve(&["serve", "echo", "--bind", "127.0.0.1:0"], &[], 1);
    s.signal();
    let (status, lines) = s.wait(Duration::from_secs(15));
    assert!(status.success());
    let all = lines.join("\n");
    assert!(all.contains("INFO"), "{all}");
    assert!(
        !all.contains('\u{1b}'),
        "escape codes in a redirected log: {all:?}"
    );
}

#[test]
fn reaching_max_connections_is_logged_and_counted() {
    let s = serve(
        &[
            "serve",
            "echo",
            "--bind",
            "127.0.0.1:0",
            "--max-connections",
            "1",
            "--metrics",
            "127.0.0.1:0",
        ],
        &[],
        2,
    );
    let first = TcpStream::connect(s.addr("echo")).unwrap();
    // The second one finds the limit reached and waits (in the server's queue).
    let second = TcpStream::connect(s.addr("echo")).unwrap();
    let line = s.log_line("max_connections reached");
    assert!(line.contains("max_connections=1"), "{line}");
    let text = scrape(s.addr("metrics"));
    assert!(
        text.contains("quasar_server_max_connections_waits_total{server=\"echo\"} 1"),
        "{text}"
    );
    drop((first, second));
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}

// ===== shutdown =====

#[test]
fn the_first_signal_logs_the_deadline_and_a_second_forces_the_exit() {
    let s = serve(&["serve", "echo", "--bind", "127.0.0.1:0"], &[], 1);
    // A request in flight: half a message keeps the connection busy past the signal.
    let mut busy = TcpStream::connect(s.addr("echo")).unwrap();
    busy.write_all(b"half a mess").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.signal();
    let line = s.log_line("closing gracefully");
    assert!(
        line.contains("open_connections=1") && line.contains("deadline_secs=10"),
        "{line}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    s.signal();
    let (status, rest) = s.wait(Duration::from_secs(3));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the second signal did not force the exit"
    );
    assert!(status.success());
    let last = rest.last().expect("a final line");
    assert!(
        last.contains("closed")
            && last.contains("forced=1")
            && last.contains("finished_in_flight=0"),
        "{rest:?}"
    );
}

// ===== CLI =====

#[test]
fn bind_takes_a_host_name() {
    let s = serve(&["serve", "echo", "--bind", "localhost:0"], &[], 1);
    let addr = s.addr("echo");
    assert!(addr.ip().is_loopback());
    assert_eq!(echo(addr, b"named\r\n\r\n"), b"named\r\n\r\n");
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}

#[test]
fn bind_with_two_addresses_opens_two_listeners() {
    let s = serve(
        &["serve", "echo", "--bind", "127.0.0.1:0,127.0.0.2:0"],
        &[],
        2,
    );
    let ips: Vec<String> = s
        .lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert!(
        ips[0].starts_with("127.0.0.1:") && ips[1].starts_with("127.0.0.2:"),
        "{ips:?}"
    );
    for line in &s.lines {
        let addr: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(echo(addr, b"x\r\n\r\n"), b"x\r\n\r\n");
    }
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}

#[test]
fn udp_echo_raw_returns_each_datagram_unchanged() {
    let s = serve(
        &["serve", "udp-echo", "--bind", "127.0.0.1:0", "--raw"],
        &[],
        1,
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.connect(s.addr("udp-echo")).unwrap();
    sock.send(b"a\nb\nc").unwrap();
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).expect("a reply");
    assert_eq!(&buf[..n], b"a\nb\nc");
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}

#[test]
fn help_shows_defaults_and_version_prints() {
    let out = run(&["serve", "echo", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[default: 127.0.0.1:8060]"), "{help}");
    assert!(help.contains("[default: 10000]"), "{help}");
    let out = run(&["--version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("quasar {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bench_against_a_closed_port_fails_within_two_seconds() {
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let out = run(&["bench", "echo", "--addr", &addr, "--duration", "5s"], &[]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && err.contains(&addr),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "no report for a run that never started"
    );
}

#[test]
fn bench_raw_against_the_framed_server_suggests_the_framing() {
    let s = serve(
        &["serve", "echo", "--bind", "127.0.0.1:0"],
        &[("RUST_LOG", "warn")],
        1,
    );
    let addr = s.addr("echo").to_string();
    let out = run(
        &[
            "bench",
            "echo",
            "--addr",
            &addr,
            "--raw",
            "--connections",
            "2",
            "--duration",
            "300ms",
            "--warmup",
            "0s",
            "--drain",
            "300ms",
        ],
        &[("RUST_LOG", "warn")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expected each reply to equal its request") && err.contains("drop --raw"),
        "{err}"
    );
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}
