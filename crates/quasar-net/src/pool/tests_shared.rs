//! Engine tests of the shared (multiplexed) checkout, over the in-memory manager of
//! `tests.rs`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::yield_now;

use super::tests::{pool, until, Mem, Mode};
use super::*;

fn ids(holds: &[SharedConnection<Mem>]) -> Vec<usize> {
    holds.iter().map(|h| h.id).collect()
}

fn closed(pool: &Pool<Mem>) -> usize {
    pool.manager().closed.load(Ordering::SeqCst)
}

#[tokio::test]
async fn shared_checkouts_spread_over_the_pool_then_join_the_least_loaded() {
    let pool = pool(3);
    let mut holds = Vec::new();
    for _ in 0..3 {
        holds.push(pool.connect_shared().await.unwrap());
    }
    assert_eq!(
        ids(&holds),
        [0, 1, 2],
        "room: each opens its own connection"
    );
    for _ in 0..6 {
        holds.push(pool.connect_shared().await.unwrap());
    }
    assert_eq!(
        ids(&holds[3..]),
        [0, 1, 2, 0, 1, 2],
        "full: round the members"
    );
    assert_eq!(
        (pool.in_use(), pool.state().shared, pool.sessions()),
        (3, 3, 3)
    );

    // Free two holds of connection 1: it is now the least loaded.
    let mut kept = Vec::new();
    for h in holds {
        if h.id == 1 && kept.iter().any(|k: &SharedConnection<Mem>| k.id == 1) {
            drop(h);
        } else {
            kept.push(h);
        }
    }
    let next = pool.connect_shared().await.unwrap();
    assert_eq!(next.id, 1);
    assert_eq!(pool.stats().checkouts, 10);
}

#[tokio::test]
async fn the_last_holder_out_parks_the_connection_for_either_mode() {
    let pool = pool(2);
    let a = pool.connect_shared().await.unwrap();
    let b = a.clone();
    drop(a);
    assert_eq!(
        (pool.in_use(), pool.available()),
        (1, 0),
        "b still holds it"
    );
    drop(b);
    assert_eq!(
        (pool.in_use(), pool.available(), pool.state().shared),
        (0, 1, 0)
    );
    let exclusive = pool.connect().await.unwrap();
    assert_eq!(
        exclusive.id, 0,
        "the shared connection is reused exclusively"
    );
    drop(exclusive);
    let shared = pool.connect_shared().await.unwrap();
    assert_eq!(shared.id, 0, "and the idle one is shared again");
    assert_eq!(pool.sessions(), 1);
}

#[tokio::test]
async fn concurrent_shared_checkouts_never_open_more_than_pool_size() {
    let pool = pool(2);
    pool.manager().set(Mode::Slow);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let hold = pool.connect_shared().await.unwrap();
                assert!(pool.in_use() <= 2);
                yield_now().await;
                hold.id
            })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    assert_eq!(pool.sessions(), 2, "{seen:?}");
    assert!(seen.iter().all(|&id| id < 2), "{seen:?}");
    assert_eq!((pool.in_use(), pool.available()), (0, 2));
}

#[tokio::test]
async fn a_shared_connection_found_closed_is_retired_and_replaced() {
    let pool = pool(2);
    let a = pool.connect_shared().await.unwrap();
    a.peer_closed.store(true, Ordering::SeqCst);
    let b = pool.connect_shared().await.unwrap();
    assert_eq!(
        b.id, 1,
        "never the closed connection: a new one replaces it"
    );
    let c = pool.connect_shared().await.unwrap();
    assert_eq!(c.id, 1, "the retired member takes no new holders");
    assert_eq!((pool.in_use(), pool.state().shared), (2, 1));
    drop(a);
    assert_eq!(closed(&pool), 1, "its last holder out closes it");
    assert_eq!(pool.stats().closed_broken, 1);
    assert_eq!(pool.in_use(), 1);
}

#[tokio::test]
async fn a_closed_idle_connection_is_replaced_on_shared_checkout() {
    let pool = pool(1);
    let conn = pool.connect().await.unwrap();
    let peer = conn.peer_closed.clone();
    drop(conn);
    peer.store(true, Ordering::SeqCst);
    let shared = pool.connect_shared().await.unwrap();
    assert_eq!(shared.id, 1);
    assert_eq!((closed(&pool), pool.stats().closed_broken), (1, 1));
}

#[tokio::test]
async fn a_full_pool_with_a_closed_member_waits_for_its_slot() {
    let pool = pool(1);
    let a = pool.connect_shared().await.unwrap();
    a.peer_closed.store(true, Ordering::SeqCst);
    let p = pool.clone();
    let b = tokio::spawn(async move { p.connect_shared().await.map(|h| h.id) });
    until(|| pool.state().waiters == 1).await;
    drop(a);
    assert_eq!(b.await.unwrap().unwrap(), 1);
    assert_eq!(closed(&pool), 1);
}

#[tokio::test]
async fn discard_retires_the_connection_and_the_last_holder_closes_it() {
    let pool = pool(1);
    let a = pool.connect_shared().await.unwrap();
    let b = pool.connect_shared().await.unwrap();
    assert_eq!((a.id, b.id), (0, 0));
    a.discard();
    assert_eq!(closed(&pool), 0, "b still uses it");
    assert_eq!(b.id, 0);
    let p = pool.clone();
    let c = tokio::spawn(async move { p.connect_shared().await.map(|h| h.id) });
    until(|| pool.state().waiters == 1).await;
    drop(b);
    assert_eq!(
        c.await.unwrap().unwrap(),
        1,
        "a fresh connection, not the discarded one"
    );
    assert_eq!((closed(&pool), pool.stats().closed_broken), (1, 1));
}

#[tokio::test]
async fn exclusive_checkouts_never_take_a_shared_connection() {
    let pool = pool(2);
    let e = pool.connect().await.unwrap();
    let s1 = pool.connect_shared().await.unwrap();
    let s2 = pool.connect_shared().await.unwrap();
    assert_eq!(
        (e.id, s1.id, s2.id),
        (0, 1, 1),
        "full: the second shared joins"
    );
    assert_eq!(pool.in_use(), 2);

    let p = pool.clone();
    let waiter = tokio::spawn(async move { p.connect().await.map(|c| c.id) });
    until(|| pool.state().waiters == 1).await;
    drop(s1);
    yield_now().await;
    assert!(!waiter.is_finished(), "s2 still shares connection 1");
    drop(s2);
    assert_eq!(
        waiter.await.unwrap().unwrap(),
        1,
        "handed over once unshared"
    );
    drop(e);
    assert_eq!((pool.in_use(), pool.available()), (0, 2));
}

#[tokio::test]
async fn a_shared_checkout_on_a_pool_full_of_exclusive_ones_queues() {
    let pool = pool(1);
    let e = pool.connect().await.unwrap();
    let p = pool.clone();
    let shared = tokio::spawn(async move { p.connect_shared().await.map(|h| h.id) });
    until(|| pool.state().waiters == 1).await;
    drop(e);
    assert_eq!(shared.await.unwrap().unwrap(), 0);
    assert_eq!(
        (pool.in_use(), pool.available(), pool.sessions()),
        (0, 1, 1)
    );
}

#[tokio::test]
async fn a_queued_shared_checkout_joins_a_connection_another_caller_opened() {
    let pool = pool(1);
    pool.manager().set(Mode::Slow);
    let (p1, p2) = (pool.clone(), pool.clone());
    let first = tokio::spawn(async move { p1.connect_shared().await.unwrap() });
    until(|| pool.state().connecting == 1).await;
    let second = tokio::spawn(async move { p2.connect_shared().await.map(|h| h.id) });
    let first = first.await.unwrap();
    // `first` still holds its connection: `second` must join it, not wait for it.
    assert_eq!(second.await.unwrap().unwrap(), first.id);
    assert_eq!((pool.sessions(), pool.state().waiters), (1, 0));
}

#[tokio::test]
async fn close_lets_shared_handles_work_and_waits_for_them() {
    let pool = pool(2);
    let holds = [
        pool.connect_shared().await.unwrap(),
        pool.connect_shared().await.unwrap(),
        pool.connect_shared().await.unwrap(),
    ];
    let mut drained = tokio_test::task::spawn(pool.close());
    assert!(pool.connect_shared().await.unwrap_err().is_closed());
    assert!(drained.poll().is_pending());
    assert_eq!(ids(&holds), [0, 1, 0], "handles still work after close");
    let [a, b, c] = holds;
    drop((a, b));
    assert!(drained.poll().is_pending(), "c still holds connection 0");
    assert_eq!(closed(&pool), 1);
    drop(c);
    assert!(drained.poll().is_ready());
    assert_eq!(
        (closed(&pool), pool.in_use(), pool.stats().closed_pool),
        (2, 0, 2)
    );
}

#[tokio::test]
async fn shrinking_retires_shared_connections_over_the_size() {
    let pool = pool(2);
    let a = pool.connect_shared().await.unwrap();
    let b = pool.connect_shared().await.unwrap();
    pool.resize(1).unwrap();
    let c = pool.connect_shared().await.unwrap();
    assert_eq!(pool.state().shared, 1, "one member retired");
    let retired = if c.id == a.id { b } else { a };
    let kept = c.id;
    drop(retired);
    assert_eq!((closed(&pool), pool.stats().closed_pool), (1, 1));
    assert_eq!(pool.connect_shared().await.unwrap().id, kept);
    assert_eq!(pool.sessions(), 2);
}

#[tokio::test]
async fn cancelled_shared_connect_frees_its_slot() {
    let pool = pool(1);
    pool.manager().set(Mode::Hang);
    let mut connecting = tokio_test::task::spawn(pool.connect_shared());
    assert!(connecting.poll().is_pending());
    assert_eq!(pool.state().connecting, 1);
    drop(connecting);
    assert_eq!(pool.state().connecting, 0);
    pool.manager().set(Mode::Ok);
    assert_eq!(pool.connect_shared().await.unwrap().id, 0);
}

#[tokio::test]
async fn cancelled_queued_shared_checkout_passes_its_grant_on() {
    let pool = pool(1);
    let e = pool.connect().await.unwrap();
    let mut queued = tokio_test::task::spawn(pool.connect_shared());
    assert!(queued.poll().is_pending());
    assert_eq!(pool.state().waiters, 1);
    // The grant lands in its mailbox, but it is dropped before picking it up.
    drop(e);
    assert!(queued.is_woken());
    drop(queued);
    assert_eq!(
        (pool.in_use(), pool.available(), pool.state().waiters),
        (0, 1, 0)
    );
    assert_eq!(
        pool.stats().checkouts,
        1,
        "the unpicked grant is not a checkout"
    );
}

#[tokio::test(start_paused = true)]
async fn a_queued_shared_checkout_times_out() {
    let pool = Pool::builder(Mem::default())
        .pool_size(1)
        .acquire_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let _e = pool.connect().await.unwrap();
    let err = pool.connect_shared().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(pool.state().waiters, 0);
}

#[test]
fn shared_futures_and_handles_are_send() {
    fn send<T: Send>(_: &T) {}
    let pool = pool(1);
    send(&pool.connect_shared());
    fn handle<T: Send + Sync>() {}
    handle::<SharedConnection<Mem>>();
}
