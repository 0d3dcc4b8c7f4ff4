//! How a client call enters its connection and how its reply comes back (the call queue
//! and the reply slots), over a scripted loopback server in tokio's virtual time: random
//! numbers of callers, some dropped before the connection took their call and some after,
//! and a server that may close mid-way. Every caller that waits gets its own reply or
//! `connection_lost`, a call dropped before the hand-over is never sent, one dropped after
//! is sent and its reply read and dropped, and once everything settled no call is queued
//! and no reply slot is in use. On two worker threads, callers never miss the driver's
//! wake-up.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use quasar_net::connection::ClientConnectionBuilder;
use quasar_net::{ClientConnection, ConnectionConfig};
use tokio::io::AsyncWriteExt;

use crate::core_support;
use core_support::LineClient as Line;

/// Calls in flight on the connection; the others wait in its queue (room for 16) or for
/// room in it.
const IN_FLIGHT: usize = 2;
/// How long the server takes over each line, one line at a time.
const D: Duration = Duration::from_millis(10);

/// A server that answers each line with itself after `D`, one at a time, and records the
/// lines it received; with `close_after`, it closes the connection on receiving that many
/// lines, without answering the last.
async fn scripted_server(
    close_after: Option<usize>,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<usize>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let addr = core_support::line_peer(move |mut lines, mut wr| async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let n = {
                let mut seen = record.lock().unwrap();
                seen.push(line.parse().unwrap());
                seen.len()
            };
            if Some(n) == close_after {
                return;
            }
            tokio::time::sleep(D).await;
            if wr.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    (addr, seen)
}

async fn connect(addr: std::net::SocketAddr) -> ClientConnection<Bytes, Bytes> {
    let mut config = ConnectionConfig::default();
    config.max_in_flight(IN_FLIGHT);
    ClientConnectionBuilder::new(|| Line)
        .config(config)
        .connect(addr)
        .await
        .unwrap()
}

fn virtual_time() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// What came of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Reply,
    Lost,
    Dropped,
}

/// How a caller gives up its call, some ms after it started.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    /// Waiting for the reply (a timeout): a reply that came first is taken.
    Waiting(u64),
    /// Polled once, then left unpolled and dropped: a reply that came meanwhile is never
    /// taken.
    Held(u64),
}

impl GiveUp {
    fn after(self) -> Duration {
        let (GiveUp::Waiting(ms) | GiveUp::Held(ms)) = self;
        Duration::from_millis(ms)
    }
}

/// Runs `drops.len()` callers, all started at once in order; caller `i` drops its call as
/// `drops[i]` says, if set. Returns the outcomes, the lines the server received, and the
/// connection.
async fn run(
    drops: &[Option<GiveUp>],
    close_after: Option<usize>,
) -> (Vec<Outcome>, Vec<usize>, ClientConnection<Bytes, Bytes>) {
    let (addr, seen) = scripted_server(close_after).await;
    let conn = connect(addr).await;
    // Spawned in order on one thread: they queue their calls in this order.
    let calls: Vec<_> = drops
        .iter()
        .enumerate()
        .map(|(i, drop_after)| {
            let conn = conn.clone();
            let drop_after = *drop_after;
            tokio::spawn(async move {
                let request = conn.request(Bytes::from(i.to_string()));
                let res = match drop_after {
                    Some(GiveUp::Waiting(ms)) => {
                        match tokio::time::timeout(Duration::from_millis(ms), request).await {
                            Ok(res) => res,
                            Err(_) => return Outcome::Dropped,
                        }
                    }
                    Some(GiveUp::Held(ms)) => {
                        let mut request = std::pin::pin!(request);
                        std::future::poll_fn(|cx| {
                            let _ = request.as_mut().poll(cx);
                            std::task::Poll::Ready(())
                        })
                        .await;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        return Outcome::Dropped;
                    }
                    None => request.await,
                };
                match res {
                    Ok(reply) => {
                        assert_eq!(reply, i.to_string(), "call {i} got another call's reply");
                        Outcome::Reply
                    }
                    Err(e) if e.is_connection_lost() => Outcome::Lost,
                    Err(e) => panic!("call {i}: unexpected {e}"),
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for call in calls {
        outcomes.push(call.await.unwrap());
    }
    // Past every reply still owed to a dropped call.
    tokio::time::sleep(D * (drops.len() as u32 + 2)).await;
    let seen = seen.lock().unwrap().clone();
    (outcomes, seen, conn)
}

fn script() -> impl Strategy<Value = (Vec<Option<GiveUp>>, Option<usize>)> {
    let drop = (any::<bool>(), 1u64..400).prop_map(|(held, ms)| match held {
        true => GiveUp::Held(ms),
        false => GiveUp::Waiting(ms),
    });
    (
        // Drop times from 1 ms: at 0 the call could go either side of the hand-over.
        prop::collection::vec(prop::option::weighted(0.4, drop), 1..48),
        prop::option::weighted(0.3, 1usize..40),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_waiting_caller_gets_its_own_reply_and_no_slot_is_lost((drops, close_after) in script()) {
        let (outcomes, seen, conn) = virtual_time().block_on(run(&drops, close_after));
        // The connection takes calls in order.
        prop_assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", seen);
        let closed_at = close_after.filter(|&k| k <= seen.len());
        for (i, (outcome, drop_after)) in outcomes.iter().zip(&drops).enumerate() {
            let sent = seen.contains(&i);
            match outcome {
                Outcome::Reply => prop_assert!(sent, "call {} answered unsent", i),
                Outcome::Lost => prop_assert!(closed_at.is_some(), "call {} lost, no close", i),
                Outcome::Dropped => {
                    if i < IN_FLIGHT && close_after.is_none_or(|k| k > i) {
                        // Taken at once: sent even though its caller gave up (unless the
                        // server closed before it read that far).
                        prop_assert!(sent, "call {} was taken, so sent", i);
                    }
                    if i >= IN_FLIGHT && drop_after.is_some_and(|d| d.after() < D) {
                        // Nothing left the connection before the first reply: still queued.
                        prop_assert!(!sent, "call {} dropped while queued was sent", i);
                    }
                }
            }
            if drop_after.is_none() && closed_at.is_none() {
                prop_assert_eq!(*outcome, Outcome::Reply, "call {}", i);
            }
        }
        prop_assert_eq!(conn.is_closed(), closed_at.is_some());
        prop_assert_eq!(conn.outstanding_calls(), (0, 0), "a call or a reply slot was left behind");
    }
}

#[test]
fn a_call_dropped_while_queued_is_not_sent_and_later_calls_get_their_replies() {
    virtual_time().block_on(async {
        let (addr, seen) = scripted_server(None).await;
        let conn = connect(addr).await;
        // Fill the connection, queue one more, give it up, then one more.
        let taken: Vec<_> = (0..IN_FLIGHT)
            .map(|i| {
                let conn = conn.clone();
                tokio::spawn(async move { conn.request(Bytes::from(i.to_string())).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let queued = tokio::time::timeout(D / 2, conn.request(Bytes::from_static(b"100"))).await;
        assert!(
            queued.is_err(),
            "the connection is full for the first {D:?}"
        );
        let after = conn.request(Bytes::from_static(b"101")).await.unwrap();
        assert_eq!(after, "101");
        for (i, call) in taken.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), i.to_string());
        }
        assert_eq!(*seen.lock().unwrap(), [0, 1, 101]);
        assert_eq!(conn.outstanding_calls(), (0, 0));
    });
}

#[test]
fn callers_waiting_for_room_fail_with_connection_lost_when_the_connection_ends() {
    virtual_time().block_on(async {
        // Closes on the first line: every call fails, queued or waiting for room.
        let (addr, _) = scripted_server(Some(1)).await;
        let conn = connect(addr).await;
        let calls: Vec<_> = (0..40)
            .map(|i| {
                let conn = conn.clone();
                tokio::spawn(async move { conn.request(Bytes::from(i.to_string())).await })
            })
            .collect();
        for call in calls {
            let err = call.await.unwrap().unwrap_err();
            assert!(err.is_connection_lost(), "{err}");
        }
        assert!(conn.is_closed());
        let err = conn.request(Bytes::from_static(b"1")).await.unwrap_err();
        assert!(err.is_connection_lost(), "{err}");
        assert_eq!(conn.outstanding_calls(), (0, 0));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_on_other_threads_never_miss_the_drivers_wake_up() {
    // An echo server for lines: the driver and the callers run on two workers, so a call
    // often arrives while the driver looks at an empty queue.
    let addr = core_support::line_peer(|mut lines, mut wr| async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if wr.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let conn = connect(addr).await;
    let callers = (0..4).map(|t| {
        let conn = conn.clone();
        tokio::spawn(async move {
            for i in 0..2000 {
                let line = format!("{t}-{i}");
                let reply = conn.request(Bytes::from(line.clone())).await.unwrap();
                assert_eq!(reply, line);
            }
        })
    });
    let all = futures_util::future::join_all(callers);
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("a call waited for a wake-up that never came");
    assert_eq!(conn.outstanding_calls(), (0, 0));
}
