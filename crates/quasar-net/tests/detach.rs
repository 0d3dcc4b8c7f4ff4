//! `Context::detach`: handing a client connection over to a protocol of other types
//! (the HTTP client's `101 Switching Protocols` becoming a WebSocket client), keeping
//! the bytes that arrived with the switch; and a server socket handed to a task, which
//! stays in its server's count until the task drops it.

use crate::core_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use core_support::within;
use quasar_net::transport::Detached;
use quasar_net::{ClientConnectionBuilder, Context, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Sends a line; a reply line `SWITCH` hands the connection over.
struct Handshake;

/// The reply, and where the detached connection arrives after a switch.
struct Switched(Option<oneshot::Receiver<Detached>>);

impl ProtocolConsumer for Handshake {
    type Request = Bytes;
    type Response = Switched;

    fn start_request(&mut self, cx: &mut Context<'_, Bytes, Switched>, line: Bytes) -> Result<()> {
        cx.write_bytes(line)?;
        cx.write(b"\n")
    }

    fn data_received(
        &mut self,
        cx: &mut Context<'_, Bytes, Switched>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Switched>> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        if &line[..] != b"SWITCH\n" {
            return Ok(Progress::Finished(Switched(None)));
        }
        let (tx, rx) = oneshot::channel();
        cx.detach(tx);
        Ok(Progress::Finished(Switched(Some(rx))))
    }
}

/// The protocol after the switch: every line the server sends is a message (a number).
struct Frames;

impl ProtocolConsumer for Frames {
    type Request = ();
    type Response = u32;

    fn data_received(
        &mut self,
        _cx: &mut Context<'_, (), u32>,
        buf: &mut BytesMut,
    ) -> Result<Progress<u32>> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        let n = std::str::from_utf8(&line[..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| quasar_net::Error::protocol("not a number"))?;
        Ok(Progress::Finished(n))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_client_connection_runs_a_protocol_of_other_types_with_the_leftover_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_tx, got_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let n = sock.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"UPGRADE\n");
        // The switch and the first frame in one write: the frame must not be lost.
        sock.write_all(b"SWITCH\n1\n").await.unwrap();
        sock.write_all(b"2\n3\n").await.unwrap();
        // The old driver wrote nothing after the switch; the new one nothing at all.
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            sock.read_to_end(&mut rest),
        )
        .await;
        let _ = got_tx.send(rest);
    });

    let http = ClientConnectionBuilder::new(|| Handshake)
        .connect(addr)
        .await
        .unwrap();
    let Switched(Some(rx)) = http.request(Bytes::from_static(b"UPGRADE")).await.unwrap() else {
        panic!("the server switched");
    };
    let detached = within("the hand-over", rx).await.unwrap();
    assert_eq!(detached.peer, addr);
    within("the old handle to end", http.connection_lost().wait())
        .await
        .unwrap();

    let (push_tx, mut frames) = mpsc::channel(8);
    let ws = ClientConnectionBuilder::new(|| Frames)
        .push_sink(push_tx)
        .resume(detached)
        .await;
    for want in 1..=3 {
        assert_eq!(within("a frame", frames.recv()).await, Some(want));
    }
    assert!(!ws.is_closed());
    assert!(within("the server", got_rx).await.unwrap().is_empty());
}

/// A server protocol that hands its socket to a task after a `SWITCH` line.
struct Switcher {
    to: Arc<Mutex<Option<oneshot::Sender<Detached>>>>,
}

impl ProtocolConsumer for Switcher {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let _ = buf.split_to(end + 1);
        if let Some(to) = self.to.lock().unwrap().take() {
            cx.detach(to);
        }
        Ok(Progress::Finished(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_server_socket_stays_counted_until_its_new_owner_drops_it() {
    let (tx, rx) = oneshot::channel();
    let to = Arc::new(Mutex::new(Some(tx)));
    let server = TcpServer::builder(move || Switcher {
        to: Arc::clone(&to),
    })
    .start()
    .await
    .unwrap();
    let mut client = TcpStream::connect(server.address()).await.unwrap();
    client.write_all(b"SWITCH\nafter").await.unwrap();
    let mut detached = within("the hand-over", rx).await.unwrap();
    // The bytes after the switch line came along; the socket is still the server's.
    assert_eq!(&detached.read_buf[..], b"after");
    assert_eq!(server.connected(), 1);
    detached.io.write_all(b"owned\n").await.unwrap();
    let mut got = [0u8; 6];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"owned\n");

    // A close waits for it...
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !closing.is_finished(),
        "the close waits for the detached socket"
    );
    assert_eq!(server.connected(), 1);
    // ...until the new owner drops it.
    drop(detached);
    let report = within("the close", closing).await.unwrap();
    assert_eq!(report.forced, 0);
    assert_eq!(server.connected(), 0);
}
