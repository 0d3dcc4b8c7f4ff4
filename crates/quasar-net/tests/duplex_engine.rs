//! The engine over `tokio::io::duplex` through `serve_connection`: the bytes a protocol
//! sends do not depend on how its input is split, nor on the transport (an in-memory
//! pipe of one byte or loopback TCP).

use crate::core_support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use quasar_net::{
    serve_connection, ConnectionConfig, Context, Error, Progress, ProtocolConsumer, Result,
    TcpServer,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Upper-cases each line, synchronously.
struct Upper;

impl ProtocolConsumer for Upper {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        cx.write(&buf.split_to(end + 1).to_ascii_uppercase())?;
        Ok(Progress::Finished(()))
    }
}

/// Answers each line with its length and the line reversed, through a future that
/// yields first; odd-length lines also get a synchronous `!` written after it, which
/// must wait for the future.
struct AsyncReverse;

impl ProtocolConsumer for AsyncReverse {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = buf.split_to(end + 1);
        let reply = async_reply(&line[..end]);
        cx.spawn_response(async move {
            tokio::task::yield_now().await;
            Ok(Bytes::from(reply))
        });
        if end % 2 == 1 {
            cx.write(b"!")?;
        }
        Ok(Progress::Finished(()))
    }
}

fn async_reply(line: &[u8]) -> Vec<u8> {
    let mut reply = format!("{}:", line.len()).into_bytes();
    reply.extend(line.iter().rev());
    reply.push(b'\n');
    reply
}

#[derive(Debug, Clone, Copy)]
enum Protocol {
    Upper,
    AsyncReverse,
}

impl Protocol {
    /// What the server must send for `input` (whole lines).
    fn model(self, input: &[u8]) -> Vec<u8> {
        match self {
            Protocol::Upper => input.to_ascii_uppercase(),
            Protocol::AsyncReverse => input
                .split_inclusive(|&b| b == b'\n')
                .flat_map(|line| {
                    let body = &line[..line.len() - 1];
                    let mut out = async_reply(body);
                    if body.len() % 2 == 1 {
                        out.push(b'!');
                    }
                    out
                })
                .collect(),
        }
    }
}

/// Writes `input` in pieces of the given sizes (cycled), reads the reply one byte at a
/// time until `want` bytes came, and returns them.
async fn exchange<T>(io: T, input: &[u8], splits: &[usize], want: usize) -> Vec<u8>
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let input = input.to_vec();
    let splits = splits.to_vec();
    let writer = async move {
        let mut rest = &input[..];
        for size in splits.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).clamp(1, rest.len());
            wr.write_all(&rest[..n]).await.unwrap();
            rest = &rest[n..];
        }
        wr
    };
    let reader = async move {
        let mut out = Vec::with_capacity(want);
        let mut byte = [0u8; 1];
        while out.len() < want {
            rd.read_exact(&mut byte).await.unwrap();
            out.push(byte[0]);
        }
        out
    };
    let (_wr, out) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(writer, reader)
    })
    .await
    .expect("the exchange finished");
    out
}

async fn over_duplex(protocol: Protocol, input: &[u8], splits: &[usize], pipe: usize) -> Vec<u8> {
    let (client, server) = tokio::io::duplex(pipe);
    let config = ConnectionConfig::default();
    let want = protocol.model(input).len();
    let serving = match protocol {
        Protocol::Upper => tokio::spawn(serve_connection(server, || Upper, config).1),
        Protocol::AsyncReverse => tokio::spawn(serve_connection(server, || AsyncReverse, config).1),
    };
    let out = exchange(client, input, splits, want).await;
    serving.abort();
    out
}

async fn over_tcp(protocol: Protocol, input: &[u8], splits: &[usize]) -> Vec<u8> {
    let want = protocol.model(input).len();
    let server = match protocol {
        Protocol::Upper => TcpServer::builder(|| Upper).start().await,
        Protocol::AsyncReverse => TcpServer::builder(|| AsyncReverse).start().await,
    }
    .unwrap();
    let sock = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let out = exchange(sock, input, splits, want).await;
    server.close(Duration::from_secs(1)).await;
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Lines of printable ASCII, each ending in `\n`.
fn lines() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec("[ -~]{0,40}", 1..12).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|l| {
                let mut l = l.into_bytes();
                l.push(b'\n');
                l
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn replies_do_not_depend_on_splits_or_transport(
        input in lines(),
        splits in prop::collection::vec(1usize..64, 1..16),
        pipe in prop_oneof![Just(1usize), 1usize..64],
        async_protocol in any::<bool>(),
    ) {
        let protocol = if async_protocol { Protocol::AsyncReverse } else { Protocol::Upper };
        let want = protocol.model(&input);
        let rt = runtime();
        let duplex = rt.block_on(over_duplex(protocol, &input, &splits, pipe));
        prop_assert_eq!(&duplex, &want, "duplex({}) with splits {:?}", pipe, splits);
        // Every read and write one byte long.
        let bytewise = rt.block_on(over_duplex(protocol, &input, &[1], 1));
        prop_assert_eq!(&bytewise, &want);
        let tcp = rt.block_on(over_tcp(protocol, &input, &splits));
        prop_assert_eq!(&tcp, &want);
    }
}

#[test]
fn a_consumer_error_over_duplex_ends_the_serving_future_with_it() {
    // serve_connection's future resolves with the connection_lost outcome.
    struct Refuse;
    impl ProtocolConsumer for Refuse {
        type Request = ();
        type Response = ();
        fn data_received(&mut self, _: &mut Context<'_>, _: &mut BytesMut) -> Result<Progress> {
            Err(Error::protocol("refused"))
        }
    }
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(1);
        let (_conn, serving) = serve_connection(server, || Refuse, ConnectionConfig::default());
        let serving = tokio::spawn(serving);
        client.write_all(b"x").await.unwrap();
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest).await;
        let err = core_support::within("the serving future", serving)
            .await
            .unwrap()
            .unwrap_err();
        assert!(err.is_protocol(), "{err}");
    });
}
