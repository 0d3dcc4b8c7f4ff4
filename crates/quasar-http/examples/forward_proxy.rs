//! A forward HTTP proxy with CONNECT tunnels, embedded in a program of its own.
//!
//! ```sh
//! cargo run -p quasar-http --example forward_proxy -- 127.0.0.1:8080
//! curl -x http://127.0.0.1:8080 http://example.com/
//! https_proxy=http://127.0.0.1:8080 curl https://example.com/
//! ```
//!
//! Plain requests are forwarded over pooled keep-alive connections, `CONNECT` to port 443
//! opens a relayed tunnel, hop-by-hop headers are stripped, `Via` and `X-Forwarded-For`
//! added. Ctrl-C prints the proxy's counters and closes it.

use std::time::Duration;

use quasar_http::proxy::ForwardProxy;
use quasar_net::TcpServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let proxy = ForwardProxy::builder().build();
    let stats = proxy.stats();
    let server = TcpServer::builder(proxy)
        .bind(addr.parse()?)
        .start()
        .await?;
    println!("proxy listening on {}", server.address());
    tokio::signal::ctrl_c().await?;
    println!("{:?}", stats.snapshot());
    server.close(Duration::from_secs(5)).await;
    Ok(())
}
