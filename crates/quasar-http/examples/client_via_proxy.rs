//! Fetches a URL through an HTTP proxy with quasar's `HttpClient`: `http://` in absolute form,
//! `https://` through a `CONNECT` tunnel; cookies kept, gzip/deflate decoded, connections capped.
//!
//! ```text
//! cargo run -p quasar-http --example client_via_proxy -- http://user:pass@127.0.0.1:8080 https://example.com/
//! https_proxy=http://127.0.0.1:8080 cargo run -p quasar-http --example client_via_proxy -- - https://example.com/
//! ```
//!
//! A proxy of `-` takes `http_proxy` / `https_proxy` / `all_proxy` / `no_proxy` from the
//! environment.

use std::time::Duration;

use quasar_http::client::{HttpClient, Proxy};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [proxy, url] = args.as_slice() else {
        return Err("usage: client_via_proxy PROXY_URL|- URL".into());
    };
    let builder = HttpClient::builder()
        .cookie_store(true)
        .max_per_host(4)
        .max_connections(16)
        .request_timeout(Duration::from_secs(30));
    let builder = match proxy.as_str() {
        "-" => builder.proxy_from_env(),
        url => builder.proxy(Proxy::all(url)?),
    };
    let client = builder.build()?;
    let res = client.get(url).await?;
    println!("{:?} {}", res.version(), res.status());
    for (name, value) in res.headers() {
        println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    println!("\n{}", String::from_utf8_lossy(res.body()));
    Ok(())
}
