//! Responses produced by futures (`Context::spawn_response`) leave in request order,
//! interleaved correctly with synchronous writes.

use crate::core_support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use core_support::{read_n, read_to_end, within, Conns};
use quasar_net::{Context, Error, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// `<ms> <word>\n` answers `WORD\n` after `ms` milliseconds; `now <word>\n` answers at
/// once, synchronously; `fail\n` yields an error from its future.
struct Delayed;

impl ProtocolConsumer for Delayed {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = String::from_utf8(buf.split_to(end + 1)[..end].to_vec())
            .map_err(|e| Error::protocol_with("not utf-8", e))?;
        let (head, word) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let reply = Bytes::from(format!("{}\n", word.to_uppercase()));
        match head {
            "now" => cx.write(&reply)?,
            "fail" => cx.spawn_response(async { Err(Error::protocol("upstream failed")) }),
            ms => {
                let ms: u64 = ms.parse().map_err(|_| Error::protocol("bad delay"))?;
                cx.spawn_response(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(reply)
                });
            }
        }
        Ok(Progress::Finished(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_async_responses_leave_in_request_order() {
    let server = TcpServer::builder(|| Delayed).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    // The slowest first; synchronous answers in between wait their turn.
    sock.write_all(b"60 one\nnow two\n30 three\n0 four\nnow five\n")
        .await
        .unwrap();
    let expected = b"ONE\nTWO\nTHREE\nFOUR\nFIVE\n";
    assert_eq!(
        String::from_utf8(read_n(&mut sock, expected.len()).await).unwrap(),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(server.requests_processed(), 5);
    drop(sock);
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_waits_for_async_responses_still_running() {
    let server = TcpServer::builder(|| Delayed).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"50 late\nnow early\n").await.unwrap();
    sock.shutdown().await.unwrap();
    let (got, end) = read_to_end(&mut sock).await;
    assert_eq!(got, b"LATE\nEARLY\n");
    end.expect("clean EOF");
    within("close", server.close(Duration::from_secs(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_close_waits_for_async_responses_in_flight() {
    let server = TcpServer::builder(|| Delayed).start().await.unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"150 slow\n").await.unwrap();
    core_support::wait_until("the request", || server.requests_processed() == 1).await;
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close(Duration::from_secs(5)).await }
    });
    let (got, end) = read_to_end(&mut sock).await;
    assert_eq!(got, b"SLOW\n");
    end.expect("clean EOF");
    drop(sock);
    let report = within("close", closing).await.unwrap();
    assert_eq!((report.finished_in_flight, report.forced), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_async_response_closes_the_connection_with_its_error() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| Delayed))
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"now ok\nfail\nnow never\n").await.unwrap();
    let (got, _) = read_to_end(&mut sock).await;
    assert_eq!(got, b"OK\n", "responses before the failure still leave");
    drop(sock);
    let err = within(
        "connection_lost",
        conns.session(1).await.connection_lost().wait(),
    )
    .await
    .unwrap_err();
    assert!(err.is_protocol(), "{err}");
    within("close", server.close(Duration::from_secs(1))).await;
}
