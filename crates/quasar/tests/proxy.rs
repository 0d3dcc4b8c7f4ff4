//! `quasar serve proxy` run as a user would, with real clients: `curl -x` to quasar's own
//! HTTP server, `curl -x` and `https_proxy=` to its TLS server through `CONNECT` (with
//! `--cacert`), 407 then 200 with `--proxy-user`, 403 for a `CONNECT` port not allowed,
//! and a WebSocket through the proxy: a raw `CONNECT` + handshake, and Python's
//! `websockets` with its `proxy=` (an `#[ignore]`d test, run by `.ci/run`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A `quasar serve` child, killed if the test fails before stopping it.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(protocol: &str, args: &[&str]) -> Proc {
    let (child, addr) = common::spawn_listening(
        Command::new(env!("CARGO_BIN_EXE_quasar"))
            .args(["serve", protocol, "--bind", "127.0.0.1:0"])
            .args(args),
    );
    Proc { child, addr }
}

/// Fails naming the package when `curl` is missing: the test never passes unrun.
fn require_curl() {
    let ok = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "curl not found on PATH: apt-get install curl (or run .ci/run)"
    );
}

/// `curl -s` with `args`, no proxy from the environment unless `env` gives one.
fn curl(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("curl");
    for var in [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .args(["-s", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA and a leaf for `localhost` signed by it, written into a fresh directory:
/// returns (ca.pem, cert.pem, key.pem).
fn pki(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("quasar-proxy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "proxy test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap().pem();
    let write = |file: &str, body: &str| -> PathBuf {
        let p = dir.join(file);
        std::fs::write(&p, body).unwrap();
        p
    };
    (
        write("ca.pem", &ca_pem),
        write("cert.pem", &cert),
        write("key.pem", &key.serialize_pem()),
    )
}

fn tls_http(cert: &Path, key: &Path) -> Proc {
    serve(
        "http",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
}

#[test]
fn curl_x_reaches_quasars_http_server_through_serve_proxy() {
    require_curl();
    let http = serve("http", &[]);
    let proxy = serve("proxy", &[]);
    let via = format!("http://{}", proxy.addr);
    let out = curl(&["-x", &via, &format!("http://{}/", http.addr)], &[]);
    assert_eq!(text(&out), "Hello, World!", "{out:?}");

    // A body both ways, and the headers the upstream saw (`/get` reports them).
    let body = "x".repeat(100_000);
    let out = curl(
        &[
            "-x",
            &via,
            "--data-binary",
            &body,
            &format!("http://{}/echo", http.addr),
        ],
        &[],
    );
    assert_eq!(text(&out), body);
    let out = curl(
        &["-x", &via, "-i", &format!("http://{}/get", http.addr)],
        &[],
    );
    let answer = text(&out).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200 ok\r\n"), "{answer}");
    assert!(answer.contains("\r\nvia: 1.1 quasar-"), "{answer}");
    assert!(answer.contains("x-forwarded-for"), "{answer}");
    assert!(!answer.contains("proxy-connection"), "{answer}");

    // Nothing listens there: 502 saying why.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = curl(
        &[
            "-x",
            &via,
            "-w",
            "\n%{http_code}",
            &format!("http://{dead}/"),
        ],
        &[],
    );
    let answer = text(&out);
    assert!(answer.ends_with("\n502"), "{answer}");
    assert!(answer.contains("upstream connect failed"), "{answer}");
}

#[test]
fn curl_x_and_https_proxy_reach_quasars_tls_server_through_connect() {
    require_curl();
    let (ca, cert, key) = pki("tls");
    let tls = tls_http(&cert, &key);
    let proxy = serve("proxy", &["--connect-ports", "*"]);
    let via = format!("http://{}", proxy.addr);
    let url = format!("https://localhost:{}/", tls.addr.port());
    let ca = ca.to_str().unwrap();
    let out = curl(&["-x", &via, "--cacert", ca, &url], &[]);
    assert_eq!(text(&out), "Hello, World!", "{out:?}");
    let out = curl(&["--cacert", ca, &url], &[("https_proxy", &via)]);
    assert_eq!(text(&out), "Hello, World!", "https_proxy: {out:?}");
    // The tunnel really went through the proxy: curl reports the CONNECT's status.
    let out = curl(
        &[
            "--cacert",
            ca,
            "-o",
            "/dev/null",
            "-w",
            "%{http_connect}",
            &url,
        ],
        &[("https_proxy", &via)],
    );
    assert_eq!(text(&out), "200");
}

#[test]
fn connect_to_a_port_not_allowed_is_403() {
    require_curl();
    let (ca, cert, key) = pki("ports");
    let tls = tls_http(&cert, &key);
    let proxy = serve("proxy", &[]); // 443 only
    let via = format!("http://{}", proxy.addr);
    let url = format!("https://localhost:{}/", tls.addr.port());
    let out = curl(
        &[
            "-x",
            &via,
            "--cacert",
            ca.to_str().unwrap(),
            "-w",
            "%{http_connect}",
            &url,
        ],
        &[],
    );
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(text(&out), "403");
}

#[test]
fn auth_gives_407_without_credentials_and_200_with() {
    require_curl();
    let http = serve("http", &[]);
    let proxy = serve("proxy", &["--auth", "alice:s3cret"]);
    let via = format!("http://{}", proxy.addr);
    let url = format!("http://{}/", http.addr);
    let out = curl(&["-x", &via, "-i", &url], &[]);
    let answer = text(&out).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 407 "), "{answer}");
    assert!(answer.contains("proxy-authenticate: basic"), "{answer}");
    let out = curl(
        &[
            "-x",
            &via,
            "--proxy-user",
            "alice:wrong",
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            &url,
        ],
        &[],
    );
    assert_eq!(text(&out), "407");
    let out = curl(&["-x", &via, "--proxy-user", "alice:s3cret", &url], &[]);
    assert_eq!(text(&out), "Hello, World!");
    // The credentials in the proxy URL work the same way.
    let with_user = format!("http://alice:s3cret@{}", proxy.addr);
    let out = curl(&["-x", &with_user, &url], &[]);
    assert_eq!(text(&out), "Hello, World!");
}

#[test]
fn a_raw_connect_and_websocket_handshake_reach_quasars_websocket_echo() {
    let http = serve("http", &[]);
    let proxy = serve("proxy", &["--connect-ports", &http.addr.port().to_string()]);
    let mut tcp = TcpStream::connect(proxy.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let target = http.addr;
    write!(
        tcp,
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n\
         GET /ws HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.windows(4).filter(|w| w == b"\r\n\r\n").count() < 2 {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let heads = String::from_utf8_lossy(&got).into_owned();
    assert!(
        heads.starts_with("HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 101 "),
        "{heads}"
    );
    let mask = [9u8, 8, 7, 6];
    let mut frame = vec![0x81, 0x80 | 2];
    frame.extend_from_slice(&mask);
    frame.extend(b"hi".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&frame).unwrap();
    let mut echo = [0u8; 4];
    tcp.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"\x81\x02hi");
}

/// The Python with `websockets` 15 or later (its `connect(proxy=...)`); fails saying what
/// to install when there is none.
fn python_websockets() -> String {
    let python = std::env::var("QUASAR_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args([
            "-c",
            "import websockets, sys; sys.exit(int(websockets.__version__.split('.')[0]) < 15)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{python} cannot import websockets >= 15 (proxy support): `python3 -m venv VENV && \
         VENV/bin/pip install -r scripts/requirements-test.txt`, then set \
         QUASAR_PYTHON=VENV/bin/python (.ci/run does both)"
    );
    python
}

#[test]
#[ignore = "needs Python websockets >= 15 (scripts/requirements-test.txt); run with --include-ignored"]
fn python_websockets_reaches_the_websocket_echo_through_the_proxy() {
    let python = python_websockets();
    let http = serve("http", &[]);
    let proxy = serve("proxy", &["--connect-ports", &http.addr.port().to_string()]);
    let script = format!(
        r#"
import asyncio
from websockets.asyncio.client import connect

async def main():
    async with connect("ws://{target}/ws", proxy="http://{proxy}") as ws:
        await ws.send("through the proxy")
        print(await ws.recv(), flush=True)

asyncio.run(main())
"#,
        target = http.addr,
        proxy = proxy.addr,
    );
    let out = Command::new(&python)
        .args(["-c", &script])
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "through the proxy"
    );
}

#[test]
fn the_metrics_endpoint_counts_requests_tunnels_bytes_and_upstream_errors() {
    use std::io::{BufRead, BufReader};
    require_curl();
    let http = serve("http", &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args([
            "serve",
            "proxy",
            "--bind",
            "127.0.0.1:0",
            "--connect-ports",
            "*",
        ])
        .args(["--metrics", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("quasar starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr_of = |prefix: &str| -> SocketAddr {
        let line = lines.next().unwrap().unwrap();
        line.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap()
    };
    let proxy = Proc {
        addr: addr_of("proxy tcp "),
        child,
    };
    let metrics = addr_of("metrics http ");
    let via = format!("http://{}", proxy.addr);
    let out = curl(
        &["-x", &via, &format!("http://{}/bytes/1000", http.addr)],
        &[],
    );
    assert_eq!(out.stdout.len(), 1000);
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    curl(&["-x", &via, &format!("http://{dead}/")], &[]);
    let mut tcp = TcpStream::connect(proxy.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(tcp, "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", http.addr).unwrap();
    let mut head = [0u8; 39];
    tcp.read_exact(&mut head).unwrap();
    assert_eq!(&head[..], b"HTTP/1.1 200 Connection established\r\n\r\n");
    // A request through the tunnel: both relays are up once its answer is back.
    write!(tcp, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"Hello, World!") {
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    let text = text(&curl(&[&format!("http://{metrics}/metrics")], &[]));
    let listener = format!("listener=\"{}\"", proxy.addr);
    for want in [
        format!("quasar_proxy_requests_total{{{listener}}} 2"),
        format!("quasar_proxy_tunnels_total{{{listener}}} 1"),
        format!("quasar_proxy_tunnels_open{{{listener}}} 1"),
        format!("quasar_proxy_relayed_bytes_total{{{listener},direction=\"up\"}} 27"),
        format!("quasar_proxy_upstream_errors_total{{{listener},kind=\"connect_failed\"}} 1"),
        "quasar_server_requests_total{server=\"proxy\"}".to_string(),
    ] {
        assert!(text.contains(&want), "{want} not in:\n{text}");
    }
}
