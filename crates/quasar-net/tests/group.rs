//! `Group` over real loopback connections: membership tied to the connection's life,
//! broadcasts, and the slow-member policies.

use crate::core_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use core_support::{
    connect_with_small_buffers, listener_with_small_buffers, read_n, read_to_end, within,
};
use quasar_net::connection::ProgressRules;
use quasar_net::flow_control::WaterMarks;
use quasar_net::group::{Group, SlowMember};
use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Joins the group when its connection starts and says so; then every line starting with
/// `say ` goes to the other members, and any other bytes are ignored.
struct Member {
    group: Group,
}

impl ProtocolConsumer for Member {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_long_lived(true);
        self.group.join(cx.connection());
        cx.write(b"joined\n").unwrap();
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(end + 1).freeze();
            if let Some(said) = line.strip_prefix(b"say ") {
                self.group
                    .broadcast_except(cx.connection(), Bytes::copy_from_slice(said));
            }
        }
        Ok(Progress::NeedMore)
    }
}

async fn start(group: &Group) -> TcpServer {
    let group = group.clone();
    TcpServer::builder(move || Member {
        group: group.clone(),
    })
    .start()
    .await
    .unwrap()
}

/// Connects, knocks (a line the member ignores, so this works whether the consumer is built
/// at accept or on the first bytes), and waits until the server says it joined.
async fn member(sock: TcpStream) -> TcpStream {
    let mut sock = sock;
    sock.write_all(b"knock\n").await.unwrap();
    assert_eq!(read_n(&mut sock, 7).await, b"joined\n");
    sock
}

async fn join(addr: SocketAddr) -> TcpStream {
    member(within("connect", TcpStream::connect(addr)).await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_every_member_and_a_closed_member_leaves_by_itself() {
    let group = Group::new(SlowMember::Skip);
    let server = start(&group).await;
    let mut socks = Vec::new();
    for _ in 0..3 {
        socks.push(join(server.address()).await);
    }
    assert_eq!(group.len(), 3);

    let report = group.broadcast(Bytes::from_static(b"to all\n"));
    assert_eq!((report.delivered, report.skipped, report.gone), (3, 0, 0));
    for sock in &mut socks {
        assert_eq!(read_n(sock, 7).await, b"to all\n");
    }

    // One member hangs up; its connection ends on the server and nobody calls `leave`.
    let gone = socks.pop().unwrap();
    let gone_port = gone.local_addr().unwrap().port();
    let conn = group
        .members()
        .into_iter()
        .find(|c| c.address().port() == gone_port)
        .unwrap();
    drop(gone);
    let _ = within("the connection to end", conn.connection_lost().wait()).await;

    let report = group.broadcast(Bytes::from_static(b"again\n"));
    assert_eq!(report.delivered, 2);
    assert!(!group.contains(&conn), "the closed member is gone");
    assert_eq!(group.len(), 2);
    for sock in &mut socks {
        assert_eq!(read_n(sock, 6).await, b"again\n");
    }
    let stats = group.stats();
    assert_eq!((stats.joined, stats.left, stats.members), (3, 1, 2));
    assert_eq!((stats.broadcasts, stats.delivered), (2, 5));
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_except_leaves_out_the_sender() {
    let group = Group::new(SlowMember::Skip);
    let server = start(&group).await;
    let mut a = join(server.address()).await;
    let mut b = join(server.address()).await;
    let mut c = join(server.address()).await;

    a.write_all(b"say from a\n").await.unwrap();
    assert_eq!(read_n(&mut b, 7).await, b"from a\n");
    assert_eq!(read_n(&mut c, 7).await, b"from a\n");
    // What `a` reads next is `b`'s line: its own never came back.
    b.write_all(b"say from b\n").await.unwrap();
    assert_eq!(read_n(&mut a, 7).await, b"from b\n");
    assert_eq!(read_n(&mut c, 7).await, b"from b\n");
    assert_eq!(group.stats().delivered, 4);
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_stops_delivery_and_a_closed_connection_cannot_join() {
    let group = Group::new(SlowMember::Skip);
    let server = start(&group).await;
    let mut a = join(server.address()).await;
    let conn = group.members().pop().unwrap();
    assert!(group.leave(&conn));
    assert!(!group.leave(&conn));
    assert_eq!(group.broadcast(Bytes::from_static(b"lost\n")).delivered, 0);
    assert!(group.join(&conn));
    assert_eq!(group.broadcast(Bytes::from_static(b"back\n")).delivered, 1);
    assert_eq!(read_n(&mut a, 5).await, b"back\n");

    conn.abort();
    let _ = within("the abort", conn.connection_lost().wait()).await;
    assert!(!group.join(&conn));
    assert!(group.is_empty());
    server.close(Duration::from_secs(1)).await;
}

/// Small water marks and kernel buffers, so a member that does not read is full after a few
/// KiB: the cap is what bounds each member's queued output.
const HIGH: usize = 8 * 1024;
const CAP: usize = 32 * 1024;
/// One message of [`broadcast_to_a_fast_and_a_slow_member`]: its number, then filler.
const MESSAGE: usize = 4 * 1024;
/// 10 MiB in all.
const MESSAGES: usize = 2560;

fn message(i: usize) -> Bytes {
    let mut m = format!("{i:08}").into_bytes();
    m.resize(MESSAGE, b'.');
    Bytes::from(m)
}

/// Broadcasts [`MESSAGES`] to two members; the fast one reads each message before the next is
/// sent (so its queue never nears the cap), the slow one reads nothing.
async fn broadcast_to_a_fast_and_a_slow_member(policy: SlowMember) -> Run {
    let group = Group::new(policy);
    let marks = WaterMarks::new(HIGH / 4, HIGH)
        .unwrap()
        .with_cap(CAP)
        .unwrap();
    let server = {
        let group = group.clone();
        TcpServer::builder(move || Member {
            group: group.clone(),
        })
        .listener(listener_with_small_buffers())
        .water_marks(marks)
        // Only the group's policy may act on the silent member: the send-rate rules would
        // close it too if a loaded machine made this run long.
        .progress_rules(ProgressRules::OFF)
        .start()
        .await
        .unwrap()
    };
    let mut fast = member(connect_with_small_buffers(server.address()).await).await;
    let slow = member(connect_with_small_buffers(server.address()).await).await;
    let slow_port = slow.local_addr().unwrap().port();
    let slow_conn = group
        .members()
        .into_iter()
        .find(|c| c.address().port() == slow_port)
        .unwrap();

    let mut got = vec![0u8; MESSAGE];
    for i in 0..MESSAGES {
        let sent = message(i);
        group.broadcast(sent.clone());
        within("a message", fast.read_exact(&mut got))
            .await
            .expect("the fast member reads every message");
        assert_eq!(got, sent, "message {i} arrived whole and in order");
    }
    assert!(
        slow_conn.info().write_buffer_peak as usize <= CAP,
        "the slow member's queue stayed within its cap: {:?}",
        slow_conn.info()
    );
    let stats = group.stats();
    assert_eq!(stats.broadcasts, MESSAGES as u64);
    Run {
        group,
        server,
        _fast: fast,
        slow,
        slow_conn,
    }
}

/// What [`broadcast_to_a_fast_and_a_slow_member`] leaves, both clients still connected.
struct Run {
    group: Group,
    server: TcpServer,
    _fast: TcpStream,
    slow: TcpStream,
    slow_conn: quasar_net::Connection,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_member_is_skipped_and_gets_only_whole_messages_later() {
    let Run {
        group,
        server,
        _fast,
        mut slow,
        slow_conn,
    } = broadcast_to_a_fast_and_a_slow_member(SlowMember::Skip).await;
    let stats = group.stats();
    assert!(
        stats.skipped > 0,
        "the slow member missed messages: {stats:?}"
    );
    assert_eq!(stats.delivered + stats.skipped, 2 * MESSAGES as u64);
    assert_eq!(stats.closed, 0);
    assert!(group.contains(&slow_conn), "a skipped member stays");

    // What the slow member finally reads is whole messages in order, with holes. The last
    // message is sent once its queue has room, so it cannot be skipped.
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let mut head = [0u8; 8];
            slow.read_exact(&mut head).await.unwrap();
            let n: usize = std::str::from_utf8(&head).unwrap().parse().unwrap();
            if n == MESSAGES {
                return seen;
            }
            let mut rest = vec![0u8; MESSAGE - 8];
            slow.read_exact(&mut rest).await.unwrap();
            assert!(rest.iter().all(|&b| b == b'.'), "message {n} is whole");
            seen.push(n);
        }
    });
    within("room in the slow member's queue", slow_conn.writable())
        .await
        .unwrap();
    let report = group.broadcast(Bytes::from(format!("{MESSAGES:08}").into_bytes()));
    assert_eq!(report.delivered, 2);
    let seen = within("the slow member's backlog", reader).await.unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(
        seen.len() as u64,
        MESSAGES as u64 - stats.skipped,
        "it got every message not skipped"
    );
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_member_is_closed_once_and_leaves() {
    let Run {
        group,
        server,
        _fast,
        mut slow,
        slow_conn,
    } = broadcast_to_a_fast_and_a_slow_member(SlowMember::Close).await;
    let stats = group.stats();
    assert_eq!(stats.closed, 1, "{stats:?}");
    assert_eq!(stats.skipped, 0);
    assert_eq!(stats.left, 1);
    assert!(!group.contains(&slow_conn));
    let fast = group.members().pop().expect("the fast member stays");
    assert!(!fast.is_closed(), "{:?}", fast.info());
    let _ = within("the abort", slow_conn.connection_lost().wait()).await;
    // The slow client sees the end of its connection (after the backlog the kernel held).
    let (_, _) = read_to_end(&mut slow).await;
    server.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_write_side_is_shut_down_leaves_at_the_next_broadcast() {
    let group = Group::new(SlowMember::Skip);
    let server = start(&group).await;
    let mut a = join(server.address()).await;
    let _b = join(server.address()).await;
    let a_port = a.local_addr().unwrap().port();
    let conn = group
        .members()
        .into_iter()
        .find(|c| c.address().port() == a_port)
        .unwrap();
    conn.shutdown_write();
    let report = group.broadcast(Bytes::from_static(b"late\n"));
    assert_eq!((report.delivered, report.gone), (1, 1));
    assert!(!group.contains(&conn));
    // It got its FIN, and nothing after it.
    let (rest, _) = read_to_end(&mut a).await;
    assert_eq!(rest, b"");
    server.close(Duration::from_secs(1)).await;
}
