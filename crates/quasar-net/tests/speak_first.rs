//! Protocols as their authors write them, over loopback: a server speaks first, holds
//! back its first bytes, finds a connection by session, and answers after the peer's
//! half-close.

use crate::core_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use core_support::{read_to_end, wait_until, within};
use quasar_net::connection::ProgressRules;
use quasar_net::{Context, MinRate, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Greets at accept; answers each line with its length; optionally holds back input
/// until resumed from outside.
struct Greeter {
    hold: bool,
}

impl ProtocolConsumer for Greeter {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let session = cx.connection().session();
        cx.write(format!("220 hello {session}\n").as_bytes())
            .unwrap();
        if self.hold {
            cx.pause_reading();
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        cx.write(format!("{}\n", line.len() - 1).as_bytes())?;
        Ok(Progress::Finished(()))
    }
}

async fn read_line(sock: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while within("a line", sock.read(&mut b)).await.unwrap() == 1 {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_greets_before_the_client_sends_a_byte() {
    let server = TcpServer::builder(|| Greeter { hold: false })
        .start()
        .await
        .unwrap();
    let mut a = TcpStream::connect(server.address()).await.unwrap();
    let mut b = TcpStream::connect(server.address()).await.unwrap();
    assert_eq!(read_line(&mut a).await, "220 hello 1");
    assert_eq!(read_line(&mut b).await, "220 hello 2");
    // The server hands out a silent connection by its session number.
    let conn = server.connection(2).expect("session 2 is open");
    conn.write(&b"* pushed\n"[..]).unwrap();
    assert_eq!(read_line(&mut b).await, "* pushed");
    assert!(server.connection(99).is_none());
    // The first consumer serves the first request too.
    a.write_all(b"four\n").await.unwrap();
    assert_eq!(read_line(&mut a).await, "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_reading_at_accept_holds_back_the_first_bytes_until_resumed() {
    let server = TcpServer::builder(|| Greeter { hold: true })
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    assert_eq!(read_line(&mut sock).await, "220 hello 1");
    sock.write_all(b"abc\n").await.unwrap();
    let conn = server.connection(1).unwrap();
    // Held back: not one byte is read while paused.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(conn.info().bytes_read, 0);
    conn.resume_reading();
    assert_eq!(read_line(&mut sock).await, "3");
}

/// A long-lived exchange that answers the peer's half-close from another task.
struct Uploader {
    got: Arc<Mutex<Vec<u8>>>,
}

impl ProtocolConsumer for Uploader {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_long_lived(true);
    }

    fn data_received(&mut self, _cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        self.got.lock().unwrap().extend_from_slice(&buf.split());
        Ok(Progress::NeedMore)
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) -> Result<()> {
        // The answer comes later, from another task: the write side is still open.
        let conn = cx.connection().clone();
        let n = self.got.lock().unwrap().len();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            conn.write(format!("received {n} bytes\n")).unwrap();
            conn.shutdown_write();
        });
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_peer_still_gets_the_answer_written_after_its_fin() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let server = TcpServer::builder({
        let got = Arc::clone(&got);
        move || Uploader {
            got: Arc::clone(&got),
        }
    })
    .start()
    .await
    .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(&[7u8; 100_000]).await.unwrap();
    sock.shutdown().await.unwrap();
    let (reply, end) = read_to_end(&mut sock).await;
    assert_eq!(reply, b"received 100000 bytes\n");
    end.expect("a clean EOF after the answer");
    wait_until("the connection to end", || server.connected() == 0).await;
}

/// Answers each line from a future (an upstream call).
struct Slow;

impl ProtocolConsumer for Slow {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1).freeze();
        cx.spawn_response(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(line)
        });
        Ok(Progress::Finished(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_requests_are_answered_after_the_clients_fin() {
    let server = TcpServer::builder(|| Slow).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"one\ntwo\n").await.unwrap();
    sock.shutdown().await.unwrap();
    let (reply, end) = read_to_end(&mut sock).await;
    assert_eq!(reply, b"one\ntwo\n");
    end.expect("a clean EOF after the answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_rules_set_in_one_call_close_a_slow_sender() {
    let server = TcpServer::builder(|| Greeter { hold: false })
        .progress_rules(ProgressRules {
            min_receive_rate: MinRate::new(1024, Duration::from_millis(200)),
            ..ProgressRules::OFF
        })
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    assert_eq!(read_line(&mut sock).await, "220 hello 1");
    // Half a line, then nothing: below the minimum receive rate.
    sock.write_all(b"half a li").await.unwrap();
    let (_, _) = read_to_end(&mut sock).await;
    drop(sock);
    wait_until("the close to be counted", || {
        server.info().abuse.receive_too_slow == 1
    })
    .await;
}
