//! The pool's per-thread idle caches: a connection a thread returned while nobody
//! waited sits in that thread's cache, yet every other caller, the FIFO queue, the
//! gauges and `close` still find it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quasar_net::pool::{Manager, Pool};
use quasar_net::Error;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Default)]
struct Mem {
    opened: AtomicUsize,
    closed: AtomicUsize,
}

impl Manager for Mem {
    type Connection = usize;

    async fn connect(&self) -> Result<usize, Error> {
        Ok(self.opened.fetch_add(1, Ordering::SeqCst))
    }

    fn is_closed(&self, _conn: &usize) -> bool {
        false
    }

    fn close(&self, _conn: usize) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

fn pool(size: usize) -> Pool<Mem> {
    Pool::builder(Mem::default())
        .pool_size(size)
        .build()
        .unwrap()
}

/// Runs `f` on a new OS thread with its own single-threaded runtime, so whatever it
/// returns to the pool lands in that thread's cache.
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .join()
    .unwrap()
}

/// Checks a connection out and back in on a thread of its own; returns its id.
fn use_on_thread(pool: &Pool<Mem>) -> usize {
    let pool = pool.clone();
    on_thread(move || Box::pin(async move { *pool.connect().await.unwrap() }))
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_cached_by_one_thread_serves_a_full_pool_on_another() {
    let pool = pool(1);
    let first = use_on_thread(&pool);
    // The pool is full (the connection is parked in the other thread's cache), so this
    // checkout would queue forever if it could not take it from there.
    let conn = tokio::time::timeout(Duration::from_secs(10), pool.connect())
        .await
        .expect("the cached connection was found")
        .unwrap();
    assert_eq!(*conn, first);
    assert_eq!(pool.sessions(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_pool_with_room_reuses_a_cached_connection_instead_of_opening_one() {
    let pool = pool(4);
    let first = use_on_thread(&pool);
    assert_eq!(*pool.connect().await.unwrap(), first);
    assert_eq!(use_on_thread(&pool), first);
    assert_eq!(pool.sessions(), 1, "one connection served every checkout");
}

#[tokio::test(flavor = "current_thread")]
async fn gauges_and_stats_count_cached_connections_as_idle() {
    let pool = pool(4);
    for _ in 0..10 {
        use_on_thread(&pool);
    }
    // Checkouts on this thread are served from its own cache after the first.
    for _ in 0..10 {
        drop(pool.connect().await.unwrap());
    }
    assert_eq!((pool.in_use(), pool.available()), (0, 1));
    let state = pool.state();
    assert_eq!((state.in_use, state.idle, state.available), (0, 1, 1));
    let stats = pool.stats();
    assert_eq!((stats.sessions, stats.checkouts), (1, 20));
}

#[tokio::test(flavor = "current_thread")]
async fn close_closes_connections_parked_in_thread_caches() {
    let pool = pool(2);
    use_on_thread(&pool);
    drop(pool.connect().await.unwrap());
    tokio::time::timeout(Duration::from_secs(10), pool.close())
        .await
        .expect("the pool drained");
    assert_eq!(pool.manager().closed.load(Ordering::SeqCst), 1);
    assert!(pool.connect().await.unwrap_err().is_closed());
    // A return after the close goes to the books, which close it.
    assert_eq!(pool.in_use(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_shrink_closes_cached_connections_over_the_new_size() {
    let pool = pool(2);
    let a = pool.connect().await.unwrap();
    let b = pool.connect().await.unwrap();
    drop(a);
    drop(b);
    pool.resize(1).unwrap();
    assert_eq!(pool.manager().closed.load(Ordering::SeqCst), 1);
    assert_eq!((pool.in_use(), pool.available()), (0, 1));
}

#[test]
fn a_connection_returned_on_another_thread_goes_to_the_oldest_waiter() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = pool(1);
        let held = pool.connect().await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let (pool, order) = (pool.clone(), order.clone());
                tokio::spawn(async move {
                    let conn = pool.connect().await.unwrap();
                    order.lock().unwrap().push(i);
                    tokio::task::yield_now().await;
                    drop(conn);
                })
            })
            .collect();
        // Let all three queue, in spawn order.
        while pool.stats().waits < 3 {
            tokio::task::yield_now().await;
        }
        // Returned on a thread whose cache is empty and would take it, were the queue
        // not waiting for it.
        std::thread::spawn(move || drop(held)).join().unwrap();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(10), w)
                .await
                .expect("every waiter was served")
                .unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        assert_eq!(pool.sessions(), 1);
    });
}

/// Holds across yields and checkouts dropped half-way, from more tasks than
/// connections on two workers, so the caches' flag goes up and down all the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_returns_to_idle_after_cancellations_across_threads() {
    const TASKS: u64 = 12;
    let pool = pool(3);
    let tasks: Vec<_> = (0..TASKS)
        .map(|seed| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                for _ in 0..2_000 {
                    let hold = rng.random_range(0..3);
                    let budget = rng.random_range(0..4);
                    let checkout = async {
                        let conn = pool.connect().await.unwrap();
                        for _ in 0..hold {
                            tokio::task::yield_now().await;
                        }
                        drop(conn);
                    };
                    tokio::select! {
                        biased;
                        () = checkout => {}
                        () = async {
                            for _ in 0..budget {
                                tokio::task::yield_now().await;
                            }
                        } => {}
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        // A connection stranded in a cache while callers queue would hang here.
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("no caller waited forever")
            .unwrap();
    }
    let opened = pool.sessions() as usize;
    assert!(
        opened <= 3,
        "never more than pool_size connections: {opened}"
    );
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.available(), opened);
    assert_eq!(pool.state().waiters, 0);
    assert_eq!(pool.manager().closed.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_shared_checkout_takes_a_connection_cached_by_another_thread() {
    let pool = pool(1);
    let first = use_on_thread(&pool);
    // The only connection sits in the other thread's cache: a shared checkout must find
    // it there rather than queue behind a full pool.
    let hold = tokio::time::timeout(Duration::from_secs(10), pool.connect_shared())
        .await
        .expect("the cached connection was found")
        .unwrap();
    assert_eq!(*hold, first);
    assert_eq!((pool.sessions(), pool.state().shared), (1, 1));
}

/// Counts closes in a place the test keeps after the pool is gone.
struct Counted(Arc<AtomicUsize>);

impl Manager for Counted {
    type Connection = ();

    async fn connect(&self) -> Result<(), Error> {
        Ok(())
    }

    fn is_closed(&self, _conn: &()) -> bool {
        false
    }

    fn close(&self, _conn: ()) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_pool_closes_connections_parked_in_thread_caches() {
    let closed = Arc::new(AtomicUsize::new(0));
    let pool = Pool::builder(Counted(closed.clone()))
        .pool_size(2)
        .build()
        .unwrap();
    let other = pool.clone();
    on_thread(move || Box::pin(async move { drop(other.connect().await.unwrap()) }));
    // Taken from the other thread's cache, then parked in this thread's; no gauge is
    // read, since reading one moves cached connections back into the books.
    drop(pool.connect().await.unwrap());
    drop(pool);
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}
