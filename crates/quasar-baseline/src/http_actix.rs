//! The actix-web 4 baseline: the hyper baseline's routes on one worker thread.
//!
//! actix-web runs its own runtime (`actix_rt::System`) with an accept thread and `workers`
//! worker threads; one worker matches `quasar serve http --workers 1`. `GET /plaintext` and
//! any other path answer `200 Hello, World!` (`text/plain`), `GET /json` answers
//! `{"message":"Hello, World!"}` through `web::Json` (serialised per request).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};

use crate::http::{Message, BODY};
use crate::shutdown;

/// Serves HTTP/1.1 on `bind` with one worker until SIGTERM or Ctrl-C (actix-web's own signal
/// handling stops it gracefully).
pub(crate) fn serve(bind: SocketAddr) -> io::Result<()> {
    actix_rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .route(
                    "/json",
                    web::get().to(|| async { web::Json(Message { message: BODY }) }),
                )
                .default_service(web::to(|| async {
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
