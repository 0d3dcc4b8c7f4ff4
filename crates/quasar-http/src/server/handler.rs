//! What serves a request: any async function, a [`Router`](super::Router), or a tower service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::future::poll_fn;
use http::{Request, Response, StatusCode};

use super::websocket::WsRoute;
use crate::body::{Body, BodyError};

/// The boxed future a [`Handler`] returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'static>>;

/// Serves requests: `async fn(Request<Body>) -> Response<Body>`.
///
/// Implemented for every `Fn(Request<Body>) -> Fut + Send + Sync + 'static` whose future is
/// `Send`; share state by capturing an `Arc` in the closure. A handler that owns WebSocket
/// routes (the [`Router`](super::Router)) also answers [`websocket`](Self::websocket).
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `request`.
    fn call(&self, request: Request<Body>) -> ResponseFuture;

    /// The WebSocket route `head` asks for, if any. Asked for every request before
    /// [`call`](Self::call); the default has none.
    fn websocket(&self, head: &http::request::Parts) -> Option<WsRoute> {
        let _ = head;
        None
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    fn call(&self, request: Request<Body>) -> ResponseFuture {
        Box::pin(self(request))
    }
}

/// Serves requests with a [`tower_service::Service`] (an axum `Router`, a tower stack).
///
/// The service is cloned per request (tower's convention); an error from it becomes a
/// `500 Internal Server Error`.
///
/// # Examples
///
/// ```
/// use quasar_http::server::{Handler, TowerHandler};
/// use quasar_http::Body;
///
/// let svc = tower::service_fn(|_req: http::Request<Body>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("hi")))
/// });
/// let handler = TowerHandler::new(svc);
/// # fn is_handler<H: Handler>(_: &H) {}
/// is_handler(&handler);
/// ```
#[derive(Clone)]
pub struct TowerHandler<S> {
    service: S,
}

impl<S> TowerHandler<S> {
    /// Wraps `service`.
    pub fn new(service: S) -> Self {
        TowerHandler { service }
    }
}

impl<S> fmt::Debug for TowerHandler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TowerHandler")
    }
}

impl<S, B> Handler for TowerHandler<S>
where
    S: tower_service::Service<Request<Body>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BodyError> + Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BodyError>,
{
    fn call(&self, request: Request<Body>) -> ResponseFuture {
        let mut service = self.service.clone();
        Box::pin(async move {
            let result = match poll_fn(|cx| service.poll_ready(cx)).await {
                Ok(()) => service.call(request).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(resp) => resp.map(Body::new),
                Err(e) => {
                    let e: BodyError = e.into();
                    tracing::debug!(error = %e, "tower service failed");
                    let mut resp = Response::new(Body::empty());
                    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    resp
                }
            }
        })
    }
}
