//! In-process servers and a runner for the `quasar bench` integration tests.
//!
//! The baselines live in another crate's binary, which Cargo does not build for these tests, so
//! each test starts a small tokio server of its own on a background thread (its own
//! current-thread runtime, listening on `127.0.0.1:0`) and points the `quasar` binary at it.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// How a test server misbehaves, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve correctly.
    None,
    /// TCP: drop the first byte of every read. UDP: flip the last byte of every datagram.
    Corrupt,
}

/// Runs `serve` on a fresh current-thread runtime on its own thread and returns what it sent
/// back once bound (the thread lives until the test process exits).
fn spawn_server<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(mpsc::Sender<SocketAddr>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(serve(tx));
    });
    rx.recv().expect("test server bound")
}

/// A TCP echo server: every byte read is written back (less the first of each read with
/// [`Fault::Corrupt`]).
pub fn start_tcp_echo(fault: Fault) -> SocketAddr {
    spawn_server(move |bound| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        bound.send(listener.local_addr().unwrap()).unwrap();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let skip = usize::from(fault == Fault::Corrupt);
                    if stream.write_all(&buf[skip..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// A UDP line echo: each `\n`-separated line comes back as its own datagram.
pub fn start_udp_echo(fault: Fault) -> SocketAddr {
    spawn_server(move |bound| async move {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        bound.send(socket.local_addr().unwrap()).unwrap();
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            for line in buf[..n].split(|&b| b == b'\n') {
                let mut line = line.to_vec();
                if fault == Fault::Corrupt {
                    if let Some(last) = line.last_mut() {
                        *last ^= 0x20;
                    }
                }
                let _ = socket.send_to(&line, peer).await;
            }
        }
    })
}

/// An HTTP/1.1 server answering every request head with `status` and a 13-byte body.
pub fn start_http(status: u16) -> SocketAddr {
    spawn_server(move |bound| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        bound.send(listener.local_addr().unwrap()).unwrap();
        let response =
            format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 13\r\n\r\nHello, World!");
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut out = Vec::new();
                loop {
                    match stream.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        out.extend_from_slice(response.as_bytes());
                    }
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            });
        }
    })
}

/// Runs `quasar bench` with `args` and waits for it.
pub fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quasar"))
        .arg("bench")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the quasar binary")
}

/// A fresh path for a JSON report.
pub fn json_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("quasar-bench-{}-{name}.json", std::process::id()))
}

/// Reads and parses a JSON report.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the JSON report was written");
    let _ = std::fs::remove_file(path);
    serde_json::from_str(&text).expect("the JSON report parses")
}

/// stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts `cmd` (a `quasar serve ...`) with warnings-only logs on a discarded stderr, and
/// returns it with the address its first stdout line announces (`<name> tcp <addr>`).
pub fn spawn_listening(cmd: &mut Command) -> (Child, SocketAddr) {
    let (child, line) = spawn_announcing(cmd);
    let addr = line.trim().rsplit(' ').next().and_then(|a| a.parse().ok());
    let addr = addr.unwrap_or_else(|| panic!("address in {line:?}"));
    (child, addr)
}

/// As [`spawn_listening`], returning the whole first stdout line (`<name> <transport>
/// <addr>`) for callers that check more than the address.
pub fn spawn_announcing(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("quasar starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("an address line");
    (child, line)
}
