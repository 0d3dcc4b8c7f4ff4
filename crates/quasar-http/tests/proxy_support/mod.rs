//! Shared helpers of the forward proxy tests: a proxy, raw clients, scripted upstreams.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use quasar_http::proxy::{ForwardProxy, ForwardProxyBuilder, ProxyStats};
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// The server tests' helpers: the same timeout and reads (every test crate that declares this
// module declares `common` too).
pub use crate::common::{read_to_close, T};

/// Starts a proxy built by `builder` on a free loopback port.
pub async fn proxy(builder: ForwardProxyBuilder) -> (TcpServer, ProxyStats) {
    let proxy: ForwardProxy = builder.build();
    let stats = proxy.stats();
    let server = TcpServer::builder(proxy)
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("proxy starts");
    (server, stats)
}

/// Sends `req` to `addr` and reads until the peer closes.
pub async fn send_close(addr: SocketAddr, req: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(req).await.unwrap();
    read_to_close(&mut tcp).await
}

/// Sends `req`, shuts the sending side (a half-close), and reads until the peer closes.
pub async fn send_half_close(addr: SocketAddr, req: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(req).await.unwrap();
    tcp.shutdown().await.unwrap();
    read_to_close(&mut tcp).await
}

/// Reads one response head (up to the blank line); the bytes after it are returned too.
pub async fn read_head(tcp: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(end + 4);
            return (String::from_utf8_lossy(&got).into_owned(), rest);
        }
        let n = tokio::time::timeout(T, tcp.read(&mut buf))
            .await
            .expect("a head in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before a whole head: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

/// An upstream that answers each request with the head it received as its body, and
/// hop-by-hop headers of its own that the proxy must not pass on.
pub async fn header_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = got.drain(..end + 4).collect();
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nConnection: x-upstream-hop\r\nX-Upstream-Hop: 1\r\n\
                             Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nTrailer: x\r\n\
                             Upgrade: h2c\r\nX-Upstream-End: kept\r\ncontent-length: {}\r\n\r\n",
                            head.len()
                        );
                        if sock.write_all(resp.as_bytes()).await.is_err()
                            || sock.write_all(&head).await.is_err()
                        {
                            return;
                        }
                    }
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    addr
}

/// An upstream that echoes raw bytes until EOF, then closes (for tunnels).
pub async fn raw_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = sock.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// An upstream that sends a head promising `len` bytes, `sent` of them, then resets.
pub async fn resets_mid_body(len: usize, sent: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&vec![b'x'; sent]).await;
                let _ = sock.set_zero_linger();
                drop(sock); // RST
            });
        }
    });
    addr
}

/// A port nothing listens on (bound, read, released).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// `Basic` credentials for `user:pass`.
pub fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {token}")
}
