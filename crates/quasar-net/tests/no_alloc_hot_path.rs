//! After warm-up, a synchronous echo round trip on an established connection allocates
//! nothing: the engine's hot path (read, feed, write, flow control) is allocation-free.
//!
//! This file is its own test binary with a counting global allocator. Server and client
//! run on one current-thread runtime, and the client is a raw `TcpStream` with buffers
//! allocated before measuring, so every allocation counted is the server's (or the
//! runtime's). Set `QUASAR_ALLOC_TRACE=1` to print a backtrace for each one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use quasar_echo::tcp::{EchoConfig, EchoServerFactory};
use quasar_net::TcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while a backtrace is being captured, whose own allocations are not counted.
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

fn record() {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    if IN_TRACE.with(|t| t.replace(true)) {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if TRACE.load(Ordering::Relaxed) {
        eprintln!(
            "allocation:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
    }
    IN_TRACE.with(|t| t.set(false));
}

// SAFETY: every call forwards to `System` unchanged; counting touches only atomics and a
// const-initialised thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: usize = 100;
const MEASURED: usize = 1000;

async fn round_trips(sock: &mut tokio::net::TcpStream, msg: &[u8], reply: &mut [u8], n: usize) {
    for _ in 0..n {
        sock.write_all(msg).await.unwrap();
        sock.read_exact(reply).await.unwrap();
        assert_eq!(&reply[..], msg);
    }
}

fn allocations_per_echo(raw: bool) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = EchoConfig {
            raw,
            ..EchoConfig::default()
        };
        let server = TcpServer::builder(EchoServerFactory::new(config))
            .start()
            .await
            .unwrap();
        let mut sock = tokio::net::TcpStream::connect(server.address())
            .await
            .unwrap();
        sock.set_nodelay(true).unwrap();
        let msg = b"hello, allocation-free world\r\n\r\n".to_vec();
        let mut reply = vec![0u8; msg.len()];
        round_trips(&mut sock, &msg, &mut reply, WARM_UP).await;

        TRACE.store(
            std::env::var_os("QUASAR_ALLOC_TRACE").is_some(),
            Ordering::Relaxed,
        );
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        round_trips(&mut sock, &msg, &mut reply, MEASURED).await;
        COUNTING.store(false, Ordering::Relaxed);
        let counted = ALLOCATIONS.load(Ordering::Relaxed);

        drop(sock);
        server.close(std::time::Duration::from_secs(1)).await;
        counted
    })
}

// One test function: the allocator's counter is global, so the two measurements must
// not run on parallel test threads.
#[test]
fn an_echo_round_trip_allocates_nothing_after_warm_up() {
    // The counter counts: one allocation made on purpose shows up.
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    drop(std::hint::black_box(vec![1u8; 16]));
    COUNTING.store(false, Ordering::Relaxed);
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 1);

    let framed = allocations_per_echo(false);
    let raw = allocations_per_echo(true);
    assert_eq!(
        (framed, raw),
        (0, 0),
        "allocations in {MEASURED} round trips (framed, raw); rerun with QUASAR_ALLOC_TRACE=1"
    );
}
