//! A JSON API (CRUD on an in-memory store) and a WebSocket chat room (`/chat`); Ctrl-C stops
//! it gracefully. `cargo run -p quasar-http --example json_api_chat`, then curl :8080/items.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quasar_http::app::{Json, Path, State};
use quasar_http::http::StatusCode;
use quasar_http::server::{builder, Router, ServerConfig, WebSocket};
use quasar_http::ws::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

#[derive(Clone, Serialize, Deserialize)]
struct Item {
    name: String,
    price: u32,
}

#[derive(Clone)]
struct Shop {
    items: Arc<Mutex<HashMap<u64, Item>>>,
    next_id: Arc<AtomicU64>,
    chat: broadcast::Sender<Message>,
}

type Found<T> = Result<T, StatusCode>;

async fn list(State(s): State<Shop>) -> Json<HashMap<u64, Item>> {
    Json(s.items.lock().unwrap().clone())
}

async fn create(State(s): State<Shop>, Json(item): Json<Item>) -> (StatusCode, Json<u64>) {
    let id = s.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    s.items.lock().unwrap().insert(id, item);
    (StatusCode::CREATED, Json(id))
}

async fn read(State(s): State<Shop>, Path(id): Path<u64>) -> Found<Json<Item>> {
    let item = s.items.lock().unwrap().get(&id).cloned();
    item.map(Json).ok_or(StatusCode::NOT_FOUND)
}

async fn update(State(s): State<Shop>, Path(id): Path<u64>, Json(new): Json<Item>) -> Found<()> {
    let mut items = s.items.lock().unwrap();
    *items.get_mut(&id).ok_or(StatusCode::NOT_FOUND)? = new;
    Ok(())
}

async fn remove(State(s): State<Shop>, Path(id): Path<u64>) -> StatusCode {
    match s.items.lock().unwrap().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

/// Each member gets its own forwarding task: a member who stops reading for 5 s (or falls
/// 256 messages behind) is dropped; the others are not held up.
async fn chat(ws: WebSocket, s: Shop) {
    let (tx, mut rx) = ws.split();
    let mut room = s.chat.subscribe();
    let forward = tokio::spawn(async move {
        while let Ok(msg) = room.recv().await {
            let sent = tokio::time::timeout(Duration::from_secs(5), tx.send(msg)).await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
        tx.connection().abort(); // lagged, too slow, or gone
    });
    while let Some(Ok(msg)) = rx.recv().await {
        if let Some(text) = msg.as_text() {
            let _ = s.chat.send(Message::text(text));
        }
    }
    forward.abort();
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let state = Shop {
        items: Arc::default(),
        next_id: Arc::default(),
        chat: broadcast::channel(256).0,
    };
    let app = Router::with_state(state)
        .get("/items", list)
        .post("/items", create)
        .get("/items/:id", read)
        .put("/items/:id", update)
        .delete("/items/:id", remove)
        .websocket("/chat", chat);
    let bound = builder(app, ServerConfig::default()).bind("127.0.0.1:8080".parse()?);
    let server = bound.start().await?;
    let ctrl_c = tokio::signal::ctrl_c();
    server.close_on(ctrl_c, Duration::from_secs(10)).await;
    Ok(())
}
