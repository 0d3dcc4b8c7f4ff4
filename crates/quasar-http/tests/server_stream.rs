//! Request and response bodies stream through the server with bounded memory.

use crate::common;

use common::*;
use quasar_http::server::ServerConfig;
use quasar_http::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BODY: u64 = 100 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_post_echo_streams_with_bounded_memory() {
    let config = ServerConfig {
        limits: Limits {
            max_body: BODY,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = demo(config).await;
    let tcp = TcpStream::connect(server.address()).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0u64;
        while sent < BODY {
            wr.write_all(&chunk).await.unwrap();
            sent += chunk.len() as u64;
        }
        wr
    });
    // Read the head, then count body bytes, sampling the server connection meanwhile.
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let body_start = loop {
        let n = rd.read(&mut buf).await.unwrap();
        assert!(n > 0);
        head.extend_from_slice(&buf[..n]);
        if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head_text = String::from_utf8_lossy(&head[..body_start]).into_owned();
    assert!(head_text.starts_with("HTTP/1.1 200"), "{head_text}");
    assert!(
        head_text.contains(&format!("content-length: {BODY}\r\n")),
        "{head_text}"
    );
    let mut got = (head.len() - body_start) as u64;
    let mut peak_seen = 0;
    while got < BODY {
        let n = tokio::time::timeout(T, rd.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {got} bytes");
        assert!(buf[..n].iter().all(|&b| b == b'a'));
        got += n as u64;
        for c in server.connections() {
            peak_seen = peak_seen.max(c.info().write_buffer_peak);
        }
    }
    assert_eq!(got, BODY);
    let _wr = writer.await.unwrap();
    let conns = server.connections();
    assert_eq!(conns.len(), 1);
    let info = conns[0].info();
    // The write queue held about its high mark (64 KiB) plus a chunk, never the body.
    assert!(info.write_buffer_peak < 512 * 1024, "{info:?}");
    assert!(peak_seen < 512 * 1024);
    assert!(info.bytes_read > BODY && info.bytes_written > BODY);
}

#[tokio::test]
async fn a_slow_reader_pauses_the_response_stream() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(
        b"GET /stream?n=2000&size=16384 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    // Nobody reads for a while: the server must stop pulling the 32 MiB stream.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let info = server.connections()[0].info();
    assert!(info.write_buffer_peak < 512 * 1024, "{info:?}");
    assert!(info.bytes_written < 16 * 1024 * 1024, "{info:?}");
    let mut total = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(total > 2000 * 16384, "{total}");
}
