//! A TCP tunnel (pulsar's `StreamTunnel`): every connection to 127.0.0.1:8062 is relayed
//! to the upstream named on the command line, with back-pressure both ways and the
//! half-close passed on.
//!
//! ```sh
//! cargo run --example tunnel -- 127.0.0.1:8060
//! printf 'hello\r\n\r\n' | nc -N 127.0.0.1 8062
//! ```

use std::time::Duration;

use quasar_net::relay::Tunnel;
use quasar_net::TcpServer;

#[tokio::main]
async fn main() -> quasar_net::Result<()> {
    let upstream = std::env::args().nth(1).unwrap_or("127.0.0.1:8060".into());
    let tunnel = Tunnel::new(upstream);
    let stats = tunnel.stats();
    let server = TcpServer::builder(tunnel)
        .bind(([127, 0, 0, 1], 8062).into())
        .start()
        .await?;
    println!("tunnel tcp {}", server.address());
    tokio::signal::ctrl_c().await?;
    server.close(Duration::from_secs(10)).await;
    println!("{:?}", stats.snapshot());
    Ok(())
}
