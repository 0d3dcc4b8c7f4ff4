//! Serving [`Methods`] over HTTP `POST` and over a WebSocket ([`Router::rpc`]).

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::server::{Methods, Notifier, Table};
use crate::app::{IntoResponse, Rejection};
use crate::body::{Body, ToBytesError};
use crate::server::{Handler, ResponseFuture, Router, WebSocket};
use crate::ws::Message;

impl Router {
    /// Serves `methods` at `path`: HTTP `POST` (one request or batch per body) and a
    /// WebSocket (one request or batch per message, answered in any order).
    ///
    /// Over HTTP the request must say `Content-Type: application/json` (else 415); a body
    /// over [`Methods::body_limit`] gets 413 before any of it is read, and the connection
    /// closes. A JSON-RPC answer is `200` with `application/json`; a message that needs
    /// none (notifications only) gets `204 No Content`. Over a WebSocket every text (or
    /// binary) message is one request or batch; up to [`Methods::max_in_flight`] of them
    /// run at once, each answer is sent when ready, and methods may notify the socket
    /// through [`Ctx::notifier`](super::Ctx::notifier).
    ///
    /// # Examples
    ///
    /// ```
    /// use quasar_http::rpc::{Methods, RpcError};
    /// use quasar_http::server::Router;
    ///
    /// let methods = Methods::new().method("ping", |()| async { Ok::<_, RpcError>("pong") });
    /// let app = Router::new().rpc("/rpc", methods);
    /// # let _ = app;
    /// ```
    pub fn rpc<S>(self, path: &str, methods: Methods<S>) -> Router {
        let table = Arc::new(methods.table);
        let ws_table = table.clone();
        self.post(path, HttpRpc(table))
            .websocket(path, move |ws| serve_websocket(ws_table.clone(), ws))
    }
}

/// The HTTP `POST` side of [`Router::rpc`].
struct HttpRpc(Arc<Table>);

impl Handler for HttpRpc {
    fn call(&self, request: Request<Body>) -> ResponseFuture {
        Box::pin(serve_http(self.0.clone(), request))
    }
}

async fn serve_http(table: Arc<Table>, req: Request<Body>) -> Response<Body> {
    if !is_json(&req) {
        return Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected request with `Content-Type: application/json`",
        )
        .into_response();
    }
    let body = match req.into_body().to_bytes(table.body_limit).await {
        Ok(body) => body,
        Err(ToBytesError::TooLarge { limit }) => {
            return Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body longer than {limit} bytes"),
            )
            .closing()
            .into_response()
        }
        Err(ToBytesError::Body(e)) => {
            return Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("Failed to read the body: {e}"),
            )
            .closing()
            .into_response()
        }
    };
    match table.dispatch(&body, None).run().await {
        Some(answer) => {
            let mut resp = Response::new(Body::from(answer));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        None => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
    }
}

/// Whether the request says `application/json` (parameters such as `charset` allowed).
fn is_json(req: &Request<Body>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|ct| ct.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The WebSocket side of [`Router::rpc`]: reads messages while fewer than
/// `max_in_flight` are being answered; a call that finishes at its first poll (most do)
/// is answered inline, the others run in tasks of this socket, aborted when it ends.
async fn serve_websocket(table: Arc<Table>, ws: WebSocket) {
    let (tx, mut rx) = ws.split();
    let notifier = Notifier::new(tx.clone());
    let slots = Arc::new(Semaphore::new(table.max_in_flight));
    let mut calls = JoinSet::new();
    while let Some(Ok(msg)) = rx.recv().await {
        let data = match msg {
            Message::Text(data) | Message::Binary(data) => data,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        while calls.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut answer = Box::pin(table.dispatch(&data, Some(&notifier)).run());
        // One poll here saves a task for calls that need no waiting; the waker left
        // behind by a call that does is only ever a spurious wake-up of this loop.
        let first = std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(reply) => {
                drop(slot);
                if let Some(reply) = reply {
                    if tx.send(Message::Text(Bytes::from(reply))).await.is_err() {
                        break;
                    }
                }
            }
            Poll::Pending => {
                let tx = tx.clone();
                calls.spawn(async move {
                    if let Some(reply) = answer.await {
                        let _ = tx.send(Message::Text(Bytes::from(reply))).await;
                    }
                    drop(slot);
                });
            }
        }
    }
}
