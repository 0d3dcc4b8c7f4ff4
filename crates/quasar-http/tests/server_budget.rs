//! Request body chunks waiting for the handler count against the server's memory
//! budget (`Context::report_buffered`), and stop counting once the connection ends.

use crate::common;

use std::time::Duration;

use common::*;
use quasar_http::server::ServerConfig;
use quasar_http::Body;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_chunks_the_handler_has_not_taken_are_counted() {
    // A handler that keeps the body and never reads it.
    let handler = |req: http::Request<Body>| async move {
        let _body = req.into_body();
        std::future::pending::<()>().await;
        http::Response::new(Body::empty())
    };
    let server = start(handler, ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.address()).await.unwrap();
    tcp.write_all(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    // Let the head be consumed first, so only body bytes are held afterwards.
    tokio::time::sleep(Duration::from_millis(100)).await;
    tcp.write_all(&[b'a'; 30_000]).await.unwrap();
    let deadline = tokio::time::Instant::now() + T;
    // Decoded into the handler's channel (or, when full, waiting unparsed): all 30,000
    // are held for the peer either way (reported in 4 KiB steps, rounded down).
    while server.info().clients.memory_held != 30_000 / 4096 * 4096 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "held {}",
            server.info().clients.memory_held
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(tcp);
    while server.info().clients.memory_held != 0 {
        assert!(tokio::time::Instant::now() < deadline, "released");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.close(Duration::ZERO).await;
}
