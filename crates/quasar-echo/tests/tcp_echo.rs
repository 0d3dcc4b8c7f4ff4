//! The TCP echo protocol over real loopback sockets.
//!
//! Every server-side behaviour runs twice, through `both!`: on the caller's runtime
//! (`workers(0)`) and on two worker runtimes with `SO_REUSEPORT` listeners (`workers(2)`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use quasar_echo::tcp::{EchoClientFactory, EchoConfig, EchoServerFactory, SEPARATOR};
use quasar_net::{ConnectionConfig, Error, Hooks, Producer, TcpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How long any single wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// Generates one test per runtime shape for an `async fn(workers)` body.
macro_rules! both {
    ($($name:ident => $body:ident;)*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_the_callers_runtime() {
                super::$body(0).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn with_two_workers() {
                super::$body(2).await
            }
        }
    )*};
}

/// An echo server plus what its hooks observed.
struct Echo {
    server: TcpServer,
    /// Bytes the server has read so far, across connections.
    received: watch::Receiver<usize>,
    /// The error (if any) each ended connection carried, in the order they ended.
    lost: Arc<Mutex<Vec<Option<Error>>>>,
}

impl Echo {
    async fn start(workers: usize, cfg: EchoConfig) -> Echo {
        let (tx, received) = watch::channel(0usize);
        let lost = Arc::new(Mutex::new(Vec::new()));
        let lost_hook = Arc::clone(&lost);
        let server = TcpServer::builder(EchoServerFactory::new(cfg))
            .workers(workers)
            .connection_config(|c| {
                let marks = c.get_water_marks();
                c.water_marks(marks.with_cap(cfg.write_buffer_cap(marks.high())).unwrap());
            })
            .on_data_received(move |ev| {
                tx.send_modify(|n| *n += ev.data.len());
                Ok(())
            })
            .on_connection_lost(move |ev| {
                lost_hook.lock().unwrap().push(ev.error.cloned());
                Ok(())
            })
            .start()
            .await
            .expect("server starts");
        Echo {
            server,
            received,
            lost,
        }
    }

    async fn connect(&self) -> TcpStream {
        let sock = within("connect", TcpStream::connect(self.server.address()))
            .await
            .expect("connect");
        sock.set_nodelay(true).unwrap();
        sock
    }

    /// Writes `data` in `chunk`-sized writes, each read by the server before the next
    /// is sent, so the message really arrives split across many reads.
    async fn send_split(&mut self, sock: &mut TcpStream, data: &[u8], chunk: usize) {
        let base = *self.received.borrow();
        let mut sent = 0;
        for piece in data.chunks(chunk) {
            sock.write_all(piece).await.unwrap();
            sent += piece.len();
            within(
                "the server to read a chunk",
                self.received.wait_for(|n| *n >= base + sent),
            )
            .await
            .unwrap();
        }
    }

    /// Waits until `n` connections ended and returns their errors.
    async fn lost(&self, n: usize) -> Vec<Option<Error>> {
        within("connections to end", async {
            loop {
                let lost = self.lost.lock().unwrap().clone();
                if lost.len() >= n {
                    return lost;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }

    async fn close(self) {
        within(
            "the server to close",
            self.server.close(Duration::from_secs(2)),
        )
        .await;
        assert_eq!(self.server.connected(), 0);
    }
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn read_n(sock: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within("a reply", sock.read_exact(&mut buf))
        .await
        .expect("read");
    buf
}

/// Reads until the peer closes: what arrived, and whether it ended in a clean EOF.
async fn read_to_end(sock: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    within("the server to close", async {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) => return (out, Ok(())),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Err(e)),
            }
        }
    })
    .await
}

fn framed(body: &[u8]) -> Vec<u8> {
    [body, SEPARATOR].concat()
}

/// A body of `len` bytes with no `\r` or `\n`, so it cannot contain the separator.
fn body_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

async fn assert_still_serves(echo: &Echo) {
    let mut sock = echo.connect().await;
    sock.write_all(b"still here\r\n\r\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 14).await, b"still here\r\n\r\n");
}

both! {
    small_message_is_echoed => small_message;
    message_of_8_kib_in_small_writes_is_echoed_whole => message_8_kib;
    message_of_1_mib_in_small_writes_is_echoed_whole => message_1_mib;
    three_concurrent_clients_each_get_their_own_echo => three_clients;
    hundred_pipelined_messages_come_back_in_order_in_one_write => pipelined;
    quit_is_echoed_then_the_server_closes => quit;
    oversize_message_closes_the_connection_and_the_server_keeps_serving => oversize;
    peer_reset_mid_message_ends_that_connection_only => peer_reset;
    half_closed_client_gets_its_echo_then_eof => half_close;
    raw_mode_echoes_bytes_without_framing => raw_mode;
}

async fn small_message(workers: usize) {
    let echo = Echo::start(workers, EchoConfig::default()).await;
    let mut sock = echo.connect().await;
    sock.write_all(b"ciao luca\r\n\r\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 13).await, b"ciao luca\r\n\r\n");
    drop(sock);
    echo.lost(1).await;
    assert_eq!(echo.server.sessions(), 1);
    assert_eq!(echo.server.requests_processed(), 1);
    echo.close().await;
}

async fn split_message(workers: usize, len: usize, chunk: usize) {
    let mut echo = Echo::start(workers, EchoConfig::default()).await;
    let mut sock = echo.connect().await;
    let message = framed(&body_of(len));
    let (mut rd, mut wr) = sock.split();
    // Read concurrently: a 1 MiB echo does not fit in the socket buffers.
    let reader = async {
        let mut got = vec![0u8; message.len()];
        within("the echo", rd.read_exact(&mut got))
            .await
            .expect("read echo");
        got
    };
    let writer = async {
        let base = *echo.received.borrow();
        let mut sent = 0;
        for piece in message.chunks(chunk) {
            wr.write_all(piece).await.unwrap();
            sent += piece.len();
            within(
                "the server to read a chunk",
                echo.received.wait_for(|n| *n >= base + sent),
            )
            .await
            .unwrap();
        }
    };
    let (got, ()) = tokio::join!(reader, writer);
    assert!(got == message, "echo differs from the message");
    assert_eq!(echo.server.requests_processed(), 1);
    drop(sock);
    echo.close().await;
}

async fn message_8_kib(workers: usize) {
    split_message(workers, 8 * 1024, 100).await;
}

async fn message_1_mib(workers: usize) {
    // 1 MiB is the default limit, which a message may reach.
    split_message(workers, 1024 * 1024, 16 * 1024).await;
}

async fn three_clients(workers: usize) {
    let echo = Echo::start(workers, EchoConfig::default()).await;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..3 {
        let mut sock = echo.connect().await;
        clients.spawn(async move {
            let msg = framed(format!("client {i} says hello").as_bytes());
            // Two halves, so the three exchanges interleave on the server.
            let (a, b) = msg.split_at(msg.len() / 2);
            sock.write_all(a).await.unwrap();
            tokio::task::yield_now().await;
            sock.write_all(b).await.unwrap();
            assert_eq!(read_n(&mut sock, msg.len()).await, msg);
        });
    }
    while let Some(res) = clients.join_next().await {
        res.expect("client task");
    }
    assert_eq!(echo.server.sessions(), 3);
    assert_eq!(echo.server.requests_processed(), 3);
    echo.close().await;
}

async fn pipelined(workers: usize) {
    let echo = Echo::start(workers, EchoConfig::default()).await;
    let mut sock = echo.connect().await;
    let batch: Vec<u8> = (0..100)
        .flat_map(|i| framed(format!("message {i:03}").as_bytes()))
        .collect();
    sock.write_all(&batch).await.unwrap();
    // The batch arrives in one read, so the server answers it with one write: the
    // client's first read returns every reply at once. A server writing each reply
    // separately would wake the client with the first one only.
    let mut buf = vec![0u8; 64 * 1024];
    let n = within("the replies", sock.read(&mut buf)).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        String::from_utf8_lossy(&batch),
        "all 100 replies, in order, in the first read"
    );
    assert_eq!(echo.server.requests_processed(), 100);
    drop(sock);
    echo.close().await;
}

async fn quit(workers: usize) {
    let echo = Echo::start(workers, EchoConfig::default()).await;
    let mut sock = echo.connect().await;
    sock.write_all(b"hello\r\n\r\nQUIT\r\n\r\nignored\r\n\r\n")
        .await
        .unwrap();
    let (got, end) = read_to_end(&mut sock).await;
    assert_eq!(got, b"hello\r\n\r\nQUIT\r\n\r\n");
    end.expect("clean EOF after QUIT");
    // The server waits for our side to close before it reports the connection lost.
    drop(sock);
    assert!(echo.lost(1).await[0].is_none(), "QUIT is a clean close");
    echo.close().await;
}

async fn oversize(workers: usize) {
    let cfg = EchoConfig {
        max_message_size: 1024,
        ..EchoConfig::default()
    };
    let echo = Echo::start(workers, cfg).await;
    let mut sock = echo.connect().await;
    sock.write_all(&framed(&body_of(2048))).await.unwrap();
    let (got, _end) = read_to_end(&mut sock).await;
    assert!(got.is_empty(), "no echo of an oversize message");
    drop(sock);
    let lost = echo.lost(1).await;
    let err = lost[0]
        .as_ref()
        .expect("the connection ended with an error");
    assert!(err.is_protocol(), "{err}");
    assert_still_serves(&echo).await;
    // A message of exactly the limit is fine.
    let mut sock = echo.connect().await;
    let max = framed(&body_of(1024));
    sock.write_all(&max).await.unwrap();
    assert_eq!(read_n(&mut sock, max.len()).await, max);
    drop(sock);
    echo.close().await;
}

async fn peer_reset(workers: usize) {
    let mut echo = Echo::start(workers, EchoConfig::default()).await;
    let mut sock = echo.connect().await;
    echo.send_split(&mut sock, b"half a mess", 64).await;
    sock.set_zero_linger().unwrap();
    drop(sock); // RST
    let lost = echo.lost(1).await;
    // The driver reached its end (a panic would not fire the hook) with the reset.
    let err = lost[0].as_ref().expect("a reset is an error");
    assert!(err.is_io(), "{err}");
    assert_still_serves(&echo).await;
    echo.close().await;
}

async fn half_close(workers: usize) {
    let echo = Echo::start(workers, EchoConfig::default()).await;
    let mut sock = echo.connect().await;
    sock.write_all(b"one\r\n\r\ntwo\r\n\r\n").await.unwrap();
    sock.shutdown().await.unwrap(); // FIN: no more requests
    let (got, end) = read_to_end(&mut sock).await;
    assert_eq!(got, b"one\r\n\r\ntwo\r\n\r\n");
    end.expect("clean EOF after the echoes");
    assert!(echo.lost(1).await[0].is_none());
    echo.close().await;
}

async fn raw_mode(workers: usize) {
    let cfg = EchoConfig {
        raw: true,
        ..EchoConfig::default()
    };
    let mut echo = Echo::start(workers, cfg).await;
    let mut sock = echo.connect().await;
    echo.send_split(&mut sock, b"abc", 64).await;
    assert_eq!(read_n(&mut sock, 3).await, b"abc");
    echo.send_split(&mut sock, b"de\r\n\r\nfg", 64).await;
    assert_eq!(read_n(&mut sock, 8).await, b"de\r\n\r\nfg");
    drop(sock);
    echo.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requests_reuse_one_connection() {
    let echo = Echo::start(0, EchoConfig::default()).await;
    let producer = Producer::new("echo-client", Hooks::default());
    let conn = quasar_net::connection::connect(
        echo.server.address(),
        Arc::new(EchoClientFactory::default()),
        Arc::new(ConnectionConfig::default()),
        producer.clone(),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    for i in 0..3 {
        let reply = conn.request(Bytes::from(format!("msg {i}"))).await.unwrap();
        assert_eq!(reply, format!("msg {i}").as_bytes());
    }
    assert_eq!(conn.processed(), 3);
    assert_eq!(producer.sessions(), 1);
    assert_eq!(producer.requests_processed(), 3);
    let quit = conn.request(Bytes::from_static(b"QUIT")).await.unwrap();
    assert_eq!(quit, &b"QUIT"[..]);
    within("the close", conn.connection_lost().wait())
        .await
        .unwrap();
    assert!(conn.is_closed());
    let err = conn.request(Bytes::from_static(b"late")).await.unwrap_err();
    assert!(err.is_connection_lost(), "{err}");
    echo.close().await;
}
