//! The overload flags shared by every TCP server of `quasar serve` (`--overflow`,
//! `--max-queue-time`, `--memory-budget`), driven through the binary: a refused client
//! of `serve http` hears `503`, one of `serve resp` hears Redis's error, and a bad size
//! is a usage error.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Server(Child, SocketAddr);

impl Server {
    fn spawn(args: &[&str]) -> Server {
        let (child, addr) =
            common::spawn_listening(Command::new(env!("CARGO_BIN_EXE_quasar")).args(args));
        Server(child, addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `req` on a fresh connection and reads at most `len` bytes (or to EOF).
fn exchange(tcp: &mut TcpStream, req: &[u8], len: usize) -> Vec<u8> {
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(req).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < len {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&out)),
        }
    }
    out
}

fn rejecting(protocol: &str) -> Server {
    Server::spawn(&[
        "serve",
        protocol,
        "--bind",
        "127.0.0.1:0",
        "--max-connections",
        "1",
        "--overflow",
        "reject",
    ])
}

#[test]
fn serve_http_rejects_over_max_connections_with_503() {
    let server = rejecting("http");
    let mut held = TcpStream::connect(server.1).unwrap();
    let first = exchange(&mut held, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 17);
    assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"), "{first:?}");
    let start = Instant::now();
    let mut extra = TcpStream::connect(server.1).unwrap();
    let out = exchange(&mut extra, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", usize::MAX);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    assert!(out.to_ascii_lowercase().contains("retry-after: 1"), "{out}");
    assert!(start.elapsed() < Duration::from_secs(3), "answered at once");
}

#[test]
fn serve_resp_rejects_over_max_connections_like_redis() {
    let server = rejecting("resp");
    let mut held = TcpStream::connect(server.1).unwrap();
    assert_eq!(exchange(&mut held, b"PING\r\n", 7), b"+PONG\r\n");
    let mut extra = TcpStream::connect(server.1).unwrap();
    let out = exchange(&mut extra, b"PING\r\n", usize::MAX);
    assert_eq!(out, b"-ERR max number of clients reached\r\n");
}

#[test]
fn a_bad_memory_budget_is_a_usage_error_on_every_tcp_server() {
    for protocol in ["echo", "http", "resp"] {
        let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
            .args(["serve", protocol, "--memory-budget", "lots"])
            .output()
            .expect("quasar runs");
        assert_eq!(out.status.code(), Some(2), "{protocol}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("memory-budget"), "{protocol}: {err}");
    }
}

#[test]
fn resp_takes_a_request_timeout_flag_and_validates_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args(["serve", "resp", "--request-timeout=-1"])
        .output()
        .expect("quasar runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("request-timeout"), "{err}");
}
