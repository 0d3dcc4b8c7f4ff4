//! Stopping on SIGTERM or Ctrl-C, telling scripts where a server listens, and the accept
//! loop the TCP baselines share.

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

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

/// Announces `listener` as `name`, then accepts on it until SIGTERM or Ctrl-C, running
/// `serve` as a task for each connection, Nagle off. A failed accept (out of file
/// descriptors or similar) backs off instead of spinning.
pub(crate) async fn accept_until_signal<F, Fut>(
    name: &str,
    listener: TcpListener,
    serve: F,
) -> io::Result<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    announce(name, listener.local_addr()?);
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream, peer));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    tokio::select! {
        () = accept => Ok(()),
        () = signal() => Ok(()),
    }
}
