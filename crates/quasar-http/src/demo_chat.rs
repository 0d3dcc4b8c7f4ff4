//! The `/chat` room of the demo application: a WebSocket chat over a pub/sub
//! [`Broker`].
//!
//! Every text message a `/chat` client sends is published on the broker channel
//! [`CHANNEL`] as the JSON object `{"message": TEXT, "from": NAME}`, and every `/chat`
//! client receives everything published there, its own messages included. With an
//! in-process broker that is one server's room; with a Redis broker
//! (`quasar serve http --pubsub redis://HOST:PORT`) every process on that Redis shares one
//! room. [`publish`] puts a message in the room from elsewhere (an RPC method, a timer).
//!
//! `NAME` is the handshake's `?name=` query parameter (at most [`MAX_NAME`] bytes), or else
//! the client's address (`127.0.0.1:50412`): unique per connection, meaningful across
//! processes, and nothing for the client to set up.
//!
//! Slow members: the broker keeps at most its capacity of messages per member and drops
//! the oldest; a member that lost messages that way, or whose socket does not take the
//! next message within [`SEND_TIMEOUT`] (it stopped reading), is disconnected. Neither
//! holds up the rest of the room.
//!
//! # Examples
//!
//! ```
//! use quasar_http::demo_chat;
//! use quasar_http::server::Router;
//! use quasar_net::pubsub::Broker;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let broker = Broker::in_process();
//! let app = demo_chat::mount(Router::new(), broker.clone());
//! let mut room = broker.subscribe(demo_chat::CHANNEL).await?;
//! demo_chat::publish(&broker, "hello", "the server").await?;
//! let m = room.recv().await.unwrap();
//! assert_eq!(&m.payload[..], br#"{"message":"hello","from":"the server"}"#);
//! # let _ = app;
//! # Ok::<(), quasar_net::Error>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use futures_util::FutureExt;
use quasar_net::pubsub::Broker;
use serde::Serialize;

use crate::server::{Router, WebSocket, MAX_SEND_FRAME};
use crate::ws::Message;

/// The route of the room.
pub const PATH: &str = "/chat";
/// The broker channel every room member publishes on and listens to.
pub const CHANNEL: &str = "chat";
/// How long one message may wait for a member's socket before the member is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `?name=` kept.
pub const MAX_NAME: usize = 64;

/// One chat message on the wire and on the broker.
#[derive(Debug, Serialize)]
struct ChatMessage<'a> {
    message: &'a str,
    from: &'a str,
}

/// Adds the room at [`PATH`] to `router`, on `broker`.
pub fn mount(router: Router, broker: Broker) -> Router {
    router.websocket(PATH, move |ws| member(ws, broker.clone()))
}

/// Publishes `{"message": message, "from": from}` to the room; returns the broker's count
/// of receivers.
///
/// # Errors
///
/// The broker's (none in-process; the Redis client's error when Redis is unreachable).
pub async fn publish(broker: &Broker, message: &str, from: &str) -> quasar_net::Result<usize> {
    let doc = serde_json::to_vec(&ChatMessage { message, from })
        .map_err(|e| quasar_net::Error::protocol_with("chat message", e))?;
    broker.publish(CHANNEL, doc).await
}

/// Serves one room member: forwards the room to it from a task of its own (so a slow
/// member holds up only itself) and publishes what it says.
pub async fn member(ws: WebSocket, broker: Broker) {
    let from = name(&ws);
    let Ok(mut room) = broker.subscribe(CHANNEL).await else {
        return;
    };
    let (tx, mut rx) = ws.split();
    let forward = tokio::spawn(async move {
        while let Some(m) = room.recv().await {
            if room.dropped() > 0 {
                // It missed messages: a chat with holes is worse than a reconnect.
                break;
            }
            // What other processes published may be anything: only text goes out as text.
            if std::str::from_utf8(&m.payload).is_err() {
                continue;
            }
            // A socket below its high mark takes a one-frame message at the first poll; only
            // one that is not arms the timer (a timer per message would cost every delivery a
            // timer-wheel insert and removal). Dropping that first attempt while it waits
            // sends nothing, but only for a message that leaves in one frame: a longer one
            // cut after its first frame closes the connection (`WsSender::send`), so it
            // always goes with the timer. Half the frame size leaves room for compression's
            // worst-case growth.
            let one_frame = m.payload.len() <= MAX_SEND_FRAME / 2;
            let text = Message::Text(m.payload);
            let first = if one_frame {
                tx.send(text.clone()).now_or_never()
            } else {
                None
            };
            let sent = match first {
                Some(sent) => Ok(sent),
                None => tokio::time::timeout(SEND_TIMEOUT, tx.send(text)).await,
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => break,
            }
        }
        tx.connection().abort();
    });
    while let Some(Ok(msg)) = rx.recv().await {
        if msg.is_close() {
            break;
        }
        if let Some(text) = msg.as_text() {
            if let Err(e) = publish(&broker, text, &from).await {
                tracing::warn!(error = %e, "chat: publish failed");
            }
        }
    }
    forward.abort();
}

/// The member's name: `?name=` or its address.
fn name(ws: &WebSocket) -> String {
    let given = ws.request().uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v)
    });
    match given {
        Some(mut n) if !n.is_empty() => {
            if n.len() > MAX_NAME {
                let mut end = MAX_NAME;
                while !n.is_char_boundary(end) {
                    end -= 1;
                }
                n.truncate(end);
            }
            n
        }
        _ => ws.connection().info().peer.to_string(),
    }
}
