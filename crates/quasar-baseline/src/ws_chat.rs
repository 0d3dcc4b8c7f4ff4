//! The WebSocket chat baseline: tokio-tungstenite and a tokio `broadcast` channel, with the
//! wire shape of `quasar serve http`'s `/chat`.
//!
//! Every text message a member sends goes to every member (itself included) as the JSON
//! object `{"message": TEXT, "from": NAME}`, `NAME` being the handshake's `?name=` or the
//! member's address. Each member has a forwarding task that feeds every message already in
//! the channel and then flushes, so a burst leaves in one write. The same slow-member rule
//! as quasar's room: a member that falls further behind than the channel holds (`Lagged`,
//! it missed messages) or whose socket does not take a message within 5 s is dropped.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Error, Message};

use crate::shutdown;

/// Flags of `ws-chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct WsChatArgs {
    #[command(flatten)]
    pub(crate) common: crate::CommonArgs,
    /// Messages the broadcast channel holds; a member further behind is dropped.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) capacity: u32,
}

/// How long one message may wait for a member's socket.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Serialize)]
struct ChatMessage<'a> {
    message: &'a str,
    from: &'a str,
}

/// Serves the chat on `bind` (any path) until SIGTERM or Ctrl-C; the channel holds
/// `capacity` messages.
pub(crate) async fn serve(bind: SocketAddr, capacity: usize) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    let (room, _) = broadcast::channel::<String>(capacity);
    shutdown::accept_until_signal("ws-chat", listener, |stream, peer| {
        let room = room.clone();
        async move {
            let _ = member(stream, peer, room).await;
        }
    })
    .await
}

// The handshake callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
async fn member(
    stream: TcpStream,
    peer: SocketAddr,
    room: broadcast::Sender<String>,
) -> Result<(), Error> {
    let mut name = None;
    let ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
        name = req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("name="))
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        });
        Ok(resp)
    })
    .await?;
    let from = name.unwrap_or_else(|| peer.to_string());
    let (mut sink, mut source) = ws.split();
    let mut feed = room.subscribe();
    let forward = tokio::spawn(async move {
        loop {
            let first = match feed.recv().await {
                Ok(m) => m,
                Err(RecvError::Closed | RecvError::Lagged(_)) => return,
            };
            let sent = tokio::time::timeout(SEND_TIMEOUT, async {
                sink.feed(Message::text(first)).await?;
                loop {
                    match feed.try_recv() {
                        Ok(m) => sink.feed(Message::text(m)).await?,
                        Err(TryRecvError::Empty) => break,
                        Err(_) => return Err(Error::ConnectionClosed),
                    }
                }
                sink.flush().await
            })
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                return;
            }
        }
    });
    while let Some(msg) = source.next().await {
        match msg? {
            Message::Text(text) => {
                let doc = ChatMessage {
                    message: text.as_str(),
                    from: &from,
                };
                if let Ok(json) = serde_json::to_string(&doc) {
                    let _ = room.send(json);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    forward.abort();
    Ok(())
}
