//! The JSON-RPC baseline: pulsar's calculator on jsonrpsee's server (HTTP `POST` and
//! WebSocket on one port, any path), the peer of `quasar serve http`'s `/rpc`.

use std::io;
use std::net::SocketAddr;

use jsonrpsee::server::{RpcModule, Server};
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{json, Value};

use crate::shutdown;

/// `[a, b]` or `{"a": .., "b": ..}`: a struct takes both.
#[derive(serde::Deserialize)]
struct Operands {
    a: f64,
    b: f64,
}

fn calculator() -> Result<RpcModule<()>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(());
    module.register_method("calc.add", |params, _, _| {
        let o: Operands = params.parse()?;
        Ok::<_, ErrorObjectOwned>(o.a + o.b)
    })?;
    module.register_method("calc.subtract", |params, _, _| {
        let o: Operands = params.parse()?;
        Ok::<_, ErrorObjectOwned>(o.a - o.b)
    })?;
    module.register_method("calc.multiply", |params, _, _| {
        let o: Operands = params.parse()?;
        Ok::<_, ErrorObjectOwned>(o.a * o.b)
    })?;
    module.register_method("calc.divide", |params, _, _| {
        let o: Operands = params.parse()?;
        match o.b {
            0.0 => Err(ErrorObjectOwned::owned(
                1001,
                "division by zero",
                None::<()>,
            )),
            b => Ok(o.a / b),
        }
    })?;
    module.register_method("ping", |_, _, _| "pong")?;
    module.register_method("echo", |params, _, _| params.parse::<Value>())?;
    module.register_method("server_info", |_, _, _| json!({"server": "calculator"}))?;
    Ok(module)
}

/// Serves the calculator on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr) -> io::Result<()> {
    let module = calculator().map_err(io::Error::other)?;
    let server = Server::builder().build(bind).await?;
    shutdown::announce("rpc-jsonrpsee", server.local_addr()?);
    let handle = server.start(module);
    shutdown::signal().await;
    let _ = handle.stop();
    handle.stopped().await;
    Ok(())
}
