//! Shared helpers of the server tests: an in-process server, a raw RESP client built on
//! the crate's own encoder and decoder, and real `redis-server` / tool discovery.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use quasar_net::TcpServer;
use quasar_redis::server::{RespServerConfig, RespServerFactory};
use quasar_redis::{encode_command, Decoder, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for any one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a quasar RESP server on a free loopback port.
pub async fn start_server(config: RespServerConfig) -> TcpServer {
    start_server_with(config, 0).await
}

/// Starts a quasar RESP server with `workers` current-thread workers (0 = this runtime).
pub async fn start_server_with(config: RespServerConfig, workers: usize) -> TcpServer {
    let factory = RespServerFactory::new(config.clone());
    TcpServer::builder(factory)
        .bind("127.0.0.1:0".parse().unwrap())
        .workers(workers)
        .connection_config(|c| config.apply_to(c))
        .start()
        .await
        .expect("server starts")
}

/// A RESP client over a raw socket.
pub struct RawClient {
    pub stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        RawClient {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(Limits::default()),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    pub async fn send(&mut self, args: &[&[u8]]) {
        let mut out = BytesMut::new();
        encode_command(&mut out, args.iter());
        self.send_raw(&out).await;
    }

    /// Reads one reply frame and returns its exact bytes on the wire.
    pub async fn read_raw(&mut self) -> Vec<u8> {
        tokio::time::timeout(REPLY_TIMEOUT, async {
            loop {
                let before = self.buf.clone();
                match self.decoder.decode(&mut self.buf) {
                    Ok(Some(_)) => {
                        let used = before.len() - self.buf.len();
                        return before[..used].to_vec();
                    }
                    Ok(None) => {}
                    Err(e) => panic!("bad reply: {e}: {:?}", String::from_utf8_lossy(&before)),
                }
                let n = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert!(
                    n > 0,
                    "server closed; buffered {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        })
        .await
        .expect("reply in time")
    }

    pub async fn read_frame(&mut self) -> Frame {
        let raw = self.read_raw().await;
        let mut b = BytesMut::from(&raw[..]);
        quasar_redis::decode(&mut b, &Limits::default())
            .unwrap()
            .unwrap()
    }

    /// Sends a command and returns the raw reply.
    pub async fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args).await;
        self.read_raw().await
    }

    /// Sends a command and returns the decoded reply.
    pub async fn read_frame_after(&mut self, args: &[&str]) -> Frame {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args).await;
        self.read_frame().await
    }

    /// Reads until the server closes; returns what came before the close.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let mut rest = self.buf.to_vec();
        tokio::time::timeout(REPLY_TIMEOUT, self.stream.read_to_end(&mut rest))
            .await
            .expect("server closes in time")
            .ok();
        rest
    }
}

/// Finds a program on PATH; a missing one fails the test saying what to install, so a test
/// never passes without having run.
pub fn find_program(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{name} not found on PATH: apt-get install redis-server redis-tools (or run .ci/run)"
        )
    })
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A real `redis-server`, killed by PID when dropped.
pub struct RedisServer {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let bin = find_program("redis-server");
        let port = free_port();
        let child = std::process::Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        // Owned at once, so it is killed (by Drop) even if it never listens.
        let server = RedisServer {
            child,
            addr: ([127, 0, 0, 1], port).into(),
        };
        for _ in 0..200 {
            if TcpStream::connect(server.addr).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not listen on {}", server.addr);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
