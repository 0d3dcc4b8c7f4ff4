//! Bodies stream through the proxy with back-pressure both ways: while one end stops
//! reading, the other end's writes stall after a bounded number of bytes (socket buffers
//! and a few read buffers), however large the body; then the whole body arrives intact.

use crate::proxy_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proxy_support::*;
use quasar_http::proxy::ForwardProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODY: u64 = 256 * 1024 * 1024;
/// Far below the body: loopback socket buffers on four sockets and the proxy's own.
const BOUND: u64 = 64 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;

/// Waits until `count` stops growing (the writer is blocked) and returns it.
async fn stalled(count: &AtomicU64) -> u64 {
    let mut last = count.load(Ordering::Relaxed);
    let mut same = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = count.load(Ordering::Relaxed);
        if now == last {
            same += 1;
            if same == 6 {
                return now;
            }
        } else {
            same = 0;
            last = now;
        }
        assert!(
            now < BODY,
            "the whole body went through while nobody read it"
        );
    }
}

async fn drain(tcp: &mut TcpStream, mut want: u64) {
    let mut buf = vec![0u8; CHUNK];
    while want > 0 {
        let n = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .expect("body bytes in time")
            .unwrap();
        assert!(n > 0, "{want} bytes short");
        want -= n as u64;
    }
}

async fn head_of(tcp: &mut TcpStream) -> usize {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        got.push(byte[0]);
    }
    got.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_waits_for_a_client_that_does_not_read() {
    let written = Arc::new(AtomicU64::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let w = Arc::clone(&written);
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        head_of(&mut sock).await;
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {BODY}\r\n\r\n");
        sock.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'd'; CHUNK];
        while w.load(Ordering::Relaxed) < BODY {
            sock.write_all(&chunk).await.unwrap();
            w.fetch_add(CHUNK as u64, Ordering::Relaxed);
        }
    });
    let (proxy, stats) = proxy(ForwardProxy::builder()).await;
    let mut tcp = TcpStream::connect(proxy.address()).await.unwrap();
    let get = format!("GET http://{upstream}/big HTTP/1.1\r\nHost: x\r\n\r\n");
    tcp.write_all(get.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    assert!(
        head.contains(&format!("content-length: {BODY}\r\n")),
        "{head}"
    );
    let held = stalled(&written).await;
    assert!(
        held < BOUND,
        "the upstream got {held} bytes out while the client read none"
    );
    drain(&mut tcp, BODY - rest.len() as u64).await;
    assert_eq!(stats.snapshot().bytes_down, BODY);
    proxy.close(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_waits_for_an_upstream_that_does_not_read() {
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let _ = go_rx.await; // reads nothing until told
        let mut got = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        let end = loop {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
        };
        let mut body = (got.len() - end) as u64;
        while body < BODY {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0);
            body += n as u64;
        }
        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n{body:020}");
        sock.write_all(answer.as_bytes()).await.unwrap();
    });
    let (proxy, _) = proxy(ForwardProxy::builder()).await;
    let mut tcp = TcpStream::connect(proxy.address()).await.unwrap();
    let put =
        format!("PUT http://{upstream}/big HTTP/1.1\r\nHost: x\r\ncontent-length: {BODY}\r\n\r\n");
    tcp.write_all(put.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let sent = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&sent);
    let writer = tokio::spawn(async move {
        let chunk = vec![b'u'; CHUNK];
        while s.load(Ordering::Relaxed) < BODY {
            wr.write_all(&chunk).await.unwrap();
            s.fetch_add(CHUNK as u64, Ordering::Relaxed);
        }
        wr
    });
    let held = stalled(&sent).await;
    assert!(
        held < BOUND,
        "the client got {held} bytes out while the upstream read none"
    );
    go_tx.send(()).unwrap();
    let _wr = writer.await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(format!("{BODY:020}").as_bytes()) {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(T, rd.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    proxy.close(T).await;
}
