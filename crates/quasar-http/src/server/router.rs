//! A small router: method + path, `:name` path parameters, 404 and 405 with `Allow`, and
//! WebSocket routes.
//!
//! Routes are tried in the order they were added; a path segment `:name` matches any one
//! non-empty segment and its (raw, not percent-decoded) value goes into the request's
//! extensions as [`Params`]. HEAD is served by a GET route when no HEAD route exists (the
//! server drops the body). A path that matches routes of other methods only gets
//! `405 Method Not Allowed` with `Allow`; no match at all gets `404 Not Found`.
//!
//! # Examples
//!
//! ```
//! use quasar_http::server::{Params, Router};
//! use quasar_http::Body;
//!
//! let router = Router::new()
//!     .get("/", |_req| async { http::Response::new(Body::from("Hello, World!")) })
//!     .get("/users/:id", |req: http::Request<Body>| async move {
//!         let id = req.extensions().get::<Params>().and_then(|p| p.get("id")).unwrap_or("");
//!         http::Response::new(Body::from(format!("user {id}")))
//!     })
//!     .websocket("/ws", |mut ws| async move {
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if ws.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! # let _ = router;
//! ```

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::ALLOW;
use http::{HeaderValue, Method, Request, Response, StatusCode};

use super::fixed::FixedResponse;
use super::handler::{Handler, ResponseFuture};
use super::websocket::{WebSocket, WsHandler, WsRoute};
use crate::body::Body;

/// Path parameters of the matched route, in the request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(Arc<str>, String)>);

impl Params {
    /// Parameters from `(name, value)` pairs, in path order.
    #[cfg(test)]
    pub(crate) fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        Params(pairs.into_iter().map(|(n, v)| (n.into(), v)).collect())
    }

    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, v.as_str()))
    }
}

enum Segment {
    Literal(Box<str>),
    Param(Arc<str>),
}

enum Target {
    Http(Method, Arc<dyn Handler>),
    /// A GET route answered with the same response every time.
    Fixed(Arc<FixedResponse>),
    Ws(Arc<dyn WsHandler>),
}

struct Route {
    segments: Vec<Segment>,
    target: Target,
}

/// Routes requests by method and path; a [`Handler`] itself.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .finish()
    }
}

fn parse_path(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix(':') {
            Some(name) => Segment::Param(name.into()),
            None => Segment::Literal(s.into()),
        })
        .collect()
}

impl Route {
    /// Matches `path`; the parameters when it does (`None` inside when it has none).
    fn matches(&self, path: &str) -> Option<Option<Params>> {
        let mut rest = path;
        let mut params = Vec::new();
        for seg in &self.segments {
            let part = next_segment(&mut rest)?;
            match seg {
                Segment::Literal(lit) if **lit == *part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), part.to_owned())),
            }
        }
        if next_segment(&mut rest).is_some() {
            return None;
        }
        Some((!params.is_empty()).then_some(Params(params)))
    }
}

/// The next non-empty `/`-separated segment of `rest`, which moves past it. A byte loop:
/// this runs for every route tried on every request, and paths are short, so it beats the
/// generic `split('/')` searcher.
fn next_segment<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let bytes = rest.as_bytes();
    let start = bytes.iter().position(|&b| b != b'/')?;
    let len = bytes[start..]
        .iter()
        .position(|&b| b == b'/')
        .unwrap_or(bytes.len() - start);
    // Both ends are at an ASCII '/' or the string's ends: char boundaries.
    let part = &rest[start..start + len];
    *rest = &rest[start + len..];
    Some(part)
}

impl Router {
    /// An empty router (everything is 404).
    pub fn new() -> Self {
        Router::default()
    }

    /// Serves `method` requests to `path` with `handler`.
    pub fn route(mut self, method: Method, path: &str, handler: impl Handler) -> Self {
        self.routes.push(Route {
            segments: parse_path(path),
            target: Target::Http(method, Arc::new(handler)),
        });
        self
    }

    /// Serves GET (and HEAD) requests to `path`.
    pub fn get(self, path: &str, handler: impl Handler) -> Self {
        self.route(Method::GET, path, handler)
    }

    /// Serves GET (and HEAD) requests to `path` with the same `response` every time (see
    /// [`FixedResponse`]): no handler runs, and the body is shared rather than rebuilt.
    pub fn fixed(mut self, path: &str, response: Response<Bytes>) -> Self {
        self.routes.push(Route {
            segments: parse_path(path),
            target: Target::Fixed(Arc::new(FixedResponse::new(response))),
        });
        self
    }

    /// Serves POST requests to `path`.
    pub fn post(self, path: &str, handler: impl Handler) -> Self {
        self.route(Method::POST, path, handler)
    }

    /// Serves PUT requests to `path`.
    pub fn put(self, path: &str, handler: impl Handler) -> Self {
        self.route(Method::PUT, path, handler)
    }

    /// Serves DELETE requests to `path`.
    pub fn delete(self, path: &str, handler: impl Handler) -> Self {
        self.route(Method::DELETE, path, handler)
    }

    /// Accepts WebSocket handshakes to `path` and runs `handler` on each connection (in its
    /// own task). Other methods get 405; a bad handshake 400, or 426 for a version other
    /// than 13.
    pub fn websocket<F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let route = Route {
            segments: parse_path(path),
            target: Target::Ws(Arc::new(handler)),
        };
        self.routes.push(route);
        self
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Body::from(code.canonical_reason().unwrap_or("")));
    *resp.status_mut() = code;
    resp
}

impl Handler for Router {
    fn call(&self, request: Request<Body>) -> ResponseFuture {
        let method = request.method().clone();
        let mut allowed: Vec<&Method> = Vec::new();
        let mut head_fallback = None;
        for route in &self.routes {
            let (m, endpoint) = match &route.target {
                Target::Http(m, handler) => (m, Endpoint::Handler(handler)),
                Target::Fixed(fixed) => (&Method::GET, Endpoint::Fixed(fixed)),
                Target::Ws(_) => continue,
            };
            let Some(params) = route.matches(request.uri().path()) else {
                continue;
            };
            if *m == method {
                return endpoint.call(request, params);
            }
            if method == Method::HEAD && *m == Method::GET && head_fallback.is_none() {
                head_fallback = Some((endpoint, params));
            }
            allowed.push(m);
        }
        if let Some((endpoint, params)) = head_fallback {
            return endpoint.call(request, params);
        }
        if allowed.is_empty() {
            return Box::pin(async { status(StatusCode::NOT_FOUND) });
        }
        let mut names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
        if names.contains(&"GET") && !names.contains(&"HEAD") {
            names.push("HEAD");
        }
        names.sort_unstable();
        names.dedup();
        let allow = HeaderValue::from_str(&names.join(", ")).ok();
        Box::pin(async move {
            let mut resp = status(StatusCode::METHOD_NOT_ALLOWED);
            if let Some(allow) = allow {
                resp.headers_mut().insert(ALLOW, allow);
            }
            resp
        })
    }

    fn websocket(&self, head: &http::request::Parts) -> Option<WsRoute> {
        // A path served both ways (JSON-RPC's `POST /rpc` and WebSocket `/rpc`): a request
        // of a method that has an HTTP route of its own goes to that route.
        let path = head.uri.path();
        let has_http = |r: &Route| matches!(&r.target, Target::Http(m, _) if *m == head.method);
        if head.method != Method::GET
            && self
                .routes
                .iter()
                .any(|r| has_http(r) && r.matches(path).is_some())
        {
            return None;
        }
        self.routes.iter().find_map(|route| match &route.target {
            Target::Ws(handler) => route
                .matches(head.uri.path())
                .map(|params| WsRoute::from_parts(handler.clone(), params)),
            Target::Http(..) | Target::Fixed(_) => None,
        })
    }
}

/// What a matched HTTP route runs.
enum Endpoint<'a> {
    Handler(&'a Arc<dyn Handler>),
    Fixed(&'a Arc<FixedResponse>),
}

impl Endpoint<'_> {
    fn call(self, mut request: Request<Body>, params: Option<Params>) -> ResponseFuture {
        match self {
            Endpoint::Handler(handler) => {
                if let Some(p) = params {
                    request.extensions_mut().insert(p);
                }
                handler.call(request)
            }
            Endpoint::Fixed(fixed) => {
                let resp = fixed.to_response();
                Box::pin(async move { resp })
            }
        }
    }
}
