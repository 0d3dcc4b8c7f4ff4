//! `quasar` run as a child process, as an operator would: a `quasar serve` with its announced
//! lines and its stderr, one-shot commands, configuration files.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_quasar");

/// A running `quasar serve`, its announced lines, and its stderr collected on a thread.
pub struct Served {
    pub child: Child,
    /// The lines printed on stdout at start (`NAME ADDRESS`).
    pub lines: Vec<String>,
    pub stderr: mpsc::Receiver<String>,
}

pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub fn serve(args: &[&str], env: &[(&str, &str)], expect_lines: usize) -> Served {
    let mut child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("quasar starts");
    let stderr = collect(child.stderr.take().expect("stderr"));
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    for _ in 0..expect_lines {
        let mut line = String::new();
        out.read_line(&mut line).expect("a line on stdout");
        assert!(!line.is_empty(), "quasar exited before announcing");
        lines.push(line.trim().to_string());
    }
    Served {
        child,
        lines,
        stderr,
    }
}

pub fn collect(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A test that fails before stopping its server must not leave it running (it would hold
/// the default ports for the next test).
impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Served {
    pub fn addr(&self, name: &str) -> SocketAddr {
        let line = self
            .lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} line in {:?}", self.lines));
        line.rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .expect("an address")
    }

    /// Sends SIGTERM.
    pub fn signal(&self) {
        self.send_signal("-TERM");
    }

    /// Sends `sig` (`kill`'s spelling: `-TERM`, `-INT`).
    pub fn send_signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok);
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub fn log_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line containing {needle:?}"),
            }
        }
    }

    /// Sends SIGTERM and waits (at most 15 s) for the exit.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.signal();
        self.wait(Duration::from_secs(15)).0
    }

    /// Waits for the exit (at most `limit`) and returns the rest of stderr.
    pub fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("quasar did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let rest = self.stderr.iter().collect();
        (status, rest)
    }
}

pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("quasar runs")
}

pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("quasar-op-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

pub fn show_json(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["config", "show", "--format", "json"];
    all.extend_from_slice(args);
    let out = run(&all, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("config show --format json parses")
}

pub fn echo(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(msg).unwrap();
    let mut reply = vec![0u8; msg.len()];
    sock.read_exact(&mut reply).expect("echo reply");
    reply
}

/// `GET /metrics` from the metrics endpoint at `addr`: the OpenMetrics text.
pub fn scrape(addr: SocketAddr) -> String {
    let mut sock = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    sock.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    body.to_string()
}
