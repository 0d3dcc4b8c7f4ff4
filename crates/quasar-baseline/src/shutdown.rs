//! Stopping on SIGTERM or Ctrl-C, and telling scripts where a server listens.

use std::io::Write;
use std::net::SocketAddr;

/// Prints `<name> <addr>` as one line on stdout and flushes it, so a script reading a pipe sees
/// it at once.
pub(crate) fn announce(name: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{name} {addr}");
    let _ = out.flush();
}

/// Resolves on the first SIGTERM or Ctrl-C (SIGINT).
pub(crate) async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
