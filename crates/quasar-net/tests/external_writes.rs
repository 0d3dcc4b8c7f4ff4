//! `Connection::write` from outside the consumers, and `writable().await` back-pressure.

use crate::core_support;

use std::time::Duration;

use core_support::{
    connect_with_small_buffers, listener_with_small_buffers, read_n, wait_until, within, LineEcho,
};
use quasar_net::flow_control::WaterMarks;
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_task_writes_to_a_connection_after_its_queued_responses() {
    let server = TcpServer::builder(|| LineEcho).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"first\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 6).await, b"first\n");
    let conn = server.connections().pop().expect("one connection");
    conn.write(&b"pushed from outside\n"[..]).unwrap();
    assert_eq!(read_n(&mut sock, 20).await, b"pushed from outside\n");
    sock.write_all(b"second\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 7).await, b"second\n");
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writable_holds_a_writer_back_until_the_peer_reads() {
    let marks = WaterMarks::new(1024, 4096)
        .unwrap()
        .with_cap(64 * 1024)
        .unwrap();
    let server = TcpServer::builder(|| LineEcho)
        .listener(listener_with_small_buffers())
        .water_marks(marks)
        .start()
        .await
        .unwrap();
    let mut sock = connect_with_small_buffers(server.address()).await;
    sock.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 6).await, b"hello\n");
    let conn = server.connections().pop().expect("one connection");

    const CHUNKS: usize = 300;
    let writer_conn = conn.clone();
    let writer = tokio::spawn(async move {
        for i in 0..CHUNKS {
            let chunk = vec![(i % 251) as u8; 1024];
            writer_conn
                .write(chunk)
                .expect("never past the cap with writable()");
            writer_conn.writable().await.expect("open");
        }
    });
    // The peer is not reading: the writer must stall well before its 2 MB are out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "the writer was held back");
    wait_until("writing to pause", || conn.info().write_pauses > 0).await;
    let peak = conn.info().write_buffer_peak;
    assert!(
        peak <= 4096 + 1024,
        "at most high + one chunk buffered, got {peak}"
    );

    let mut got = vec![0u8; CHUNKS * 1024];
    within("the whole stream", sock.read_exact(&mut got))
        .await
        .unwrap();
    for (i, chunk) in got.chunks(1024).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == (i % 251) as u8),
            "chunk {i} in order"
        );
    }
    writer.await.unwrap();
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn writing_past_the_cap_or_after_close_is_refused() {
    let marks = WaterMarks::new(512, 1024).unwrap().with_cap(4096).unwrap();
    let server = TcpServer::builder(|| LineEcho)
        .water_marks(marks)
        .start()
        .await
        .unwrap();
    let mut sock = connect_with_small_buffers(server.address()).await;
    sock.write_all(b"x\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 2).await, b"x\n");
    let conn = server.connections().pop().expect("one connection");
    let err = conn.write(vec![0u8; 8192]).unwrap_err();
    assert!(err.is_write_buffer_full(), "{err}");
    conn.close().await.unwrap();
    let err = conn.write(&b"late"[..]).unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(conn.writable().await.unwrap_err().is_closed());
    server.close(Duration::from_secs(1)).await;
}
