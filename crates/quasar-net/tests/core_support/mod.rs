//! Helpers shared by the core's loopback integration tests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use quasar_net::{Connection, ConsumerFactory, Context, Progress, ProtocolConsumer, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `cond` every few milliseconds until it holds; fails the test after [`WAIT`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Reads exactly `n` bytes.
pub async fn read_n(sock: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within("a reply", sock.read_exact(&mut buf))
        .await
        .expect("read reply");
    buf
}

/// Reads until the peer closes; returns what was read and whether it ended with a clean
/// EOF (`Ok`) or an error such as a reset (`Err`).
pub async fn read_to_end(sock: &mut TcpStream) -> (Vec<u8>, io::Result<()>) {
    within("the peer to close", async {
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

/// Asserts the peer sends exactly `expected` and then a clean EOF.
pub async fn expect_reply_then_eof(sock: &mut TcpStream, expected: &[u8]) {
    let (got, end) = read_to_end(sock).await;
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
    end.expect("clean EOF after the reply");
}

/// Connects, sends `msg` and expects `reply` back.
pub async fn roundtrip(addr: SocketAddr, msg: &[u8], reply: &[u8]) {
    let mut sock = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    sock.write_all(msg).await.unwrap();
    assert_eq!(read_n(&mut sock, reply.len()).await, reply);
}

/// A factory wrapper that remembers every server connection it built consumers for.
pub struct Recorded<F> {
    inner: F,
    conns: Arc<Mutex<Vec<Connection>>>,
}

/// The shared list a [`Recorded`] factory fills.
#[derive(Clone, Default)]
pub struct Conns(Arc<Mutex<Vec<Connection>>>);

impl Conns {
    /// Wraps `factory` so that it records into this list.
    pub fn record<F>(&self, factory: F) -> Recorded<F> {
        Recorded {
            inner: factory,
            conns: Arc::clone(&self.0),
        }
    }

    /// The connections recorded so far, in session order of first request.
    pub fn all(&self) -> Vec<Connection> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until at least `n` connections were recorded and returns the `n`-th
    /// (1-based).
    pub async fn nth(&self, n: usize) -> Connection {
        wait_until("a server connection", || self.0.lock().unwrap().len() >= n).await;
        self.0.lock().unwrap()[n - 1].clone()
    }
}

impl Conns {
    /// The connection with session number `session`, if recorded.
    pub fn get(&self, session: u64) -> Option<Connection> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.session() == session)
            .cloned()
    }

    /// Waits until the connection with session number `session` was recorded.
    pub async fn session(&self, session: u64) -> Connection {
        let find = || self.get(session);
        wait_until("a server connection", || find().is_some()).await;
        find().unwrap()
    }
}

impl<F: ConsumerFactory> ConsumerFactory for Recorded<F> {
    type Consumer = F::Consumer;

    fn build(&self, conn: &Connection) -> F::Consumer {
        let mut conns = self.conns.lock().unwrap();
        if !conns.iter().any(|c| c.session() == conn.session()) {
            conns.push(conn.clone());
        }
        drop(conns);
        self.inner.build(conn)
    }
}

/// Echoes each `\n`-terminated line; a partial line is a request in flight.
#[derive(Debug, Default)]
pub struct LineEcho;

impl ProtocolConsumer for LineEcho {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        match buf.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line = buf.split_to(end + 1);
                cx.write(&line)?;
                Ok(Progress::Finished(()))
            }
            None => Ok(Progress::NeedMore),
        }
    }
}

/// Installs a test subscriber once, so `RUST_LOG=debug` shows the core's logs.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Small kernel buffers, so a peer that does not read fills them after a few KiB.
pub const SMALL_SOCKET_BUFFER: usize = 4096;

/// A loopback listener whose accepted sockets inherit small send and receive buffers,
/// so the kernel absorbs little of what a stalled connection sends either way.
pub fn listener_with_small_buffers() -> std::net::TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_send_buffer_size(SMALL_SOCKET_BUFFER).unwrap();
    socket.set_recv_buffer_size(SMALL_SOCKET_BUFFER).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(128).unwrap();
    socket.into()
}

/// A client socket with small send and receive buffers.
pub async fn connect_with_small_buffers(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .set_recv_buffer_size(SMALL_SOCKET_BUFFER as u32)
        .unwrap();
    socket
        .set_send_buffer_size(SMALL_SOCKET_BUFFER as u32)
        .unwrap();
    within("connect", socket.connect(addr)).await.unwrap()
}

/// A client consumer for a line protocol: writes the request and a newline, and finishes
/// with the next line (without its newline).
pub struct LineClient;

impl ProtocolConsumer for LineClient {
    type Request = bytes::Bytes;
    type Response = bytes::Bytes;

    fn start_request(
        &mut self,
        cx: &mut Context<'_, bytes::Bytes, bytes::Bytes>,
        line: bytes::Bytes,
    ) -> Result<()> {
        cx.write_bytes(line)?;
        cx.write(b"\n")
    }

    fn data_received(
        &mut self,
        _: &mut Context<'_, bytes::Bytes, bytes::Bytes>,
        buf: &mut BytesMut,
    ) -> Result<Progress<bytes::Bytes>> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        Ok(Progress::Finished(
            buf.split_to(end + 1).freeze().slice(..end),
        ))
    }
}

/// A scripted line peer for client tests: binds a loopback port, accepts one connection and
/// hands it to `serve` as lines to read and a half to write replies to; returns the address.
/// Nagle is off: under virtual time a reply held back until the client's delayed ACK would
/// never come.
pub async fn line_peer<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(Lines<BufReader<OwnedReadHalf>>, OwnedWriteHalf) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        sock.set_nodelay(true).unwrap();
        let (rd, wr) = sock.into_split();
        serve(BufReader::new(rd).lines(), wr).await;
    });
    addr
}
