//! A tunnel leaks nothing: after clients whose upstream refused, reset or served them, the
//! process holds the descriptors it held before. One test in its own binary, so no other
//! test's sockets move the count.

mod core_support;

use std::time::Duration;

use core_support::{read_to_end, wait_until};
use quasar_net::relay::Tunnel;
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_reset_and_served_pairs_leave_no_descriptor_behind() {
    // An upstream that echoes one message, then closes; one that resets; one refused.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4];
                if s.read_exact(&mut buf).await.is_ok() {
                    let _ = s.write_all(&buf).await;
                }
            });
        }
    });
    let reset = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reset_addr = reset.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = reset.accept().await {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        }
    });
    let refused = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();

    let mut servers = Vec::new();
    for upstream in [echo_addr, reset_addr, refused] {
        let tunnel = Tunnel::new(upstream.to_string());
        let stats = tunnel.stats();
        let server = TcpServer::builder(tunnel).start().await.unwrap();
        servers.push((server, stats));
    }
    // Warm up (runtime threads, lazily opened descriptors), then count.
    let run = |servers: &Vec<(TcpServer, quasar_net::relay::RelayStats)>| {
        let addrs: Vec<_> = servers.iter().map(|(s, _)| s.address()).collect();
        async move {
            for addr in addrs {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let _ = c.write_all(b"ping").await;
                let _ = read_to_end(&mut c).await;
            }
        }
    };
    run(&servers).await;
    let settled = |servers: &Vec<(TcpServer, quasar_net::relay::RelayStats)>| {
        servers
            .iter()
            .all(|(s, stats)| s.connected() == 0 && stats.snapshot().open == 0)
    };
    wait_until("the first pairs to close", || settled(&servers)).await;
    let before = open_fds();
    for _ in 0..20 {
        run(&servers).await;
    }
    wait_until("every pair to close", || settled(&servers)).await;
    // The upstream sides close in their own tasks: give them the same wait.
    wait_until("the descriptors to come back", || open_fds() <= before).await;
}
