//! The actix-web 4 baseline: a hello-world `GET /` on one worker thread.
//!
//! actix-web runs its own runtime (`actix_rt::System`) with an accept thread and `workers`
//! worker threads; one worker matches `quasar serve http --workers 1`. Every request gets
//! `200 Hello, World!` (`text/plain`), like the hyper baseline, so the benchmark compares the
//! servers' per-request cost, not their routers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};

use crate::shutdown;

/// The body of every response.
const BODY: &str = "Hello, World!";

/// Serves HTTP/1.1 on `bind` with one worker until SIGTERM or Ctrl-C (actix-web's own signal
/// handling stops it gracefully).
pub(crate) fn serve(bind: SocketAddr) -> io::Result<()> {
    actix_rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new().default_service(web::to(|| async {
                HttpResponse::Ok().content_type("text/plain").body(BODY)
            }))
        })
        .workers(1)
        // A benchmark server has nothing in flight worth waiting 30 s for.
        .shutdown_timeout(1)
        .client_request_timeout(Duration::from_secs(5))
        .bind(bind)?;
        for addr in server.addrs() {
            shutdown::announce("http-actix", addr);
        }
        server.run().await
    })
}
