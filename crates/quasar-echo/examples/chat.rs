//! The line chat: `cargo run -p quasar-echo --example chat [ADDR]` (default 127.0.0.1:8061),
//! then `nc 127.0.0.1 8061` from two terminals. Ctrl-C closes it.

use std::time::Duration;

use quasar_echo::chat::{self, ChatConfig};
use quasar_net::{Error, TcpServer};

#[tokio::main]
async fn main() -> quasar_net::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or("127.0.0.1:8061".into());
    let addr = bind
        .parse()
        .map_err(|e| Error::config(format!("{bind}: {e}")))?;
    let factory = chat::factory(ChatConfig::default());
    let server = TcpServer::builder(factory).bind(addr).start().await?;
    println!("chat on {}", server.address());
    tokio::signal::ctrl_c().await?;
    server.close(Duration::from_secs(1)).await; // members get a second to flush
    Ok(())
}
