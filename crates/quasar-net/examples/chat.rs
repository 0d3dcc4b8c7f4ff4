//! A line chat in one file (pulsar's chat example over TCP): every client is greeted at
//! once, hears who joins and leaves, and gets every line the others send.
//!
//! ```sh
//! cargo run -p quasar-net --example chat     # then `nc 127.0.0.1 8061` in two terminals
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use quasar_net::group::{Group, SlowMember};
use quasar_net::{Connection, Context, Error, Progress, ProtocolConsumer, Result, TcpServer};

struct Member {
    room: Group,
    name: String,
    conn: Option<Connection>, // known from `connection_made` on
}

impl ProtocolConsumer for Member {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.set_full_duplex(true); // one consumer for the whole connection
        let _ = cx.write(format!("welcome, you are {}\n", self.name).as_bytes());
        let conn = self.conn.insert(cx.connection().clone());
        self.room.join(conn);
        let joined = format!("* {} joined\n", self.name);
        self.room.broadcast_except(conn, joined.into());
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(end + 1);
            let text = String::from_utf8_lossy(&line[..end]);
            let said = format!("{}: {}\n", self.name, text.trim_end_matches('\r'));
            if let Some(conn) = &self.conn {
                self.room.broadcast_except(conn, said.into());
            }
        }
        if buf.len() > 4096 {
            cx.write(b"! line too long\n")?;
            cx.close();
        }
        Ok(Progress::NeedMore)
    }

    fn connection_lost(&mut self, _: Option<&Error>) -> Option<()> {
        self.room.leave(self.conn.as_ref()?);
        self.room
            .broadcast(format!("* {} left\n", self.name).into());
        None
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // A member that stops reading is closed rather than left with holes in its chat.
    let room = Group::new(SlowMember::Close);
    let users = Arc::new(AtomicU64::new(0));
    let server = TcpServer::builder(move || Member {
        room: room.clone(),
        name: format!("user{}", users.fetch_add(1, Ordering::Relaxed) + 1),
        conn: None,
    })
    .bind(([127, 0, 0, 1], 8061).into())
    .start()
    .await?;
    println!("chat tcp {}", server.address());
    tokio::signal::ctrl_c().await?;
    server.close(Duration::from_secs(1)).await;
    Ok(())
}
