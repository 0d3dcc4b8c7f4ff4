//! The WebSocket echo baseline: tokio-tungstenite echoing every text and binary message.
//!
//! A connection per task; `accept_async` runs the handshake (no extension: tungstenite does
//! not implement permessage-deflate), then each message read is fed back and the socket is
//! flushed once no further message is ready, so pipelined messages leave in one write, as
//! quasar's server does. Pings are answered by tungstenite itself; a close ends the task
//! after tungstenite's close reply is flushed.

use std::io;
use std::net::SocketAddr;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{Error, Message};

use crate::shutdown;

/// Serves the WebSocket echo on `bind` (any path) until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    shutdown::accept_until_signal("ws-echo", listener, |stream, _| async move {
        let _ = echo(stream).await;
    })
    .await
}

async fn echo(stream: TcpStream) -> Result<(), Error> {
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(msg) = ws.next().await {
        let mut next = Some(msg?);
        // Feed every message already read, then flush them together.
        while let Some(msg) = next.take() {
            match msg {
                Message::Text(_) | Message::Binary(_) => ws.feed(msg).await?,
                Message::Close(_) => {
                    ws.flush().await?;
                    return Ok(());
                }
                _ => {}
            }
            if let Some(Some(more)) = ws.next().now_or_never() {
                next = Some(more?);
            }
        }
        ws.flush().await?;
    }
    Ok(())
}
