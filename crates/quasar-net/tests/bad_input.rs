//! Bad input and misbehaving consumers end one connection with a typed error; the
//! server carries on.

use crate::core_support;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use core_support::{read_to_end, roundtrip, within, Conns, LineEcho};
use quasar_net::{Context, Error, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Echoes lines; a line starting with `BAD` is a protocol error.
struct Strict;

impl ProtocolConsumer for Strict {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        if buf.starts_with(b"BAD") {
            return Err(Error::protocol("line starts with BAD"));
        }
        cx.write(&buf.split_to(end + 1))?;
        Ok(Progress::Finished(()))
    }
}

/// Says it finished without taking a byte (pulsar would feed it the same bytes forever).
struct Lazy;

impl ProtocolConsumer for Lazy {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, _cx: &mut Context<'_>, _buf: &mut BytesMut) -> Result<Progress> {
        Ok(Progress::Finished(()))
    }
}

async fn lost_error(conns: &Conns, session: u64) -> Error {
    within(
        "connection_lost",
        conns.session(session).await.connection_lost().wait(),
    )
    .await
    .expect_err("the connection ends with an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_error_closes_the_connection_and_the_server_keeps_serving() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| Strict))
        .start()
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"fine\nBAD line\nnever answered\n")
        .await
        .unwrap();
    let (got, _) = read_to_end(&mut sock).await;
    assert_eq!(
        got, b"fine\n",
        "the answer before the bad line still leaves"
    );
    drop(sock);
    let err = lost_error(&conns, 1).await;
    assert!(err.is_protocol(), "{err}");
    assert!(err.to_string().contains("line starts with BAD"), "{err}");

    roundtrip(server.address(), b"still\n", b"still\n").await;
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_finishing_without_consuming_is_a_stall_error_not_a_spin() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| Lazy))
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"anything").await.unwrap();
    let (got, _) = read_to_end(&mut sock).await;
    assert!(got.is_empty());
    drop(sock);
    let err = lost_error(&conns, 1).await;
    assert!(err.is_consumer_stalled(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests_processed(), 1, "fed once, not in a loop");
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsed_input_past_max_read_buffer_is_a_read_buffer_full_error() {
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| LineEcho))
        .connection_config(|c| {
            c.max_read_buffer(4096).unwrap();
        })
        .start()
        .await
        .unwrap();
    // A line just under the limit is fine.
    let ok = [vec![b'a'; 4000], vec![b'\n']].concat();
    roundtrip(server.address(), &ok, &ok).await;

    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    let writer = async {
        // No newline, ever: the line can only grow.
        let _ = sock.write_all(&[b'b'; 64 * 1024]).await;
    };
    within("the write", writer).await;
    let (got, _) = read_to_end(&mut sock).await;
    assert!(got.is_empty());
    drop(sock);
    let err = lost_error(&conns, 2).await;
    assert!(err.is_read_buffer_full(), "{err}");
    assert!(err.to_string().contains("4096"), "{err}");

    roundtrip(server.address(), b"next\n", b"next\n").await;
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_read_buffer_of_zero_is_a_config_error() {
    let err = quasar_net::ConnectionConfig::default()
        .max_read_buffer(0)
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_config(), "{err}");
}

async fn assert_bind_error(first_workers: usize, second_workers: usize) {
    let first = TcpServer::builder(|| LineEcho)
        .workers(first_workers)
        .start()
        .await
        .unwrap();
    let addr = first.address();
    let err = TcpServer::builder(|| LineEcho)
        .bind(addr)
        .workers(second_workers)
        .start()
        .await
        .expect_err("the address is in use");
    assert!(err.is_bind(), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let io = err.io_error().expect("the OS error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    // The first server is untouched.
    roundtrip(addr, b"mine\n", b"mine\n").await;
    within("close", first.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_used_address_is_a_bind_error_naming_it() {
    assert_bind_error(0, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_used_address_with_workers_is_a_bind_error() {
    assert_bind_error(0, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_with_workers_cannot_share_a_port() {
    // SO_REUSEPORT lets a server's own workers share its port; a second server of the
    // same user must not silently join them and steal half the connections.
    assert_bind_error(2, 2).await;
}
