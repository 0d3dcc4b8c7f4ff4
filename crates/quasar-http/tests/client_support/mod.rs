//! Raw tokio test servers for the client tests: they speak HTTP/1.1 and WebSocket with the
//! crate's sans-IO codec, so what the client sends is checked by an independent reader.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quasar_http::ws::{self, Message, Role, WsDecoder};
use quasar_http::{ParsedRequest, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A listening test server: its address and how many connections it accepted.
pub struct Server {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }
}

/// Runs `handler` on every accepted connection, each in its own task.
pub async fn serve<F, Fut>(handler: F) -> Server
where
    F: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let handler = Arc::clone(&handler);
            tokio::spawn(async move { handler(Conn::new(sock)).await });
        }
    });
    Server { addr, accepted }
}

/// One server-side connection with its read buffer.
pub struct Conn {
    pub sock: TcpStream,
    pub buf: BytesMut,
}

/// A request as the server read it.
pub struct Received {
    pub head: ParsedRequest,
    pub body: Bytes,
}

impl Received {
    pub fn method(&self) -> &http::Method {
        &self.head.parts.method
    }
    pub fn path(&self) -> &str {
        self.head.parts.uri.path()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
    }
}

impl Conn {
    fn new(sock: TcpStream) -> Conn {
        Conn {
            sock,
            buf: BytesMut::new(),
        }
    }

    /// Reads one whole request; `None` on EOF before a head.
    pub async fn read_request(&mut self) -> Option<Received> {
        let mut parser = RequestParser::default();
        let mut head = loop {
            if let Some(head) = parser.parse(&mut self.buf).expect("a valid request") {
                break head;
            }
            if self.sock.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        };
        let mut body = BytesMut::new();
        loop {
            while let Some(data) = head.body.decode(&mut self.buf).expect("a valid body") {
                body.extend_from_slice(&data);
            }
            if head.body.is_eof() {
                break;
            }
            if self.sock.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
        Some(Received {
            head,
            body: body.freeze(),
        })
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        let _ = self.sock.write_all(bytes).await;
    }

    /// Waits for the peer to close (true) or for `within` to pass (false).
    pub async fn peer_closed(&mut self, within: Duration) -> bool {
        let mut scratch = [0u8; 1024];
        tokio::time::timeout(within, async {
            loop {
                match self.sock.read(&mut scratch).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    /// Answers a WebSocket handshake with a 101 followed by `extra` in the same write.
    pub async fn accept_websocket(&mut self, extra: &[u8]) -> Received {
        let req = self.read_request().await.expect("a handshake");
        let accept = ws::validate_request(&req.head.parts).expect("a valid handshake");
        let mut out = BytesMut::new();
        ws::encode_accept(&mut out, &accept, None);
        out.extend_from_slice(extra);
        self.write(&out).await;
        req
    }

    /// Reads the next client message (frames must be masked); `None` on EOF.
    pub async fn read_message(&mut self, decoder: &mut WsDecoder) -> Option<Message> {
        loop {
            if let Some(msg) = decoder.decode(&mut self.buf).expect("a valid client frame") {
                return Some(msg);
            }
            if self.sock.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    pub async fn send_message(&mut self, msg: &Message) {
        self.write(&server_frame(msg)).await;
    }
}

/// `msg` as an unmasked server frame.
pub fn server_frame(msg: &Message) -> BytesMut {
    let mut out = BytesMut::new();
    ws::encode_message(&mut out, Role::Server, msg).unwrap();
    out
}

/// An HTTP/1.1 response with a `Content-Length` body.
pub fn response(status: u16, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Fails the test if `fut` takes longer than 10 s.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
