//! The hand-written tokio relay: the floor quasar's tunnel is compared with.
//!
//! One task per client: dial `--upstream`, then `copy_bidirectional` until both directions end
//! (each side's EOF is passed on as a write shutdown, so half-close goes through).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::shutdown;

/// Relays every connection on `bind` to `upstream` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr, upstream: String) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    shutdown::announce("relay", listener.local_addr()?);
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((client, _)) => {
                    tokio::spawn(relay(client, upstream.clone()));
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    tokio::select! {
        () = accept => Ok(()),
        () = shutdown::signal() => Ok(()),
    }
}

async fn relay(mut client: TcpStream, upstream: String) {
    // An upstream that refuses closes the client: dropping it is the whole error path.
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
