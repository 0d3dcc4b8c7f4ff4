//! The WebSocket client against raw loopback servers using the crate's codec (server role):
//! echo, frames that share a read with the 101, pings, both close handshakes, protocol
//! errors, refused handshakes, and the HTTP pool slot freed by the hand-over.

use crate::client_support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use client_support::{response, serve, server_frame, within, Conn};
use quasar_http::client::{ClientError, HttpClient};
use quasar_http::ws::{
    self, CloseCode, CloseFrame, HandshakeError, Message, Role, WsDecoder, WsError,
};
use tokio::sync::mpsc;

/// Accepts the handshake, then echoes every data message until the client's close, which it
/// answers before closing.
async fn echo_server(mut conn: Conn) {
    let req = conn.accept_websocket(b"").await;
    assert_eq!(req.path(), "/echo");
    let mut decoder = WsDecoder::new(Role::Server);
    while let Some(msg) = conn.read_message(&mut decoder).await {
        match msg {
            Message::Text(_) | Message::Binary(_) => conn.send_message(&msg).await,
            Message::Close(frame) => {
                conn.send_message(&Message::Close(frame)).await;
                return;
            }
            _ => {}
        }
    }
}

fn text(s: &'static str) -> Message {
    Message::Text(Bytes::from_static(s.as_bytes()))
}

#[tokio::test]
async fn text_and_binary_messages_round_trip_masked() {
    let server = serve(echo_server).await;
    let client = HttpClient::new();
    let mut socket = within("handshake", client.websocket(&server.ws_url("/echo")))
        .await
        .unwrap();
    let big = Bytes::from(vec![7u8; 200_000]);
    for msg in [
        text("héllo"),
        Message::Binary(big),
        Message::Binary(Bytes::new()),
    ] {
        // The server's decoder (server role) refuses unmasked frames.
        socket.send(msg.clone()).await.unwrap();
        assert_eq!(within("echo", socket.recv()).await.unwrap().unwrap(), msg);
    }
    within("close", socket.close(CloseCode::NORMAL, "done"))
        .await
        .unwrap();
    assert!(socket.is_closed());
    assert!(socket.recv().await.is_none());
}

#[tokio::test]
async fn frames_sent_with_the_101_are_not_lost() {
    let server = serve(|mut conn| async move {
        let mut extra = server_frame(&text("first"));
        extra.extend_from_slice(&server_frame(&Message::Binary(Bytes::from_static(
            b"second",
        ))));
        // Half of a third frame: the rest comes later.
        let third = server_frame(&text("third"));
        extra.extend_from_slice(&third[..3]);
        conn.accept_websocket(&extra).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        conn.write(&third[3..]).await;
        conn.peer_closed(Duration::from_secs(5)).await;
    })
    .await;
    let client = HttpClient::new();
    let mut socket = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap();
    assert_eq!(socket.recv().await.unwrap().unwrap(), text("first"));
    assert_eq!(
        socket.recv().await.unwrap().unwrap(),
        Message::Binary(Bytes::from_static(b"second"))
    );
    assert_eq!(
        within("third", socket.recv()).await.unwrap().unwrap(),
        text("third")
    );
}

#[tokio::test]
async fn pings_are_answered_with_pongs_even_between_fragments() {
    let (pong_tx, mut pong) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let pong_tx = pong_tx.clone();
        async move {
            conn.accept_websocket(b"").await;
            // "frag" + ping + "ment": the ping sits inside a fragmented message.
            let mut out = BytesMut::new();
            ws::encode_frame(&mut out, ws::OpCode::Text, false, b"frag", None).unwrap();
            ws::encode_frame(&mut out, ws::OpCode::Ping, true, b"are you there", None).unwrap();
            ws::encode_frame(&mut out, ws::OpCode::Continuation, true, b"ment", None).unwrap();
            conn.write(&out).await;
            let mut decoder = WsDecoder::new(Role::Server);
            let _ = pong_tx.send(conn.read_message(&mut decoder).await);
            conn.peer_closed(Duration::from_secs(5)).await;
        }
    })
    .await;
    let client = HttpClient::new();
    let mut socket = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap();
    assert_eq!(
        socket.recv().await.unwrap().unwrap(),
        Message::Ping(Bytes::from_static(b"are you there"))
    );
    assert_eq!(socket.recv().await.unwrap().unwrap(), text("fragment"));
    assert_eq!(
        within("the pong", pong.recv()).await.unwrap(),
        Some(Message::Pong(Bytes::from_static(b"are you there")))
    );
}

#[tokio::test]
async fn a_server_close_is_echoed_and_ends_the_stream() {
    let (echo_tx, mut echo) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let echo_tx = echo_tx.clone();
        async move {
            conn.accept_websocket(b"").await;
            let frame = CloseFrame::new(CloseCode::GOING_AWAY, "restart").unwrap();
            conn.send_message(&Message::Close(Some(frame))).await;
            let mut decoder = WsDecoder::new(Role::Server);
            let reply = conn.read_message(&mut decoder).await;
            let closed = conn.peer_closed(Duration::from_secs(5)).await;
            let _ = echo_tx.send((reply, closed));
        }
    })
    .await;
    let client = HttpClient::new();
    let mut socket = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap();
    let Some(Ok(Message::Close(Some(frame)))) = within("close", socket.recv()).await else {
        panic!("expected the server's close");
    };
    assert_eq!(
        (frame.code, frame.reason()),
        (CloseCode::GOING_AWAY, "restart")
    );
    assert!(within("end", socket.recv()).await.is_none());
    let (reply, closed) = within("the echo", echo.recv()).await.unwrap();
    let Some(Message::Close(Some(echoed))) = reply else {
        panic!("expected a close reply, got {reply:?}");
    };
    assert_eq!(echoed.code, CloseCode::GOING_AWAY);
    assert!(closed, "the client closes the socket after the handshake");
    let err = socket.send(text("late")).await.unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err:?}");
}

#[tokio::test]
async fn the_client_close_handshake_sends_code_and_reason_once() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let seen_tx = seen_tx.clone();
        async move {
            conn.accept_websocket(b"").await;
            let mut decoder = WsDecoder::new(Role::Server);
            let first = conn.read_message(&mut decoder).await;
            // A data message still in flight from the server is dropped by `close`.
            conn.send_message(&text("in flight")).await;
            if let Some(Message::Close(frame)) = &first {
                conn.send_message(&Message::Close(frame.clone())).await;
            }
            // After a close the decoder yields nothing more: the stream must just end.
            let more = conn.read_message(&mut decoder).await;
            let _ = seen_tx.send((first, more));
        }
    })
    .await;
    let client = HttpClient::new();
    let mut socket = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap();
    within("close", socket.close(CloseCode(4000), "bye"))
        .await
        .unwrap();
    let (first, more) = within("the server", seen.recv()).await.unwrap();
    let Some(Message::Close(Some(frame))) = first else {
        panic!("expected a close, got {first:?}");
    };
    assert_eq!((frame.code, frame.reason()), (CloseCode(4000), "bye"));
    assert_eq!(more, None);
    assert!(matches!(
        socket.close(CloseCode(1005), "").await,
        Err(ClientError::WebSocket(WsError::InvalidCloseCode))
    ));
}

#[tokio::test]
async fn a_protocol_error_fails_the_connection_with_its_close_code() {
    let (code_tx, mut code) = mpsc::unbounded_channel();
    let server = serve(move |mut conn| {
        let code_tx = code_tx.clone();
        async move {
            conn.accept_websocket(b"").await;
            // A masked frame from a server breaks RFC 6455 §5.1.
            let mut out = BytesMut::new();
            ws::encode_frame(
                &mut out,
                ws::OpCode::Text,
                true,
                b"masked",
                Some([1, 2, 3, 4]),
            )
            .unwrap();
            conn.write(&out).await;
            let mut decoder = WsDecoder::new(Role::Server);
            let _ = code_tx.send(conn.read_message(&mut decoder).await);
        }
    })
    .await;
    let client = HttpClient::new();
    let mut socket = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap();
    let err = within("the error", socket.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, ClientError::WebSocket(WsError::MaskedFrame)),
        "{err:?}"
    );
    assert!(within("end", socket.recv()).await.is_none());
    let Some(Some(Message::Close(Some(frame)))) = within("close frame", code.recv()).await else {
        panic!("expected a close frame");
    };
    assert_eq!(frame.code, CloseCode::PROTOCOL_ERROR);
}

#[tokio::test]
async fn refused_and_forged_handshakes_are_typed_errors() {
    let server = serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let res = if req.path() == "/missing" {
                response(404, "", "no")
            } else {
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
                 sec-websocket-accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
                    .to_owned()
            };
            conn.write(res.as_bytes()).await;
        }
    })
    .await;
    let client = HttpClient::new();
    let err = within("404", client.websocket(&server.ws_url("/missing")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(HandshakeError::NotSwitchingProtocols(s)) if s == 404
        ),
        "{err:?}"
    );
    let err = within("forged", client.websocket(&server.ws_url("/forged")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Handshake(HandshakeError::InvalidAccept)),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_hand_over_frees_the_http_pool_slot() {
    let server = serve(|mut conn| async move {
        let Some(req) = conn.read_request().await else {
            return;
        };
        if req.head.upgrade {
            let accept = ws::validate_request(&req.head.parts).unwrap();
            let mut out = BytesMut::new();
            ws::encode_accept(&mut out, &accept, Some("chat"));
            conn.write(&out).await;
            conn.peer_closed(Duration::from_secs(5)).await;
        } else {
            conn.write(response(200, "", "plain").as_bytes()).await;
            conn.peer_closed(Duration::from_secs(5)).await;
        }
    })
    .await;
    let client = HttpClient::builder()
        .pool_size(1)
        .request_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let socket = within("handshake", client.websocket(&server.ws_url("/")))
        .await
        .unwrap();
    assert_eq!(socket.protocol().map(|p| p.as_bytes()), Some(&b"chat"[..]));
    // With a pool of one, this only succeeds if the WebSocket left the pool.
    let res = within("GET", client.get(&server.url("/"))).await.unwrap();
    assert_eq!(&res.body()[..], b"plain");
    assert_eq!((client.sessions(), server.accepted()), (2, 2));
    assert!(
        !socket.is_closed(),
        "the pool does not close a detached connection"
    );
}
