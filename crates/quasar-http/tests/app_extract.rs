//! The application layer over loopback: every extractor's success and rejection (status,
//! body, and whether the connection stays), responses, state, and a JSON API answering 100
//! requests with 404s and 422s on one connection.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use quasar_http::app::{App, Json, Path, Query, State};
use quasar_http::bytes::Bytes;
use quasar_http::http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use quasar_http::server::{Router, ServerConfig};
use quasar_http::Body;
use quasar_net::TcpServer;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Item {
    name: String,
    price: u32,
}

#[derive(Deserialize)]
struct Page {
    offset: usize,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct Pair {
    user: String,
    n: i32,
}

#[derive(Clone, Default)]
struct AppState {
    hits: Arc<AtomicU64>,
}

fn app() -> App<AppState> {
    Router::with_state(AppState::default())
        .body_limit(1024)
        .get("/", || async { "root" })
        .get("/num/:id", |Path(id): Path<u64>| async move {
            format!("num {id}")
        })
        .get(
            "/pair/:user/:n",
            |Path((user, n)): Path<(String, i32)>| async move { format!("{user} {n}") },
        )
        .get("/named/:user/:n", |Path(p): Path<Pair>| async move {
            format!("{} {}", p.user, p.n)
        })
        .get(
            "/nothing",
            |Path(id): Path<u64>| async move { format!("{id}") },
        )
        .get("/page", |Query(p): Query<Page>| async move {
            format!("{} {:?}", p.offset, p.limit)
        })
        .get("/hits", |State(s): State<AppState>| async move {
            format!("{}", s.hits.fetch_add(1, Ordering::Relaxed) + 1)
        })
        .get("/agent", |h: HeaderMap, m: Method, u: Uri| async move {
            let agent = h
                .get("user-agent")
                .map_or("-", |v| v.to_str().unwrap_or("?"));
            format!("{agent} {m} {}", u.path())
        })
        .post("/items", |Json(item): Json<Item>| async move {
            (StatusCode::CREATED, Json(item))
        })
        .post("/text", |s: String| async move { s.to_uppercase() })
        .post(
            "/bytes",
            |b: Bytes| async move { format!("{} bytes", b.len()) },
        )
        .post("/plain", |req: Request<Body>| async move {
            let body = req.into_body().to_bytes(1 << 20).await.unwrap();
            Response::new(Body::from(body))
        })
        .get("/maybe/:id", |Path(id): Path<u32>| async move {
            if id == 7 {
                Ok(Json(Item {
                    name: "seven".into(),
                    price: 7,
                }))
            } else {
                Err((StatusCode::NOT_FOUND, format!("no item {id}")))
            }
        })
}

async fn server() -> TcpServer {
    start(app(), ServerConfig::default()).await
}

/// Sends `req` and reads one response: (status code, lower-cased head, body).
async fn ask(tcp: &mut TcpStream, req: &str) -> (u16, String, String) {
    tcp.write_all(req.as_bytes()).await.unwrap();
    let resp = read_responses(tcp, 1).await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let code = head[9..12].parse().unwrap();
    (code, head.to_ascii_lowercase(), body.to_owned())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\n")
}

fn post(path: &str, ct: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Each case: request, status, a piece of the body. All on one connection.
#[tokio::test]
async fn extractors_succeed_and_reject_on_one_kept_connection() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let json = "application/json";
    let cases: Vec<(String, u16, &str)> = vec![
        (get("/"), 200, "root"),
        (get("/num/42"), 200, "num 42"),
        (
            get("/num/abc"),
            400,
            "`abc` is not a valid unsigned integer",
        ),
        (get("/num/-1"), 400, "not a valid"),
        (get("/pair/ann%20lee/-3"), 200, "ann lee -3"),
        (get("/pair/ann/x"), 400, "parameter `n`"),
        (get("/named/bob/5"), 200, "bob 5"),
        (get("/named/bob/five"), 400, "parameter `n`"),
        (get("/nothing"), 500, "No path parameters"),
        (get("/page?offset=3&limit=9"), 200, "3 Some(9)"),
        (get("/page?offset=3"), 200, "3 None"),
        (
            get("/page?offset=x"),
            400,
            "Failed to deserialize the query string",
        ),
        (get("/page"), 400, "missing field `offset`"),
        (get("/hits"), 200, "1"),
        (get("/hits"), 200, "2"),
        (get("/agent"), 200, "t/1 GET /agent"),
        (
            post("/items", json, r#"{"name":"pen","price":3}"#),
            201,
            r#"{"name":"pen","price":3}"#,
        ),
        (
            post(
                "/items",
                "application/vnd.x+json; charset=utf-8",
                r#"{"name":"a","price":1}"#,
            ),
            201,
            "\"a\"",
        ),
        (
            post("/items", "text/plain", r#"{"name":"pen","price":3}"#),
            415,
            "application/json",
        ),
        (
            post("/items", json, r#"{"name":"pen""#),
            400,
            "Failed to deserialize the JSON body",
        ),
        (
            post("/items", json, "not json"),
            400,
            "Failed to deserialize the JSON body",
        ),
        (
            post("/items", json, r#"{"name":"pen","price":"3"}"#),
            422,
            "invalid type",
        ),
        (
            post("/items", json, r#"{"name":"pen"}"#),
            422,
            "missing field `price`",
        ),
        (post("/text", "text/plain", "shout"), 200, "SHOUT"),
        (
            post("/bytes", "application/octet-stream", "12345"),
            200,
            "5 bytes",
        ),
        (post("/plain", "text/plain", "as is"), 200, "as is"),
        (get("/maybe/7"), 200, r#"{"name":"seven","price":7}"#),
        (get("/maybe/8"), 404, "no item 8"),
        (get("/nope"), 404, "Not Found"),
        (
            "DELETE /num/1 HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            405,
            "",
        ),
    ];
    for (req, status, piece) in &cases {
        let (code, head, body) = ask(&mut tcp, req).await;
        assert_eq!(code, *status, "{req}\n{head}\n{body}");
        assert!(body.contains(piece), "{req}\n{body}");
        assert!(!head.contains("connection: close"), "{req}\n{head}");
    }
    let (_, head, _) = ask(&mut tcp, &post("/items", json, r#"{"name":"x","price":1}"#)).await;
    assert!(head.contains("content-type: application/json"), "{head}");
    let (_, head, _) = ask(&mut tcp, &get("/num/1")).await;
    assert!(
        head.contains("content-type: text/plain; charset=utf-8"),
        "{head}"
    );
    assert_eq!(server.connections().len(), 1);
    assert_eq!(server.connections()[0].processed(), cases.len() as u64 + 2);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_closes() {
    let server = server().await;
    // Announced too long: refused before the body is read.
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let big = "x".repeat(2000);
    let (code, head, body) = ask(&mut tcp, &post("/text", "text/plain", &big)).await;
    assert_eq!(code, 413, "{head}");
    assert!(body.contains("longer than 1024 bytes"), "{body}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(is_closed(&mut tcp).await);
    // Chunked, no length announced: refused once the bytes read pass the limit.
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let chunk = "y".repeat(600);
    let req = format!(
        "POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let (code, head, _) = ask(&mut tcp, &req).await;
    assert_eq!(code, 413, "{head}");
    assert!(is_closed(&mut tcp).await);
    // Within the limit on the same route: fine.
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let (code, _, _) = ask(&mut tcp, &post("/text", "text/plain", &"z".repeat(1024))).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_400() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let mut req = b"POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n".to_vec();
    req.extend_from_slice(&[0xff, 0xfe]);
    tcp.write_all(&req).await.unwrap();
    let resp = read_responses(&mut tcp, 1).await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert!(resp.ends_with("Request body is not valid UTF-8"), "{resp}");
    let (code, _, body) = ask(&mut tcp, &get("/")).await;
    assert_eq!((code, body.as_str()), (200, "root"));
}

#[tokio::test]
async fn plain_handlers_still_work_next_to_typed_ones() {
    // A plain Router with an unannotated closure, and an App mixing both kinds.
    let plain = Router::new().get("/", |_req| async { Response::new(Body::from("plain")) });
    let server = start(plain, ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let (code, _, body) = ask(&mut tcp, &get("/")).await;
    assert_eq!((code, body.as_str()), (200, "plain"));

    async fn raw(req: Request<Body>) -> Response<Body> {
        Response::new(Body::from(format!("raw {}", req.uri().path())))
    }
    let mixed = App::new()
        .get("/raw", raw)
        .get("/typed/:n", |Path(n): Path<u8>| async move {
            format!("typed {n}")
        });
    let server = start(mixed, ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let (code, _, body) = ask(&mut tcp, &get("/raw")).await;
    assert_eq!((code, body.as_str()), (200, "raw /raw"));
    let (code, _, body) = ask(&mut tcp, &get("/typed/300")).await;
    assert_eq!(code, 400, "{body}");
}

type Store = Arc<Mutex<HashMap<u64, Item>>>;

fn crud() -> App<Store> {
    async fn create(State(db): State<Store>, Json(item): Json<Item>) -> (StatusCode, String) {
        let mut db = db.lock().unwrap();
        let id = db.len() as u64 + 1;
        db.insert(id, item);
        (StatusCode::CREATED, id.to_string())
    }
    async fn read(State(db): State<Store>, Path(id): Path<u64>) -> Result<Json<Item>, StatusCode> {
        db.lock()
            .unwrap()
            .get(&id)
            .cloned()
            .map(Json)
            .ok_or(StatusCode::NOT_FOUND)
    }
    async fn update(
        State(db): State<Store>,
        Path(id): Path<u64>,
        Json(item): Json<Item>,
    ) -> StatusCode {
        match db.lock().unwrap().get_mut(&id) {
            Some(slot) => {
                *slot = item;
                StatusCode::NO_CONTENT
            }
            None => StatusCode::NOT_FOUND,
        }
    }
    Router::with_state(Store::default())
        .post("/items", create)
        .get("/items/:id", read)
        .put("/items/:id", update)
}

#[tokio::test]
async fn a_json_api_answers_100_requests_with_404s_and_422s_on_one_connection() {
    let server = start(crud(), ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let json = "application/json";
    let mut seen = HashMap::new();
    for i in 0..100u32 {
        let (req, want) = match i % 5 {
            0 => (post("/items", json, &format!(r#"{{"name":"n{i}","price":{i}}}"#)), 201),
            1 => (get(&format!("/items/{}", i / 5 + 1)), 200),
            2 => (get(&format!("/items/{}", 1000 + i)), 404),
            3 => (post("/items", json, r#"{"name":"bad","price":-1}"#), 422),
            _ => (
                format!(
                    "PUT /items/{} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{{\"name\":\"renamed\"}}",
                    i / 5 + 1
                )
                .replace("Content-Length: 17", "Content-Length: 18"),
                422,
            ),
        };
        let (code, head, body) = ask(&mut tcp, &req).await;
        assert_eq!(code, want, "request {i}: {req}\n{head}\n{body}");
        assert!(!head.contains("connection: close"), "{head}");
        if code == 200 {
            let item: Item = serde_json::from_str(&body).unwrap();
            assert_eq!(item.price, i - 1, "{body}");
        }
        *seen.entry(code).or_insert(0) += 1;
    }
    assert_eq!(seen[&404], 20);
    assert_eq!(seen[&422], 40);
    let conns = server.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].processed(), 100);
}
