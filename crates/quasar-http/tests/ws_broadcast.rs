//! A chat room on `WebSocket::split`: a broadcast to 50 Python `websockets` clients, one of
//! which stops reading. The others receive every message in order; the slow one is closed
//! by the room's rule (a send that cannot complete within `SEND_TIMEOUT`) and counted; every
//! connection's write queue stays near its high mark.
//!
//! Needs a Python with `websockets` (`QUASAR_PYTHON`, the venv of
//! `scripts/requirements-test.txt`): ignored by a plain `cargo test`, run by
//! `cargo test -- --include-ignored` (as CI does), where a missing package fails it.

use crate::common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use quasar_http::app::App;
use quasar_http::server::{ServerConfig, WebSocket};
use quasar_http::ws::Message;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::broadcast::{self, error::RecvError};

/// How long one message may wait for a peer's connection to drain below its high mark.
const SEND_TIMEOUT: Duration = Duration::from_secs(3);
const CLIENTS: usize = 50;
const MESSAGES: usize = 320;
const SIZE: usize = 16 * 1024;

struct Room {
    tx: broadcast::Sender<Message>,
    /// Peers closed for not keeping up.
    slow: AtomicUsize,
}

/// One peer: its own task forwards the room to it, so a slow peer holds up only itself.
async fn chat(ws: WebSocket, room: Arc<Room>) {
    let (tx, mut rx) = ws.split();
    let mut feed = room.tx.subscribe();
    if tx.send(Message::text("welcome")).await.is_err() {
        return;
    }
    let forward = tokio::spawn({
        let room = room.clone();
        async move {
            loop {
                let msg = match feed.recv().await {
                    Ok(msg) => msg,
                    Err(RecvError::Closed) => return,
                    // Fell further behind than the room keeps: as slow as a stalled send.
                    Err(RecvError::Lagged(_)) => {
                        room.slow.fetch_add(1, Ordering::Relaxed);
                        tx.connection().abort();
                        return;
                    }
                };
                match tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        room.slow.fetch_add(1, Ordering::Relaxed);
                        tx.connection().abort();
                        return;
                    }
                }
            }
        }
    });
    while let Some(Ok(msg)) = rx.recv().await {
        if msg.is_close() {
            break;
        }
        let _ = room.tx.send(msg);
    }
    forward.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with websockets (scripts/requirements-test.txt); run with --include-ignored"]
async fn a_broadcast_reaches_49_readers_while_one_stalled_peer_is_closed() {
    let python = python_with_websockets();
    let room = Arc::new(Room {
        // Holds every message of the test: a reader never lags, only a stalled one.
        tx: broadcast::channel(MESSAGES * 2).0,
        slow: AtomicUsize::new(0),
    });
    let app = App::with_state(room.clone()).websocket("/chat", chat);
    let server = Arc::new(start(app, ServerConfig::default()).await);

    // The largest write queue any connection reaches, sampled while the room runs.
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let (server, peak) = (server.clone(), peak.clone());
        async move {
            loop {
                for c in server.connections() {
                    peak.fetch_max(c.info().write_buffer_peak, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_chat.py");
    let url = format!("ws://{}/chat", server.address());
    let mut child = tokio::process::Command::new(&python)
        .args([
            script,
            &url,
            &CLIENTS.to_string(),
            &MESSAGES.to_string(),
            &SIZE.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .expect("the readers finish")
        .unwrap();
    assert_eq!(
        first.as_deref(),
        Some("fast-done"),
        "{:?}",
        child.wait().await
    );
    // Every reader has everything; the stalled peer is closed by the room's rule alone
    // (it has not read since its welcome).
    tokio::time::timeout(Duration::from_secs(30), async {
        while room.slow.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the stalled peer is given up on");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the stalled peer sees the close")
        .unwrap()
        .unwrap_or_default();
    let out = child.wait_with_output().await.unwrap();
    sampler.abort();
    let stdout = rest;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!("ok {}", CLIENTS - 1)),
        "{stdout}"
    );
    assert_eq!(room.slow.load(Ordering::Relaxed), 1, "{stdout}");
    // Each queue held about its high mark (64 KiB) plus a frame, never the backlog.
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak < 256 * 1024, "write queue peak {peak}");
    server.close(T).await;
}
