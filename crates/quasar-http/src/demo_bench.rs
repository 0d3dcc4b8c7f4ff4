//! The demo's benchmark routes: what the TechEmpower-style tests ask of an application,
//! written as a user writes them (a response built per request), plus the same JSON route
//! through the application layer's extractors and through a plain handler, to price the
//! extractors.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use serde::Serialize;

use crate::app::{Json, Path, State};
use crate::body::Body;
use crate::server::{Params, Router};

/// The body of `/plaintext` and the message of the JSON routes.
const HELLO: &str = "Hello, World!";

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Serialize)]
struct Numbered {
    message: &'static str,
    id: u64,
}

/// The state the `/app/json/:id` and `/plain/json/:id` routes share.
struct Greeting {
    message: &'static str,
}

/// A router with `/app/json/:id`, `/plaintext`, `/json` and `/plain/json/:id`.
pub(crate) fn routes() -> Router {
    let greeting = Arc::new(Greeting { message: HELLO });
    let plain_state = greeting.clone();
    // The typed route shares the state through the application layer's `State`; the
    // plain routes follow it on the same router.
    Router::with_state(greeting)
        .get("/app/json/:id", app_json)
        .into_router()
        .get("/plaintext", |_req: Request<Body>| async {
            let mut resp = Response::new(Body::from(Bytes::from_static(HELLO.as_bytes())));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            resp
        })
        .get("/json", |_req: Request<Body>| async {
            json_response(&Message { message: HELLO })
        })
        .get("/plain/json/:id", move |req: Request<Body>| {
            let state = plain_state.clone();
            async move {
                let id = req
                    .extensions()
                    .get::<Params>()
                    .and_then(|p| p.get("id"))
                    .and_then(|s| s.parse::<u64>().ok());
                match id {
                    Some(id) => json_response(&Numbered {
                        message: state.message,
                        id,
                    }),
                    None => {
                        let mut resp = Response::new(Body::empty());
                        *resp.status_mut() = StatusCode::BAD_REQUEST;
                        resp
                    }
                }
            }
        })
}

async fn app_json(State(state): State<Arc<Greeting>>, Path(id): Path<u64>) -> Json<Numbered> {
    Json(Numbered {
        message: state.message,
        id,
    })
}

fn json_response<T: Serialize>(doc: &T) -> Response<Body> {
    let body = serde_json::to_vec(doc).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
