//! The zero-abstraction HTTP/1.1 server: hyper 1.x answering every request with a small body.
//!
//! A connection per task, keep-alive and pipelining as hyper does them by default, and a
//! `Content-Length` response (hyper sets it from the `Full` body).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::shutdown;

/// The body of every response.
const BODY: &[u8] = b"Hello, World!";

/// Serves HTTP/1.1 on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(bind: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    shutdown::announce("http", listener.local_addr()?);
    tokio::select! {
        () = accept_loop(listener) => Ok(()),
        () = shutdown::signal() => Ok(()),
    }
}

async fn accept_loop(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
            });
            let _ = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
