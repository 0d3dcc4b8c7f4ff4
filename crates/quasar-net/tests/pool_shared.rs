//! Shared (multiplexed) checkout under contention, mixed with exclusive checkouts,
//! broken connections and futures dropped at random points: never more than
//! `pool_size` connections open, never a connection known closed handed out, no slot
//! lost.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quasar_net::pool::{Manager, Pool};
use quasar_net::Error;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const POOL_SIZE: usize = 4;
const TASKS: u64 = 16;
const ROUNDS: usize = 2_000;
const SEED: u64 = 0x5ba2_ed00;

#[derive(Default)]
struct Book {
    created: AtomicUsize,
    closed: AtomicUsize,
    most_open: AtomicUsize,
    /// Orders "marked broken" against "checkout started".
    clock: AtomicU64,
    stale_handouts: AtomicUsize,
}

/// A multiplexed connection: clones share one peer.
#[derive(Clone)]
struct Conn(Arc<Peer>);

struct Peer {
    /// `u64::MAX` until marked broken, then the clock reading at that moment.
    broken_at: AtomicU64,
    closed_by_pool: AtomicBool,
}

struct Mux(Arc<Book>);

impl Manager for Mux {
    type Connection = Conn;

    async fn connect(&self) -> Result<Conn, Error> {
        let rounds = rand::rng().random_range(0..3);
        yields(rounds).await;
        let created = self.0.created.fetch_add(1, Ordering::SeqCst) + 1;
        let open = created - self.0.closed.load(Ordering::SeqCst);
        self.0.most_open.fetch_max(open, Ordering::SeqCst);
        Ok(Conn(Arc::new(Peer {
            broken_at: AtomicU64::new(u64::MAX),
            closed_by_pool: AtomicBool::new(false),
        })))
    }

    fn is_closed(&self, conn: &Conn) -> bool {
        conn.0.broken_at.load(Ordering::SeqCst) != u64::MAX
    }

    fn close(&self, conn: Conn) {
        assert!(
            !conn.0.closed_by_pool.swap(true, Ordering::SeqCst),
            "closed twice"
        );
        self.0.closed.fetch_add(1, Ordering::SeqCst);
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

fn check_fresh(book: &Book, conn: &Conn, started: u64) {
    if conn.0.broken_at.load(Ordering::SeqCst) < started {
        book.stale_handouts.fetch_add(1, Ordering::SeqCst);
    }
    assert!(
        !conn.0.closed_by_pool.load(Ordering::SeqCst),
        "handed out after close"
    );
}

async fn shared_use(pool: &Pool<Mux>, book: &Book, rounds: usize, what: u32) {
    let started = book.clock.fetch_add(1, Ordering::SeqCst);
    let hold = pool.connect_shared().await.expect("the pool stays open");
    check_fresh(book, &hold, started);
    yields(rounds).await;
    match what {
        0 => {
            let at = book.clock.fetch_add(1, Ordering::SeqCst);
            hold.0.broken_at.fetch_min(at, Ordering::SeqCst);
        }
        1 => hold.discard(),
        _ => drop(hold.clone()),
    }
}

async fn exclusive_use(pool: &Pool<Mux>, book: &Book, rounds: usize) {
    let started = book.clock.fetch_add(1, Ordering::SeqCst);
    let conn = pool.connect().await.expect("the pool stays open");
    check_fresh(book, &conn, started);
    yields(rounds).await;
}

async fn worker(pool: Pool<Mux>, book: Arc<Book>, seed: u64) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut dropped = 0;
    for _ in 0..ROUNDS {
        let rounds = rng.random_range(0..5);
        let budget = rng.random_range(0..10);
        let what = rng.random_range(0..20);
        let done = match rng.random_range(0..3) {
            0 => cancel_after(exclusive_use(&pool, &book, rounds), budget).await,
            _ => cancel_after(shared_use(&pool, &book, rounds, what), budget).await,
        };
        dropped += usize::from(done.is_none());
    }
    dropped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_shared_and_exclusive_checkouts_keep_the_books_under_random_drops() {
    let book = Arc::new(Book::default());
    let pool = Pool::builder(Mux(book.clone()))
        .pool_size(POOL_SIZE)
        .build()
        .unwrap();
    let workers: Vec<_> = (0..TASKS)
        .map(|i| tokio::spawn(worker(pool.clone(), book.clone(), SEED + i)))
        .collect();
    let mut dropped = 0;
    for w in workers {
        dropped += w.await.unwrap();
    }
    assert!(
        dropped > 100,
        "the schedule must cancel some calls, got {dropped}"
    );

    let state = pool.state();
    assert_eq!(
        (state.in_use, state.shared, state.connecting, state.waiters),
        (0, 0, 0, 0),
        "{state:?}"
    );
    assert!(book.most_open.load(Ordering::SeqCst) <= POOL_SIZE);
    assert_eq!(book.stale_handouts.load(Ordering::SeqCst), 0);
    let stats = pool.stats();
    assert!(stats.closed_broken > 0, "{stats:?}");
    let open = book.created.load(Ordering::SeqCst) - book.closed.load(Ordering::SeqCst);
    assert_eq!(open, state.idle, "every connection is idle or closed");

    // Every slot still works: pool_size shared connections at once.
    let holds = tokio::time::timeout(Duration::from_secs(10), async {
        let mut holds = Vec::new();
        for _ in 0..POOL_SIZE * 2 {
            holds.push(pool.connect_shared().await.unwrap());
        }
        holds
    })
    .await
    .expect("shared checkouts");
    assert_eq!(pool.in_use(), POOL_SIZE);
    let drained = pool.close();
    drop(holds);
    tokio::time::timeout(Duration::from_secs(10), drained)
        .await
        .expect("close drains");
    assert_eq!(
        book.created.load(Ordering::SeqCst),
        book.closed.load(Ordering::SeqCst)
    );
}
