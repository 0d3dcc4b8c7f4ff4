//! Progress timeouts: a minimum receive rate, a minimum send rate and a write-stall
//! limit, all holding with `request_timeout` and `keep_alive` at 0. The engine runs over
//! in-memory duplex pipes on tokio's paused clock (virtual seconds pass instantly), and
//! one test runs over loopback TCP with short real windows.

use crate::core_support;

use std::time::Duration;

use bytes::BytesMut;
use core_support::LineEcho;
use quasar_net::{
    serve_connection, ConnectionConfig, Context, Error, MinRate, Progress, ProtocolConsumer,
    Result, TcpServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

/// Answers every line with 64 KiB, so a peer that does not read leaves output waiting.
struct Flood;

impl ProtocolConsumer for Flood {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let _ = buf.split_to(end + 1);
        cx.write(&[b'z'; 64 * 1024])?;
        Ok(Progress::Finished(()))
    }
}

/// The defaults, with every other timeout off: only the progress timeouts protect.
fn no_other_timeouts() -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.request_timeout(Duration::ZERO).keep_alive(Duration::ZERO);
    c
}

/// Serves `factory` over a duplex pipe of `pipe` bytes; returns the client end and the
/// connection's outcome with the virtual time it took.
fn serve<F: quasar_net::ConsumerFactory>(
    factory: F,
    config: ConnectionConfig,
    pipe: usize,
) -> (
    DuplexStream,
    tokio::task::JoinHandle<(Result<()>, Duration)>,
) {
    let (client, server) = tokio::io::duplex(pipe);
    let (_conn, serving) = serve_connection(server, factory, config);
    let start = Instant::now();
    let task = tokio::spawn(async move {
        let r = serving.await;
        (r, start.elapsed())
    });
    (client, task)
}

fn assert_closed(r: &Result<()>, pred: fn(&Error) -> bool) {
    match r {
        Err(e) => assert!(pred(e), "unexpected error: {e}"),
        Ok(()) => panic!("closed without error"),
    }
}

#[tokio::test(start_paused = true)]
async fn slowloris_is_closed_within_two_windows_with_request_timeout_zero() {
    let (mut client, task) = serve(|| LineEcho, no_other_timeouts(), 4096);
    let dribble = tokio::spawn(async move {
        for _ in 0..100 {
            if client.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        client
    });
    let (r, took) = task.await.unwrap();
    assert_closed(&r, Error::is_receive_too_slow);
    assert!(r.as_ref().unwrap_err().is_timeout());
    assert!(
        // Two windows, plus the close timeout (3 s) the graceful close waits for a
        // peer that never closes its side.
        took >= Duration::from_secs(10) && took <= Duration::from_secs(24),
        "{took:?}"
    );
    dribble.abort();
}

#[tokio::test(start_paused = true)]
async fn a_steady_sender_above_the_rate_stays_open() {
    let (mut client, task) = serve(|| LineEcho, no_other_timeouts(), 4096);
    // 200 bytes/s in one long line for 60 virtual seconds, then the newline.
    for _ in 0..60 {
        client.write_all(&[b'a'; 200]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    client.write_all(b"\n").await.unwrap();
    let mut reply = vec![0; 12_001];
    client.read_exact(&mut reply).await.unwrap();
    // Idle between requests is not "receiving": no rate applies with keep_alive 0.
    tokio::time::sleep(Duration::from_secs(120)).await;
    client.write_all(b"again\n").await.unwrap();
    let mut again = [0; 6];
    client.read_exact(&mut again).await.unwrap();
    assert_eq!(&again, b"again\n");
    drop(client);
    let (r, _) = task.await.unwrap();
    assert!(r.is_ok(), "{r:?}");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_is_closed_as_send_too_slow() {
    let (mut client, task) = serve(|| Flood, no_other_timeouts(), 1024);
    client.write_all(b"go\n").await.unwrap();
    let (r, took) = task.await.unwrap();
    assert_closed(&r, Error::is_send_too_slow);
    assert!(took <= Duration::from_secs(21), "{took:?}");
    drop(client);
}

#[tokio::test(start_paused = true)]
async fn a_dribbling_reader_is_closed_by_the_rate_and_a_stalled_one_by_the_stall_limit() {
    // Rate: 10 bytes/s taken, under 1 KiB per 10 s.
    let (client, task) = serve(|| Flood, no_other_timeouts(), 16);
    let (mut rd, mut wr) = tokio::io::split(client);
    wr.write_all(b"go\n").await.unwrap();
    let reader = tokio::spawn(async move {
        let mut b = [0u8; 10];
        while rd.read(&mut b).await.unwrap_or(0) > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let (r, _) = task.await.unwrap();
    assert_closed(&r, Error::is_send_too_slow);
    assert!(r.unwrap_err().to_string().contains("minimum"));
    reader.abort();

    // Stall only (rate off): nothing taken for 5 s.
    let mut cfg = no_other_timeouts();
    cfg.min_send_rate(MinRate::OFF)
        .write_stall_timeout(Duration::from_secs(5));
    let (mut client, task) = serve(|| Flood, cfg, 1024);
    client.write_all(b"go\n").await.unwrap();
    let (r, took) = task.await.unwrap();
    assert_closed(&r, Error::is_send_too_slow);
    assert!(r.unwrap_err().to_string().contains("no byte"));
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_secs(11),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn everything_off_leaves_the_old_behaviour() {
    let mut cfg = no_other_timeouts();
    cfg.min_receive_rate(MinRate::OFF)
        .min_send_rate(MinRate::OFF)
        .write_stall_timeout(Duration::ZERO);
    let (mut client, task) = serve(|| LineEcho, cfg, 4096);
    client.write_all(b"a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!task.is_finished());
    drop(client);
    let (r, _) = task.await.unwrap();
    // The peer went away mid-request.
    let _ = r;
}

/// Loopback TCP, real clock, short windows: slow senders are closed and counted in
/// `info().abuse`, an honest client on the same server is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_slow_peers_are_closed_and_counted() {
    let server = TcpServer::builder(|| LineEcho)
        .request_timeout(Duration::ZERO)
        .connection_config(|c| {
            c.min_receive_rate(MinRate::new(100, Duration::from_millis(300)));
        })
        .start()
        .await
        .unwrap();
    let addr = server.address();
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"x").await.unwrap();
        slow.push(s);
    }
    let mut honest = tokio::net::TcpStream::connect(addr).await.unwrap();
    for _ in 0..3 {
        honest.write_all(b"ping\n").await.unwrap();
        let mut b = [0; 5];
        honest.read_exact(&mut b).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for mut s in slow {
        let mut rest = Vec::new();
        let _ = core_support::within("slow peer closed", s.read_to_end(&mut rest)).await;
    }
    core_support::wait_until("5 counted", || server.info().abuse.receive_too_slow == 5).await;
    server.close(Duration::from_secs(1)).await;
}
