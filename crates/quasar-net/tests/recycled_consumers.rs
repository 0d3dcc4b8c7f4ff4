//! `ProtocolConsumer::recycle`: a consumer that agrees serves the connection's next
//! exchange instead of a newly built one, over an in-memory pipe: the factory builds once,
//! `connection_made` runs per exchange, a failed exchange is not recycled, and an upgrade
//! drops the recycled consumer so the next one comes from the new factory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use quasar_net::{
    serve_connection, Connection, ConnectionConfig, Context, Progress, ProtocolConsumer, Result,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

#[derive(Default)]
struct Counts {
    built: AtomicUsize,
    made: AtomicUsize,
}

/// Answers each line with `<tag><n>:<line>`, where `n` counts the lines this consumer
/// object served; a line `up` upgrades to consumers tagged `u`, a line `bad` fails.
struct Line {
    tag: &'static str,
    served: usize,
    recycle: bool,
    counts: Arc<Counts>,
}

impl ProtocolConsumer for Line {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, _cx: &mut Context<'_>) {
        self.counts.made.fetch_add(1, Ordering::Relaxed);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        let line = &line[..end];
        if line == b"bad" {
            return Err(quasar_net::Error::protocol("bad line"));
        }
        self.served += 1;
        cx.write(format!("{}{}:", self.tag, self.served).as_bytes())?;
        cx.write(line)?;
        cx.write(b"\n")?;
        if line == b"up" {
            cx.upgrade(factory("u", self.recycle, &self.counts));
        }
        Ok(Progress::Finished(()))
    }

    fn recycle(&mut self) -> bool {
        self.recycle
    }
}

fn factory(
    tag: &'static str,
    recycle: bool,
    counts: &Arc<Counts>,
) -> impl Fn() -> Line + Send + Sync + 'static {
    let counts = counts.clone();
    move || {
        counts.built.fetch_add(1, Ordering::Relaxed);
        Line {
            tag,
            served: 0,
            recycle,
            counts: counts.clone(),
        }
    }
}

type Serving = tokio::task::JoinHandle<Result<()>>;

/// A connection over an in-memory pipe served by `factory("s", recycle)`.
fn serve(recycle: bool, counts: &Arc<Counts>) -> (Connection, DuplexStream, Serving) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (conn, serving) = serve_connection(
        server,
        factory("s", recycle, counts),
        ConnectionConfig::default(),
    );
    (conn, client, tokio::spawn(serving))
}

async fn exchange(client: &mut DuplexStream, send: &str, want: &str) {
    client.write_all(send.as_bytes()).await.unwrap();
    let mut got = vec![0; want.len()];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut got))
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[tokio::test]
async fn a_recycling_consumer_is_built_once_and_made_per_exchange() {
    let counts = Arc::new(Counts::default());
    let (conn, mut client, serving) = serve(true, &counts);
    // One line per read and several per read: the same consumer object serves them all.
    exchange(&mut client, "a\n", "s1:a\n").await;
    exchange(&mut client, "b\n", "s2:b\n").await;
    exchange(&mut client, "c\nd\n", "s3:c\ns4:d\n").await;
    assert_eq!(counts.built.load(Ordering::Relaxed), 1);
    assert_eq!(counts.made.load(Ordering::Relaxed), 4);
    assert_eq!(conn.processed(), 4);
    drop(client);
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn without_recycling_every_exchange_gets_a_new_consumer() {
    let counts = Arc::new(Counts::default());
    let (_conn, mut client, serving) = serve(false, &counts);
    exchange(&mut client, "a\n", "s1:a\n").await;
    exchange(&mut client, "b\nc\n", "s1:b\ns1:c\n").await;
    assert_eq!(counts.built.load(Ordering::Relaxed), 3);
    drop(client);
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_upgrade_drops_the_recycled_consumer_and_the_new_factory_builds() {
    let counts = Arc::new(Counts::default());
    let (_conn, mut client, serving) = serve(true, &counts);
    exchange(&mut client, "a\n", "s1:a\n").await;
    exchange(&mut client, "up\n", "s2:up\n").await;
    // The upgraded factory's consumer, recycled in its turn.
    exchange(&mut client, "b\nc\n", "u1:b\nu2:c\n").await;
    assert_eq!(counts.built.load(Ordering::Relaxed), 2);
    drop(client);
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_failed_exchange_is_not_recycled_and_closes() {
    let counts = Arc::new(Counts::default());
    let (_conn, mut client, serving) = serve(true, &counts);
    exchange(&mut client, "a\n", "s1:a\n").await;
    client.write_all(b"bad\n").await.unwrap();
    // Done writing: the server's lingering close need not wait for more.
    client.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
        .await
        .expect("the connection closes")
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(serving.await.unwrap().is_err());
    assert_eq!(counts.built.load(Ordering::Relaxed), 1);
}
