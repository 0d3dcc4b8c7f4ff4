//! The hand-written tokio line chat: the floor quasar's chat is compared with.
//!
//! The protocol of `quasar serve chat`: a client is greeted with `welcome, you are userN`,
//! the others see `* userN joined` / `* userN left`, and each line a member sends reaches every
//! other member as `userN: text`. A line longer than `--max-line` bytes gets `! line too long`
//! and closes that member. One task per connection; a tokio `broadcast` channel fans the lines
//! out (a member that falls `--capacity` lines behind misses the oldest ones, tokio's `Lagged`),
//! and tokio-util's `LinesCodec` frames them (`\n` and `\r\n` both end a line).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

use crate::shutdown;

/// A line on the channel: who sent it (members skip their own) and its text.
type Line = (u64, Arc<str>);

/// Serves the chat on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr, max_line: usize, capacity: usize) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    shutdown::announce("chat", listener.local_addr()?);
    let (tx, _) = broadcast::channel::<Line>(capacity);
    let accept = async {
        let mut next_user = 0u64;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    next_user += 1;
                    tokio::spawn(member(stream, next_user, tx.clone(), max_line));
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    tokio::select! {
        () = accept => Ok(()),
        () = shutdown::signal() => Ok(()),
    }
}

async fn member(stream: TcpStream, user: u64, tx: broadcast::Sender<Line>, max_line: usize) {
    let _ = stream.set_nodelay(true);
    let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(max_line));
    // Subscribe before announcing, so every line after the welcome reaches this member.
    let mut rx = tx.subscribe();
    if lines
        .send(format!("welcome, you are user{user}"))
        .await
        .is_err()
    {
        return;
    }
    let _ = tx.send((user, format!("* user{user} joined").into()));
    loop {
        tokio::select! {
            read = lines.next() => match read {
                Some(Ok(line)) => {
                    let _ = tx.send((user, format!("user{user}: {line}").into()));
                }
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    let _ = lines.send("! line too long").await;
                    break;
                }
                // EOF (a half-close included) or a socket error: the member leaves.
                Some(Err(LinesCodecError::Io(_))) | None => break,
            },
            got = rx.recv() => match got {
                Ok((from, _)) if from == user => {}
                Ok((_, text)) => {
                    if lines.send(&*text).await.is_err() {
                        break;
                    }
                }
                // This member fell behind: it misses the oldest lines, as with the skip policy.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    let _ = tx.send((user, format!("* user{user} left").into()));
}
