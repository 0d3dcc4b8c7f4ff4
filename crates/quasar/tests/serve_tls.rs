//! `quasar serve echo --tls-*` run as a user would, with `openssl s_client` as the peer:
//! echo over TLS, ALPN shown, client certificates required and presented, PKCS#1 and
//! SEC1 keys, certificate reload on SIGHUP, and a clear exit 2 for a missing file; then
//! the same flags on `serve http` (`curl --cacert`) and `serve resp` (`redis-cli --tls`).
//! Certificates are made per test (rcgen, and openssl for the legacy key formats).

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const WAIT: Duration = Duration::from_secs(10);

/// Requires `openssl` on PATH.
fn require_openssl() {
    require("openssl", "version", "openssl");
}

/// Requires `program` to run (`program arg` succeeds); a missing one fails the test saying
/// what to install, so a test never passes without having run.
fn require(program: &str, arg: &str, package: &str) {
    let ok = Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{program} not found on PATH: apt-get install {package} (or run .ci/run)"
    );
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quasar-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes `<stem>.pem` and `<stem>.key` for a leaf named `cn` (and localhost) into `dir`.
    fn write_leaf(&self, dir: &Path, stem: &str, cn: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap().pem();
        let (c, k) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn spawn(args: &[&str]) -> Server {
        Server::spawn_as("echo", args)
    }

    /// `quasar serve <protocol> --bind 127.0.0.1:0 <args>`, expecting a TLS address line.
    fn spawn_as(protocol: &str, args: &[&str]) -> Server {
        let (child, line) = common::spawn_announcing(
            Command::new(env!("CARGO_BIN_EXE_quasar"))
                .args(["serve", protocol, "--bind", "127.0.0.1:0"])
                .args(args),
        );
        let addr = line
            .strip_prefix(&format!("{protocol} tls "))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .parse()
            .unwrap();
        Server { child, addr }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `openssl s_client` against `addr`, sends `input`, and returns everything it
/// printed (stdout and stderr) once `done` holds or after [`WAIT`].
fn s_client(addr: SocketAddr, args: &[&str], input: &[u8], done: impl Fn(&str) -> bool) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    let out = Arc::new(Mutex::new(String::new()));
    let readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|mut pipe| {
        let out = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                out.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    })
    .collect();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    let start = Instant::now();
    while !done(&out.lock().unwrap()) && start.elapsed() < WAIT {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(stdin);
    for r in readers {
        let _ = r.join();
    }

    out.lock().unwrap().clone()
}

#[test]
fn a_missing_certificate_file_is_exit_2_naming_the_file() {
    let dir = scratch("missing");
    let key = dir.join("key.pem");
    std::fs::write(&key, "not a key").unwrap();
    let missing = dir.join("no-such-cert.pem");
    // Every TCP server takes the same flags and fails the same way.
    for protocol in ["echo", "http", "resp"] {
        let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
            .args(["serve", protocol, "--bind", "127.0.0.1:0", "--tls-cert"])
            .arg(&missing)
            .arg("--tls-key")
            .arg(&key)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{protocol}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&*missing.to_string_lossy()),
            "{protocol}: {err}"
        );
    }

    // The certificate is fine, the key file is not a key: the key file is named.
    let ca = Ca::new("ca");
    let (cert, _) = ca.write_leaf(&dir, "server", "server");
    let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args(["serve", "echo", "--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&*key.to_string_lossy()), "{err}");
}

#[test]
fn openssl_s_client_gets_the_echo_and_sees_alpn() {
    require_openssl();
    let dir = scratch("echo");
    let ca = Ca::new("test CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let (cert, key) = ca.write_leaf(&dir, "server", "server");
    let server = Server::spawn(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-alpn",
        "echo,other",
    ]);
    let out = s_client(
        server.addr,
        &[
            "-servername",
            "localhost",
            "-alpn",
            "echo",
            "-CAfile",
            ca_file.to_str().unwrap(),
        ],
        b"hello tls\r\n\r\n",
        |o| o.contains("hello tls") && o.contains("ALPN protocol"),
    );
    assert!(out.contains("ALPN protocol: echo"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("hello tls"), "{out}");
}

#[test]
fn client_certificates_are_required_with_tls_client_ca() {
    require_openssl();
    let dir = scratch("mtls");
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let (cert, key) = ca.write_leaf(&dir, "server", "server");
    let (ccert, ckey) = client_ca.write_leaf(&dir, "client", "client");
    let client_ca_file = client_ca.write(&dir, "client-ca.pem");
    let server = Server::spawn(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-client-ca",
        client_ca_file.to_str().unwrap(),
    ]);
    let out = s_client(
        server.addr,
        &[
            "-quiet",
            "-cert",
            ccert.to_str().unwrap(),
            "-key",
            ckey.to_str().unwrap(),
        ],
        b"with a certificate\r\n\r\n",
        |o| o.contains("with a certificate"),
    );
    assert!(out.contains("with a certificate"), "{out}");

    let out = s_client(server.addr, &["-quiet"], b"anonymous\r\n\r\n", |o| {
        o.contains("anonymous") || o.contains("alert")
    });
    assert!(
        !out.contains("anonymous"),
        "served without a certificate: {out}"
    );
    assert!(out.contains("alert"), "{out}");
}

/// A self-signed certificate for a key of `algorithm`, the key rewritten by openssl in
/// its legacy format (PKCS#1 for RSA, SEC1 for EC); returns (cert, key).
fn legacy_key_cert(dir: &Path, algorithm: &str, begin: &str) -> (PathBuf, PathBuf) {
    let (cert, pkcs8, legacy) = (
        dir.join(format!("{algorithm}.pem")),
        dir.join(format!("{algorithm}-pkcs8.key")),
        dir.join(format!("{algorithm}.key")),
    );
    let newkey: &[&str] = match algorithm {
        "rsa" => &["-newkey", "rsa:2048"],
        _ => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    };
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(newkey)
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(&pkcs8)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let ok = Command::new("openssl")
        .args(["pkey", "-traditional", "-in"])
        .arg(&pkcs8)
        .arg("-out")
        .arg(&legacy)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let text = std::fs::read_to_string(&legacy).unwrap();
    assert!(text.starts_with(begin), "{text}");
    (cert, legacy)
}

#[test]
fn pkcs1_and_sec1_keys_serve() {
    require_openssl();
    let dir = scratch("keys");
    for (algorithm, begin) in [
        ("rsa", "-----BEGIN RSA PRIVATE KEY-----"),
        ("ec", "-----BEGIN EC PRIVATE KEY-----"),
    ] {
        let (cert, key) = legacy_key_cert(&dir, algorithm, begin);
        let server = Server::spawn(&[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        let out = s_client(server.addr, &["-quiet"], b"legacy key\r\n\r\n", |o| {
            o.contains("legacy key")
        });
        assert!(out.contains("legacy key"), "{algorithm}: {out}");
    }
}

#[test]
fn sighup_reloads_the_certificate_for_new_connections() {
    require_openssl();
    let dir = scratch("reload");
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let (cert, key) = old_ca.write_leaf(&dir, "server", "old server");
    let server = Server::spawn(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    // openssl 3.0 prints "CN = name", later versions "CN=name".
    let subject =
        |addr| s_client(addr, &[], b"", |o| o.contains("Verify return code")).replace(" = ", "=");
    let out = subject(server.addr);
    assert!(out.contains("CN=old server"), "{out}");

    new_ca.write_leaf(&dir, "server", "new server");
    server.signal("-HUP");
    let start = Instant::now();
    loop {
        let out = subject(server.addr);
        if out.contains("CN=new server") {
            break;
        }
        assert!(start.elapsed() < WAIT, "still the old certificate: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A bad file on the next SIGHUP keeps the new certificate.
    std::fs::write(&key, "garbage").unwrap();
    server.signal("-HUP");
    std::thread::sleep(Duration::from_millis(300));
    let out = subject(server.addr);
    assert!(out.contains("CN=new server"), "{out}");
}

/// Runs `program args` with a time limit and returns (success, stdout + stderr).
fn run_peer(program: &str, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > WAIT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn curl_with_cacert_gets_the_http_server_over_tls() {
    require("curl", "--version", "curl");
    let dir = scratch("curl");
    let ca = Ca::new("http CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let (cert, key) = ca.write_leaf(&dir, "server", "server");
    let server = Server::spawn_as(
        "http",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("https://localhost:{}/echo", server.addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
    let (ok, out) = run_peer(
        "curl",
        &[
            "-sS",
            "--cacert",
            ca_file.to_str().unwrap(),
            "--resolve",
            &resolve,
            "--data-binary",
            "hello over https",
            &url,
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out, "hello over https");

    // Without the CA, curl refuses the server: verification is real.
    let (ok, out) = run_peer("curl", &["-sS", "--resolve", &resolve, &url]);
    assert!(!ok, "verified without the CA: {out}");
    assert!(out.to_lowercase().contains("certificate"), "{out}");

    // Plain HTTP on the TLS port is not served, and the server goes on.
    let plain = format!("http://127.0.0.1:{}/", server.addr.port());
    let (ok, out) = run_peer("curl", &["-sS", "--max-time", "5", &plain]);
    assert!(!ok, "plaintext served on the TLS port: {out}");
    let (ok, out) = run_peer(
        "curl",
        &[
            "-sS",
            "--cacert",
            ca_file.to_str().unwrap(),
            "--resolve",
            &resolve,
            "--data-binary",
            "still serving",
            &url,
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out, "still serving");
}

#[test]
fn redis_cli_tls_talks_to_the_resp_server() {
    require("redis-cli", "--version", "redis-tools");
    let dir = scratch("redis-cli");
    let ca = Ca::new("resp CA");
    let ca_file = ca.write(&dir, "ca.pem");
    let (cert, key) = ca.write_leaf(&dir, "server", "server");
    let server = Server::spawn_as(
        "resp",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = server.addr.port().to_string();
    let cli = |cmd: &[&str]| {
        let mut args = vec![
            "--tls",
            "--cacert",
            ca_file.to_str().unwrap(),
            "--sni",
            "localhost",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
        ];
        args.extend_from_slice(cmd);
        run_peer("redis-cli", &args)
    };
    let (ok, out) = cli(&["SET", "greeting", "over tls"]);
    assert!(ok && out.trim() == "OK", "{out}");
    let (ok, out) = cli(&["GET", "greeting"]);
    assert!(ok && out.trim() == "over tls", "{out}");
}
