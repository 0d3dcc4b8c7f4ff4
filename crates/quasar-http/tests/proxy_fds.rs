//! Bad input and failing upstreams leak no descriptors: after rounds of refused requests,
//! malformed `CONNECT`s, unreachable and resetting upstreams, and tunnels closed from
//! either side, the process holds the descriptors it held before. One test in its own
//! binary, so no other test opens sockets meanwhile.

mod common;
mod proxy_support;

use std::time::Duration;

use proxy_support::*;
use quasar_http::proxy::{ForwardProxy, PortRule};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + T;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptors_come_back_after_bad_input_and_failing_upstreams() {
    let echo = raw_echo().await;
    let resets = resets_mid_body(1_000_000, 10_000).await;
    let dead = closed_port();
    let (proxy, stats) = proxy(ForwardProxy::builder().connect_ports(PortRule::Any)).await;
    let addr = proxy.address();
    let round = || async move {
        for req in [
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
            format!("GET http://u:p@{echo}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            "CONNECT nonsense HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            "CONNECT \x01 HTTP/1.1\r\n\r\n".to_string(),
            format!("CONNECT {dead} HTTP/1.1\r\nHost: x\r\n\r\n"),
            format!("GET http://{dead}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            format!("GET http://{resets}/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            // A tunnel the client half-closes, and (below) one it drops.
            format!("CONNECT {echo} HTTP/1.1\r\nHost: x\r\n\r\nping"),
        ] {
            let answer = send_half_close(addr, req.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 "), "{req}: {answer}");
        }
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!("CONNECT {echo} HTTP/1.1\r\nHost: x\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let _ = read_head(&mut tcp).await;
        drop(tcp);
    };
    round().await;
    wait_until("the first round to settle", || {
        proxy.connected() == 0 && stats.snapshot().tunnels_open == 0
    })
    .await;
    let before = open_fds();
    for _ in 0..10 {
        round().await;
    }
    wait_until("every connection to close", || {
        proxy.connected() == 0 && stats.snapshot().tunnels_open == 0
    })
    .await;
    wait_until("the descriptors to come back", || open_fds() <= before).await;
    proxy.close(T).await;
}
