//! The axum 0.8 baseline: the routes of the hyper baseline as axum handlers, served by
//! `axum::serve` (what an axum user writes).
//!
//! `GET /plaintext` returns a `&'static str` (axum answers `text/plain; charset=utf-8`),
//! `GET /json` returns `Json(Message)` (serialised per request), and the fallback answers
//! "Hello, World!" for any other path. `--current-thread` gives it one worker thread.

use std::io;
use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::http::{Message, BODY};
use crate::shutdown;

/// Serves HTTP/1.1 on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr) -> io::Result<()> {
    let app = Router::new()
        .route("/plaintext", get(|| async { BODY }))
        .route("/json", get(|| async { Json(Message { message: BODY }) }))
        .fallback(|| async { BODY });
    let listener = TcpListener::bind(bind).await?;
    shutdown::announce("http-axum", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown::signal())
        .await
}
