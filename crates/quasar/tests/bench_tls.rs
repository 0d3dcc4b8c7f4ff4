//! `quasar bench echo --tls` against `quasar serve echo --tls-*`: steady-state load over
//! TLS verified with `--tls-ca`, `--insecure`, a new TLS connection per request, and an
//! untrusted server refused as connect errors (exit 1).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{bench, describe, json_path, read_json};

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for localhost and 127.0.0.1 in a fresh directory: (cert, key).
fn certificate(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("quasar-bench-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c, k)
}

fn serve_tls_echo(cert: &PathBuf, key: &PathBuf) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args([
            "serve",
            "echo",
            "--raw",
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
        ])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("quasar starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("echo tls ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim()
        .to_owned();
    Server { child, addr }
}

#[test]
fn raw_echo_over_tls_with_a_ca_file_passes_and_says_tls() {
    let (cert, key) = certificate("ca");
    let server = serve_tls_echo(&cert, &key);
    let path = json_path("tls");
    let out = bench(&[
        "echo",
        "--addr",
        &server.addr,
        "--raw",
        "--tls",
        "--tls-ca",
        cert.to_str().unwrap(),
        "-c",
        "4",
        "-p",
        "16",
        "-n",
        "200",
        "-d",
        "60s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("over TLS"),
        "{}",
        describe(&out)
    );
    let json = read_json(&path);
    assert_eq!(json["tls"], true);
    assert_eq!(json["connect_per_request"], false);
    assert_eq!(json["requests"], 200);
    assert_eq!(json["errors"]["total"], 0);
}

#[test]
fn a_new_tls_connection_per_request_counts_handshakes() {
    let (cert, key) = certificate("per-request");
    let server = serve_tls_echo(&cert, &key);
    let path = json_path("tls-handshakes");
    let out = bench(&[
        "echo",
        "--addr",
        &server.addr,
        "--raw",
        "--tls",
        "--insecure",
        "--connect-per-request",
        "-c",
        "2",
        "-n",
        "20",
        "-d",
        "60s",
        // Exchanges still in flight when the budget runs out are verified too; a slow
        // handshake on a loaded machine gets this long before it counts as missing.
        "--drain",
        "20s",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let json = read_json(&path);
    assert_eq!(json["connect_per_request"], true);
    // A request here is a whole connect, handshake, echo and close: twenty of them end the
    // run, however long each handshake takes (up to the 60 s bound).
    assert_eq!(json["requests"], 20, "{}", describe(&out));
    assert_eq!(json["requests_budget"], 20);
    assert_eq!(json["errors"]["total"], 0, "{}", describe(&out));
}

#[test]
fn an_untrusted_server_is_a_connect_error_and_pipelines_conflict_with_per_request() {
    let (cert, key) = certificate("untrusted");
    let server = serve_tls_echo(&cert, &key);
    // Platform roots only: the self-signed certificate is not trusted.
    let out = bench(&[
        "echo",
        "--addr",
        &server.addr,
        "--raw",
        "--tls",
        "-c",
        "1",
        "-d",
        "200ms",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect"), "{}", describe(&out));

    let out = bench(&[
        "echo",
        "--addr",
        &server.addr,
        "--tls",
        "--insecure",
        "--connect-per-request",
        "-p",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = bench(&["echo", "--addr", &server.addr, "--insecure"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--insecure without --tls: {}",
        describe(&out)
    );
}
