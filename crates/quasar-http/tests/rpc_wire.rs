//! JSON-RPC over HTTP, byte for byte: malformed input, every id type, huge numbers, deep
//! nesting, batches, notifications, content types and a 100 MB body, against the demo
//! application's `/rpc`. Each is answered per the spec (or refused with an HTTP status),
//! never with a panic or a dropped connection it did not deserve.

use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use quasar_http::client::HttpClient;
use quasar_http::server::{builder, ServerConfig};
use quasar_net::TcpServer;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(20);

async fn demo() -> TcpServer {
    builder(
        quasar_http::demo::app(|| json!({"server": "test"})),
        ServerConfig::default(),
    )
    .bind("127.0.0.1:0".parse().unwrap())
    .start()
    .await
    .expect("server starts")
}

struct Peer {
    server: TcpServer,
    http: HttpClient,
}

impl Peer {
    async fn new() -> Peer {
        Peer {
            server: demo().await,
            http: HttpClient::new(),
        }
    }

    /// POSTs `body` with `content_type`; the status and the body.
    async fn post_as(
        &self,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> (StatusCode, Bytes) {
        let mut req = Request::new(body.into());
        *req.method_mut() = Method::POST;
        *req.uri_mut() = format!("http://{}/rpc", self.server.address())
            .parse()
            .unwrap();
        if let Some(ct) = content_type {
            req.headers_mut().insert(CONTENT_TYPE, ct.parse().unwrap());
        }
        let res = tokio::time::timeout(T, self.http.request(req))
            .await
            .expect("an answer in time")
            .expect("an HTTP answer");
        (res.status(), res.body().clone())
    }

    /// POSTs JSON `body`; expects a 200 with a JSON answer and returns its raw text.
    async fn raw(&self, body: &str) -> String {
        let (status, answer) = self
            .post_as(Some("application/json"), body.to_owned())
            .await;
        assert_eq!(status, StatusCode::OK, "{body} -> {answer:?}");
        String::from_utf8(answer.to_vec()).unwrap()
    }

    async fn json(&self, body: &str) -> Value {
        serde_json::from_str(&self.raw(body).await).unwrap()
    }
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error: {answer}"))
}

#[tokio::test]
async fn invalid_json_is_a_parse_error_with_id_null() {
    let peer = Peer::new().await;
    for body in [
        r#"{"jsonrpc":"2.0","method":"ping","id":1"#,
        r#"{"jsonrpc":"2.0","method":"ping","id":1}}"#,
        "not json",
        "",
        r#"[{"jsonrpc":"2.0","method":"ping","id":1},"#,
    ] {
        let answer = peer.json(body).await;
        assert_eq!(error_code(&answer), -32700, "{body}");
        assert_eq!(answer["id"], Value::Null);
        assert_eq!(answer["jsonrpc"], "2.0");
    }
    // Not UTF-8.
    let (status, answer) = peer
        .post_as(
            Some("application/json"),
            &b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\",\"id\":1}"[..],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(error_code(&answer), -32700);
}

#[tokio::test]
async fn invalid_requests_are_32600() {
    let peer = Peer::new().await;
    for (body, id) in [
        (r#"{"jsonrpc":"1.0","method":"ping","id":1}"#, json!(1)),
        (r#"{"jsonrpc":2.0,"method":"ping","id":1}"#, json!(1)),
        (r#"{"method":"ping","id":"a"}"#, json!("a")),
        (r#"{"jsonrpc":"2.0","method":1,"id":2}"#, json!(2)),
        (r#"{"jsonrpc":"2.0","id":3}"#, json!(3)),
        (
            r#"{"jsonrpc":"2.0","method":"echo","params":"bar","id":4}"#,
            json!(4),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"echo","params":5,"id":5}"#,
            json!(5),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"ping","id":1,"id":2}"#,
            json!(null),
        ),
        (r#""a string""#, json!(null)),
        ("42", json!(null)),
        ("null", json!(null)),
    ] {
        let answer = peer.json(body).await;
        assert_eq!(error_code(&answer), -32600, "{body}: {answer}");
        assert_eq!(answer["id"], id, "{body}");
    }
    // A notification that is not a valid request is still answered (the spec's example).
    let answer = peer
        .json(r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#)
        .await;
    assert_eq!(error_code(&answer), -32600);
}

#[tokio::test]
async fn ids_of_every_allowed_type_are_echoed_exactly() {
    let peer = Peer::new().await;
    for id in [
        r#""abc""#,
        r#""""#,
        r#""caf\u00e9 \"quoted\"""#,
        "0",
        "-7",
        "1.5",
        "-0.0",
        "1e3",
        "12345678901234567890123456789012345678901234567890",
        "1e400",
        "null",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"ping","id":{id}}}"#);
        let answer = peer.raw(&body).await;
        assert_eq!(
            answer,
            format!(r#"{{"jsonrpc":"2.0","result":"pong","id":{id}}}"#)
        );
    }
    for id in ["true", "false", "[1]", r#"{"a":1}"#, "[]"] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"ping","id":{id}}}"#);
        let answer = peer.json(&body).await;
        assert_eq!(error_code(&answer), -32600, "id {id}");
        assert_eq!(answer["id"], Value::Null, "id {id}");
    }
}

#[tokio::test]
async fn huge_numbers_and_unknown_fields() {
    let peer = Peer::new().await;
    // Out of f64's range: the params do not fit, -32602 with serde's reason.
    let answer = peer
        .json(r#"{"jsonrpc":"2.0","method":"calc.add","params":[1e400,1],"id":1}"#)
        .await;
    assert_eq!(error_code(&answer), -32602, "{answer}");
    assert!(answer["error"]["data"].is_string());
    // Past i64 but within f64: added as floats.
    let answer = peer
        .json(r#"{"jsonrpc":"2.0","method":"calc.add","params":[123456789012345678901234567890,1],"id":2}"#)
        .await;
    assert!(answer["result"].as_f64().unwrap() > 1.2e29, "{answer}");
    // i64 overflow falls back to floats rather than wrapping.
    let answer = peer
        .json(
            r#"{"jsonrpc":"2.0","method":"calc.multiply","params":[9223372036854775807,2],"id":3}"#,
        )
        .await;
    assert_eq!(answer["result"].as_f64(), Some(1.8446744073709552e19));
    // Members the spec does not define are ignored.
    let answer = peer
        .json(r#"{"jsonrpc":"2.0","method":"calc.add","params":{"a":1,"b":2,"c":3},"id":4,"extra":[1,{"x":null}]}"#)
        .await;
    assert_eq!(answer, json!({"jsonrpc":"2.0","result":3,"id":4}));
}

#[tokio::test]
async fn nesting_past_serde_json_limit_is_a_parse_error_not_a_stack_overflow() {
    let peer = Peer::new().await;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    // At the limit (the request object is one level): echoed.
    let params = nested(quasar_http::rpc::MAX_DEPTH - 1);
    let body = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{params},"id":1}}"#);
    let answer = peer.raw(&body).await;
    assert_eq!(
        answer,
        format!(r#"{{"jsonrpc":"2.0","result":{params},"id":1}}"#)
    );
    // Past it, at any depth: -32700, and the server goes on.
    for depth in [quasar_http::rpc::MAX_DEPTH, 200, 100_000] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":{},"id":1}}"#,
            nested(depth)
        );
        let answer = peer.json(&body).await;
        assert_eq!(error_code(&answer), -32700, "depth {depth}");
        assert!(answer["error"]["data"]
            .as_str()
            .unwrap()
            .contains("recursion limit"));
    }
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(30_000), "}".repeat(30_000));
    let answer = peer.json(&deep_objects).await;
    assert_eq!(error_code(&answer), -32700);
    let answer = peer
        .json(r#"{"jsonrpc":"2.0","method":"ping","id":9}"#)
        .await;
    assert_eq!(answer["result"], "pong");
}

#[tokio::test]
async fn batches_answer_requests_and_leave_notifications_out() {
    let peer = Peer::new().await;
    let answer = peer
        .json(
            r#"[
            {"jsonrpc":"2.0","method":"calc.add","params":[1,2],"id":"1"},
            {"jsonrpc":"2.0","method":"calc.add","params":[7]},
            {"jsonrpc":"2.0","method":"calc.subtract","params":[42,23],"id":"2"},
            {"foo":"boo"},
            {"jsonrpc":"2.0","method":"foo.get","params":{"name":"myself"},"id":"5"},
            {"jsonrpc":"2.0","method":"no.such.notification"},
            {"jsonrpc":"2.0","method":"calc.divide","params":[1,0],"id":"6"}
        ]"#,
        )
        .await;
    let answers = answer.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 5, "{answer}");
    let by_id = |id: Value| answers.iter().find(|a| a["id"] == id).cloned().unwrap();
    assert_eq!(by_id(json!("1"))["result"], 3);
    assert_eq!(by_id(json!("2"))["result"], 19);
    assert_eq!(error_code(&by_id(json!(null))), -32600);
    assert_eq!(error_code(&by_id(json!("5"))), -32601);
    assert_eq!(error_code(&by_id(json!("6"))), 1001);

    // An empty batch: one error object, not an array.
    let answer = peer.json("[]").await;
    assert_eq!(error_code(&answer), -32600);
    assert_eq!(answer["id"], Value::Null);
    // A batch of things that are not requests: an error each.
    let answer = peer.json("[1,2,3]").await;
    let answers = answer.as_array().unwrap();
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|a| error_code(a) == -32600));
    // Notifications only (one of them invalid params, one of no such method): no body.
    let (status, body) = peer
        .post_as(
            Some("application/json"),
            r#"[{"jsonrpc":"2.0","method":"calc.add","params":[1,2]},{"jsonrpc":"2.0","method":"calc.add","params":["x"]},{"jsonrpc":"2.0","method":"nope"}]"#,
        )
        .await;
    assert_eq!((status, body.len()), (StatusCode::NO_CONTENT, 0));
    // One notification: no body either.
    let (status, body) = peer
        .post_as(
            Some("application/json"),
            r#"{"jsonrpc":"2.0","method":"ping"}"#,
        )
        .await;
    assert_eq!((status, body.len()), (StatusCode::NO_CONTENT, 0));
}

#[tokio::test]
async fn a_batch_longer_than_the_limit_is_one_error() {
    let peer = Peer::new().await;
    let one = r#"{"jsonrpc":"2.0","method":"ping","id":1}"#;
    let batch = format!(
        "[{}]",
        vec![one; quasar_http::rpc::DEFAULT_MAX_BATCH + 1].join(",")
    );
    let answer = peer.json(&batch).await;
    assert_eq!(error_code(&answer), -32600);
    let batch = format!(
        "[{}]",
        vec![one; quasar_http::rpc::DEFAULT_MAX_BATCH].join(",")
    );
    let answer = peer.json(&batch).await;
    assert_eq!(
        answer.as_array().unwrap().len(),
        quasar_http::rpc::DEFAULT_MAX_BATCH
    );
}

#[tokio::test]
async fn content_type_must_be_json() {
    let peer = Peer::new().await;
    let ping = r#"{"jsonrpc":"2.0","method":"ping","id":1}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let (status, _) = peer.post_as(ct, ping).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
    }
    let (status, _) = peer
        .post_as(Some("application/json; charset=utf-8"), ping)
        .await;
    assert_eq!(status, StatusCode::OK);
    // GET is not a JSON-RPC call (and not a WebSocket handshake either).
    let res = peer
        .http
        .get(&format!("http://{}/rpc", peer.server.address()))
        .await
        .unwrap();
    assert_ne!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_100_mb_body_is_refused_with_413_before_it_is_read() {
    let peer = Peer::new().await;
    let mut tcp = TcpStream::connect(peer.server.address()).await.unwrap();
    let head = format!(
        "POST /rpc HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        100 * 1024 * 1024
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[b' '; 1024]).await.unwrap();
    // Nothing more is sent: an answer can only come before the body was read.
    let mut answer = Vec::new();
    tokio::time::timeout(T, tcp.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes without the body")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // The server is fine.
    let answer = peer
        .json(r#"{"jsonrpc":"2.0","method":"ping","id":1}"#)
        .await;
    assert_eq!(answer["result"], "pong");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_once_it_passes() {
    let peer = Peer::new().await;
    let mut tcp = TcpStream::connect(peer.server.address()).await.unwrap();
    tcp.write_all(
        b"POST /rpc HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x100000));
    let mut refused = false;
    // The limit is 2 MiB: the third 1 MiB chunk passes it; the answer comes then.
    for _ in 0..3 {
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            refused = true;
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(T, tcp.read_to_end(&mut answer))
        .await
        .expect("an answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413") || refused, "{answer}");
}
