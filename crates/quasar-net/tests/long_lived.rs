//! Long-lived exchanges (a WebSocket, a subscription): exempt from the request timeout,
//! closed by their own idle timeout, ticked, and told to say goodbye on a graceful close.

use crate::core_support;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use core_support::{read_n, read_to_end, within};
use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What the consumer does on a server's graceful close.
#[derive(Clone, Copy)]
enum OnShutdown {
    /// Writes `BYE` and closes.
    SayBye,
    /// Nothing: the server must force it.
    Ignore,
}

/// Echoes each line and never finishes: one exchange for the connection's life.
struct Session {
    long_lived: bool,
    idle: Option<Duration>,
    tick: Option<Duration>,
    on_shutdown: OnShutdown,
}

impl Session {
    fn long_lived() -> Session {
        Session {
            long_lived: true,
            idle: None,
            tick: None,
            on_shutdown: OnShutdown::SayBye,
        }
    }
}

impl ProtocolConsumer for Session {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_long_lived(self.long_lived);
        if let Some(idle) = self.idle {
            cx.set_idle_timeout(idle);
        }
        if let Some(every) = self.tick {
            cx.set_tick(every);
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            cx.write(&buf.split_to(end + 1))?;
        }
        Ok(Progress::NeedMore)
    }

    fn tick(&mut self, cx: &mut Context<'_>) -> Result<()> {
        cx.write(b"T")
    }

    fn shutdown(&mut self, cx: &mut Context<'_>) {
        match self.on_shutdown {
            OnShutdown::SayBye => {
                let _ = cx.write(b"BYE");
                cx.close();
            }
            OnShutdown::Ignore => {}
        }
    }
}

/// Sends a frame every 100 ms for 700 ms and expects each echoed; returns whether the
/// connection lasted.
async fn frames_for_700ms(sock: &mut TcpStream) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(700) {
        if sock.write_all(b"frame\n").await.is_err() {
            return false;
        }
        let mut got = [0u8; 6];
        match within(
            "an echo",
            tokio::io::AsyncReadExt::read_exact(sock, &mut got),
        )
        .await
        {
            Ok(_) => assert_eq!(&got, b"frame\n"),
            Err(_) => return false,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_exchange_outlives_twice_the_request_timeout() {
    let server = TcpServer::builder(Session::long_lived)
        .request_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    assert!(frames_for_700ms(&mut sock).await, "closed early");
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_exchange_that_never_finishes_is_cut_by_the_request_timeout() {
    // The control for the test above: the same consumer, not long-lived.
    let server = TcpServer::builder(|| Session {
        long_lived: false,
        ..Session::long_lived()
    })
    .request_timeout(Duration::from_millis(300))
    .start()
    .await
    .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    assert!(
        !frames_for_700ms(&mut sock).await,
        "the request timeout did not fire"
    );
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_long_lived_exchange_is_closed_by_its_own_idle_timeout() {
    let server = TcpServer::builder(|| Session {
        idle: Some(Duration::from_millis(200)),
        ..Session::long_lived()
    })
    .keep_alive(Duration::from_secs(60))
    .start()
    .await
    .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 6).await, b"hello\n");
    let silent = Instant::now();
    let (got, _) = read_to_end(&mut sock).await;
    let after = silent.elapsed();
    assert!(got.is_empty());
    assert!(
        after >= Duration::from_millis(150) && after < Duration::from_secs(5),
        "closed after {after:?}: the override is 200 ms, the server's keep-alive 60 s"
    );
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tick_runs_periodically_and_its_bytes_reach_the_peer() {
    let server = TcpServer::builder(|| Session {
        tick: Some(Duration::from_millis(30)),
        ..Session::long_lived()
    })
    .start()
    .await
    .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"hi\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 3).await, b"hi\n");
    // No more input: only the tick writes.
    assert_eq!(read_n(&mut sock, 5).await, b"TTTTT");
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_close_lets_a_long_lived_exchange_say_goodbye_before_eof() {
    let server = TcpServer::builder(Session::long_lived)
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 6).await, b"hello\n");
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close(Duration::from_secs(5)).await }
    });
    let (got, end) = read_to_end(&mut sock).await;
    assert_eq!(got, b"BYE");
    end.expect("clean EOF after the goodbye");
    drop(sock);
    let report = within("close", closing).await.unwrap();
    assert_eq!(report.forced, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_exchange_that_ignores_shutdown_is_forced_at_the_deadline() {
    let server = TcpServer::builder(|| Session {
        on_shutdown: OnShutdown::Ignore,
        ..Session::long_lived()
    })
    .start()
    .await
    .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 6).await, b"hello\n");
    let started = Instant::now();
    let report = within("close", server.close(Duration::from_millis(300))).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(report.forced, 1, "{report:?}");
    let (got, _) = read_to_end(&mut sock).await;
    assert!(
        got.is_empty(),
        "no goodbye from a consumer that ignores shutdown"
    );
}
