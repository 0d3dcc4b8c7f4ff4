//! Graceful shutdown in one call: `TcpServer::close_on(signal, deadline)` serves until the
//! signal, lets the request in flight finish, closes idle connections, and force-closes
//! what outlives the deadline.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use quasar_http::app::App;
use quasar_http::server::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A route that answers once `release` fires, telling `entered` it has started.
type Gate = Arc<Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>;

fn app(gate: Gate) -> App<Gate> {
    App::with_state(gate).get("/", || async { "up" }).get(
        "/slow",
        |quasar_http::app::State(gate): quasar_http::app::State<Gate>| async move {
            let taken = gate.lock().unwrap().take();
            if let Some((entered, release)) = taken {
                let _ = entered.send(());
                let _ = release.await;
            }
            "done"
        },
    )
}

#[tokio::test]
async fn close_on_finishes_the_request_in_flight_and_closes_idle_connections() {
    let (entered_tx, entered) = oneshot::channel();
    let (release, release_rx) = oneshot::channel();
    let gate: Gate = Arc::new(Mutex::new(Some((entered_tx, release_rx))));
    let server = Arc::new(start(app(gate), ServerConfig::default()).await);
    let (signal, signal_rx) = oneshot::channel::<()>();
    let closing = tokio::spawn({
        let server = server.clone();
        async move { server.close_on(signal_rx, Duration::from_secs(10)).await }
    });

    // An idle kept-alive connection, and one with a request in flight.
    let mut idle = TcpStream::connect(server.address()).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_responses(&mut idle, 1).await.ends_with("up"));
    let mut busy = TcpStream::connect(server.address()).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    entered.await.unwrap();
    assert!(!closing.is_finished());

    signal.send(()).unwrap();
    // The idle connection closes at once; the busy one waits for its handler.
    assert!(is_closed(&mut idle).await);
    // The server waits for its peers to acknowledge the close (within the deadline).
    drop(idle);
    release.send(()).unwrap();
    let answer = read_to_close(&mut busy).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    drop(busy);
    let report = tokio::time::timeout(T, closing).await.unwrap().unwrap();
    assert_eq!(report.forced, 0, "{report:?}");
    assert_eq!(report.finished_in_flight, 1, "{report:?}");
    assert!(server.is_closing());
    assert!(TcpStream::connect(server.address()).await.is_err());
}

#[tokio::test]
async fn close_on_force_closes_what_outlives_the_deadline() {
    let (entered_tx, entered) = oneshot::channel();
    // The handler is never released.
    let (_release, release_rx) = oneshot::channel();
    let gate: Gate = Arc::new(Mutex::new(Some((entered_tx, release_rx))));
    let server = start(app(gate), ServerConfig::default()).await;
    let mut busy = TcpStream::connect(server.address()).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    entered.await.unwrap();
    let report = tokio::time::timeout(
        T,
        server.close_on(std::future::ready(()), Duration::from_millis(100)),
    )
    .await
    .unwrap();
    assert_eq!(report.forced, 1, "{report:?}");
    assert_eq!(read_to_close(&mut busy).await, "");
}
