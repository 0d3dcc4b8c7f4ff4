//! Every setting in every layer: the TLS and overload settings of a configuration file
//! or of `QUASAR_*` variables show in `quasar config show` and take effect in
//! `quasar serve` (a TLS server from a file answers over TLS with the file's ALPN; a
//! `reject` overflow from a file answers the busy reply; a `[metrics]` address from a
//! file serves metrics), and half a TLS setup or a bad policy in a file is a usage error
//! naming the key.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use quasar_net::tls::{rustls, tokio_rustls, PemSource, TlsConnector};
use rcgen::{CertificateParams, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest wait for one reply (a bound, not a pace: replies come at once).
const WAIT: Duration = Duration::from_secs(10);

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quasar-layers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A self-signed certificate for `localhost` and its key, written into `dir`.
fn write_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn quasar(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quasar"));
    cmd.args(args).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    quasar(args, env).output().expect("quasar runs")
}

fn show_json(file: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    let out = run(
        &[
            "config",
            "show",
            "--config",
            file.to_str().unwrap(),
            "--format",
            "json",
        ],
        env,
    );
    assert!(out.status.success(), "{}", common::describe(&out));
    serde_json::from_slice(&out.stdout).expect("config show --format json parses")
}

/// A `quasar serve` child, killed on drop so that a failing test leaves no server.
struct Served {
    child: Child,
    line: String,
}

impl Served {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Served {
        let (child, line) = common::spawn_announcing(&mut quasar(args, env));
        Served { child, line }
    }

    /// The address of the first line, which must start with `prefix` (`echo tls`).
    fn addr(&self, prefix: &str) -> SocketAddr {
        let rest = self.line.strip_prefix(prefix);
        let rest = rest.unwrap_or_else(|| panic!("{prefix:?} expected, got {:?}", self.line));
        rest.trim().parse().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `msg` over TLS trusting only `ca` for `localhost`, offering ALPN `echo`;
/// returns the reply and the protocol the server chose.
fn tls_exchange(addr: SocketAddr, ca: &Path, msg: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = TlsConnector::builder()
            .ca(PemSource::file(ca))
            .platform_roots(false)
            .server_name("localhost")
            .alpn(["echo"])
            .build()
            .unwrap()
            .config()
            .clone();
        let connector = tokio_rustls::TlsConnector::from(config);
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio::time::timeout(WAIT, connector.connect(name, tcp))
            .await
            .expect("handshake in time")
            .expect("handshake verifies against the CA");
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        tls.write_all(msg).await.unwrap();
        let mut reply = vec![0; msg.len()];
        tokio::time::timeout(WAIT, tls.read_exact(&mut reply))
            .await
            .expect("reply in time")
            .unwrap();
        (reply, alpn)
    })
}

#[test]
fn tls_and_overload_settings_of_a_file_show_and_serve_tls() {
    let dir = scratch("file");
    let (cert, key) = write_cert(&dir);
    let file = dir.join("quasar.toml");
    std::fs::write(
        &file,
        format!(
            "[echo]\nbind = \"127.0.0.1:0\"\ntls_cert = {:?}\ntls_key = {:?}\n\
             tls_alpn = [\"echo\"]\n\
             memory_budget = \"64MiB\"\noverflow = \"reject\"\nmax_queue_time = 2\n",
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        ),
    )
    .unwrap();
    let env = [
        ("QUASAR_HTTP_MEMORY_BUDGET", "1000"),
        ("QUASAR_HTTP_TLS_ALPN", "h2,http/1.1"),
    ];
    let cfg = show_json(&file, &env);
    let echo = &cfg["echo"];
    assert_eq!(echo["tls_cert"], cert.to_str().unwrap());
    assert_eq!(echo["tls_key"], key.to_str().unwrap());
    assert_eq!(echo["tls_client_ca"], "");
    assert_eq!(echo["tls_alpn"], serde_json::json!(["echo"]));
    assert_eq!(echo["memory_budget"], "64MiB");
    assert_eq!(echo["overflow"], "reject");
    assert_eq!(echo["max_queue_time"], 2.0);
    // The environment layer reaches the same keys; other sections keep the defaults.
    assert_eq!(cfg["http"]["memory_budget"], "1000");
    assert_eq!(
        cfg["http"]["tls_alpn"],
        serde_json::json!(["h2", "http/1.1"])
    );
    assert_eq!(cfg["resp"]["memory_budget"], "512MiB");
    assert_eq!(cfg["resp"]["overflow"], "wait");
    assert_eq!(cfg["resp"]["tls_cert"], "");

    // The TOML form reads back unchanged, TLS and overload keys included.
    let out = run(&["config", "show", "--config", file.to_str().unwrap()], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("overflow = \"reject\""), "{text}");
    let again = dir.join("again.toml");
    std::fs::write(&again, &text).unwrap();
    let out = run(
        &["config", "show", "--config", again.to_str().unwrap()],
        &[],
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);

    // And the server runs from it: TLS from the file, verified against the certificate.
    let served = Served::spawn(&["serve", "echo", "--config", file.to_str().unwrap()], &[]);
    let addr = served.addr("echo tls ");
    let (reply, alpn) = tls_exchange(addr, &cert, b"hello\r\n\r\n");
    assert_eq!(reply, b"hello\r\n\r\n");
    assert_eq!(alpn.as_deref(), Some(&b"echo"[..]));
}

#[test]
fn tls_from_the_environment_serves_tls() {
    let dir = scratch("env");
    let (cert, key) = write_cert(&dir);
    let env = [
        ("QUASAR_ECHO_TLS_CERT", cert.to_str().unwrap()),
        ("QUASAR_ECHO_TLS_KEY", key.to_str().unwrap()),
    ];
    let served = Served::spawn(&["serve", "echo", "--bind", "127.0.0.1:0"], &env);
    let addr = served.addr("echo tls ");
    assert_eq!(tls_exchange(addr, &cert, b"env\r\n\r\n").0, b"env\r\n\r\n");
}

/// Reads until the peer closes or `WAIT` passes.
fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out);
    out
}

#[test]
fn an_overflow_policy_from_a_file_rejects_with_the_busy_reply() {
    let dir = scratch("overflow");
    let file = dir.join("quasar.toml");
    std::fs::write(
        &file,
        "[resp]\nbind = \"127.0.0.1:0\"\nmax_connections = 1\n\
         overflow = \"reject\"\nmax_queue_time = 60\n",
    )
    .unwrap();
    let served = Served::spawn(&["serve", "resp", "--config", file.to_str().unwrap()], &[]);
    let addr = served.addr("resp tcp ");
    let mut held = TcpStream::connect(addr).unwrap();
    held.set_read_timeout(Some(WAIT)).unwrap();
    held.write_all(b"PING\r\n").unwrap();
    let mut pong = [0; 7];
    held.read_exact(&mut pong).unwrap();
    assert_eq!(
        &pong, b"+PONG\r\n",
        "the first connection holds the one slot"
    );
    // Under `wait` this connection would wait for the slot, silent, for longer than
    // `read_to_close` waits.
    let mut extra = TcpStream::connect(addr).unwrap();
    let _ = extra.write_all(b"PING\r\n");
    assert_eq!(
        read_to_close(&mut extra),
        b"-ERR max number of clients reached\r\n"
    );
}

#[test]
fn half_a_tls_setup_or_a_bad_policy_in_a_file_is_a_usage_error_naming_the_key() {
    let dir = scratch("bad");
    let (cert, _) = write_cert(&dir);
    for (text, needle) in [
        (
            format!("[echo]\ntls_cert = {:?}\n", cert.to_str().unwrap()),
            "tls_key",
        ),
        ("[echo]\noverflow = \"later\"\n".to_string(), "overflow"),
        (
            "[echo]\nmemory_budget = \"lots\"\n".to_string(),
            "memory_budget",
        ),
        (
            "[echo]\nmax_queue_time = -1\n".to_string(),
            "max-queue-time",
        ),
    ] {
        let file = dir.join("bad.toml");
        std::fs::write(&file, &text).unwrap();
        let out = run(
            &[
                "serve",
                "echo",
                "--bind",
                "127.0.0.1:0",
                "--config",
                file.to_str().unwrap(),
            ],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn a_metrics_address_from_a_file_serves_metrics() {
    let dir = scratch("metrics");
    let file = dir.join("quasar.toml");
    std::fs::write(&file, "[metrics]\nbind = \"127.0.0.1:0\"\n").unwrap();
    let cfg = show_json(&file, &[]);
    assert_eq!(cfg["metrics"]["bind"], "127.0.0.1:0");
    let args = [
        "serve",
        "echo",
        "--bind",
        "127.0.0.1:0",
        "--config",
        file.to_str().unwrap(),
    ];
    let mut child = quasar(&args, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("quasar starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let echo = lines.next().unwrap().unwrap();
    let metrics = lines.next().unwrap().unwrap();
    let served = Served {
        child,
        line: metrics,
    };
    assert!(echo.starts_with("echo tcp "), "{echo}");
    let addr = served.addr("metrics http ");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let text = String::from_utf8(read_to_close(&mut tcp)).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("server=\"echo\""), "{text}");
}
