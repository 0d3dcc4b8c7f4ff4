//! Back-pressure both ways: a consumer that pauses reading stops the server from
//! reading until `Connection::resume_reading`, and a background writer that awaits
//! `writable()` between `Connection::write`s never passes the write cap.

use crate::core_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use core_support::{
    connect_with_small_buffers, listener_with_small_buffers, read_n, wait_until, within, Conns,
};
use quasar_net::flow_control::WaterMarks;
use quasar_net::{Context, Error, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::AsyncWriteExt;

/// Records each line's number; `PAUSE` pauses reading.
struct Recorder {
    lines: Arc<Mutex<Vec<u32>>>,
}

impl ProtocolConsumer for Recorder {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        match &line[..end] {
            b"PAUSE" => cx.pause_reading(),
            b"start" => {}
            n => {
                let n = std::str::from_utf8(n)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| Error::protocol("not a number"))?;
                self.lines.lock().unwrap().push(n);
            }
        }
        Ok(Progress::Finished(()))
    }
}

/// Lines after the pause: about 5 MiB, far more than the kernel buffers hold.
const LINES: u32 = 600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_pauses_reading_stops_the_server_until_resume_reading() {
    let conns = Conns::default();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let server = TcpServer::builder(conns.record({
        let lines = Arc::clone(&lines);
        move || Recorder {
            lines: Arc::clone(&lines),
        }
    }))
    .listener(listener_with_small_buffers())
    .start()
    .await
    .unwrap();
    let sock = connect_with_small_buffers(server.address()).await;
    let (_rd, mut wr) = sock.into_split();
    let writer = tokio::spawn(async move {
        let mut data = b"PAUSE\n".to_vec();
        for n in 0..LINES {
            data.extend_from_slice(format!("{n}\n").as_bytes());
        }
        wr.write_all(&data).await.unwrap();
        wr.shutdown().await.unwrap();
        data.len()
    });
    let conn = conns.nth(1).await;

    // The server reads until its buffers and the kernel's are full, then stops. (The
    // connection is known from accept on, before its first byte.)
    core_support::wait_until("the first bytes", || conn.info().bytes_read > 0).await;
    let mut before = conn.info().bytes_read;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = conn.info().bytes_read;
        if now == before {
            break;
        }
        before = now;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paused_at = conn.info().bytes_read;
    assert_eq!(paused_at, before, "the server kept reading while paused");
    assert!(
        paused_at < 1024 * 1024,
        "read {paused_at} bytes while paused"
    );
    assert!(!writer.is_finished(), "the client's writes should block");
    assert!(
        lines.lock().unwrap().is_empty(),
        "no line is fed while paused"
    );

    // Another task resumes it: every line arrives, in order.
    tokio::spawn(async move { conn.resume_reading() });
    let total = within("the writer", writer).await.unwrap();
    wait_until("every line", || {
        lines.lock().unwrap().len() == LINES as usize
    })
    .await;
    let in_order = lines.lock().unwrap().iter().copied().eq(0..LINES);
    assert!(in_order, "lines out of order");
    assert_eq!(conns.nth(1).await.info().bytes_read, total as u64);
    within("close", server.close(Duration::from_secs(1))).await;
}

const PUSHED: usize = 4 * 1024 * 1024;
const PUSH_CHUNK: usize = 16 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_writer_awaiting_writable_stays_under_the_cap_with_a_slow_reader() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| Recorder {
        lines: Arc::default(),
    }))
    .listener(listener_with_small_buffers())
    .start()
    .await
    .unwrap();
    let mut sock = connect_with_small_buffers(server.address()).await;
    sock.write_all(b"start\n").await.unwrap();
    let conn = conns.nth(1).await;
    // The pattern of chunk `i`: its number in every byte.
    let chunk = |i: usize| Bytes::from(vec![(i % 251) as u8; PUSH_CHUNK]);
    let writer = tokio::spawn({
        let conn = conn.clone();
        async move {
            for i in 0..PUSHED / PUSH_CHUNK {
                conn.writable().await?;
                conn.write(chunk(i))?;
            }
            Ok::<(), Error>(())
        }
    });
    // A slow reader: a pause after every 64 KiB.
    for i in 0..PUSHED / PUSH_CHUNK {
        let got = read_n(&mut sock, PUSH_CHUNK).await;
        assert!(got == chunk(i), "chunk {i}");
        if i % 4 == 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    within("the writer", writer)
        .await
        .unwrap()
        .expect("no write refused");
    let info = conn.info();
    let marks = WaterMarks::default();
    assert!(
        info.write_buffer_peak <= marks.cap() as u64,
        "peak {} above the cap",
        info.write_buffer_peak
    );
    assert!(
        info.write_pauses > 0,
        "the reader was slow enough to pause writing"
    );
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_ignores_writable_is_refused_at_the_cap() {
    // The control for the test above: without `writable()`, a reader that does not
    // read makes `write` fail once the cap is reached.
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| Recorder {
        lines: Arc::default(),
    }))
    .listener(listener_with_small_buffers())
    .start()
    .await
    .unwrap();
    let mut sock = connect_with_small_buffers(server.address()).await;
    sock.write_all(b"start\n").await.unwrap();
    let conn = conns.nth(1).await;
    let mut refused = None;
    for i in 0..PUSHED / PUSH_CHUNK {
        if let Err(err) = conn.write(Bytes::from(vec![0u8; PUSH_CHUNK])) {
            refused = Some((i, err));
            break;
        }
        tokio::task::yield_now().await;
    }
    let (i, err) = refused.expect("the cap refuses a writer that ignores back-pressure");
    assert!(err.is_write_buffer_full(), "{err}");
    assert!(i * PUSH_CHUNK <= WaterMarks::default().cap() + 64 * 1024);
    // Nothing was queued by the refused write, and the connection stays open.
    assert!(!conn.is_closed());
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}
