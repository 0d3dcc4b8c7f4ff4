//! The line chat over loopback: greetings before anyone speaks, per-sender order, the line
//! limit, a member that stops reading, and half-close.

use std::net::SocketAddr;
use std::time::Duration;

use quasar_echo::chat::{self, ChatConfig, ChatFactory};
use quasar_net::connection::ProgressRules;
use quasar_net::group::SlowMember;
use quasar_net::TcpServer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// Generous bound for one step on a loaded machine; only a hang reaches it.
const WAIT: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

struct Client {
    sock: BufReader<TcpStream>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let sock = within("connect", TcpStream::connect(addr)).await.unwrap();
        Client {
            sock: BufReader::new(sock),
        }
    }

    /// A client whose kernel receive buffer is small, so not reading fills it quickly.
    async fn connect_small(addr: SocketAddr) -> Client {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let sock = within("connect", socket.connect(addr)).await.unwrap();
        Client {
            sock: BufReader::new(sock),
        }
    }

    /// The next line, `\n` included; empty at the end of the stream.
    async fn line(&mut self) -> String {
        let mut line = String::new();
        within("a line", self.sock.read_line(&mut line))
            .await
            .unwrap();
        line
    }

    async fn send(&mut self, data: &[u8]) {
        self.sock.get_mut().write_all(data).await.unwrap();
    }

    /// Reads to the end of the stream; a reset counts as the end too.
    async fn rest(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = within("the end of the stream", self.sock.read_to_end(&mut out)).await;
        out
    }
}

async fn start(config: ChatConfig) -> (TcpServer, ChatFactory) {
    let factory = chat::factory(config);
    let server = TcpServer::builder(factory.clone()).start().await.unwrap();
    (server, factory)
}

/// Connects `n` clients in turn, each after the previous one was greeted, so client `i` is
/// `user{i+1}`, and checks every greeting and join line on the way.
async fn room_of(addr: SocketAddr, n: usize) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::new();
    for i in 1..=n {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.line().await, format!("welcome, you are user{i}\n"));
        for other in &mut clients {
            assert_eq!(other.line().await, format!("* user{i} joined\n"));
        }
        clients.push(c);
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_one_silent_are_greeted_and_hear_the_joins_before_anyone_speaks() {
    let (server, factory) = start(ChatConfig::default()).await;
    // Nobody writes a byte here: the greetings and joins come from the server alone.
    let mut c = room_of(server.address(), 3).await;
    assert_eq!(factory.room().len(), 3);

    // The first two speak; the third stays silent and hears both.
    c[0].send(b"hello from one\n").await;
    assert_eq!(c[1].line().await, "user1: hello from one\n");
    assert_eq!(c[2].line().await, "user1: hello from one\n");
    c[1].send(b"hi one\r\n").await;
    assert_eq!(c[0].line().await, "user2: hi one\n");
    assert_eq!(c[2].line().await, "user2: hi one\n");
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_senders_lines_arrive_in_order_and_never_back_to_it() {
    let (server, _) = start(ChatConfig::default()).await;
    let mut c = room_of(server.address(), 3).await;
    const LINES: usize = 200;
    let mut a_lines = Vec::new();
    let mut b_lines = Vec::new();
    for i in 0..LINES {
        a_lines.extend_from_slice(format!("a {i}\n").as_bytes());
        b_lines.extend_from_slice(format!("b {i}\r\n").as_bytes());
    }
    // Both send at once, each in a burst the server reads in pieces.
    let mut quiet = c.pop().unwrap();
    let mut b = c.pop().unwrap();
    let mut a = c.pop().unwrap();
    tokio::join!(a.send(&a_lines), b.send(&b_lines));

    let (mut next_a, mut next_b) = (0, 0);
    for _ in 0..2 * LINES {
        let line = quiet.line().await;
        if let Some(rest) = line.strip_prefix("user1: ") {
            assert_eq!(rest, format!("a {next_a}\n"));
            next_a += 1;
        } else {
            assert_eq!(line, format!("user2: b {next_b}\n"));
            next_b += 1;
        }
    }
    assert_eq!((next_a, next_b), (LINES, LINES));
    // Each of the two speakers heard only the other.
    for i in 0..LINES {
        assert_eq!(a.line().await, format!("user2: b {i}\n"));
        assert_eq!(b.line().await, format!("user1: a {i}\n"));
    }
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_long_line_closes_only_that_member() {
    let (server, factory) = start(ChatConfig::default().max_line(16)).await;
    let mut c = room_of(server.address(), 3).await;

    // Exactly the limit is fine, with either line ending.
    c[1].send(b"0123456789abcdef\r\n").await;
    assert_eq!(c[0].line().await, "user2: 0123456789abcdef\n");
    assert_eq!(c[2].line().await, "user2: 0123456789abcdef\n");

    // One byte more, ended: an error line, then the member is closed.
    c[1].send(b"0123456789abcdefg\n").await;
    assert_eq!(c[1].line().await, "! line too long\n");
    assert_eq!(c[1].rest().await, b"");
    assert_eq!(c[0].line().await, "* user2 left\n");
    assert_eq!(c[2].line().await, "* user2 left\n");

    // A line still unfinished but already too long is refused without waiting for its end.
    c[2].send(&[b'x'; 100]).await;
    assert_eq!(c[2].line().await, "! line too long\n");
    assert_eq!(c[2].rest().await, b"");
    assert_eq!(c[0].line().await, "* user3 left\n");

    // The first member is still in the room and still heard.
    let mut d = Client::connect(server.address()).await;
    assert_eq!(d.line().await, "welcome, you are user4\n");
    assert_eq!(c[0].line().await, "* user4 joined\n");
    c[0].send(b"still here\n").await;
    assert_eq!(d.line().await, "user1: still here\n");
    assert_eq!(factory.room().len(), 2);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_member_is_announced_as_left() {
    let (server, factory) = start(ChatConfig::default()).await;
    let mut c = room_of(server.address(), 2).await;
    // `nc -N` style: the last line, then the write side shut down.
    c[1].send(b"bye\n").await;
    c[1].sock.get_mut().shutdown().await.unwrap();
    assert_eq!(c[0].line().await, "user2: bye\n");
    assert_eq!(c[0].line().await, "* user2 left\n");
    assert_eq!(c[1].rest().await, b"");
    assert_eq!(factory.room().len(), 1);
    server.close(Duration::from_secs(1)).await;
}

/// Bytes of one line the speaker sends, `\n` included.
const LINE: usize = 1000;
/// Lines the speaker sends before waiting for the listener to hear them: far below the write
/// cap, so the listener's queue never nears it.
const BURST: usize = 64;
/// Just over 10 MiB in all.
const BURSTS: usize = 164;

fn said(i: usize) -> String {
    let mut line = format!("{i:07} ");
    line.push_str(&".".repeat(LINE - line.len() - 1));
    line.push('\n');
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_is_closed_and_holds_nobody_back() {
    let factory = chat::factory(ChatConfig::default());
    // Small kernel send buffers on the server's side, so the silent member's backlog lands
    // in its write queue rather than in the kernel.
    let listener = {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(16).unwrap().into_std().unwrap()
    };
    let server = TcpServer::builder(factory.clone())
        .listener(listener)
        // Only the room's policy may act on the silent member: the send-rate rules would
        // close it too if a loaded machine made this run long.
        .progress_rules(ProgressRules::OFF)
        .start()
        .await
        .unwrap();
    let cap = quasar_net::flow_control::WaterMarks::default().cap();
    let mut c = room_of(server.address(), 2).await;
    let mut slow = Client::connect_small(server.address()).await;
    let slow_port = slow.sock.get_ref().local_addr().unwrap().port();
    for other in &mut c {
        assert_eq!(other.line().await, "* user3 joined\n");
    }
    let slow_conn = factory
        .room()
        .members()
        .into_iter()
        .find(|m| m.address().port() == slow_port)
        .expect("the slow member joined");

    // user1 speaks, user2 listens to every line, user3 reads nothing at all.
    let (speaker, listener) = c.split_at_mut(1);
    let (speaker, listener) = (&mut speaker[0], &mut listener[0]);
    let mut left = 0;
    for burst in 0..BURSTS {
        let mut out = String::with_capacity(BURST * LINE);
        for i in burst * BURST..(burst + 1) * BURST {
            out.push_str(&said(i));
        }
        speaker.send(out.as_bytes()).await;
        let mut heard = 0;
        while heard < BURST {
            let line = listener.line().await;
            if line == "* user3 left\n" {
                left += 1;
                continue;
            }
            assert_eq!(line, format!("user1: {}", said(burst * BURST + heard)));
            heard += 1;
        }
    }
    if left == 0 {
        // Its departure may be announced after the last line the speaker sent.
        assert_eq!(listener.line().await, "* user3 left\n");
        left = 1;
    }
    let stats = factory.room().stats();
    assert_eq!(
        stats.closed, 1,
        "the silent member was closed as slow: {stats:?}"
    );
    assert_eq!(left, 1, "and announced as left, once");
    let info = slow_conn.info();
    assert!(
        info.write_buffer_peak as usize <= cap,
        "its queue stayed within the write cap: {info:?}"
    );
    for conn in server.connections() {
        assert!(conn.info().write_buffer_peak as usize <= cap);
    }
    assert_eq!(factory.room().len(), 2);
    // The silent client finds its connection ended once it looks.
    let _ = slow.rest().await;
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skip_policy_keeps_a_silent_member() {
    let (server, factory) = start(ChatConfig::default().slow_member(SlowMember::Skip)).await;
    let mut c = room_of(server.address(), 2).await;
    // Lines are queued whole for a member with room, so a reader that keeps up misses none.
    for i in 0..50 {
        c[0].send(format!("line {i}\n").as_bytes()).await;
        assert_eq!(c[1].line().await, format!("user1: line {i}\n"));
    }
    let stats = factory.room().stats();
    assert_eq!((stats.delivered, stats.skipped, stats.closed), (51, 0, 0));
    server.close(Duration::from_secs(1)).await;
}
