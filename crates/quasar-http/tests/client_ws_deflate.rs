//! The WebSocket client with permessage-deflate: the offer, the answer's checks, compressed
//! frames both ways against a scripted server, and against quasar's own server.

use crate::client_support;

use bytes::{Bytes, BytesMut};
use client_support::{serve, within};
use quasar_http::client::{ClientError, HttpClient};
use quasar_http::server::ServerConfig;
use quasar_http::ws::{
    self, encode_frame_rsv, CloseCode, DeflateConfig, DeflateParams, HandshakeError, Message,
    OpCode, Role, WsDecoder, WsLimits,
};

/// Answers the handshake with `extensions` in the 101 and returns the request's offer.
async fn accept_with(conn: &mut client_support::Conn, extensions: &str) -> Option<String> {
    let req = conn.read_request().await.expect("a handshake");
    let accept = ws::validate_request(&req.head.parts).expect("a valid handshake");
    let mut out = BytesMut::new();
    ws::encode_accept_with_extensions(&mut out, &accept, None, Some(extensions));
    conn.write(&out).await;
    req.header("sec-websocket-extensions").map(str::to_owned)
}

#[tokio::test]
async fn compressed_frames_flow_both_ways_with_the_negotiated_parameters() {
    let (offer_tx, mut offer_rx) = tokio::sync::mpsc::channel(1);
    let server = serve(move |mut conn| {
        let offer_tx = offer_tx.clone();
        async move {
            let offer =
                accept_with(&mut conn, "permessage-deflate; server_no_context_takeover").await;
            let _ = offer_tx.send(offer).await;
            let params = DeflateParams {
                server_no_context_takeover: true,
                ..DeflateParams::default()
            };
            // Two compressed server messages (no takeover: each stands alone), one fragmented.
            let mut deflater = params.deflater(Role::Server, 6);
            let mut out = BytesMut::new();
            let (wire, rsv) = deflater.encode_payload(&Bytes::from_static(b"compressed hello"));
            assert_eq!(rsv, 0x40);
            encode_frame_rsv(&mut out, OpCode::Text, true, rsv, &wire, None).unwrap();
            let (wire, rsv) = deflater.encode_payload(&Bytes::from(vec![7u8; 10_000]));
            encode_frame_rsv(&mut out, OpCode::Binary, false, rsv, &wire[..3], None).unwrap();
            encode_frame_rsv(&mut out, OpCode::Continuation, true, 0, &wire[3..], None).unwrap();
            conn.write(&out).await;
            // The client's messages arrive compressed (RSV1) and inflate with its takeover.
            let mut decoder = WsDecoder::new(Role::Server);
            decoder.set_inflater(params.inflater(Role::Server));
            for _ in 0..2 {
                let msg = conn.read_message(&mut decoder).await.expect("a message");
                assert_eq!(decoder.message_rsv(), 0x40, "{msg:?}");
                conn.send_message(&msg).await; // echoed uncompressed: allowed per message
            }
            let _ = conn.read_message(&mut decoder).await; // the close
        }
    })
    .await;
    let client = HttpClient::new();
    let mut socket = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap();
    assert!(socket.is_compressed());
    assert_eq!(
        offer_rx.recv().await.unwrap().as_deref(),
        Some("permessage-deflate; client_max_window_bits")
    );
    assert_eq!(
        within("text", socket.recv()).await.unwrap().unwrap(),
        Message::Text("compressed hello".into())
    );
    assert_eq!(
        within("binary", socket.recv()).await.unwrap().unwrap(),
        Message::Binary(vec![7u8; 10_000].into())
    );
    let text = Message::Text("again and again and again".repeat(100).into());
    for msg in [text.clone(), text] {
        socket.send(msg.clone()).await.unwrap();
        assert_eq!(within("echo", socket.recv()).await.unwrap().unwrap(), msg);
    }
    within("close", socket.close(CloseCode::NORMAL, ""))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_answer_the_client_did_not_offer_fails_the_handshake() {
    let server = serve(|mut conn| async move {
        accept_with(&mut conn, "permessage-deflate; client_max_window_bits=7").await;
        let _ = conn.peer_closed(std::time::Duration::from_secs(5)).await;
    })
    .await;
    let client = HttpClient::new();
    let err = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(HandshakeError::InvalidExtension)
        ),
        "{err:?}"
    );
    // With the offer turned off, any extension in the answer is refused too.
    let server = serve(|mut conn| async move {
        let offer = accept_with(&mut conn, "permessage-deflate").await;
        assert_eq!(offer, None);
        let _ = conn.peer_closed(std::time::Duration::from_secs(5)).await;
    })
    .await;
    let err = within(
        "handshake",
        client.websocket_with_deflate(
            &server.ws_url("/"),
            http::HeaderMap::new(),
            WsLimits::default(),
            DeflateConfig::disabled(),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(HandshakeError::InvalidExtension)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_client_and_server_agree_on_every_window_size() {
    let mut config = ServerConfig::default();
    config.ws.deflate = DeflateConfig {
        server_max_window_bits: 12,
        ..DeflateConfig::default()
    };
    let app = quasar_http::demo::app(|| serde_json::json!({}));
    let server = quasar_http::server::builder(app, config)
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let client = HttpClient::new();
    let url = format!("ws://{}/ws", server.address());
    for bits in 8..=15u8 {
        let deflate = DeflateConfig {
            client_max_window_bits: bits,
            server_max_window_bits: bits.max(9),
            client_no_context_takeover: bits % 2 == 0,
            ..DeflateConfig::default()
        };
        let mut socket = within(
            "handshake",
            client.websocket_with_deflate(
                &url,
                http::HeaderMap::new(),
                WsLimits::default(),
                deflate,
            ),
        )
        .await
        .unwrap();
        assert!(socket.is_compressed());
        for i in 0..3 {
            let msg = Message::Text(format!("{bits} bits, message {i}: ").repeat(300).into());
            socket.send(msg.clone()).await.unwrap();
            assert_eq!(within("echo", socket.recv()).await.unwrap().unwrap(), msg);
        }
        within("close", socket.close(CloseCode::NORMAL, ""))
            .await
            .unwrap();
    }
}
