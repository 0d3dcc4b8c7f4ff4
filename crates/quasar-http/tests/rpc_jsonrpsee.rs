//! JSON-RPC against peers nobody here wrote: jsonrpsee's HTTP and WebSocket clients call
//! the calculator of `quasar serve http` (the demo app's `/rpc`), and our clients call a
//! jsonrpsee server.

use std::time::Duration;

use jsonrpsee_core::client::{BatchResponse, ClientT, SubscriptionClientT};
use jsonrpsee_core::params::{ArrayParams, BatchRequestBuilder, ObjectParams};
use jsonrpsee_core::rpc_params;
use jsonrpsee_http_client::HttpClientBuilder;
use jsonrpsee_ws_client::WsClientBuilder;
use quasar_http::rpc::{calculator, CallError, Methods, RpcError, RpcHttpClient, RpcWsClient};
use quasar_http::server::{builder, Router, ServerConfig};
use quasar_net::TcpServer;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(20);

async fn start(router: Router) -> TcpServer {
    builder(router, ServerConfig::default())
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("server starts")
}

/// The demo application (its `/rpc` is the calculator).
async fn demo() -> TcpServer {
    start(quasar_http::demo::app(|| json!({"server": "quasar-test"}))).await
}

/// The calculator plus methods that fail inside or notify their caller.
async fn extended() -> TcpServer {
    let methods = calculator(|| json!({}))
        .method("test.panic", |()| async {
            if true {
                panic!("a method that fails inside");
            }
            Ok::<_, RpcError>(())
        })
        .method_with("test.ticks", |ctx, (n,): (u32,)| async move {
            let notifier = ctx.notifier().expect("called over a WebSocket").clone();
            for i in 0..n {
                notifier
                    .notify("tick", [i])
                    .await
                    .map_err(RpcError::internal)?;
            }
            Ok::<_, RpcError>(n)
        });
    start(Router::new().rpc("/rpc", methods)).await
}

fn code(e: &jsonrpsee_core::ClientError) -> i32 {
    match e {
        jsonrpsee_core::ClientError::Call(obj) => obj.code(),
        other => panic!("expected a JSON-RPC error object, got {other:?}"),
    }
}

#[tokio::test]
async fn jsonrpsee_http_client_gets_results_and_every_error() {
    let server = demo().await;
    let client = HttpClientBuilder::default()
        .request_timeout(T)
        .build(format!("http://{}/rpc", server.address()))
        .unwrap();

    let sum: i64 = client.request("calc.add", rpc_params![1, 2]).await.unwrap();
    assert_eq!(sum, 3);
    let diff: f64 = client
        .request("calc.subtract", rpc_params![1.5, 4])
        .await
        .unwrap();
    assert_eq!(diff, -2.5);
    let mut named = ObjectParams::new();
    named.insert("a", 6).unwrap();
    named.insert("b", 7).unwrap();
    let product: i64 = client.request("calc.multiply", named).await.unwrap();
    assert_eq!(product, 42);
    let quotient: f64 = client
        .request("calc.divide", rpc_params![7, 2])
        .await
        .unwrap();
    assert_eq!(quotient, 3.5);
    let pong: String = client.request("ping", rpc_params![]).await.unwrap();
    assert_eq!(pong, "pong");
    let echoed: Value = client
        .request("echo", rpc_params!["hi", json!({"k": [1, 2]})])
        .await
        .unwrap();
    assert_eq!(echoed, json!(["hi", {"k": [1, 2]}]));
    let info: Value = client.request("server_info", rpc_params![]).await.unwrap();
    assert_eq!(info["server"], "quasar-test");
    assert!(info["methods"]
        .as_array()
        .unwrap()
        .contains(&json!("calc.add")));

    // The application's own error, with its own code.
    let e = client
        .request::<f64, _>("calc.divide", rpc_params![1, 0])
        .await
        .unwrap_err();
    assert_eq!(code(&e), quasar_http::rpc::DIVISION_BY_ZERO);
    // -32601
    let e = client
        .request::<Value, _>("calc.power", rpc_params![2, 3])
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32601);
    // -32602, with serde's message as data.
    let e = client
        .request::<Value, _>("calc.add", rpc_params!["one", 2])
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32602);
    let jsonrpsee_core::ClientError::Call(obj) = &e else {
        unreachable!()
    };
    assert!(
        obj.data().unwrap().get().contains("invalid type"),
        "{obj:?}"
    );
    let e = client
        .request::<Value, _>("calc.add", rpc_params![1])
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32602);
}

#[tokio::test]
async fn internal_errors_are_32603_and_the_server_goes_on() {
    let server = extended().await;
    let url = format!("http://{}/rpc", server.address());
    let client = HttpClientBuilder::default().build(&url).unwrap();
    let e = client
        .request::<Value, _>("test.panic", rpc_params![])
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32603);
    let sum: i64 = client.request("calc.add", rpc_params![2, 2]).await.unwrap();
    assert_eq!(sum, 4);

    let ws = WsClientBuilder::default()
        .build(format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let e = ws
        .request::<Value, _>("test.panic", rpc_params![])
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32603);
    let sum: i64 = ws.request("calc.add", rpc_params![2, 3]).await.unwrap();
    assert_eq!(sum, 5);
}

#[tokio::test]
async fn jsonrpsee_batches_over_http_and_websocket() {
    let server = demo().await;
    let http = HttpClientBuilder::default()
        .build(format!("http://{}/rpc", server.address()))
        .unwrap();
    let ws = WsClientBuilder::default()
        .build(format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let batch = || {
        let mut b = BatchRequestBuilder::new();
        b.insert("calc.add", rpc_params![1, 1]).unwrap();
        b.insert("calc.divide", rpc_params![1, 0]).unwrap();
        b.insert("no.such", ArrayParams::new()).unwrap();
        b.insert("calc.multiply", rpc_params![3, 3]).unwrap();
        b
    };
    let check = |res: BatchResponse<'_, i64>| {
        assert_eq!(res.num_successful_calls(), 2);
        let got: Vec<Result<i64, i32>> = res.into_iter().map(|r| r.map_err(|e| e.code())).collect();
        assert_eq!(got, [Ok(2), Err(1001), Err(-32601), Ok(9)]);
    };
    check(http.batch_request(batch()).await.unwrap());
    check(ws.batch_request(batch()).await.unwrap());
    // Notifications get no answer, and do not disturb the calls around them.
    http.notification("calc.add", rpc_params![1, 2])
        .await
        .unwrap();
    ws.notification("calc.add", rpc_params![1, 2])
        .await
        .unwrap();
    let sum: i64 = ws.request("calc.add", rpc_params![20, 22]).await.unwrap();
    assert_eq!(sum, 42);
}

#[tokio::test]
async fn a_thousand_concurrent_calls_on_one_jsonrpsee_websocket() {
    let server = demo().await;
    let ws = WsClientBuilder::default()
        .max_concurrent_requests(1000)
        .request_timeout(T)
        .build(format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let calls = (0..1000i64).map(|i| {
        let ws = &ws;
        async move {
            let r: i64 = ws
                .request("calc.multiply", rpc_params![i, 3])
                .await
                .unwrap();
            (i, r)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    assert_eq!(results.len(), 1000);
    for (i, r) in results {
        assert_eq!(r, i * 3, "answer {i} matched to its own id");
    }
}

#[tokio::test]
async fn server_notifications_reach_a_jsonrpsee_subscription() {
    let server = extended().await;
    let ws = WsClientBuilder::default()
        .build(format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let mut ticks = ws.subscribe_to_method::<Vec<u32>>("tick").await.unwrap();
    let n: u32 = ws.request("test.ticks", rpc_params![5]).await.unwrap();
    assert_eq!(n, 5);
    for i in 0..5 {
        let tick = tokio::time::timeout(T, ticks.next())
            .await
            .expect("a tick in time")
            .expect("the subscription is open")
            .unwrap();
        assert_eq!(tick, [i]);
    }
}

/// A jsonrpsee server with the same `calc.add`, and an error of its own.
async fn jsonrpsee_server() -> (std::net::SocketAddr, jsonrpsee_server::ServerHandle) {
    use jsonrpsee_server::{RpcModule, Server};
    use jsonrpsee_types::ErrorObjectOwned;
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut module = RpcModule::new(());
    module
        .register_method("calc.add", |params, _, _| {
            let (a, b): (i64, i64) = params.parse()?;
            Ok::<_, ErrorObjectOwned>(a + b)
        })
        .unwrap();
    module
        .register_method("calc.divide", |params, _, _| {
            let (a, b): (f64, f64) = params.parse()?;
            if b == 0.0 {
                return Err(ErrorObjectOwned::owned(
                    1001,
                    "division by zero",
                    None::<()>,
                ));
            }
            Ok(a / b)
        })
        .unwrap();
    module
        .register_subscription(
            "sub_ticks",
            "tick",
            "unsub_ticks",
            |_, pending, _, _| async move {
                let sink = pending.accept().await?;
                for i in 0..3u32 {
                    sink.send(serde_json::value::to_raw_value(&i)?).await?;
                }
                Ok(())
            },
        )
        .unwrap();
    (addr, server.start(module))
}

#[tokio::test]
async fn our_clients_against_a_jsonrpsee_server() {
    let (addr, handle) = jsonrpsee_server().await;
    let http = RpcHttpClient::new(&format!("http://{addr}/")).unwrap();
    assert_eq!(http.call::<i64>("calc.add", (1, 2)).await.unwrap(), 3);
    let e = http.call::<f64>("calc.divide", (1, 0)).await.unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code), Some(1001), "{e}");
    let e = http.call::<Value>("nope", ()).await.unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code), Some(-32601), "{e}");
    http.notify("calc.add", (1, 2)).await.unwrap();

    let ws = RpcWsClient::connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let calls = (0..200i64).map(|i| {
        let ws = &ws;
        async move { ws.call::<i64>("calc.add", (i, i)).await.unwrap() }
    });
    let sums = futures_util::future::join_all(calls).await;
    assert_eq!(sums, (0..200).map(|i| 2 * i).collect::<Vec<_>>());
    let e = ws.call::<f64>("calc.divide", (1, 0)).await.unwrap_err();
    assert!(matches!(e, CallError::Rpc(ref r) if r.code == 1001), "{e}");

    // jsonrpsee's subscriptions are notifications of method `tick`: our stream gets them.
    use futures_util::StreamExt;
    let mut notes = ws.notifications().unwrap();
    let _sub: Value = ws.call("sub_ticks", ()).await.unwrap();
    for i in 0..3u32 {
        let note = tokio::time::timeout(T, notes.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(note.method, "tick");
        let params: Value = note.params().unwrap();
        assert_eq!(params["result"], json!(i), "{params}");
    }
    handle.stop().unwrap();
}

#[tokio::test]
async fn methods_share_state_across_transports() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let methods = Methods::with_state(AtomicU64::new(0)).method_with(
        "counter.bump",
        |ctx, (by,): (u64,)| async move {
            Ok::<_, RpcError>(ctx.state().fetch_add(by, Ordering::SeqCst) + by)
        },
    );
    let server = start(Router::new().rpc("/rpc", methods)).await;
    let http = HttpClientBuilder::default()
        .build(format!("http://{}/rpc", server.address()))
        .unwrap();
    let ws = WsClientBuilder::default()
        .build(format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let a: u64 = http.request("counter.bump", rpc_params![1]).await.unwrap();
    let b: u64 = ws.request("counter.bump", rpc_params![10]).await.unwrap();
    assert_eq!((a, b), (1, 11));
}
