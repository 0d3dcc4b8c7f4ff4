//! The WebSocket client against a real peer: Python's `websockets` echo server.
//!
//! `#[ignore]`d, so a plain `cargo test` reports it as ignored rather than passed; `cargo test
//! -- --include-ignored` (what `.ci/run` does) runs it with the interpreter in `QUASAR_PYTHON`
//! (the venv of `scripts/requirements-test.txt`; the older `QUASAR_WS_PYTHON` also works), else
//! `python3`, and fails saying what to install when it cannot import `websockets`.

use crate::client_support;

use std::process::Stdio;

use bytes::Bytes;
use client_support::within;
use quasar_http::client::HttpClient;
use quasar_http::ws::{CloseCode, DeflateConfig, Message, WsLimits};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Echoes messages; "ping-me" makes it ping the client and report the pong.
const SERVER: &str = r#"
import asyncio, sys
from websockets.asyncio.server import serve

async def handler(ws):
    async for msg in ws:
        if msg == "ping-me":
            pong = await ws.ping(b"py")
            await pong
            await ws.send("ponged")
        else:
            await ws.send(msg)

async def main():
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.get_running_loop().create_future()

asyncio.run(main())
"#;

/// The Python that imports `websockets` (13 or later, for `websockets.asyncio`); fails saying
/// what to install when there is none.
fn python() -> String {
    let candidate = ["QUASAR_PYTHON", "QUASAR_WS_PYTHON"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok())
        .unwrap_or_else(|| "python3".into());
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import websockets.asyncio.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{candidate} cannot import websockets.asyncio: `python3 -m venv VENV && \
         VENV/bin/pip install -r scripts/requirements-test.txt`, then set \
         QUASAR_PYTHON=VENV/bin/python (.ci/run does both)"
    );
    candidate
}

async fn start_server(python: &str) -> (Child, u16) {
    let mut child = Command::new(python)
        .args(["-c", SERVER])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    within(
        "the python server's port",
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("a port line");
    (child, line.trim().parse().expect("a port number"))
}

#[tokio::test]
#[ignore = "needs python3 with websockets (scripts/requirements-test.txt); run with --include-ignored"]
async fn echo_ping_and_close_against_python_websockets() {
    let python = python();
    let (_server, port) = start_server(&python).await;
    // With permessage-deflate (offered by default; websockets accepts it) and without.
    for deflate in [DeflateConfig::default(), DeflateConfig::disabled()] {
        session(port, deflate).await;
    }
}

async fn session(port: u16, deflate: DeflateConfig) {
    let client = HttpClient::new();
    let mut socket = within(
        "handshake",
        client.websocket_with_deflate(
            &format!("ws://127.0.0.1:{port}/"),
            http::HeaderMap::new(),
            WsLimits::default(),
            deflate,
        ),
    )
    .await
    .unwrap();
    assert_eq!(socket.is_compressed(), deflate.enabled);

    let big = Bytes::from((0..100_000u32).map(|i| i as u8).collect::<Vec<_>>());
    for msg in [
        Message::Text("hello from rust".into()),
        Message::Binary(big),
        Message::Text("ü".repeat(40_000).into()),
    ] {
        socket.send(msg.clone()).await.unwrap();
        assert_eq!(within("echo", socket.recv()).await.unwrap().unwrap(), msg);
    }

    // The server pings and waits for our automatic pong before answering.
    socket.send(Message::Text("ping-me".into())).await.unwrap();
    assert_eq!(
        within("ping", socket.recv()).await.unwrap().unwrap(),
        Message::Ping(Bytes::from_static(b"py"))
    );
    assert_eq!(
        within("ponged", socket.recv()).await.unwrap().unwrap(),
        Message::Text("ponged".into())
    );

    within("close", socket.close(CloseCode::NORMAL, "bye"))
        .await
        .unwrap();
    assert!(socket.is_closed());
}
