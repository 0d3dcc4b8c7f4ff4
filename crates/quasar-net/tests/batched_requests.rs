//! A consumer answering several pipelined requests in one call (`Context::batch_room`,
//! `Context::finish_batched`), over an in-memory pipe: answers stay in order, the
//! connection counts every request, and the room honours the request limit, request hooks
//! and paused writing.

mod core_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use quasar_net::flow_control::WaterMarks;
use quasar_net::{
    serve_connection, ConnectionConfig, Context, Hooks, Progress, ProtocolConsumer, Result,
    TcpServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes each line; after its own line, answers every further complete line in the
/// buffer while the connection grants room, and records each call's room and batch size.
struct BatchEcho {
    calls: Arc<Mutex<Vec<(u32, u32)>>>,
}

impl ProtocolConsumer for BatchEcho {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        cx.write(&buf.split_to(end + 1))?;
        let room = cx.batch_room();
        let mut batched = 0;
        while cx.batch_room() > 0 {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                break;
            };
            // The index the connection publishes for this request, before counting it.
            let index = cx.connection().processed() + 1;
            let line = buf.split_to(end + 1);
            cx.write(&line[..end])?;
            cx.write(format!("#{index}\n").as_bytes())?;
            assert!(cx.finish_batched());
            assert_eq!(cx.connection().processed(), index);
            batched += 1;
        }
        self.calls.lock().unwrap().push((room, batched));
        Ok(Progress::Finished(()))
    }
}

fn factory(calls: &Arc<Mutex<Vec<(u32, u32)>>>) -> impl Fn() -> BatchEcho + Send + Sync {
    let calls = calls.clone();
    move || BatchEcho {
        calls: calls.clone(),
    }
}

async fn read_to_end(rd: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut out))
        .await
        .expect("the server closed")
        .unwrap();
    out
}

#[tokio::test]
async fn one_call_answers_a_whole_read_in_order_and_every_request_counts() {
    let calls = Arc::default();
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (conn, serving) = serve_connection(server, factory(&calls), ConnectionConfig::default());
    let serving = tokio::spawn(serving);
    client.write_all(b"a\nb\nc\nd\n").await.unwrap();
    let mut got = vec![0; b"a\nb#2\nc#3\nd#4\n".len()];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(got, b"a\nb#2\nc#3\nd#4\n");
    assert_eq!(calls.lock().unwrap().as_slice(), &[(1023, 3)]);
    assert_eq!(conn.processed(), 4);

    // The next read starts a fresh exchange whose index follows the batch's.
    client.write_all(b"e\nf\n").await.unwrap();
    let mut got = vec![0; b"e\nf#6\n".len()];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(got, b"e\nf#6\n");
    assert_eq!(conn.processed(), 6);
    drop(client);
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_request_limit_bounds_the_batch_and_closes_after_the_last() {
    let calls = Arc::default();
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let mut config = ConnectionConfig::default();
    config.max_requests(3);
    let (conn, serving) = serve_connection(server, factory(&calls), config);
    let serving = tokio::spawn(serving);
    client.write_all(b"a\nb\nc\nd\ne\n").await.unwrap();
    assert_eq!(read_to_end(&mut client).await, b"a\nb#2\nc#3\n");
    assert_eq!(calls.lock().unwrap().as_slice(), &[(2, 2)]);
    assert_eq!(conn.processed(), 3);
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn paused_writing_leaves_no_room() {
    let calls = Arc::default();
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let mut config = ConnectionConfig::default();
    // The first answer alone passes the high mark.
    config.water_marks(WaterMarks::new(1, 2).unwrap());
    let (conn, serving) = serve_connection(server, factory(&calls), config);
    let serving = tokio::spawn(serving);
    client.write_all(b"aaaa\nb\nc\n").await.unwrap();
    let mut got = vec![0; b"aaaa\nb\nc\n".len()];
    client.read_exact(&mut got).await.unwrap();
    // Each line was its own exchange: the room was gone once the first answer was queued.
    assert_eq!(got, b"aaaa\nb\nc\n");
    assert!(calls.lock().unwrap().iter().all(|&(_, n)| n == 0));
    assert_eq!(conn.processed(), 3);
    drop(client);
    serving.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_hooks_see_every_request_so_there_is_no_batch() {
    let calls = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut hooks = Hooks::default();
    let log = seen.clone();
    hooks.on_post_request(move |ev| {
        log.lock().unwrap().push(ev.request);
        Ok(())
    });
    let server = TcpServer::builder(factory(&calls))
        .hooks(hooks)
        .start()
        .await
        .unwrap();
    let mut sock = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    sock.write_all(b"a\nb\nc\n").await.unwrap();
    let mut got = [0; 6];
    sock.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"a\nb\nc\n");
    core_support::wait_until("three post_request hooks", || {
        seen.lock().unwrap().len() == 3
    })
    .await;
    assert_eq!(seen.lock().unwrap().as_slice(), &[1, 2, 3]);
    assert!(calls.lock().unwrap().iter().all(|&(room, _)| room == 0));
    assert_eq!(server.requests_processed(), 3);
    server.close(Duration::from_secs(1)).await;
}

#[test]
fn a_server_harness_grants_batch_room_and_counts_batched_requests() {
    let calls = Arc::default();
    let mut h = quasar_net::harness::ConsumerHarness::server(factory(&calls));
    h.feed(b"a\nb\nc").unwrap();
    assert_eq!(h.take_output(), &b"a\nb#2\n"[..]);
    // `processed` counts requests started: "c" is being read.
    assert_eq!(h.finished(), 3);
    h.feed(b"\nd\n").unwrap();
    assert_eq!(h.take_output(), &b"c\nd#4\n"[..]);
    assert_eq!(h.finished(), 4);
    assert!(h.take_responses().is_empty());
    // A client harness never grants room: each line is an exchange of its own.
    let calls_client = Arc::default();
    let mut c = quasar_net::harness::ConsumerHarness::new(factory(&calls_client));
    c.feed(b"a\nb\n").unwrap();
    assert_eq!(c.take_output(), &b"a\nb\n"[..]);
    assert_eq!(c.finished(), 2);
    assert!(calls_client
        .lock()
        .unwrap()
        .iter()
        .all(|&(room, _)| room == 0));
}
