//! The `/chat` room's slow-member rule over real sockets: a member that stops reading is
//! dropped (its broker queue overflowed, counted; its send waited past `SEND_TIMEOUT`) while
//! a reading member receives every message, in order, as `{"message", "from"}` JSON.

use crate::common;

use std::time::Duration;

use common::*;
use quasar_http::client::HttpClient;
use quasar_http::demo_chat;
use quasar_http::server::{Router, ServerConfig};
use quasar_http::ws::Message;
use quasar_net::pubsub::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_is_dropped_and_delays_nobody() {
    const MESSAGES: usize = 1000;
    let broker = Broker::in_process_with(8);
    let app = demo_chat::mount(Router::new(), broker.clone());
    let server = start(app, ServerConfig::default()).await;

    // The stalled member: a hand-made handshake on a socket with a small receive buffer,
    // then never another read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(server.address()).await.unwrap();
    stalled
        .write_all(
            b"GET /chat?name=stalled HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stalled.read(&mut byte).await.unwrap(), 1, "the 101");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    until("the stalled member to join", || {
        broker.subscribers("chat") == 1
    })
    .await;

    let client = HttpClient::new();
    let url = format!("ws://{}/chat?name=reader", server.address());
    let mut reader = client.websocket(&url).await.unwrap();
    until("the reader to join", || broker.subscribers("chat") == 2).await;

    // 16 KiB messages: far more than the stalled socket's buffers hold.
    let filler = "x".repeat(16 * 1024);
    for i in 0..MESSAGES {
        let text = format!("{i} {filler}");
        demo_chat::publish(&broker, &text, "test").await.unwrap();
        let msg = tokio::time::timeout(T, reader.recv())
            .await
            .expect("the reader's message")
            .expect("open")
            .unwrap();
        let Message::Text(data) = msg else {
            panic!("a text message, got {msg:?}")
        };
        let doc: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(doc["from"], "test");
        assert_eq!(doc["message"].as_str(), Some(text.as_str()), "message {i}");
    }
    // Dropped by the room's rule alone, its losses counted; the reader is still there.
    until("the stalled member to be dropped", || {
        broker.subscribers("chat") == 1
    })
    .await;
    assert!(broker.stats().dropped > 0, "{:?}", broker.stats());
    until("its connection to close", || {
        server.connections().len() == 1
    })
    .await;
    demo_chat::publish(&broker, "still here", "test")
        .await
        .unwrap();
    let msg = tokio::time::timeout(T, reader.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(msg.as_text().unwrap().contains("still here"));
}
