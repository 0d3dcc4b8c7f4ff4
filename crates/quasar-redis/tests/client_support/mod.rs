//! A real `redis-server` for the client tests: started on a free loopback port with no
//! persistence, killed by PID when dropped.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    extra: Vec<String>,
}

/// Starts a server; a missing `redis-server` fails the test saying what to install, so a
/// test never passes without having run.
pub fn start() -> RedisServer {
    start_with(&[])
}

/// As [`start`], with extra `redis-server` arguments (`["--requirepass", "pw"]`).
pub fn start_with(extra: &[&str]) -> RedisServer {
    let installed = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    assert!(
        installed,
        "redis-server not found on PATH: apt-get install redis-server (or run .ci/run)"
    );
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    // A port freed just now can be taken by another test before the server binds it:
    // try a few.
    for _ in 0..10 {
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            extra: extra.clone(),
        };
        if server.spawn() {
            return server;
        }
    }
    panic!("could not start redis-server on a free port");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl RedisServer {
    fn spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--loglevel", "notice"])
            .args(&self.extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        // Ready when the child itself says so, not when a connect succeeds: the port freed by
        // `free_port` can be taken by another process (or another test's server) before this
        // one binds it, and a connect would then reach that process. A child that cannot bind
        // exits, which closes its stdout. The reader drains stdout for the server's life.
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("Ready to accept connections") {
                    let _ = ready_tx.send(());
                }
            }
        });
        self.child = Some(child);
        if ready_rx.recv_timeout(Duration::from_secs(10)).is_ok() {
            return true;
        }
        self.kill(); // exited (the port was taken) or never ready
        false
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:PORT` followed by `rest` (`"/2"`, `"?protocol=resp3"`).
    pub fn url(&self, rest: &str) -> String {
        format!("redis://127.0.0.1:{}{rest}", self.port)
    }

    /// Kills the server (SIGKILL, by PID) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (`true`, SIGSTOP) or continues (`false`, SIGCONT) the server: stopped, it is a
    /// black hole, as the kernel still accepts its connections and takes their bytes.
    pub fn pause(&self, stop: bool) {
        let child = self.child.as_ref().expect("a running server");
        let signal = if stop { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill on PATH");
        assert!(status.success(), "kill {signal}");
    }

    /// Kills the server and starts a new one on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Awaits `fut`, failing the test after 10 seconds.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}
