//! The call timeout of client connections (`ConnectionConfig::call_timeout`), in tokio's
//! virtual time over a scripted loopback server: an expired call fails with a request
//! timeout at its own deadline (plus at most one timer tick), a reply that comes late is
//! read and dropped without reaching the next caller, and a connection whose oldest call
//! is unanswered at twice the timeout is closed with every call on it failed.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use quasar_net::connection::ClientConnectionBuilder;
use quasar_net::{ClientConnection, ConnectionConfig};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::core_support;
use core_support::LineClient as Line;

/// The call timeout. Every scripted event falls on a whole 10 ms, and deadlines at 3 ms
/// past one (closes at 6 ms past, cancellations at 7 ms past), so no two kinds of event
/// ever share an instant.
const T: Duration = Duration::from_millis(103);
/// One tick of tokio's timer.
const TICK: Duration = Duration::from_millis(1);

/// A server that answers lines `<id> <delay ms>` in order, each with `<id>` after its
/// delay, one at a time (as Redis does); `None` never answers (a black hole).
async fn scripted_server(answer: bool) -> std::net::SocketAddr {
    core_support::line_peer(move |mut lines, mut wr| async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if !answer {
                continue;
            }
            let (id, delay) = line.split_once(' ').unwrap();
            let delay: u64 = delay.parse().unwrap();
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if wr.write_all(format!("{id}\n").as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
}

async fn connect(addr: std::net::SocketAddr) -> ClientConnection<Bytes, Bytes> {
    let mut config = ConnectionConfig::default();
    config.max_in_flight(64).call_timeout(T);
    ClientConnectionBuilder::new(|| Line)
        .config(config)
        .connect(addr)
        .await
        .unwrap()
}

/// One scripted call: sent at `start`, answered `delay` after the server reaches it,
/// dropped by its caller `cancel` after it was sent.
#[derive(Debug, Clone)]
struct Step {
    start: Duration,
    delay: Duration,
    cancel: Option<Duration>,
}

/// What a call should come to.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Reply,
    Expired,
    /// Failed when the connection was closed (its oldest call at twice the timeout).
    Closed,
    /// Sent after the close.
    Lost,
    Cancelled,
}

/// The model: the server answers call `i` at `r_i = max(r_{i-1}, start_i) + delay_i`.
fn expected(steps: &[Step]) -> (Vec<(Outcome, Duration)>, Option<Duration>) {
    let mut answered = Vec::with_capacity(steps.len());
    let mut free = Duration::ZERO;
    for s in steps {
        free = free.max(s.start) + s.delay;
        answered.push(free);
    }
    // The close: the first instant some call in flight has waited twice the timeout.
    let close = steps
        .iter()
        .zip(&answered)
        .filter(|&(s, &r)| r > s.start + 2 * T)
        .map(|(s, _)| s.start + 2 * T)
        .min();
    let outcomes = steps
        .iter()
        .zip(&answered)
        .map(|(s, &r)| {
            let (mut outcome, mut at) = if r < s.start + T {
                (Outcome::Reply, r)
            } else {
                (Outcome::Expired, s.start + T)
            };
            if let Some(c) = close {
                if s.start >= c {
                    (outcome, at) = (Outcome::Lost, s.start);
                } else if at > c {
                    (outcome, at) = (Outcome::Closed, c);
                }
            }
            match s.cancel {
                Some(cancel) if s.start + cancel < at => (Outcome::Cancelled, s.start + cancel),
                _ => (outcome, at),
            }
        })
        .collect();
    (outcomes, close)
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (1u64..8, 0u64..16, prop::option::weighted(0.25, 0u64..25)),
        1..12,
    )
    .prop_map(|raw| {
        let mut start = Duration::ZERO;
        raw.into_iter()
            .map(|(gap, delay, cancel)| {
                start += Duration::from_millis(gap * 10);
                Step {
                    start,
                    delay: Duration::from_millis(delay * 10),
                    cancel: cancel.map(|c| Duration::from_millis(c * 10 + 7)),
                }
            })
            .collect()
    })
}

/// Runs the script and returns each call's outcome and when it came (since the start).
async fn run(steps: Vec<Step>) -> (Vec<(Outcome, Duration)>, ClientConnection<Bytes, Bytes>) {
    let addr = scripted_server(true).await;
    let conn = connect(addr).await;
    let t0 = Instant::now();
    let calls = steps.into_iter().enumerate().map(|(i, s)| {
        let conn = conn.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(t0 + s.start).await;
            let line = Bytes::from(format!("{i} {}", s.delay.as_millis()));
            let request = conn.request(line);
            let outcome = match s.cancel {
                Some(cancel) => match tokio::time::timeout(cancel, request).await {
                    Ok(res) => res,
                    Err(_) => return (Outcome::Cancelled, t0.elapsed()),
                },
                None => request.await,
            };
            let outcome = match outcome {
                Ok(reply) => {
                    assert_eq!(reply, i.to_string(), "call {i} got another call's reply");
                    Outcome::Reply
                }
                Err(e) if e.is_request_timeout() && conn.is_closed() => Outcome::Closed,
                Err(e) if e.is_request_timeout() => Outcome::Expired,
                Err(e) if e.is_connection_lost() => Outcome::Lost,
                Err(e) => panic!("call {i}: unexpected {e}"),
            };
            (outcome, t0.elapsed())
        })
    });
    let mut got = Vec::new();
    for call in futures_util::future::join_all(calls).await {
        got.push(call.unwrap());
    }
    (got, conn)
}

fn virtual_time() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn calls_expire_at_their_deadline_and_late_replies_reach_nobody(steps in steps()) {
        let (want, close) = expected(&steps);
        let (got, conn) = virtual_time().block_on(async {
            let (got, conn) = run(steps.clone()).await;
            // Past any close the script leads to (the last call was sent before the last
            // outcome, and is given up at twice the timeout at the latest), and past
            // every late reply (each came before twice the timeout, or there was a close).
            tokio::time::sleep(2 * T + TICK).await;
            if close.is_none() {
                // Still in sync: the next call gets its own reply.
                let reply = conn.request(Bytes::from_static(b"last 0")).await.unwrap();
                assert_eq!(reply, "last");
            }
            (got, conn)
        });
        prop_assert_eq!(conn.is_closed(), close.is_some());
        for (i, ((outcome, at), (want_outcome, want_at))) in got.iter().zip(&want).enumerate() {
            // A closed connection may report a call in flight at the close as expired
            // when its own deadline came first: the model says which.
            prop_assert_eq!(outcome, want_outcome, "call {}: {:?}", i, steps[i]);
            prop_assert!(
                *at >= *want_at && *at <= *want_at + TICK,
                "call {} ({:?}) came at {:?}, expected {:?}", i, outcome, at, want_at
            );
        }
    }
}

#[test]
fn a_black_hole_fails_every_call_at_its_deadline_then_the_connection_closes() {
    virtual_time().block_on(async {
        let addr = scripted_server(false).await;
        let conn = connect(addr).await;
        let t0 = Instant::now();
        let calls = (0..10u64).map(|i| {
            let conn = conn.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(10 * i)).await;
                let err = conn
                    .request(Bytes::from(format!("{i} 0")))
                    .await
                    .unwrap_err();
                assert!(err.is_request_timeout(), "{err}");
                assert!(!conn.is_closed(), "expired, not closed");
                t0.elapsed()
            }
        });
        let failed = futures_util::future::join_all(calls).await;
        for (i, at) in failed.into_iter().enumerate() {
            let due = Duration::from_millis(10 * i as u64) + T;
            assert!(
                at >= due && at <= due + TICK,
                "call {i} failed at {at:?}, due {due:?}"
            );
        }
        // Nothing answered: the oldest call is given up at twice the timeout, and the
        // connection with it.
        conn.connection_lost().wait().await.unwrap_err();
        assert!(conn.is_closed());
        let closed = t0.elapsed();
        assert!(
            closed >= 2 * T && closed <= 2 * T + TICK,
            "closed at {closed:?}"
        );
    });
}
