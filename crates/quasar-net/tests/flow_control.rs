//! Flow control over real sockets: a peer that does not read pauses the server's reading,
//! the write buffer stays near its high-water mark and never passes its cap, and the
//! stalled connection is eventually closed.

use crate::core_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use core_support::{
    connect_with_small_buffers, listener_with_small_buffers, read_to_end, roundtrip, wait_until,
    within, Conns, LineEcho,
};
use quasar_net::flow_control::WaterMarks;
use quasar_net::{Context, Error, Progress, ProtocolConsumer, Result, TcpServer, TcpServerBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::task::JoinHandle;

const HIGH: usize = 16 * 1024;
const LOW: usize = 4 * 1024;
const CAP: usize = 64 * 1024;
const LINE: usize = 1024;

fn marks() -> WaterMarks {
    WaterMarks::new(LOW, HIGH).unwrap().with_cap(CAP).unwrap()
}

fn builder<F: quasar_net::ConsumerFactory>(factory: F) -> TcpServerBuilder<F> {
    TcpServer::builder(factory)
        .listener(listener_with_small_buffers())
        .water_marks(marks())
}

fn line() -> Vec<u8> {
    [vec![b'x'; LINE - 1], vec![b'\n']].concat()
}

/// Sends `lines` lines of [`LINE`] bytes from a task; the task ends when all are sent
/// (or the server closes).
fn send_lines(mut wr: OwnedWriteHalf, lines: usize) -> JoinHandle<OwnedWriteHalf> {
    tokio::spawn(async move {
        let line = line();
        for _ in 0..lines {
            if wr.write_all(&line).await.is_err() {
                break;
            }
        }
        wr
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_pauses_the_server_and_others_keep_working() {
    let conns = Conns::default();
    let server = builder(conns.record(|| LineEcho)).start().await.unwrap();
    let stalled = connect_with_small_buffers(server.address()).await;
    let (rd, wr) = stalled.into_split();
    let writer = send_lines(wr, 1000);

    let conn = conns.session(1).await;
    wait_until("writing to pause", || conn.is_write_paused()).await;
    roundtrip(server.address(), b"other\n", b"other\n").await;
    let before = conn.info();
    roundtrip(server.address(), b"again\n", b"again\n").await;
    let after = conn.info();

    assert!(after.write_paused);
    assert_eq!(after.write_pauses, 1);
    assert_eq!(
        before.bytes_read, after.bytes_read,
        "no reading while paused"
    );
    assert!(
        after.bytes_read < 256 * 1024,
        "{} read of 1 MiB sent",
        after.bytes_read
    );
    // Feeding stops at the high mark: one response past it at most, far below the cap.
    let peak = after.write_buffer_peak as usize;
    assert!(peak >= HIGH, "{peak}");
    assert!(peak <= HIGH + LINE, "{peak}");
    assert!(
        !writer.is_finished(),
        "the client is back-pressured too: {after:?}"
    );

    drop(rd);
    writer.abort();
    within("close", server.close(Duration::from_millis(500))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bytes_are_read_between_pause_and_resume() {
    let conns = Conns::default();
    let marks_seen = Arc::new(Mutex::new(Vec::new()));
    let (pause_conns, pause_seen) = (conns.clone(), Arc::clone(&marks_seen));
    let (resume_conns, resume_seen) = (conns.clone(), Arc::clone(&marks_seen));
    let server = builder(conns.record(|| LineEcho))
        .connection_config(|_| {})
        .hooks({
            let mut hooks = quasar_net::Hooks::default();
            hooks.on_pause_writing(move |ev| {
                let read = pause_conns.get(ev.session).unwrap().info().bytes_read;
                pause_seen.lock().unwrap().push(("pause", read));
                Ok(())
            });
            hooks.on_resume_writing(move |ev| {
                let read = resume_conns.get(ev.session).unwrap().info().bytes_read;
                resume_seen.lock().unwrap().push(("resume", read));
                Ok(())
            });
            hooks
        })
        .start()
        .await
        .unwrap();
    let sock = connect_with_small_buffers(server.address()).await;
    let (mut rd, wr) = sock.into_split();
    let lines = 256;
    let writer = send_lines(wr, lines);
    wait_until("writing to pause", || {
        !marks_seen.lock().unwrap().is_empty()
    })
    .await;

    // Read everything; the server resumes only once its buffer is down to the low mark.
    let mut got = vec![0u8; lines * LINE];
    within("every echo", rd.read_exact(&mut got)).await.unwrap();
    assert!(got.chunks(LINE).all(|l| l == line()));
    let wr = within("the writer", writer).await.unwrap();
    let seen = marks_seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    for pair in seen.chunks(2) {
        if let [("pause", at_pause), ("resume", at_resume)] = pair {
            assert_eq!(at_pause, at_resume, "bytes read while paused: {seen:?}");
        } else {
            assert_eq!(pair.len(), 1, "pause and resume alternate: {seen:?}");
        }
    }
    drop((rd, wr));
    within("close", server.close(Duration::from_millis(500))).await;
}

/// `AMP <n>\n` answers with `n` bytes, written in 4 KiB pieces, then `\n`.
struct Amplifier;

impl ProtocolConsumer for Amplifier {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        let n: usize = std::str::from_utf8(&line[4..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::protocol("expected AMP <n>"))?;
        let piece = [b'y'; 4096];
        let mut left = n;
        while left > 0 {
            let k = left.min(piece.len());
            cx.write(&piece[..k])?;
            left -= k;
        }
        cx.write(b"\n")?;
        Ok(Progress::Finished(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_past_the_cap_closes_the_connection_with_write_buffer_full() {
    let conns = Conns::default();
    let server = builder(conns.record(|| Amplifier)).start().await.unwrap();
    // Under the cap, even above the high mark, a response goes out whole.
    let whole = [vec![b'y'; 40_000], vec![b'\n']].concat();
    roundtrip(server.address(), b"AMP 40000\n", &whole).await;

    let mut sock = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    sock.write_all(b"AMP 100000\n").await.unwrap();
    let (got, _) = read_to_end(&mut sock).await;
    assert!(
        got.len() <= CAP,
        "{} bytes of a 100000-byte response",
        got.len()
    );
    drop(sock);
    let err = within(
        "connection_lost",
        conns.session(2).await.connection_lost().wait(),
    )
    .await
    .unwrap_err();
    assert!(err.is_write_buffer_full(), "{err}");
    assert!(conns.session(2).await.info().write_buffer_peak as usize <= CAP);

    roundtrip(server.address(), b"AMP 3\n", b"yyy\n").await;
    within("close", server.close(Duration::from_millis(500))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reader_is_closed_by_the_request_timeout() {
    let conns = Conns::default();
    let timeout = Duration::from_millis(300);
    let server = builder(conns.record(|| LineEcho))
        .request_timeout(timeout)
        .connection_config(|c| {
            c.close_timeout(Duration::from_millis(200));
        })
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let sock = connect_with_small_buffers(server.address()).await;
    let (rd, wr) = sock.into_split();
    let writer = send_lines(wr, 1000);
    let conn = conns.session(1).await;
    let err = within("connection_lost", conn.connection_lost().wait())
        .await
        .unwrap_err();
    assert!(err.is_request_timeout(), "{err}");
    assert!(started.elapsed() >= timeout);
    assert!(conn.is_closed());
    roundtrip(server.address(), b"alive\n", b"alive\n").await;
    drop(rd);
    writer.abort();
    within("close", server.close(Duration::from_millis(500))).await;
}
