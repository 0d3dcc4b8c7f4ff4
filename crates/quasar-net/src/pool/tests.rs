//! Engine tests with an in-memory manager; timers run on paused tokio time.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::yield_now;
use tokio::time::{advance, sleep};

use super::*;

/// How `Mem::connect` behaves.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Mode {
    Ok,
    Refuse,
    Hang,
    /// Yields to the scheduler a few times first, so connects overlap.
    Slow,
}

#[derive(Default)]
pub(super) struct Mem {
    pub(super) next: AtomicUsize,
    pub(super) closed: AtomicUsize,
    mode: Mutex<Option<Mode>>,
    /// Keeps the test able to see when the pool dropped its manager.
    token: Arc<()>,
}

/// Clones share the peer's state, as handles of one multiplexed connection do.
#[derive(Clone)]
pub(super) struct Conn {
    pub(super) id: usize,
    pub(super) peer_closed: Arc<AtomicBool>,
}

impl Mem {
    pub(super) fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = Some(mode);
    }
}

impl Manager for Mem {
    type Connection = Conn;

    async fn connect(&self) -> Result<Conn, Error> {
        let mode = self.mode.lock().unwrap().unwrap_or(Mode::Ok);
        if mode == Mode::Slow {
            for _ in 0..3 {
                yield_now().await;
            }
        }
        match mode {
            Mode::Ok | Mode::Slow => Ok(Conn {
                id: self.next.fetch_add(1, Ordering::SeqCst),
                peer_closed: Arc::default(),
            }),
            Mode::Refuse => Err(Error::connect(
                "mem:1",
                io::Error::from(io::ErrorKind::ConnectionRefused),
            )),
            Mode::Hang => std::future::pending().await,
        }
    }

    fn is_closed(&self, conn: &Conn) -> bool {
        conn.peer_closed.load(Ordering::SeqCst)
    }

    fn close(&self, conn: Conn) {
        self.closed.fetch_add(1, Ordering::SeqCst);
        drop(conn);
    }
}

pub(super) fn pool(size: usize) -> Pool<Mem> {
    Pool::builder(Mem::default())
        .pool_size(size)
        .build()
        .unwrap()
}

/// Lets spawned tasks on the current-thread runtime run until `cond` holds.
pub(super) async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        yield_now().await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    let pool = pool(1);
    let held = pool.connect().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (p, order) = (pool.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let conn = p.connect().await.unwrap();
            order.lock().unwrap().push(i);
            yield_now().await;
            drop(conn);
        }));
        until(|| pool.state().waiters == i + 1).await;
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(pool.sessions(), 1, "the one connection was handed along");
    assert_eq!(pool.stats().waits, 5);
}

#[tokio::test]
async fn a_full_waiter_queue_fails_fast_with_pool_full() {
    let pool = Pool::builder(Mem::default())
        .pool_size(1)
        .max_waiters(2)
        .build()
        .unwrap();
    let held = pool.connect().await.unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.connect().await.map(|c| c.id) })
        })
        .collect();
    until(|| pool.state().waiters == 2).await;
    let err = pool.connect().await.unwrap_err();
    assert!(err.is_pool_full(), "{err}");
    assert_eq!(pool.stats().rejected, 1);
    drop(held);
    for w in waiters {
        assert_eq!(w.await.unwrap().unwrap(), 0);
    }
}

#[tokio::test]
async fn close_fails_waiters_with_closed_and_drains_in_use_on_release() {
    let pool = pool(1);
    let held = pool.connect().await.unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.connect().await.map(drop) })
        })
        .collect();
    until(|| pool.state().waiters == 3).await;

    let mut drained = tokio_test::task::spawn(pool.close());
    assert!(pool.is_closed());
    for w in waiters {
        assert!(w.await.unwrap().unwrap_err().is_closed());
    }
    assert!(pool.connect().await.unwrap_err().is_closed());
    assert!(drained.poll().is_pending(), "a connection is still in use");

    drop(held);
    assert!(drained.is_woken());
    assert!(drained.poll().is_ready());
    assert_eq!(pool.manager().closed.load(Ordering::SeqCst), 1);
    assert_eq!((pool.in_use(), pool.available()), (0, 0));
    pool.close().await; // later calls resolve too
}

#[tokio::test]
async fn close_closes_idle_connections_at_once() {
    let pool = pool(3);
    let conns = [pool.connect().await.unwrap(), pool.connect().await.unwrap()];
    drop(conns);
    assert_eq!(pool.available(), 2);
    pool.close().await;
    assert_eq!(pool.manager().closed.load(Ordering::SeqCst), 2);
    assert_eq!(pool.stats().closed_pool, 2);
}

#[tokio::test(start_paused = true)]
async fn acquire_timeout_error_carries_the_last_connect_error() {
    let pool = Pool::builder(Mem::default())
        .pool_size(1)
        .acquire_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    pool.manager().set(Mode::Refuse);
    let first = pool.connect().await.unwrap_err();
    assert!(
        first.is_connect(),
        "a connect error reaches its caller: {first}"
    );

    pool.manager().set(Mode::Hang);
    let err = pool.connect().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("acquire") && msg.contains("mem:1"), "{msg}");
    let source = std::error::Error::source(&err).expect("the connect error is the source");
    assert!(source.to_string().contains("refused"), "{source}");

    assert_eq!(
        pool.state().connecting,
        0,
        "the abandoned connect freed its slot"
    );
    assert_eq!(pool.stats().timeouts, 1);
    pool.manager().set(Mode::Ok);
    assert_eq!(pool.connect().await.unwrap().id, 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_times_out_and_leaves_the_queue() {
    let pool = Pool::builder(Mem::default())
        .pool_size(1)
        .acquire_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let held = pool.connect().await.unwrap();
    let err = pool.connect().await.unwrap_err();
    assert!(
        err.is_timeout() && std::error::Error::source(&err).is_none(),
        "{err:?}"
    );
    assert_eq!(pool.state().waiters, 0);
    drop(held);
    assert_eq!(pool.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn connect_timeout_fires_and_frees_the_slot() {
    let pool = Pool::builder(Mem::default())
        .pool_size(1)
        .connect_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    pool.manager().set(Mode::Hang);
    let started = tokio::time::Instant::now();
    let err = pool.connect().await.unwrap_err();
    assert!(
        err.is_timeout() && err.to_string().contains("connect"),
        "{err}"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(pool.state().connecting, 0);
    assert_eq!(pool.stats().connect_errors, 1);
    pool.manager().set(Mode::Ok);
    assert!(pool.connect().await.is_ok());
}

#[tokio::test]
async fn discard_and_detach_free_the_slot() {
    let pool = pool(1);
    let conn = pool.connect().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.connect().await.unwrap().detach() })
    };
    until(|| pool.state().waiters == 1).await;
    conn.close(true);
    assert_eq!(pool.manager().closed.load(Ordering::SeqCst), 1);

    let detached = waiter.await.unwrap();
    assert_eq!(
        detached.id, 1,
        "the waiter opened a new connection in the freed slot"
    );
    assert_eq!((pool.in_use(), pool.available()), (0, 0));
    assert_eq!(pool.connect().await.unwrap().id, 2);
    let stats = pool.stats();
    assert_eq!(
        (stats.closed_broken, stats.detached, stats.sessions),
        (1, 1, 3)
    );
    assert_eq!(
        pool.manager().closed.load(Ordering::SeqCst),
        1,
        "the pool never closes a detached connection"
    );
    drop(detached);
}

#[tokio::test]
async fn a_guard_dropped_mid_request_is_discarded_not_reused() {
    let pool = pool(1);
    let mut conn = pool.connect().await.unwrap();
    conn.start_request();
    drop(conn);
    assert_eq!(pool.available(), 0);
    assert_eq!(pool.stats().closed_broken, 1);

    let mut conn = pool.connect().await.unwrap();
    assert_eq!(conn.id, 1);
    conn.start_request();
    conn.finish_request();
    drop(conn);
    assert_eq!(
        pool.connect().await.unwrap().id,
        1,
        "a finished request is reusable"
    );
}

#[tokio::test]
async fn resize_up_lets_waiters_connect_and_down_closes_the_excess() {
    let pool = pool(1);
    let held = pool.connect().await.unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.connect().await.unwrap() })
        })
        .collect();
    until(|| pool.state().waiters == 2).await;
    pool.resize(3).unwrap();
    let mut conns = vec![held];
    for w in waiters {
        conns.push(w.await.unwrap());
    }
    assert_eq!((pool.in_use(), pool.sessions()), (3, 3));

    // Shrink while all three are in use: they close as they come back.
    pool.resize(2).unwrap();
    conns.pop();
    assert_eq!((pool.in_use(), pool.available()), (2, 0));
    drop(conns);
    assert_eq!(pool.available(), 2);

    // Shrink idle connections: closed at once.
    pool.resize(1).unwrap();
    assert_eq!(pool.available(), 1);
    assert_eq!(pool.stats().closed_pool, 2);
    assert!(pool.resize(0).unwrap_err().is_config());
}

#[tokio::test(start_paused = true)]
async fn min_idle_prewarms_in_the_background() {
    let pool = Pool::builder(Mem::default())
        .pool_size(5)
        .min_idle(3)
        .build()
        .unwrap();
    until(|| pool.available() == 3).await;
    assert_eq!(pool.sessions(), 3);
    assert_eq!(pool.prewarm().await.unwrap(), 0, "already warm");
    assert_eq!(pool.stats().checkouts, 0, "prewarming is not a checkout");
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_reaps_down_to_min_idle_and_no_further() {
    let pool = Pool::builder(Mem::default())
        .pool_size(5)
        .min_idle(2)
        .idle_timeout(Duration::from_secs(10))
        .reap_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(pool.connect().await.unwrap());
    }
    drop(conns);
    assert_eq!(pool.available(), 5);

    advance(Duration::from_secs(5)).await;
    until(|| pool.stats().closed_idle == 0).await;
    assert_eq!(pool.available(), 5, "not idle long enough yet");
    for _ in 0..4 {
        advance(Duration::from_secs(3)).await;
        yield_now().await;
        assert!(pool.available() >= 2, "never below min_idle");
    }
    until(|| pool.available() == 2).await;
    assert_eq!(pool.stats().closed_idle, 3);
    advance(Duration::from_secs(60)).await;
    yield_now().await;
    assert_eq!(pool.available(), 2);
    assert_eq!(pool.sessions(), 5, "min_idle kept, nothing reopened");
}

#[tokio::test(start_paused = true)]
async fn max_lifetime_closes_old_connections_and_refills_min_idle() {
    let pool = Pool::builder(Mem::default())
        .pool_size(4)
        .min_idle(2)
        .max_lifetime(Duration::from_secs(30))
        .reap_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    until(|| pool.available() == 2).await;
    let old = pool.connect().await.unwrap();
    assert!(old.id < 2);

    advance(Duration::from_secs(31)).await;
    until(|| pool.stats().closed_lifetime == 1 && pool.available() == 2).await;
    assert_eq!(
        pool.sessions(),
        4,
        "the reaped idle connection was replaced"
    );

    drop(old); // past its lifetime: closed on return, not parked
    assert_eq!(pool.stats().closed_lifetime, 2);
    assert_eq!(pool.available(), 2);
    let fresh = pool.connect().await.unwrap();
    assert!(fresh.id >= 2, "an expired connection is never handed out");
}

#[tokio::test]
async fn checkout_skips_connections_the_peer_closed_and_replaces_them() {
    let pool = pool(2);
    let (a, b) = (pool.connect().await.unwrap(), pool.connect().await.unwrap());
    let a_flag = a.peer_closed.clone();
    drop((a, b));
    a_flag.store(true, Ordering::SeqCst);
    assert_eq!(
        pool.available(),
        1,
        "a known-closed connection is not available"
    );
    assert_eq!(pool.state().idle, 2);

    let (c, d) = (pool.connect().await.unwrap(), pool.connect().await.unwrap());
    assert!(!c.peer_closed.load(Ordering::SeqCst) && !d.peer_closed.load(Ordering::SeqCst));
    assert_eq!(pool.sessions(), 3);
    assert_eq!(pool.stats().closed_broken, 1);
    drop((c, d));
}

#[tokio::test]
async fn a_connection_closed_while_checked_out_is_not_parked() {
    let pool = pool(2);
    let conn = pool.connect().await.unwrap();
    conn.peer_closed.store(true, Ordering::SeqCst);
    drop(conn);
    assert_eq!((pool.in_use(), pool.state().idle), (0, 0));
    assert_eq!(pool.stats().closed_broken, 1);
}

/// pulsar's `test_connection_pool` (its echo example's pool test), at the pool's level.
#[tokio::test]
async fn pulsar_connection_pool_sequence() {
    let pool = pool(2);
    let counts = |p: &Pool<Mem>| (p.pool_size(), p.in_use(), p.available(), p.sessions());
    assert_eq!(counts(&pool), (2, 0, 0, 0));
    drop(pool.connect().await.unwrap());
    assert_eq!(counts(&pool), (2, 0, 1, 1));
    drop(pool.connect().await.unwrap());
    assert_eq!(counts(&pool), (2, 0, 1, 1));

    let three = |pool: Pool<Mem>| async move {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let conn = pool.connect().await.unwrap();
                    yield_now().await;
                    drop(conn);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    };
    three(pool.clone()).await;
    assert_eq!(counts(&pool), (2, 0, 2, 2));

    // The peer closes one idle connection; it stays in the idle set until checkout.
    let conn = pool.connect().await.unwrap();
    conn.peer_closed.store(true, Ordering::SeqCst);
    drop(conn);
    assert_eq!(pool.state().idle, 1);
    three(pool.clone()).await;
    assert_eq!(counts(&pool), (2, 0, 2, 3));
    assert_eq!(pool.stats().checkouts, 9);

    pool.close().await;
    assert_eq!(counts(&pool), (2, 0, 0, 3));
}

#[tokio::test]
async fn the_reaper_stops_when_the_pool_is_dropped() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let pool = Pool::builder(Mem::default())
        .idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let token = Arc::downgrade(&pool.manager().token);
    assert_eq!(metrics.num_alive_tasks(), 1);
    drop(pool);
    assert!(
        token.upgrade().is_none(),
        "the reaper holds no strong reference"
    );
    until(|| metrics.num_alive_tasks() == 0).await;
}

#[tokio::test(start_paused = true)]
async fn the_reaper_stops_when_the_pool_is_closed() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let pool = Pool::builder(Mem::default()).min_idle(1).build().unwrap();
    until(|| pool.available() == 1).await;
    pool.close().await;
    until(|| metrics.num_alive_tasks() == 0).await;
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(pool.sessions(), 1, "nothing refilled after close");
}

#[test]
fn build_rejects_bad_settings() {
    let err = |b: PoolBuilder<Mem>| b.build().unwrap_err();
    assert!(err(Pool::builder(Mem::default()).pool_size(0)).is_config());
    assert!(err(Pool::builder(Mem::default()).pool_size(2).min_idle(3)).is_config());
    assert!(err(Pool::builder(Mem::default()).acquire_timeout(Duration::ZERO)).is_config());
    let no_runtime = err(Pool::builder(Mem::default()).min_idle(1));
    assert!(no_runtime.to_string().contains("runtime"), "{no_runtime}");
}

#[test]
fn stats_serialise_with_serde() {
    let json = serde_json::to_value(PoolStats::default()).unwrap();
    assert_eq!(json["sessions"], 0);
    assert_eq!(json["closed_lifetime"], 0);
}

#[test]
fn futures_and_guards_are_send() {
    fn send<T: Send>(_: &T) {}
    let pool = pool(1);
    send(&pool.connect());
    send(&pool.prewarm());
    send(&pool.close());
    fn guard<T: Send + Sync>() {}
    guard::<PoolConnection<Mem>>();
    guard::<Pool<Mem>>();
}

#[tokio::test]
async fn wait_time_is_measured_when_enabled() {
    for measure in [false, true] {
        let pool = Pool::builder(Mem::default())
            .pool_size(1)
            .measure_wait_time(measure)
            .build()
            .unwrap();
        let held = pool.connect().await.unwrap();
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { drop(pool.connect().await.unwrap()) })
        };
        until(|| pool.state().waiters == 1).await;
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        waiter.await.unwrap();
        let stats = pool.stats();
        assert_eq!(stats.waits, 1);
        assert_eq!(stats.wait_time_us >= 20_000, measure, "{stats:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_refill_neither_stalls_the_reaper_nor_keeps_a_dropped_pool_alive() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let manager = Mem::default();
    manager.set(Mode::Hang);
    let pool = Pool::builder(manager)
        .pool_size(2)
        .min_idle(1)
        .idle_timeout(Duration::from_secs(10))
        .reap_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    until(|| pool.state().connecting == 1).await;
    advance(Duration::from_millis(1500)).await;
    until(|| pool.state().connecting <= 1).await;
    assert!(
        pool.state().connecting <= 1,
        "abandoned refills gave their slots back"
    );

    let token = Arc::downgrade(&pool.manager().token);
    drop(pool);
    advance(Duration::from_secs(2)).await;
    until(|| metrics.num_alive_tasks() == 0).await;
    assert!(
        token.upgrade().is_none(),
        "the pool went away with its reaper"
    );
}
