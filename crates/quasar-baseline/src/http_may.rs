//! The may_minihttp baseline: the hyper baseline's routes on one `may` coroutine worker.
//!
//! `GET /json` serialises `{"message":"Hello, World!"}` with serde_json per request into the
//! response body; `/plaintext` and any other path answer "Hello, World!".
//!
//! may_minihttp decodes every request of a read, builds all their responses in one buffer and
//! writes them once — the pipelined plaintext technique the benchmark holds quasar against.
//! `may::config().set_workers(1)` gives it one scheduler thread (the counterpart of `--workers
//! 1`); worker pinning is off so `taskset` alone decides the CPU.
//!
//! may_minihttp binds from an address and does not report the port it got, so port 0 is
//! resolved first with a throw-away std listener (a port another process could take in the
//! instant between is acceptable for a benchmark tool).

use std::io;
use std::net::{SocketAddr, TcpListener};

use bytes::BufMut;
use may_minihttp::{HttpServer, HttpService, Request, Response};

use crate::http::{Message, BODY};
use crate::shutdown;

#[derive(Clone, Debug)]
struct HelloWorld;

impl HttpService for HelloWorld {
    fn call(&mut self, req: Request<'_, '_, '_>, rsp: &mut Response<'_>) -> io::Result<()> {
        if req.path() == "/json" {
            rsp.header("Content-Type: application/json");
            serde_json::to_writer(rsp.body_mut().writer(), &Message { message: BODY })?;
        } else {
            rsp.header("Content-Type: text/plain").body(BODY);
        }
        Ok(())
    }
}

/// Serves HTTP/1.1 on `bind` until SIGTERM or Ctrl-C.
pub(crate) async fn serve(mut bind: SocketAddr) -> io::Result<()> {
    if bind.port() == 0 {
        bind = TcpListener::bind(bind)?.local_addr()?;
    }
    may::config().set_workers(1);
    may::config().set_worker_pin(false);
    let server = HttpServer(HelloWorld).start(bind)?;
    shutdown::announce("http-may", bind);
    shutdown::signal().await;
    // The process exits next; may's threads end with it.
    drop(server);
    Ok(())
}
