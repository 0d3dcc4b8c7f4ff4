//! `Context::upgrade`: switching a connection's consumer mid-stream.

use crate::core_support;

use std::time::Duration;

use bytes::BytesMut;
use core_support::{read_n, within, Conns};
use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A line protocol: echoes lines; the line `UPGRADE` answers `OK` and switches the
/// connection to [`Upper`].
struct Lines;

impl ProtocolConsumer for Lines {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        match &line[..] {
            b"UPGRADE\n" => {
                cx.write(b"OK\n")?;
                cx.upgrade(|| Upper);
            }
            _ => cx.write(&line)?,
        }
        Ok(Progress::Finished(()))
    }
}

/// Greets when it is built (`connection_made`), then echoes whatever arrives in upper
/// case.
struct Upper;

impl ProtocolConsumer for Upper {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(b"WELCOME\n").expect("greeting fits");
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let data = buf.split();
        cx.write(&data.to_ascii_uppercase())?;
        Ok(Progress::Finished(()))
    }
}

async fn start(conns: &Conns) -> TcpServer {
    TcpServer::builder(conns.record(|| Lines))
        .start()
        .await
        .expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_after_the_upgrade_in_the_same_read_go_to_the_new_consumer() {
    let conns = Conns::default();
    let server = start(&conns).await;
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"before\nUPGRADE\nhello").await.unwrap();
    assert_eq!(read_n(&mut sock, 23).await, b"before\nOK\nWELCOME\nHELLO");
    // Two line requests, then the upgraded consumer's first request.
    assert_eq!(conns.nth(1).await.processed(), 3);
    drop(sock);
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_consumer_greets_as_soon_as_the_upgrade_request_finishes() {
    let conns = Conns::default();
    let server = start(&conns).await;
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"UPGRADE\n").await.unwrap();
    // Nothing more is sent: the greeting comes from `connection_made` alone.
    assert_eq!(read_n(&mut sock, 11).await, b"OK\nWELCOME\n");
    sock.write_all(b"abc").await.unwrap();
    assert_eq!(read_n(&mut sock, 3).await, b"ABC");
    // The upgrade lasts: the next request gets a fresh `Upper`, built when its bytes
    // arrive (only an upgrade builds a consumer ahead of data), which greets too.
    sock.write_all(b"UPGRADE\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 16).await, b"WELCOME\nUPGRADE\n");
    drop(sock);
    within("close", server.close(Duration::from_secs(2))).await;
}
