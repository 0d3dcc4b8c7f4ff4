//! A thin application layer: handlers as async functions of typed extractors.
//!
//! ```text
//! async fn get_item(State(db): State<Db>, Path(id): Path<u64>) -> Result<Json<Item>, StatusCode>
//! ```
//!
//! [`App`] routes like [`Router`] (whose routes it fills) and hands every handler the
//! application state. Arguments are extractors: [`Path`], [`Query`], [`State`],
//! `HeaderMap`, `Method`, `Uri`, `Version` read the head ([`FromRequestParts`]); the last
//! argument may read the body ([`FromRequest`]: [`Json`], `Bytes`, `String`, [`Body`] or the
//! whole `Request<Body>`). The output is anything [`IntoResponse`]. A request an extractor
//! refuses gets the extractor's [`Rejection`] (400, 413, 415, 422 with a plain-text reason)
//! and the handler is not called; the connection stays open unless the request could not be
//! read to its end.
//!
//! The layer is optional and costs only what a route uses: a typed handler is a plain
//! [`Handler`] that runs its extractors before the function. Plain
//! `Fn(Request<Body>) -> Response<Body>` handlers go on working, on [`Router`] and here
//! (where `Request<Body>` is an extractor and `Response<Body>` a response). Why this is
//! our own small layer rather than axum's extractors over [`TowerHandler`] is in
//! docs/http-app.md.
//!
//! [`Router`]: crate::server::Router
//! [`Handler`]: crate::server::Handler
//! [`TowerHandler`]: crate::server::TowerHandler
//!
//! # Examples
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//!
//! use quasar_http::app::{Json, Path, State};
//! use quasar_http::http::StatusCode;
//! use quasar_http::server::{builder, Router, ServerConfig};
//!
//! type Db = Arc<Mutex<HashMap<u64, String>>>;
//!
//! async fn get_name(State(db): State<Db>, Path(id): Path<u64>) -> Result<String, StatusCode> {
//!     db.lock().unwrap().get(&id).cloned().ok_or(StatusCode::NOT_FOUND)
//! }
//!
//! async fn put_name(
//!     State(db): State<Db>,
//!     Path(id): Path<u64>,
//!     Json(name): Json<String>,
//! ) -> StatusCode {
//!     db.lock().unwrap().insert(id, name);
//!     StatusCode::NO_CONTENT
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let app = Router::with_state(Db::default())
//!     .get("/names/:id", get_name)
//!     .put("/names/:id", put_name);
//! let server = builder(app, ServerConfig::default())
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .start()
//!     .await?;
//! # server.close(std::time::Duration::from_secs(1)).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod extract;
mod handler;
mod path_de;
mod rejection;
mod response;

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use http::Method;

pub use extract::{
    FromRequest, FromRequestParts, Json, Path, Query, State, ViaParts, ViaRequest,
    DEFAULT_BODY_LIMIT,
};
pub use handler::TypedHandler;
pub use rejection::Rejection;
pub use response::IntoResponse;

use crate::body::Body;
use crate::server::{Handler, ResponseFuture, Router, WebSocket, WsRoute};
use handler::Typed;

/// A router whose handlers are [`TypedHandler`]s sharing the state `S`.
///
/// Built with [`App::new`] (no state), [`App::with_state`] or
/// [`Router::with_state`](crate::server::Router::with_state); served like any
/// [`Handler`]. Routes are matched as [`Router`] matches them (`:name` segments, 404, 405
/// with `Allow`, HEAD served by GET).
///
/// # Examples
///
/// ```
/// use quasar_http::app::{App, Path};
///
/// let app = App::new()
///     .get("/", || async { "Hello, World!" })
///     .get("/hello/:name", |Path(name): Path<String>| async move { format!("Hello, {name}!") });
/// # let _ = app;
/// ```
pub struct App<S = ()> {
    router: Router,
    state: Arc<S>,
    limit: Option<usize>,
}

impl<S> std::fmt::Debug for App<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("router", &self.router)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl App<()> {
    /// An application without state.
    pub fn new() -> Self {
        App::with_state(())
    }
}

impl Default for App<()> {
    fn default() -> Self {
        App::new()
    }
}

impl<S: Send + Sync + 'static> App<S> {
    /// An application whose handlers may take [`State<S>`](State) (a clone of `state`).
    pub fn with_state(state: S) -> Self {
        App {
            router: Router::new(),
            state: Arc::new(state),
            limit: None,
        }
    }

    /// The most bytes [`Json`], `Bytes` and `String` read from a request body, for routes
    /// added after this call (default [`DEFAULT_BODY_LIMIT`]). Past it: 413.
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.limit = (limit != DEFAULT_BODY_LIMIT).then_some(limit);
        self
    }

    /// Serves `method` requests to `path` with `handler`.
    pub fn route<H, M>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: TypedHandler<M, S>,
        M: 'static,
    {
        let typed = Typed {
            handler,
            state: self.state.clone(),
            limit: self.limit,
            marker: PhantomData,
        };
        self.router = self.router.route(method, path, typed);
        self
    }

    /// Serves GET (and HEAD) requests to `path`.
    pub fn get<H: TypedHandler<M, S>, M: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::GET, path, handler)
    }

    /// Serves POST requests to `path`.
    pub fn post<H: TypedHandler<M, S>, M: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::POST, path, handler)
    }

    /// Serves PUT requests to `path`.
    pub fn put<H: TypedHandler<M, S>, M: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PUT, path, handler)
    }

    /// Serves PATCH requests to `path`.
    pub fn patch<H: TypedHandler<M, S>, M: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PATCH, path, handler)
    }

    /// Serves DELETE requests to `path`.
    pub fn delete<H: TypedHandler<M, S>, M: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::DELETE, path, handler)
    }

    /// Accepts WebSocket handshakes to `path` and runs `handler` with each connection and
    /// a clone of the state, as [`Router::websocket`] does.
    pub fn websocket<F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        S: Clone,
        F: Fn(WebSocket, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let state = self.state.clone();
        self.router = self.router.websocket(path, move |ws| {
            let state = S::clone(&state);
            handler(ws, state)
        });
        self
    }

    /// The routes as a plain [`Router`] (the state is inside the handlers).
    pub fn into_router(self) -> Router {
        self.router
    }
}

impl<S: Send + Sync + 'static> Handler for App<S> {
    fn call(&self, request: http::Request<Body>) -> ResponseFuture {
        Handler::call(&self.router, request)
    }

    fn websocket(&self, head: &http::request::Parts) -> Option<WsRoute> {
        Handler::websocket(&self.router, head)
    }
}

impl Router {
    /// An [`App`]: a router whose handlers are async functions of extractors, sharing
    /// `state` through [`State<S>`](State).
    ///
    /// # Examples
    ///
    /// ```
    /// use quasar_http::app::{Json, State};
    /// use quasar_http::server::Router;
    ///
    /// #[derive(Clone)]
    /// struct Config {
    ///     name: &'static str,
    /// }
    ///
    /// async fn about(State(config): State<Config>) -> Json<serde_json::Value> {
    ///     Json(serde_json::json!({ "name": config.name }))
    /// }
    ///
    /// let app = Router::with_state(Config { name: "demo" }).get("/about", about);
    /// # let _ = app;
    /// ```
    pub fn with_state<S: Send + Sync + 'static>(state: S) -> App<S> {
        App::with_state(state)
    }
}
