//! The server against real peers: curl and Python's `websockets`.
//!
//! curl must be on PATH: without it the test fails saying what to install. The Python tests
//! are `#[ignore]`d, so a plain `cargo test` reports them as ignored rather than passed;
//! `cargo test -- --include-ignored` (what `.ci/run` does) runs them with the interpreter in
//! `QUASAR_PYTHON` (the venv of `scripts/requirements-test.txt`), else `python3`, and fails
//! saying what to install when it cannot import `websockets`.

use crate::common;

use std::process::Command;

use common::*;
use quasar_http::server::ServerConfig;

/// `program` if it runs; a failure naming the package to install if it does not.
fn peer(program: &str, package: &str) -> String {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{program} not found: install it (apt-get install {package}) or run .ci/run"
    );
    program.to_owned()
}

async fn run(cmd: &mut Command) -> (String, String) {
    run_within(cmd, T).await
}

/// As `run`, with a deadline for slower peers (a Python interpreter compressing megabytes on a
/// busy machine).
async fn run_within(cmd: &mut Command, limit: std::time::Duration) -> (String, String) {
    let mut cmd = tokio::process::Command::from(std::mem::replace(cmd, Command::new("true")));
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[tokio::test]
async fn curl_keep_alive_http10_chunked_upload_and_continue() {
    let curl = peer("curl", "curl");
    let server = demo(ServerConfig::default()).await;
    let base = format!("http://{}", server.address());

    let (out, err) =
        run(Command::new(&curl).args(["-sv", &format!("{base}/"), &format!("{base}/get")])).await;
    assert!(out.starts_with("Hello, World!"), "{out}");
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing"),
        "{err}"
    );

    let (out, err) = run(Command::new(&curl).args(["-sv", "--http1.0", &format!("{base}/")])).await;
    assert_eq!(out, "Hello, World!");
    assert!(err.contains("< connection: close"), "{err}");

    let mut cmd = Command::new(&curl);
    cmd.args(["-sv", "-T", "-", &format!("{base}/echo")]);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"streamed from stdin").await.unwrap();
    }
    let out = tokio::time::timeout(T, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "streamed from stdin",
        "{err}"
    );
    assert!(err.contains("> Transfer-Encoding: chunked"), "{err}");

    let (out, err) = run(Command::new(&curl).args([
        "-sv",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "abc",
        &format!("{base}/echo"),
    ]))
    .await;
    assert_eq!(out, "abc");
    assert!(err.contains("< HTTP/1.1 100 Continue"), "{err}");
}

#[tokio::test]
#[ignore = "needs python3 with websockets (scripts/requirements-test.txt); run with --include-ignored"]
async fn python_websockets_echo_big_message_ping_close() {
    let python = python_with_websockets();
    // 4 MiB messages at most: the bomb (17 MiB of zeros, ~17 KiB compressed) is stopped there.
    let mut config = ServerConfig::default();
    config.ws.limits.max_message = 4 * 1024 * 1024;
    let server = demo(config).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_client.py");
    let url = format!("ws://{}/ws", server.address());
    // Without compression, with websockets' default permessage-deflate offer, with no
    // context takeover and small windows, and a deflate bomb (must close 1009).
    for mode in ["none", "default", "tuned", "bomb"] {
        let started = std::time::Instant::now();
        let (out, err) = run_within(
            Command::new(&python).args([script, &url, mode]),
            std::time::Duration::from_secs(60),
        )
        .await;
        assert_eq!(out.trim(), "ok", "mode {mode}: {err}");
        eprintln!("mode {mode}: {:?}", started.elapsed());
    }
}

#[tokio::test]
#[ignore = "needs python3 with websockets (scripts/requirements-test.txt); run with --include-ignored"]
async fn python_websockets_without_deflate_when_the_server_turns_it_off() {
    let python = python_with_websockets();
    let mut config = ServerConfig::default();
    config.ws.deflate = quasar_http::ws::DeflateConfig::disabled();
    let server = demo(config).await;
    let url = format!("ws://{}/ws", server.address());
    // The offer is declined: no extension in the 101, messages still echo.
    let check = r#"
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send("plain " * 100)
        assert await ws.recv() == "plain " * 100
    print("ok")
asyncio.run(main())
"#;
    let (out, err) = run_within(
        Command::new(&python).args(["-c", check, &url]),
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.trim(), "ok", "{err}");
}
