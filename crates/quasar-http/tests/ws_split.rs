//! `WebSocket::split` against the crate's own client: senders in several tasks never
//! interleave the frames of their (fragmented, compressed) messages, the receiver keeps
//! receiving meanwhile, and the close 1000 waits for every half to be dropped.

use crate::common;

use std::time::Duration;

use common::*;
use quasar_http::client::HttpClient;
use quasar_http::server::{Router, ServerConfig};
use quasar_http::ws::{CloseCode, DeflateConfig, Message};

const TASKS: usize = 4;
const PER_TASK: usize = 20;
/// Above `MAX_SEND_FRAME` (16 KiB): each message is several frames.
const LEN: usize = 40 * 1024;

fn app() -> Router {
    Router::new().websocket("/split", |ws| async move {
        let (tx, mut rx) = ws.split();
        // Wait for the peer's go, then send from several tasks at once.
        let Some(Ok(go)) = rx.recv().await else {
            return;
        };
        assert_eq!(go.as_text(), Some("go"));
        let senders: Vec<_> = (0..TASKS)
            .map(|t| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..PER_TASK {
                        // A message is one repeated letter and its number: interleaved
                        // frames would mix letters or break the numbering.
                        let letter = (b'a' + t as u8) as char;
                        let body = letter.to_string().repeat(LEN);
                        tx.send(Message::text(format!("{t}:{i}:{body}")))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for s in senders {
            s.await.unwrap();
        }
        // The receiver still works while (and after) the senders run.
        while let Some(Ok(msg)) = rx.recv().await {
            if msg.is_close() {
                break;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_senders_keep_fragmented_messages_whole_and_in_order() {
    // Without compression each message leaves as three frames.
    let mut config = ServerConfig::default();
    config.ws.deflate = DeflateConfig::disabled();
    split_senders(config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_senders_keep_compressed_messages_whole_and_in_order() {
    // The senders share one compression context: the peer inflates in send order.
    split_senders(ServerConfig::default()).await;
}

async fn split_senders(config: ServerConfig) {
    let server = start(app(), config).await;
    let client = HttpClient::new();
    let url = format!("ws://{}/split", server.address());
    let mut ws = tokio::time::timeout(T, client.websocket(&url))
        .await
        .unwrap()
        .unwrap();
    ws.send(Message::text("go")).await.unwrap();
    let mut next = [0usize; TASKS];
    for _ in 0..TASKS * PER_TASK {
        let msg = tokio::time::timeout(T, ws.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = msg.as_text().expect("text");
        let mut parts = text.splitn(3, ':');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        let body = parts.next().unwrap();
        assert_eq!(i, next[t], "task {t} out of order");
        next[t] += 1;
        let letter = (b'a' + t as u8) as char;
        assert_eq!(body.len(), LEN);
        assert!(
            body.chars().all(|c| c == letter),
            "task {t} message {i} mixed"
        );
    }
    assert_eq!(next, [PER_TASK; TASKS]);
    // Every sender is gone but the receiver still holds the socket: no close yet.
    let quiet = tokio::time::timeout(Duration::from_millis(200), ws.recv()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    // Our close ends the handler's receive loop; the server answers the handshake.
    let closed = tokio::time::timeout(T, ws.close(CloseCode::NORMAL, "bye")).await;
    assert!(matches!(closed, Ok(Ok(()))), "{closed:?}");
}
