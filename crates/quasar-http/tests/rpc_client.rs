//! Our JSON-RPC clients against our server: HTTP calls and notifications, many calls on one
//! WebSocket matched by id, cancel safety (a dropped call frees its slot, its late answer is
//! discarded), server notifications as a stream, and calls failing when the socket ends.
//! Malformed WebSocket messages are answered and leave the socket open.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use quasar_http::client::HttpClient;
use quasar_http::rpc::{calculator, CallError, Methods, RpcError, RpcHttpClient, RpcWsClient};
use quasar_http::server::{builder, Router, ServerConfig};
use quasar_http::ws::Message;
use quasar_net::TcpServer;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{Notify, Semaphore};

const T: Duration = Duration::from_secs(20);

/// What the test methods share: `started` gets a permit when `test.wait` begins; `test.wait`
/// answers once `release` is notified.
struct Gate {
    started: Semaphore,
    release: Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            started: Semaphore::new(0),
            release: Notify::new(),
        }
    }
}

async fn server(gate: Arc<Gate>) -> TcpServer {
    let waiting = Methods::with_state(gate).method_with("wait", |ctx, ()| async move {
        let gate = ctx.state();
        let released = gate.release.notified();
        gate.started.add_permits(1);
        released.await;
        Ok::<_, RpcError>("released")
    });
    let methods = calculator(|| json!({})).nest("test", waiting).method_with(
        "test.countdown",
        |ctx: quasar_http::rpc::Ctx<()>, (from,): (u32,)| async move {
            if let Some(notifier) = ctx.notifier() {
                for n in (0..from).rev() {
                    notifier
                        .notify("countdown", json!({ "n": n }))
                        .await
                        .map_err(RpcError::internal)?;
                }
            }
            Ok::<_, RpcError>("liftoff")
        },
    );
    builder(Router::new().rpc("/rpc", methods), ServerConfig::default())
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("server starts")
}

#[derive(Serialize)]
struct Named {
    a: i64,
    b: i64,
}

#[tokio::test]
async fn http_client_calls_and_notifies() {
    let server = server(Arc::default()).await;
    let http = HttpClient::new();
    let client =
        RpcHttpClient::with_client(http.clone(), &format!("http://{}/rpc", server.address()))
            .unwrap();
    assert_eq!(client.call::<i64>("calc.add", (1, 2)).await.unwrap(), 3);
    assert_eq!(
        client
            .call::<i64>("calc.subtract", Named { a: 10, b: 4 })
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        client.call::<f64>("calc.divide", [1.0, 4.0]).await.unwrap(),
        0.25
    );
    assert_eq!(client.call::<String>("ping", ()).await.unwrap(), "pong");
    let e = client.call::<f64>("calc.divide", (1, 0)).await.unwrap_err();
    assert_eq!(
        e.rpc().unwrap().code,
        quasar_http::rpc::DIVISION_BY_ZERO,
        "{e}"
    );
    let e = client
        .call::<Value>("calc.add", ("x", 1))
        .await
        .unwrap_err();
    assert_eq!(e.rpc().unwrap().code, -32602);
    let e = client.call::<Value>("calc.nope", ()).await.unwrap_err();
    assert_eq!(e.rpc().unwrap().code, -32601);
    // A result that does not fit the type asked for.
    let e = client.call::<u8>("calc.add", (1000, 1)).await.unwrap_err();
    assert!(matches!(e, CallError::InvalidResponse(_)), "{e}");
    client.notify("calc.add", (1, 2)).await.unwrap();
    // Every call went over one pooled connection.
    assert_eq!(http.sessions(), 1);
}

#[tokio::test]
async fn a_thousand_concurrent_calls_on_one_socket_are_matched_by_id() {
    let server = server(Arc::default()).await;
    let client = RpcWsClient::connect(&format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let calls = (0..1000i64).map(|i| {
        let client = client.clone();
        async move {
            (
                i,
                client
                    .call::<i64>("calc.add", (i, 1_000_000))
                    .await
                    .unwrap(),
            )
        }
    });
    let results = tokio::time::timeout(T, futures_util::future::join_all(calls))
        .await
        .unwrap();
    for (i, sum) in results {
        assert_eq!(sum, i + 1_000_000);
    }
    assert_eq!(client.in_flight(), 0);
    assert_eq!(client.late_answers(), 0);
}

#[tokio::test]
async fn calls_are_answered_in_the_order_they_finish() {
    let gate = Arc::new(Gate::default());
    let server = server(gate.clone()).await;
    let client = RpcWsClient::connect(&format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.call::<String>("test.wait", ()).await }
    });
    tokio::time::timeout(T, gate.started.acquire())
        .await
        .unwrap()
        .unwrap()
        .forget();
    // The slow call holds no one up: later calls on the same socket are answered first.
    for i in 0..10 {
        assert_eq!(
            client.call::<i64>("calc.multiply", (i, 2)).await.unwrap(),
            i * 2
        );
    }
    assert!(!slow.is_finished());
    gate.release.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), "released");
}

#[tokio::test]
async fn a_dropped_call_frees_its_slot_and_its_late_answer_is_discarded() {
    let gate = Arc::new(Gate::default());
    let server = server(gate.clone()).await;
    let client = RpcWsClient::connect_with(
        &HttpClient::new(),
        &format!("ws://{}/rpc", server.address()),
        1,
    )
    .await
    .unwrap();
    {
        let call = client.call::<String>("test.wait", ());
        tokio::pin!(call);
        // Poll the call until the server runs it, then drop it unanswered.
        tokio::select! {
            _ = &mut call => panic!("answered before the release"),
            permit = gate.started.acquire() => permit.unwrap().forget(),
        }
        assert_eq!(client.in_flight(), 1);
    }
    assert_eq!(client.in_flight(), 0);
    // With one slot only, this call could not start if the dropped one still held it.
    let sum = tokio::time::timeout(T, client.call::<i64>("calc.add", (2, 2)))
        .await
        .unwrap();
    assert_eq!(sum.unwrap(), 4);
    gate.release.notify_one();
    // The dropped call's answer comes and goes nowhere.
    tokio::time::timeout(T, async {
        while client.late_answers() == 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the late answer arrives");
    assert_eq!(client.late_answers(), 1);
    assert_eq!(client.call::<String>("ping", ()).await.unwrap(), "pong");
}

#[derive(Deserialize)]
struct Count {
    n: u32,
}

#[tokio::test]
async fn server_notifications_come_as_a_stream() {
    let server = server(Arc::default()).await;
    let client = RpcWsClient::connect(&format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let mut notes = client.notifications().expect("the stream");
    assert!(client.notifications().is_none(), "one stream only");
    assert_eq!(
        client.call::<String>("test.countdown", (3,)).await.unwrap(),
        "liftoff"
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        let note = tokio::time::timeout(T, notes.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(note.method, "countdown");
        got.push(note.params::<Count>().unwrap().n);
    }
    assert_eq!(got, [2, 1, 0]);
    // Over HTTP there is no socket to notify: the method still answers.
    let http = RpcHttpClient::new(&format!("http://{}/rpc", server.address())).unwrap();
    assert_eq!(
        http.call::<String>("test.countdown", (3,)).await.unwrap(),
        "liftoff"
    );
}

#[tokio::test]
async fn calls_fail_with_closed_when_the_socket_ends() {
    let gate = Arc::new(Gate::default());
    let server = server(gate.clone()).await;
    let client = RpcWsClient::connect(&format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.call::<String>("test.wait", ()).await }
    });
    tokio::time::timeout(T, gate.started.acquire())
        .await
        .unwrap()
        .unwrap()
        .forget();
    server.close(Duration::from_secs(5)).await;
    let e = tokio::time::timeout(T, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, CallError::Closed), "{e}");
    assert!(client.is_closed());
    let e = client.call::<String>("ping", ()).await.unwrap_err();
    assert!(matches!(e, CallError::Closed), "{e}");
}

#[tokio::test]
async fn malformed_websocket_messages_are_answered_and_the_socket_stays_open() {
    let server = server(Arc::default()).await;
    let mut ws = HttpClient::new()
        .websocket(&format!("ws://{}/rpc", server.address()))
        .await
        .unwrap();
    let cases: [(&str, Value); 6] = [
        ("not json", json!({"code": -32700})),
        ("[]", json!({"code": -32600})),
        (
            r#"{"jsonrpc":"2.0","method":"ping","id":[1]}"#,
            json!({"code": -32600}),
        ),
        (
            r#"{"jsonrpc":"1.0","method":"ping","id":1}"#,
            json!({"code": -32600}),
        ),
        (&"[".repeat(10_000), json!({"code": -32700})),
        (
            r#"{"jsonrpc":"2.0","method":"calc.add","params":[1],"id":1}"#,
            json!({"code": -32602}),
        ),
    ];
    for (text, want) in cases {
        ws.send(Message::text(text)).await.unwrap();
        let Some(Ok(Message::Text(answer))) = tokio::time::timeout(T, ws.recv()).await.unwrap()
        else {
            panic!("a text answer to {text}");
        };
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["error"]["code"], want["code"], "{text}: {answer}");
    }
    // Notifications get nothing back: the next answer is the ping's.
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","method":"calc.add","params":[1,2]}"#,
    ))
    .await
    .unwrap();
    ws.send(Message::text(r#"[{"jsonrpc":"2.0","method":"ping"}]"#))
        .await
        .unwrap();
    ws.send(Message::binary(
        &br#"{"jsonrpc":"2.0","method":"ping","id":"last"}"#[..],
    ))
    .await
    .unwrap();
    let Some(Ok(Message::Text(answer))) = tokio::time::timeout(T, ws.recv()).await.unwrap() else {
        panic!("the ping's answer");
    };
    assert_eq!(
        &answer[..],
        br#"{"jsonrpc":"2.0","result":"pong","id":"last"}"#
    );
}
