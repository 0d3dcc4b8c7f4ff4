//! Abuse events are counted in `info().abuse` and logged through a rate limiter: the
//! first occurrence of each kind is visible at the default level, then at most one line
//! per kind per second.

use crate::core_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use core_support::{wait_until, within, LineEcho};
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `tracing` writer that keeps every line, so tests can count them.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn matching(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// Installs a subscriber at the binary's default level (`info`) for this thread.
fn capture() -> (Lines, tracing::subscriber::DefaultGuard) {
    let lines = Lines::default();
    let l2 = lines.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || l2.clone())
        .finish();
    (lines, tracing::subscriber::set_default(sub))
}

#[tokio::test(flavor = "current_thread")]
async fn oversize_datagrams_are_counted_and_logged_once_per_second() {
    let (lines, _guard) = capture();
    let server = quasar_echo::udp::EchoUdpConfig {
        max_datagram_size: 16,
        ..Default::default()
    }
    .server()
    .start()
    .await
    .unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let big = [b'x'; 100];
    for _ in 0..500 {
        sock.send_to(&big, server.address()).await.unwrap();
    }
    wait_until("500 oversize datagrams counted", || {
        server.info().datagrams.oversize == 500
    })
    .await;
    let logged = lines.matching("oversize_datagram");
    assert!(
        !logged.is_empty() && logged.len() <= 2,
        "one line, or two if the burst straddled a second: {logged:?}"
    );
    assert!(logged[0].contains("WARN"), "{}", logged[0]);
    assert!(logged[0].contains("more suppressed"), "{}", logged[0]);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn oversize_requests_and_resets_are_counted_in_info() {
    let (lines, _guard) = capture();
    let server = TcpServer::builder(|| LineEcho)
        .connection_config(|c| {
            c.max_read_buffer(1024).unwrap();
        })
        .start()
        .await
        .unwrap();
    let addr = server.address();
    // Oversize: 4 KiB with no newline.
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let _ = sock.write_all(&[b'a'; 4096]).await;
    let mut rest = Vec::new();
    let _ = within("server closes", sock.read_to_end(&mut rest)).await;
    wait_until("oversize counted", || server.info().abuse.oversize == 1).await;
    // Reset: half a line, then RST.
    let sock = TcpStream::connect(addr).await.unwrap();
    socket2::SockRef::from(&sock)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    let mut sock = sock;
    sock.write_all(b"half a li").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(sock);
    wait_until("reset counted", || server.info().abuse.resets == 1).await;
    let info = server.info();
    assert_eq!(info.abuse.total(), 2, "{:?}", info.abuse);
    assert_eq!(lines.matching("kind=\"oversize\"").len(), 1);
    assert_eq!(lines.matching("kind=\"reset\"").len(), 1);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_honest_client_causes_no_abuse_event() {
    let server = TcpServer::builder(|| LineEcho).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"hello\n").await.unwrap();
    let mut buf = [0u8; 6];
    sock.read_exact(&mut buf).await.unwrap();
    sock.shutdown().await.unwrap();
    let mut rest = Vec::new();
    sock.read_to_end(&mut rest).await.unwrap();
    wait_until("closed", || server.info().clients.connected_clients == 0).await;
    assert_eq!(server.info().abuse.total(), 0, "{:?}", server.info().abuse);
    server.close(Duration::from_secs(1)).await;
}
