//! The demo application of `quasar serve http`: a few httpbin-like routes.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | `Hello, World!` (text/plain), a pre-encoded static response |
//! | `GET /plaintext` | `Hello, World!` (text/plain), a response built per request |
//! | `GET /json` | `{"message":"Hello, World!"}` serialised by serde_json per request |
//! | `GET /app/json/:id` | `{"message":"Hello, World!","id":ID}` through the `Path` + `State` extractors |
//! | `GET /plain/json/:id` | the same answer from a plain handler (the extractors' baseline) |
//! | `POST /echo`, `PUT /echo` | the request body, streamed back (same length framing) |
//! | `GET /ws` | WebSocket echo |
//! | `GET /chat` | WebSocket chat room on a pub/sub broker ([`demo_chat`](crate::demo_chat)) |
//! | `GET /info` | JSON from the `info` callback (the server's `info()`) |
//! | `GET /stream?n=N&size=S` | N chunks of S bytes, chunked (N <= 100 000, S <= 1 MiB) |
//! | `GET /bytes/N` | N bytes (N <= 16 MiB) |
//! | `GET /status/CODE` | an empty response with that status |
//! | `GET /redirect/N` | N redirects, the last to `/get` |
//! | `GET /get` | JSON of the method, path, query and headers |
//! | `GET /delay/MS` | `{"delay_ms": MS}` after MS milliseconds (<= 10 000) |
//! | `POST /rpc`, `GET /rpc` (WebSocket) | JSON-RPC 2.0: [`calculator`](crate::rpc::calculator), and `chat.publish {"message", "from"?}` into the `/chat` room |
//!
//! # Examples
//!
//! ```
//! let app = quasar_http::demo::app(|| serde_json::json!({"server": "test"}));
//! # let _ = app;
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Request, Response, StatusCode};

use crate::body::Body;
use crate::server::{Params, Router};

/// Largest `/bytes/N`.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Largest `/stream` chunk count.
pub const MAX_STREAM_CHUNKS: usize = 100_000;
/// Largest `/stream` chunk size.
pub const MAX_STREAM_CHUNK: usize = 1024 * 1024;
/// Longest `/delay/MS`.
pub const MAX_DELAY_MS: u64 = 10_000;

type Info = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Parameters of `chat.publish` on `/rpc`: the message and, optionally, who says it.
#[derive(serde::Deserialize)]
struct Publish {
    message: String,
    #[serde(default)]
    from: Option<String>,
}

/// The demo router; `info` produces the `/info` document; `/chat` on an in-process broker.
pub fn app(info: impl Fn() -> serde_json::Value + Send + Sync + 'static) -> Router {
    app_with_broker(info, quasar_net::pubsub::Broker::in_process())
}

/// As [`app`], with the `/chat` room on `broker` (shared with other processes through Redis).
pub fn app_with_broker(
    info: impl Fn() -> serde_json::Value + Send + Sync + 'static,
    broker: quasar_net::pubsub::Broker,
) -> Router {
    let info: Info = Arc::new(info);
    let rpc_info = info.clone();
    let room = broker.clone();
    let rpc =
        crate::rpc::calculator(move || rpc_info()).method("chat.publish", move |p: Publish| {
            let room = room.clone();
            async move {
                let from = p.from.as_deref().unwrap_or("rpc");
                crate::demo_chat::publish(&room, &p.message, from)
                    .await
                    .map_err(crate::rpc::RpcError::internal)
            }
        });
    crate::demo_chat::mount(crate::demo_bench::routes().rpc("/rpc", rpc), broker)
        .fixed("/", {
            let mut hello = Response::new(Bytes::from_static(b"Hello, World!"));
            hello
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            hello
        })
        .post("/echo", echo)
        .put("/echo", echo)
        .websocket("/ws", |mut ws| async move {
            while let Some(Ok(msg)) = ws.recv().await {
                if matches!(msg, crate::ws::Message::Close(_)) || ws.send(msg).await.is_err() {
                    break;
                }
            }
        })
        .get("/info", move |_req| {
            let doc = info();
            async move { json(&doc) }
        })
        .get("/stream", |req: Request<Body>| async move {
            let n = query_param(&req, "n").unwrap_or(10).min(MAX_STREAM_CHUNKS);
            let size = query_param(&req, "size")
                .unwrap_or(1024)
                .clamp(1, MAX_STREAM_CHUNK);
            let chunk = Bytes::from(vec![b'x'; size]);
            let chunks = futures_util::stream::iter(
                (0..n).map(move |_| Ok::<_, std::convert::Infallible>(chunk.clone())),
            );
            with_type(
                Response::new(Body::from_stream(chunks)),
                "application/octet-stream",
            )
        })
        .get("/bytes/:n", |req: Request<Body>| async move {
            match param::<usize>(&req, "n") {
                Some(n) if n <= MAX_BYTES => with_type(
                    Response::new(Body::from(vec![b'x'; n])),
                    "application/octet-stream",
                ),
                _ => status(StatusCode::BAD_REQUEST),
            }
        })
        .get("/status/:code", |req: Request<Body>| async move {
            match param::<u16>(&req, "code").and_then(|c| StatusCode::from_u16(c).ok()) {
                Some(code) if code.as_u16() >= 200 => status(code),
                _ => status(StatusCode::BAD_REQUEST),
            }
        })
        .get("/redirect/:n", |req: Request<Body>| async move {
            match param::<u32>(&req, "n") {
                Some(n) if n >= 1 => {
                    let to = if n == 1 {
                        "/get".to_owned()
                    } else {
                        format!("/redirect/{}", n - 1)
                    };
                    let mut resp = status(StatusCode::FOUND);
                    if let Ok(v) = HeaderValue::from_str(&to) {
                        resp.headers_mut().insert(LOCATION, v);
                    }
                    resp
                }
                _ => status(StatusCode::BAD_REQUEST),
            }
        })
        .get("/get", |req: Request<Body>| async move {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (k.as_str().to_owned(), serde_json::Value::String(v))
                })
                .collect();
            json(&serde_json::json!({
                "method": req.method().as_str(),
                "path": req.uri().path(),
                "query": req.uri().query().unwrap_or(""),
                "headers": headers,
            }))
        })
        .get("/delay/:ms", |req: Request<Body>| async move {
            let Some(ms) = param::<u64>(&req, "ms") else {
                return status(StatusCode::BAD_REQUEST);
            };
            let ms = ms.min(MAX_DELAY_MS);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            json(&serde_json::json!({ "delay_ms": ms }))
        })
}

/// The request body, streamed back.
async fn echo(req: Request<Body>) -> Response<Body> {
    let ct = req.headers().get(CONTENT_TYPE).cloned();
    let mut resp = Response::new(Body::new(req.into_body()));
    if let Some(ct) = ct {
        resp.headers_mut().insert(CONTENT_TYPE, ct);
    }
    resp
}

fn with_type(mut resp: Response<Body>, ct: &'static str) -> Response<Body> {
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

fn json(doc: &serde_json::Value) -> Response<Body> {
    with_type(
        Response::new(Body::from(doc.to_string())),
        "application/json",
    )
}

fn status(code: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = code;
    resp
}

fn param<T: std::str::FromStr>(req: &Request<Body>, name: &str) -> Option<T> {
    req.extensions().get::<Params>()?.get(name)?.parse().ok()
}

fn query_param(req: &Request<Body>, name: &str) -> Option<usize> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.parse().ok()).flatten()
    })
}
