//! `quasar serve --metrics`: the Prometheus endpoint, its counters against known traffic, and
//! (with Python's prometheus_client) its exposition format. Each test drives the binary as a
//! process.

mod served;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use served::{scrape, serve};

/// The Python with `prometheus_client`: `QUASAR_PYTHON` (the venv of
/// `scripts/requirements-test.txt`, set by .ci/run), else the older `QUASAR_METRICS_PYTHON`,
/// else `python3`. Fails saying what to install when it cannot import prometheus_client.
fn python() -> String {
    let py = ["QUASAR_PYTHON", "QUASAR_METRICS_PYTHON"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok())
        .unwrap_or_else(|| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{py} cannot import prometheus_client: `python3 -m venv VENV && \
         VENV/bin/pip install -r scripts/requirements-test.txt`, then set \
         QUASAR_PYTHON=VENV/bin/python (.ci/run does both)"
    );
    py
}

/// Parses `text` with the OpenMetrics parser of Python's prometheus_client and returns
/// `name{labels} value` per sample.
fn parse_with_python(py: &str, text: &str) -> Vec<String> {
    let script = [
        "import sys",
        "from prometheus_client.openmetrics.parser import text_string_to_metric_families",
        "for f in text_string_to_metric_families(sys.stdin.read()):",
        "    for s in f.samples:",
        "        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))",
        "        print(f'{s.name}{{{labels}}} {int(s.value)}')",
    ]
    .join("\n");
    let mut child = Command::new(py)
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser rejected the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_metrics_counters_follow_known_traffic() {
    metrics_follow_known_traffic(|text| {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.replace("{server=\"echo\"}", "{server=echo}"))
            .collect()
    });
}

#[test]
#[ignore = "needs python3 with prometheus_client (scripts/requirements-test.txt); run with --include-ignored"]
fn the_metrics_endpoint_parses_and_its_counters_follow_known_traffic() {
    let py = python();
    metrics_follow_known_traffic(|text| parse_with_python(&py, text));
}

/// Drives known echo traffic and checks the counters before and after, reading the samples
/// (`name{labels} value`) with `samples`.
fn metrics_follow_known_traffic(samples: impl Fn(&str) -> Vec<String>) {
    let s = serve(
        &["serve", "--metrics", "127.0.0.1:0"],
        &[
            ("QUASAR_ECHO_BIND", "127.0.0.1:0"),
            ("QUASAR_CHAT_BIND", "127.0.0.1:0"),
            ("QUASAR_UDP_ECHO_BIND", "127.0.0.1:0"),
            ("QUASAR_HTTP_BIND", "127.0.0.1:0"),
            ("QUASAR_RESP_BIND", "127.0.0.1:0"),
            ("QUASAR_PROXY_BIND", "127.0.0.1:0"),
        ],
        7,
    );
    let metrics = s.addr("metrics");
    let before = scrape(metrics);
    let mut sock = TcpStream::connect(s.addr("echo")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..3 {
        sock.write_all(b"ping\r\n\r\n").unwrap();
        let mut reply = [0u8; 8];
        sock.read_exact(&mut reply).unwrap();
    }
    drop(sock);
    // The byte counts follow the socket writes the client has already seen.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let text = scrape(metrics);
        if text.contains("quasar_server_written_bytes_total{server=\"echo\"} 24")
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for (text, requests, bytes) in [(&before, 0, 0), (&after, 3, 24)] {
        let samples = samples(text);
        for want in [
            format!("quasar_server_requests_total{{server=echo}} {requests}"),
            format!("quasar_server_read_bytes_total{{server=echo}} {bytes}"),
            format!("quasar_server_written_bytes_total{{server=echo}} {bytes}"),
        ] {
            assert!(samples.contains(&want), "no {want:?} in {samples:#?}");
        }
        for server in ["http", "resp", "udp-echo"] {
            assert!(
                text.contains(&format!("server=\"{server}\"")),
                "{server} missing: {text}"
            );
        }
    }
    s.signal();
    assert!(s.wait(Duration::from_secs(15)).0.success());
}
