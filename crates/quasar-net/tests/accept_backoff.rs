//! Running out of file descriptors (EMFILE) must not make the accept loop spin: it backs
//! off, logs, and serves again once descriptors are free. Alone in its file because it
//! lowers the whole test process's descriptor limit and installs a global log writer.

mod core_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use core_support::LineEcho;
use quasar_net::TcpServer;
use socket2::{Domain, Socket, Type};

/// Counts the accept loop's back-off warnings.
#[derive(Clone)]
struct BackoffCounter(Arc<AtomicUsize>);

impl Write for BackoffCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        self.0
            .fetch_add(line.matches("backing off").count(), Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

fn set_soft_nofile(limit: u64) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let new = libc::rlimit {
            rlim_cur: limit,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &new), 0);
    }
    old
}

fn restore_nofile(old: libc::rlimit) {
    // SAFETY: as above.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &old), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_backs_off_instead_of_spinning_and_recovers() {
    let count = Arc::new(AtomicUsize::new(0));
    let writer = BackoffCounter(Arc::clone(&count));
    let _ = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .try_init();

    let server = TcpServer::builder(|| LineEcho).start().await.unwrap();
    let addr: SocketAddr = server.address();
    // Client sockets are made before the limit drops, so only the server's accept
    // (which needs a new descriptor) fails.
    let clients: Vec<Socket> = (0..3)
        .map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap())
        .collect();
    let old = set_soft_nofile(open_fds());
    for c in &clients {
        c.connect(&addr.into()).unwrap(); // completes in the kernel's backlog
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let warnings = count.load(Ordering::Relaxed);
    restore_nofile(old);

    // Back-off doubles from 5 ms to 1 s: about eight warnings in 1.5 s. A spinning loop
    // would log on every wake-up, thousands of times.
    assert!(warnings >= 1, "the accept failure was logged");
    assert!(warnings <= 30, "accept spun: {warnings} warnings in 1.5 s");
    // Each warning is one back-off, counted in info() (and so in the metrics).
    let backoffs = server.info().clients.accept_backoffs;
    assert!((1..=30).contains(&backoffs), "{backoffs} back-offs");

    // With descriptors back, the queued connections are served.
    let results = tokio::task::spawn_blocking(move || {
        clients
            .into_iter()
            .map(|c| {
                let mut s: TcpStream = c.into();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(b"back\n").unwrap();
                let mut reply = [0u8; 5];
                s.read_exact(&mut reply).map(|()| reply)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for r in results {
        assert_eq!(&r.expect("served after recovery"), b"back\n");
    }
    server.close(Duration::from_secs(1)).await;
}
