//! A small JSON-RPC load client for scripts/bench/rpc.sh: `calc.add` over WebSockets.
//!
//! ```text
//! cargo run --release -p quasar-http --example rpc_load -- ws://127.0.0.1:8070/rpc \
//!     --connections 50 --in-flight 1 --duration 5
//! ```
//!
//! Opens `--connections` sockets (one `RpcWsClient` each); on each, `--in-flight` callers
//! loop on `calc.add` with fresh operands and check every sum. Prints one JSON line:
//! `{"calls": N, "errors": E, "seconds": S}` after `--warmup` seconds not counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quasar_http::client::HttpClient;
use quasar_http::http::HeaderMap;
use quasar_http::rpc::RpcWsClient;
use quasar_http::ws::{DeflateConfig, WsLimits};

fn flag(args: &[String], name: &str, default: f64) -> f64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().ok_or(
        "usage: rpc_load WS-URL [--connections N] [--in-flight N] [--duration S] [--warmup S] [--deflate]",
    )?;
    let connections = flag(&args, "--connections", 50.0) as usize;
    let in_flight = flag(&args, "--in-flight", 1.0) as usize;
    let duration = Duration::from_secs_f64(flag(&args, "--duration", 5.0));
    let warmup = Duration::from_secs_f64(flag(&args, "--warmup", 1.0));

    let http = HttpClient::new();
    let mut clients = Vec::with_capacity(connections);
    // Without --deflate no permessage-deflate is offered: jsonrpsee's server does not
    // negotiate it, so both sides then carry the same bytes.
    let deflate = if args.iter().any(|a| a == "--deflate") {
        DeflateConfig::default()
    } else {
        DeflateConfig::disabled()
    };
    for _ in 0..connections {
        let ws = http
            .websocket_with_deflate(url, HeaderMap::new(), WsLimits::default(), deflate)
            .await?;
        clients.push(RpcWsClient::over(ws, in_flight));
    }
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for w in 0..in_flight {
            let (client, counting, stop) = (client.clone(), counting.clone(), stop.clone());
            let (calls, errors) = (calls.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = (c * in_flight + w) as i64;
                while !stop.load(Ordering::Relaxed) {
                    let sum = client.call::<f64>("calc.add", (i, 1)).await;
                    let ok = matches!(sum, Ok(s) if s == (i + 1) as f64);
                    if counting.load(Ordering::Relaxed) {
                        let counter = if ok { &calls } else { &errors };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            }));
        }
    }
    tokio::time::sleep(warmup).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    counting.store(false, Ordering::Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{{\"calls\": {}, \"errors\": {}, \"seconds\": {seconds:.3}}}",
        calls.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}
