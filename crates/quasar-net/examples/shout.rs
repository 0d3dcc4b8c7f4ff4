//! Write your own protocol: a server that answers every line with its upper-case copy.
//!
//! Run it with `cargo run -p quasar-net --example shout`, then
//! `printf 'hello\nworld\n' | nc 127.0.0.1 9000`.

use bytes::BytesMut;
use quasar_net::{Context, Progress, ProtocolConsumer, Result, TcpServer};

/// Answers every line with its upper-case copy.
struct Shout;

impl ProtocolConsumer for Shout {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore); // wait for the rest of the line
        };
        let line = buf.split_to(end + 1);
        cx.write(&line.to_ascii_uppercase())?;
        Ok(Progress::Finished(())) // the next line gets a fresh consumer
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let addr = "127.0.0.1:9000".parse().expect("a valid address");
    let server = TcpServer::builder(|| Shout).bind(addr).start().await?;
    println!("shout tcp {}", server.address());
    server.wait().await;
    Ok(())
}
