//! The WebSocket server over raw TCP, driven with the crate's own frame codec.

use crate::common;

use bytes::{Bytes, BytesMut};
use common::*;
use quasar_http::server::ServerConfig;
use quasar_http::ws::{
    encode_frame, encode_message, CloseCode, CloseFrame, Message, OpCode, Role, WsDecoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

struct Peer {
    tcp: TcpStream,
    rbuf: BytesMut,
    dec: WsDecoder,
}

impl Peer {
    async fn open(server: &quasar_net::TcpServer) -> Peer {
        let mut tcp = TcpStream::connect(server.address()).await.unwrap();
        tcp.write_all(HANDSHAKE.as_bytes()).await.unwrap();
        let mut rbuf = BytesMut::new();
        loop {
            let n = tokio::time::timeout(T, tcp.read_buf(&mut rbuf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0);
            if let Some(p) = rbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = rbuf.split_to(p + 4);
                let head = String::from_utf8_lossy(&head);
                assert!(
                    head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
                    "{head}"
                );
                assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
                break;
            }
        }
        Peer {
            tcp,
            rbuf,
            dec: WsDecoder::new(Role::Client),
        }
    }

    async fn send(&mut self, m: &Message) {
        let mut out = BytesMut::new();
        encode_message(&mut out, Role::Client, m).unwrap();
        self.tcp.write_all(&out).await.unwrap();
    }

    async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(m) = self.dec.decode(&mut self.rbuf).unwrap() {
                return Some(m);
            }
            let n = tokio::time::timeout(T, self.tcp.read_buf(&mut self.rbuf))
                .await
                .unwrap()
                .unwrap();
            if n == 0 {
                return None;
            }
        }
    }

    async fn expect_close(&mut self, code: CloseCode) {
        match self.recv().await {
            Some(Message::Close(Some(f))) => assert_eq!(f.code, code),
            other => panic!("expected close {code:?}, got {other:?}"),
        }
        assert!(
            is_closed(&mut self.tcp).await,
            "server closes the TCP connection"
        );
    }
}

#[tokio::test]
async fn handshake_errors() {
    let server = demo(ServerConfig::default()).await;
    let resp = roundtrip_close(
        &server,
        HANDSHAKE.replace("Version: 13", "Version: 8").as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    assert!(resp.contains("sec-websocket-version: 13\r\n"), "{resp}");
    let resp = roundtrip_close(
        &server,
        HANDSHAKE
            .replace("dGhlIHNhbXBsZSBub25jZQ==", "short")
            .as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let resp = roundtrip_close(
        &server,
        HANDSHAKE.replace("Upgrade: websocket\r\n", "").as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let resp = roundtrip_close(&server, HANDSHAKE.replace("GET", "POST").as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
    assert!(resp.contains("allow: GET\r\n"), "{resp}");
}

#[tokio::test]
async fn echo_text_binary_fragmented_ping_and_close() {
    let server = demo(ServerConfig::default()).await;
    let mut peer = Peer::open(&server).await;
    peer.send(&Message::Text(Bytes::from("héllo"))).await;
    assert_eq!(peer.recv().await, Some(Message::Text(Bytes::from("héllo"))));
    peer.send(&Message::Binary(Bytes::from_static(&[0, 1, 2, 255])))
        .await;
    assert_eq!(
        peer.recv().await,
        Some(Message::Binary(Bytes::from_static(&[0, 1, 2, 255])))
    );

    // A fragmented text message with a ping between its fragments.
    let mut out = BytesMut::new();
    encode_frame(&mut out, OpCode::Text, false, b"frag", Some([1, 2, 3, 4])).unwrap();
    encode_frame(&mut out, OpCode::Ping, true, b"p", Some([5, 6, 7, 8])).unwrap();
    encode_frame(
        &mut out,
        OpCode::Continuation,
        true,
        b"mented",
        Some([9, 9, 9, 9]),
    )
    .unwrap();
    peer.tcp.write_all(&out).await.unwrap();
    assert_eq!(peer.recv().await, Some(Message::Pong(Bytes::from("p"))));
    assert_eq!(
        peer.recv().await,
        Some(Message::Text(Bytes::from("fragmented")))
    );

    // A large message comes back whole (sent as several frames by the server).
    let big = Bytes::from(vec![7u8; 300_000]);
    peer.send(&Message::Binary(big.clone())).await;
    assert_eq!(peer.recv().await, Some(Message::Binary(big)));

    let frame = CloseFrame::new(CloseCode(4000), "bye").unwrap();
    peer.send(&Message::Close(Some(frame))).await;
    peer.expect_close(CloseCode(4000)).await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = demo(ServerConfig::default()).await;
    let mut peer = Peer::open(&server).await;
    let mut out = BytesMut::new();
    encode_frame(
        &mut out,
        OpCode::Text,
        true,
        &[0xff, 0xfe],
        Some([1, 2, 3, 4]),
    )
    .unwrap();
    peer.tcp.write_all(&out).await.unwrap();
    peer.expect_close(CloseCode::INVALID_PAYLOAD).await;
}

#[tokio::test]
async fn unmasked_frame_closes_with_1002() {
    let server = demo(ServerConfig::default()).await;
    let mut peer = Peer::open(&server).await;
    let mut out = BytesMut::new();
    encode_frame(&mut out, OpCode::Text, true, b"hi", None).unwrap();
    peer.tcp.write_all(&out).await.unwrap();
    peer.expect_close(CloseCode::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn frames_sent_with_the_handshake_are_served() {
    let server = demo(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    let mut out = BytesMut::from(HANDSHAKE.as_bytes());
    encode_message(&mut out, Role::Client, &Message::Text(Bytes::from("early"))).unwrap();
    tcp.write_all(&out).await.unwrap();
    let mut rbuf = BytesMut::new();
    let mut dec = WsDecoder::new(Role::Client);
    loop {
        tokio::time::timeout(T, tcp.read_buf(&mut rbuf))
            .await
            .unwrap()
            .unwrap();
        if let Some(p) = rbuf.windows(4).position(|w| w == b"\r\n\r\n") {
            let _ = rbuf.split_to(p + 4);
            break;
        }
    }
    loop {
        if let Some(m) = dec.decode(&mut rbuf).unwrap() {
            assert_eq!(m, Message::Text(Bytes::from("early")));
            break;
        }
        tokio::time::timeout(T, tcp.read_buf(&mut rbuf))
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn server_shutdown_sends_1001() {
    let server = demo(ServerConfig::default()).await;
    let mut peer = Peer::open(&server).await;
    peer.send(&Message::Text(Bytes::from("x"))).await;
    assert!(peer.recv().await.is_some());
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close(std::time::Duration::from_secs(5)).await }
    });
    match peer.recv().await {
        Some(Message::Close(Some(f))) => assert_eq!(f.code, CloseCode::GOING_AWAY),
        other => panic!("{other:?}"),
    }
    peer.send(&Message::Close(Some(
        CloseFrame::new(CloseCode::GOING_AWAY, "").unwrap(),
    )))
    .await;
    assert!(is_closed(&mut peer.tcp).await);
    let report = closing.await.unwrap();
    assert_eq!(report.forced, 0, "{report:?}");
}
