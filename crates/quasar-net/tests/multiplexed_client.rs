//! Multiplexed client connections: several requests in flight on one connection,
//! replies matched to callers in order, cancelled calls, pushed messages, and calls
//! queued together leaving in one write.

use crate::core_support;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use core_support::within;
use futures_util::future::join_all;
use quasar_net::connection::{ClientConnection, ClientConnectionBuilder};
use quasar_net::transport::Transport;
use quasar_net::{ConnectionConfig, Context, Error, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

// ===== server =====

/// How many responses the server has pending now, and the most it ever had.
#[derive(Default)]
struct Pending {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// `<ms> <word>\n` answers `<word>\n` after `ms` milliseconds, through a future;
/// `push <word>\n` answers `>push <word>\n<word>\n` (a push frame, then the reply).
struct Slow {
    pending: Arc<Pending>,
}

impl ProtocolConsumer for Slow {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        let line = std::str::from_utf8(&line[..end]).map_err(|_| Error::protocol("utf-8"))?;
        let (head, word) = line
            .split_once(' ')
            .ok_or_else(|| Error::protocol("no word"))?;
        let (ms, reply) = match head {
            "push" => (5, format!(">push {word}\n{word}\n")),
            ms => (
                ms.parse().map_err(|_| Error::protocol("bad delay"))?,
                format!("{word}\n"),
            ),
        };
        let pending = Arc::clone(&self.pending);
        let now = pending.now.fetch_add(1, Ordering::SeqCst) + 1;
        pending.max.fetch_max(now, Ordering::SeqCst);
        cx.spawn_response(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            pending.now.fetch_sub(1, Ordering::SeqCst);
            Ok(Bytes::from(reply))
        });
        Ok(Progress::Finished(()))
    }
}

async fn slow_server() -> (TcpServer, Arc<Pending>) {
    let pending = Arc::new(Pending::default());
    let server = TcpServer::builder({
        let pending = Arc::clone(&pending);
        move || Slow {
            pending: Arc::clone(&pending),
        }
    })
    .start()
    .await
    .unwrap();
    (server, pending)
}

// ===== client =====

/// Sends a line, resolves with the next reply line; lines starting with `>` are
/// pushes, handed to the push sink without finishing the request.
struct Line;

impl ProtocolConsumer for Line {
    type Request = String;
    type Response = String;

    fn start_request(&mut self, cx: &mut Context<'_, String, String>, line: String) -> Result<()> {
        cx.write(line.as_bytes())?;
        cx.write(b"\n")
    }

    fn data_received(
        &mut self,
        cx: &mut Context<'_, String, String>,
        buf: &mut BytesMut,
    ) -> Result<Progress<String>> {
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(end + 1);
            let line =
                String::from_utf8(line[..end].to_vec()).map_err(|_| Error::protocol("utf-8"))?;
            if line.starts_with('>') {
                cx.push(line);
            } else {
                return Ok(Progress::Finished(line));
            }
        }
        Ok(Progress::NeedMore)
    }
}

fn in_flight(n: usize) -> ConnectionConfig {
    let mut config = ConnectionConfig::default();
    config.max_in_flight(n);
    config
}

// ===== tests =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_requests_on_one_connection_are_in_flight_together() {
    let (server, pending) = slow_server().await;
    let conn = ClientConnectionBuilder::new(|| Line)
        .config(in_flight(16))
        .connect(server.address())
        .await
        .unwrap();
    let replies = within(
        "the replies",
        join_all((0..10).map(|i| conn.request(format!("20 word{i}")))),
    )
    .await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), format!("word{i}"));
    }
    assert_eq!(server.sessions(), 1, "one connection");
    assert_eq!(server.requests_processed(), 10);
    let max = pending.max.load(Ordering::SeqCst);
    assert!(
        max >= 2,
        "requests were served one by one (max pending {max})"
    );
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_request_in_flight_requests_are_serialized() {
    let (server, pending) = slow_server().await;
    let conn = ClientConnectionBuilder::new(|| Line)
        .config(in_flight(1))
        .connect(server.address())
        .await
        .unwrap();
    let replies = within(
        "the replies",
        join_all((0..10).map(|i| conn.request(format!("5 word{i}")))),
    )
    .await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), format!("word{i}"));
    }
    assert_eq!(server.sessions(), 1);
    assert_eq!(pending.max.load(Ordering::SeqCst), 1);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_leaves_the_connection_usable_and_replies_go_to_the_right_caller() {
    for max_in_flight in [1, 16] {
        let (server, _) = slow_server().await;
        let conn = ClientConnectionBuilder::new(|| Line)
            .config(in_flight(max_in_flight))
            .connect(server.address())
            .await
            .unwrap();
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), conn.request("200 first".into())).await;
        assert!(
            gave_up.is_err(),
            "the first request should still be running"
        );
        let second = within("the second reply", conn.request("0 second".into())).await;
        assert_eq!(second.unwrap(), "second", "max_in_flight {max_in_flight}");
        let third = within("the third reply", conn.request("0 third".into())).await;
        assert_eq!(third.unwrap(), "third");
        assert_eq!(server.sessions(), 1);
        assert_eq!(server.requests_processed(), 3);
        within("close", server.close(Duration::from_secs(1))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsolicited_messages_reach_the_push_sink_as_parsed_responses() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let conn = ClientConnectionBuilder::new(|| Line)
        .push_sink(tx)
        .connect(addr)
        .await
        .unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    // No request in flight: each line is built into a response by a fresh consumer.
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"news one\nnews two\n")
        .await
        .unwrap();
    assert_eq!(within("a push", rx.recv()).await.unwrap(), "news one");
    assert_eq!(within("a push", rx.recv()).await.unwrap(), "news two");
    // A request still gets its own reply.
    let reply = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request("ping".into()).await }
    });
    let mut got = [0u8; 5];
    within("the request", peer.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(&got, b"ping\n");
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"pong\n")
        .await
        .unwrap();
    assert_eq!(within("the reply", reply).await.unwrap().unwrap(), "pong");
    assert!(rx.try_recv().is_err(), "the reply is not a push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_interleaved_with_replies_reach_the_sink_and_replies_still_match_callers() {
    let (server, _) = slow_server().await;
    let (tx, mut rx) = mpsc::channel(64);
    let conn = ClientConnectionBuilder::new(|| Line)
        .config(in_flight(16))
        .push_sink(tx)
        .connect(server.address())
        .await
        .unwrap();
    let replies = within(
        "the replies",
        join_all((0..10).map(|i| conn.request(format!("push w{i}")))),
    )
    .await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), format!("w{i}"));
    }
    let mut pushes = Vec::new();
    while let Ok(p) = rx.try_recv() {
        pushes.push(p);
    }
    let want: Vec<String> = (0..10).map(|i| format!(">push w{i}")).collect();
    assert_eq!(pushes, want);
    within("close", server.close(Duration::from_secs(1))).await;
}

/// A TCP stream that counts the writes its user makes.
struct CountingStream {
    inner: TcpStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Transport for CountingStream {
    fn tcp_stream(&self) -> Option<&TcpStream> {
        Some(&self.inner)
    }
}

/// A client connection (16 in flight) over a loopback stream that counts its writes, with
/// the server's end of it.
async fn counted_connection() -> (
    ClientConnection<String, String>,
    TcpStream,
    Arc<AtomicUsize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let conn = ClientConnectionBuilder::new(|| Line)
        .config(in_flight(16))
        .handshake(CountingStream {
            inner: stream,
            writes: Arc::clone(&writes),
        })
        .await;
    (conn, peer, writes)
}

// A current-thread runtime: the driver cannot run between the calls being queued, so
// they are all waiting when it wakes.
#[tokio::test(flavor = "current_thread")]
async fn calls_queued_together_leave_in_one_write() {
    let (conn, mut peer, writes) = counted_connection().await;
    let replies = tokio::spawn({
        let conn = conn.clone();
        async move { join_all((0..5).map(|i| conn.request(format!("call{i}")))).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let want = b"call0\ncall1\ncall2\ncall3\ncall4\n";
    let mut got = vec![0u8; 256];
    let n = within("the calls", peer.read(&mut got)).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got[..n]),
        String::from_utf8_lossy(want),
        "the first read holds every call"
    );
    assert_eq!(writes.load(Ordering::SeqCst), 1, "one write for five calls");
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"r0\nr1\nr2\nr3\nr4\n")
        .await
        .unwrap();
    let replies = within("the replies", replies).await.unwrap();
    let replies: Vec<String> = replies.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(replies, ["r0", "r1", "r2", "r3", "r4"]);
}

// One worker: a task woken from a task of that worker takes its LIFO slot and runs
// next. The first caller answered sends its next call at once and wakes the driver that
// way, ahead of the other callers answered with it; the driver lets them run before it
// writes, so their next calls leave together too.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn callers_answered_together_send_their_next_calls_in_one_write() {
    let (conn, mut peer, writes) = counted_connection().await;
    let callers: Vec<_> = (0..5)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let first = conn.request(format!("a{i}")).await.unwrap();
                let second = conn.request(format!("b{i}")).await.unwrap();
                (first, second)
            })
        })
        .collect();
    // Reads until `calls` lines have come; returns them sorted.
    async fn lines(peer: &mut TcpStream, calls: usize) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.iter().filter(|&&b| b == b'\n').count() < calls {
            let n = within("the calls", peer.read(&mut buf)).await.unwrap();
            assert!(n > 0, "the client closed");
            got.extend_from_slice(&buf[..n]);
        }
        let mut lines: Vec<String> = String::from_utf8(got)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    }
    assert_eq!(lines(&mut peer, 5).await, ["a0", "a1", "a2", "a3", "a4"]);
    let before = writes.load(Ordering::SeqCst);
    // All five replies in one write: the client reads them at once.
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"r0\nr1\nr2\nr3\nr4\n")
        .await
        .unwrap();
    assert_eq!(lines(&mut peer, 5).await, ["b0", "b1", "b2", "b3", "b4"]);
    assert_eq!(
        writes.load(Ordering::SeqCst) - before,
        1,
        "the five next calls leave in one write"
    );
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"s0\ns1\ns2\ns3\ns4\n")
        .await
        .unwrap();
    let mut replies = Vec::new();
    for caller in callers {
        replies.push(within("a caller", caller).await.unwrap());
    }
    // Each caller got a reply of each batch (which one depends on the order the driver
    // took their calls in).
    assert!(replies
        .iter()
        .all(|(a, b)| a.starts_with('r') && b.starts_with('s')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_pushes_in_one_read_all_reach_a_full_push_sink_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Room for one message: the others must wait, not be dropped.
    let (tx, mut rx) = mpsc::channel(1);
    let conn = ClientConnectionBuilder::new(|| Line)
        .push_sink(tx)
        .connect(addr)
        .await
        .unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    let reply = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request("get".into()).await }
    });
    let mut got = [0u8; 4];
    within("the request", peer.read_exact(&mut got))
        .await
        .unwrap();
    // One read: one consumer call pushes four messages, then finishes.
    tokio::io::AsyncWriteExt::write_all(&mut peer, b">a\n>b\n>c\n>d\nvalue\n")
        .await
        .unwrap();
    assert_eq!(within("the reply", reply).await.unwrap().unwrap(), "value");
    for want in [">a", ">b", ">c", ">d"] {
        assert_eq!(within("a push", rx.recv()).await.unwrap(), want);
    }
    // And unsolicited ones after them still arrive.
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"later\n")
        .await
        .unwrap();
    assert_eq!(within("a push", rx.recv()).await.unwrap(), "later");
}
