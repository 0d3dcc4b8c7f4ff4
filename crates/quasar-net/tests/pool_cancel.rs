//! Cancel safety under contention: futures and guards dropped at random points lose no
//! slot and never put a half-used connection back into service.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quasar_net::pool::{Manager, Pool};
use quasar_net::Error;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const POOL_SIZE: usize = 4;
const TASKS: usize = 16;
const DROPS: usize = 1000;
const SEED: u64 = 0x5eed_0f_c0ffee;

#[derive(Default)]
struct Counters {
    created: AtomicUsize,
    dropped: AtomicUsize,
    dirty_checkouts: AtomicUsize,
}

/// Opens after a few scheduler rounds, so connects get cancelled half-way too.
struct Slow(Arc<Counters>);

struct Conn {
    /// Set for the length of a "request"; a checkout that sees it set got a connection
    /// some caller abandoned mid-request.
    dirty: AtomicBool,
    counters: Arc<Counters>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counters.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Manager for Slow {
    type Connection = Conn;

    async fn connect(&self) -> Result<Conn, Error> {
        let rounds = rand::rng().random_range(0..4);
        yields(rounds).await;
        self.0.created.fetch_add(1, Ordering::SeqCst);
        Ok(Conn {
            dirty: AtomicBool::new(false),
            counters: self.0.clone(),
        })
    }

    fn is_closed(&self, _conn: &Conn) -> bool {
        false
    }
}

async fn yields(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// Runs `fut` but drops it after `n` scheduler rounds if it has not finished.
async fn cancel_after<F: Future>(fut: F, n: usize) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = fut => Some(out),
        _ = yields(n) => None,
    }
}

/// A checkout followed by a "request" that dirties the connection until it finishes.
async fn request(pool: &Pool<Slow>, rounds: usize) {
    let mut conn = pool.connect().await.expect("the pool stays open");
    if conn.dirty.load(Ordering::SeqCst) {
        conn.counters.dirty_checkouts.fetch_add(1, Ordering::SeqCst);
    }
    conn.start_request();
    conn.dirty.store(true, Ordering::SeqCst);
    yields(rounds).await;
    conn.dirty.store(false, Ordering::SeqCst);
    conn.finish_request();
}

async fn worker(pool: Pool<Slow>, seed: u64, drops: Arc<AtomicUsize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..100_000 {
        if drops.load(Ordering::SeqCst) >= DROPS {
            return;
        }
        let rounds = rng.random_range(0..6);
        let budget = rng.random_range(0..12);
        let dropped = match rng.random_range(0..4) {
            // Drop the checkout itself: while queued or while connecting.
            0 => cancel_after(pool.connect(), budget).await.is_none(),
            // Drop anywhere in checkout + request: the guard may go mid-request.
            1 | 2 => cancel_after(request(&pool, rounds), budget).await.is_none(),
            // Abort from outside, from another worker thread.
            _ => {
                let p = pool.clone();
                let task = tokio::spawn(async move { request(&p, rounds).await });
                yields(budget).await;
                task.abort();
                task.await.is_err_and(|e| e.is_cancelled())
            }
        };
        if dropped {
            drops.fetch_add(1, Ordering::SeqCst);
        }
    }
    panic!("too few drops: the schedule never cancelled anything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_drops_under_contention_lose_no_slot_and_reuse_no_half_used_connection() {
    let counters = Arc::new(Counters::default());
    let pool = Pool::builder(Slow(counters.clone()))
        .pool_size(POOL_SIZE)
        .build()
        .unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..TASKS as u64)
        .map(|i| tokio::spawn(worker(pool.clone(), SEED + i, drops.clone())))
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert!(drops.load(Ordering::SeqCst) >= DROPS);

    let state = pool.state();
    assert_eq!(
        (state.in_use, state.connecting, state.waiters),
        (0, 0, 0),
        "{state:?}"
    );
    assert_eq!(counters.dirty_checkouts.load(Ordering::SeqCst), 0);
    let live = counters.created.load(Ordering::SeqCst) - counters.dropped.load(Ordering::SeqCst);
    assert_eq!(
        live, state.idle,
        "every connection is idle or gone: none leaked"
    );
    let stats = pool.stats();
    assert!(
        stats.closed_broken > 0,
        "some guards were dropped mid-request"
    );

    // Every slot is still usable: pool_size checkouts held at once.
    let all = tokio::time::timeout(Duration::from_secs(10), async {
        let mut held = Vec::new();
        for _ in 0..POOL_SIZE {
            held.push(pool.connect().await.unwrap());
        }
        held
    })
    .await
    .expect("pool_size concurrent checkouts");
    assert_eq!(pool.in_use(), POOL_SIZE);
    assert!(all.iter().all(|c| !c.dirty.load(Ordering::SeqCst)));
    drop(all);
    pool.close().await;
    assert_eq!(
        counters.created.load(Ordering::SeqCst),
        counters.dropped.load(Ordering::SeqCst)
    );
}
