//! Large responses stream out whole: async responses past the write cap, body streams
//! pulled at the reader's pace, and synchronous writers that stop when writing pauses.

use crate::core_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use core_support::{
    connect_with_small_buffers, listener_with_small_buffers, read_n, within, Conns,
};
use quasar_net::flow_control::WaterMarks;
use quasar_net::{Context, Error, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// The body streams' chunk size.
const CHUNK: usize = 64 * KIB;
/// The streamed body: 1600 chunks of 64 KiB.
const BODY: usize = 100 * MIB;

/// The byte that fills chunk `i` of a streamed body (or response `i` of a batch), so a
/// chunk out of place or lost shows up.
fn fill(i: usize) -> u8 {
    b'a' + (i % 26) as u8
}

/// `<n>\n` answers, through a future, `n` KiB of `fill(k)` where `k` counts the
/// requests on the connection.
struct AsyncBlob {
    served: Arc<AtomicUsize>,
}

impl ProtocolConsumer for AsyncBlob {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        let kib: usize = std::str::from_utf8(&line[..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::protocol("bad size"))?;
        let k = self.served.fetch_add(1, Ordering::Relaxed);
        cx.spawn_response(async move {
            // A real await, so the future finishes after the consumer returned.
            tokio::task::yield_now().await;
            Ok(Bytes::from(vec![fill(k); kib * KIB]))
        });
        Ok(Progress::Finished(()))
    }
}

fn async_blob_factory() -> impl Fn() -> AsyncBlob + Send + Sync + 'static {
    let served = Arc::new(AtomicUsize::new(0));
    move || AsyncBlob {
        served: Arc::clone(&served),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_response_larger_than_the_write_cap_arrives_whole() {
    let server = TcpServer::builder(async_blob_factory())
        .start()
        .await
        .unwrap();
    // The default cap is 256 KiB; the response is bigger.
    assert!(300 * KIB > WaterMarks::default().cap());
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"300\n").await.unwrap();
    let got = read_n(&mut sock, 300 * KIB).await;
    assert!(got.iter().all(|&b| b == fill(0)), "the response's bytes");
    // And the connection is still usable after it.
    sock.write_all(b"1\n").await.unwrap();
    assert_eq!(read_n(&mut sock, KIB).await, vec![fill(1); KIB]);
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_large_async_responses_arrive_whole_and_in_order() {
    let server = TcpServer::builder(async_blob_factory())
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"100\n100\n100\n100\n").await.unwrap();
    let got = read_n(&mut sock, 4 * 100 * KIB).await;
    for (k, response) in got.chunks(100 * KIB).enumerate() {
        assert!(
            response.iter().all(|&b| b == fill(k)),
            "response {k} is whole and in its place"
        );
    }
    assert_eq!(server.requests_processed(), 4);
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

/// Any request line answers a `BODY`-byte body from a stream of `CHUNK`-byte chunks,
/// counting the chunks it produced.
struct Streamer {
    produced: Arc<AtomicUsize>,
}

impl ProtocolConsumer for Streamer {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        buf.advance(end + 1);
        // One shared buffer per fill byte: producing a chunk costs a reference count,
        // so the test measures the engine, not the producer.
        let chunks: Arc<Vec<Bytes>> =
            Arc::new((0..26).map(|i| Bytes::from(vec![fill(i); CHUNK])).collect());
        let produced = Arc::clone(&self.produced);
        let body = futures_util::stream::iter(0..BODY / CHUNK).map(move |i| {
            produced.fetch_add(1, Ordering::Relaxed);
            Ok(chunks[i % 26].clone())
        });
        cx.stream_response(body);
        Ok(Progress::Finished(()))
    }
}

use futures_util::StreamExt;

/// Reads the whole body chunk by chunk and checks every chunk's bytes.
async fn read_body(sock: &mut TcpStream) {
    let mut got = vec![0u8; CHUNK];
    let want: Vec<Vec<u8>> = (0..26).map(|i| vec![fill(i); CHUNK]).collect();
    for i in 0..BODY / CHUNK {
        within("a body chunk", sock.read_exact(&mut got))
            .await
            .expect("read");
        assert!(got == want[i % 26], "chunk {i} intact and in order");
    }
}

async fn start_streamer(conns: &Conns, produced: &Arc<AtomicUsize>) -> TcpServer {
    let produced = Arc::clone(produced);
    TcpServer::builder(conns.record(move || Streamer {
        produced: Arc::clone(&produced),
    }))
    .start()
    .await
    .unwrap()
}

/// The most a body stream may make the engine queue: it is pulled only while the queue
/// is below the high mark, so one chunk can take it at most one chunk past that mark.
fn peak_bound() -> u64 {
    (WaterMarks::default().high() + CHUNK) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mib_streamed_body_reaches_a_reader_with_bounded_server_memory() {
    let conns = Conns::default();
    let produced = Arc::new(AtomicUsize::new(0));
    let server = start_streamer(&conns, &produced).await;
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"get\n").await.unwrap();
    read_body(&mut sock).await;
    assert_eq!(produced.load(Ordering::Relaxed), BODY / CHUNK);
    let info = conns.nth(1).await.info();
    assert!(
        info.write_buffer_peak <= peak_bound(),
        "peak {} above high + one chunk {}",
        info.write_buffer_peak,
        peak_bound()
    );
    assert!(info.bytes_written >= BODY as u64);
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_pauses_its_producer_while_the_reader_stops_and_resumes_after() {
    let conns = Conns::default();
    let produced = Arc::new(AtomicUsize::new(0));
    let server = start_streamer(&conns, &produced).await;
    // Default kernel buffers: small ones would make the 100 MiB crawl through 4 KiB
    // segments. The kernel absorbs a few MiB at most; the rest must wait for the reader.
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"get\n").await.unwrap();
    // Read the first chunk, then stop reading.
    let mut first = vec![0u8; CHUNK];
    within("the first chunk", sock.read_exact(&mut first))
        .await
        .unwrap();
    assert!(first.iter().all(|&b| b == fill(0)));
    // Let the kernel buffers fill; then the producer must stand still.
    let mut before = produced.load(Ordering::Relaxed);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = produced.load(Ordering::Relaxed);
        if now == before {
            break;
        }
        before = now;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled = produced.load(Ordering::Relaxed);
    assert_eq!(
        stalled, before,
        "the producer goes on while the reader sleeps"
    );
    assert!(
        stalled < BODY / CHUNK / 2,
        "{stalled} chunks produced for a reader that took one"
    );
    let conn = conns.nth(1).await;
    eprintln!("stalled after {stalled} chunks, {:?}", conn.info());
    assert!(conn.info().write_buffer_peak <= peak_bound());
    assert!(conn.is_write_paused(), "writing is paused at the high mark");

    // The reader comes back: the rest arrives, in order.
    let mut got = vec![0u8; CHUNK];
    let want: Vec<Vec<u8>> = (0..26).map(|i| vec![fill(i); CHUNK]).collect();
    for i in 1..BODY / CHUNK {
        within("a body chunk", sock.read_exact(&mut got))
            .await
            .expect("read");
        assert!(got == want[i % 26], "chunk {i} intact and in order");
    }
    assert_eq!(produced.load(Ordering::Relaxed), BODY / CHUNK);
    let peak = conn.info().write_buffer_peak;
    assert!(peak <= peak_bound(), "peak {peak}");
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

/// Any request line answers `BIG` bytes written synchronously in `PIECE`-byte pieces,
/// stopping whenever writing pauses (and going on when called again).
struct PieceWriter {
    sent: usize,
    started: bool,
}

const BIG: usize = MIB;
const PIECE: usize = 16 * KIB;

fn piece(i: usize) -> Vec<u8> {
    vec![fill(i); PIECE]
}

impl ProtocolConsumer for PieceWriter {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        if !self.started {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                return Ok(Progress::NeedMore);
            };
            buf.advance(end + 1);
            self.started = true;
        }
        while self.sent < BIG {
            if cx.is_write_paused() {
                return Ok(Progress::NeedMore);
            }
            cx.write(&piece(self.sent / PIECE))?;
            self.sent += PIECE;
        }
        Ok(Progress::Finished(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_writer_that_stops_when_paused_finishes_once_the_client_reads() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| PieceWriter {
        sent: 0,
        started: false,
    }))
    .listener(listener_with_small_buffers())
    .start()
    .await
    .unwrap();
    let mut sock = connect_with_small_buffers(server.address()).await;
    sock.write_all(b"get\n").await.unwrap();
    // Not reading yet: the writer must have stopped at the high mark.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let conn = conns.nth(1).await;
    assert!(conn.is_write_paused());
    assert!(conn.info().bytes_written < BIG as u64);
    let mut got = vec![0u8; PIECE];
    for i in 0..BIG / PIECE {
        within("a piece", sock.read_exact(&mut got))
            .await
            .expect("read");
        assert!(got == piece(i), "piece {i}");
    }
    // The request finished: the next one is served on the same connection.
    sock.write_all(b"again\n").await.unwrap();
    within("the second response", sock.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(got, piece(0));
    let marks = WaterMarks::default();
    assert!(conn.info().write_buffer_peak <= (marks.high() + PIECE) as u64);
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}
