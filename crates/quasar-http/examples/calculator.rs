//! pulsar's calculator: a JSON-RPC 2.0 server over HTTP `POST /rpc` and WebSocket `/rpc`.
//!
//! ```text
//! cargo run -p quasar-http --example calculator -- 127.0.0.1:8071
//! curl -s -H 'content-type: application/json' \
//!     -d '{"jsonrpc":"2.0","method":"calc.add","params":[1,2],"id":1}' http://127.0.0.1:8071/rpc
//! ```
use quasar_http::rpc::{Methods, RpcError};
use quasar_http::server::{builder, Router, ServerConfig};
use serde_json::{json, Value};

/// `[a, b]` or `{"a": .., "b": ..}`: a struct takes both.
#[derive(serde::Deserialize)]
struct Operands {
    a: f64,
    b: f64,
}

async fn add(o: Operands) -> Result<f64, RpcError> {
    Ok(o.a + o.b)
}

async fn subtract(o: Operands) -> Result<f64, RpcError> {
    Ok(o.a - o.b)
}

async fn multiply(o: Operands) -> Result<f64, RpcError> {
    Ok(o.a * o.b)
}

async fn divide(o: Operands) -> Result<f64, RpcError> {
    match o.b {
        0.0 => Err(RpcError::new(1001, "division by zero")),
        b => Ok(o.a / b),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calc = Methods::new()
        .method("add", add)
        .method("subtract", subtract)
        .method("multiply", multiply)
        .method("divide", divide);
    let methods = Methods::new()
        .nest("calc", calc)
        .method("ping", |()| async { Ok::<_, RpcError>("pong") })
        .method("echo", |params: Value| async { Ok::<_, RpcError>(params) })
        .method("server_info", |()| async {
            Ok::<_, RpcError>(json!({"server": "calculator"}))
        });

    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8071".into());
    let server = builder(Router::new().rpc("/rpc", methods), ServerConfig::default())
        .bind(bind.parse()?)
        .start()
        .await?;
    println!("calculator {}", server.address());
    tokio::signal::ctrl_c().await?;
    server.close(std::time::Duration::from_secs(5)).await;
    Ok(())
}
