//! The zero-abstraction HTTP/1.1 server: hyper 1.x with a `service_fn` handler.
//!
//! The handler builds every response per request, as a user's would: `GET /plaintext`
//! answers "Hello, World!" (`text/plain`), `GET /json` answers `{"message":"Hello, World!"}`
//! serialised by serde_json (`application/json`), and any other path answers "Hello, World!"
//! (the benchmark's `GET /`). A connection per task, keep-alive and pipelining as hyper does
//! them, with `pipeline_flush` so pipelined responses leave in one write.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::shutdown;

/// The body of `/plaintext` and of every other path but `/json`.
pub(crate) const BODY: &str = "Hello, World!";

/// The document `/json` serialises per request.
#[derive(Serialize)]
pub(crate) struct Message {
    pub(crate) message: &'static str,
}

/// Serves HTTP/1.1 on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    shutdown::accept_until_signal("http", listener, |stream, _| async move {
        let _ = http1::Builder::new()
            .pipeline_flush(true)
            .serve_connection(TokioIo::new(stream), service_fn(handle))
            .await;
    })
    .await
}

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (body, content_type) = if req.uri().path() == "/json" {
        let json = serde_json::to_vec(&Message { message: BODY }).unwrap_or_default();
        (Bytes::from(json), "application/json")
    } else {
        (Bytes::from_static(BODY.as_bytes()), "text/plain")
    };
    let mut resp = Response::new(Full::new(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}
