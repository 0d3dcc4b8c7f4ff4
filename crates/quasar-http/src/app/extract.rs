//! Extractors: typed pieces of a request a handler takes as arguments.

use std::future::Future;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::path_de::ParamsDe;
use super::{IntoResponse, Rejection};
use crate::body::{Body, ToBytesError};
use crate::server::Params;

/// The most bytes [`Json`], `Bytes` and `String` read from a request body unless the
/// application sets another limit ([`App::body_limit`](super::App::body_limit)): 2 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The body limit in force for a request, when the application changed it from
/// [`DEFAULT_BODY_LIMIT`] (a request extension).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub(crate) usize);

/// An extractor that needs only the request's head (method, URI, headers, extensions) and
/// the application state. A handler may take any number of them, in any order, before at
/// most one [`FromRequest`] extractor (which takes the body) as its last argument.
///
/// It is synchronous: the head is all there is to read. Work that waits (a database lookup
/// for a session) belongs in the handler, or in a [`FromRequest`] extractor.
pub trait FromRequestParts<S>: Sized {
    /// The response when the request does not fit.
    type Rejection: IntoResponse;

    /// Extracts `Self` from the head.
    ///
    /// # Errors
    ///
    /// The rejection to answer instead of calling the handler.
    fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection>;
}

/// Marks the [`FromRequest`] implementation every [`FromRequestParts`] extractor gets.
#[derive(Debug, Clone, Copy)]
pub enum ViaParts {}

/// Marks a [`FromRequest`] implementation that reads the body.
#[derive(Debug, Clone, Copy)]
pub enum ViaRequest {}

/// An extractor that takes the whole request, body included: the last argument of a handler.
/// Every [`FromRequestParts`] extractor is one too (the marker `M` tells the two apart).
pub trait FromRequest<S, M = ViaRequest>: Sized {
    /// The response when the request does not fit.
    type Rejection: IntoResponse;

    /// Extracts `Self` from the request.
    fn from_request(
        req: Request<Body>,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

impl<S: Sync, T> FromRequest<S, ViaParts> for T
where
    T: FromRequestParts<S> + Send,
    T::Rejection: Send,
{
    type Rejection = T::Rejection;

    fn from_request(
        req: Request<Body>,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let (mut parts, _) = req.into_parts();
        std::future::ready(T::from_request_parts(&mut parts, state))
    }
}

// ===== the head =====

/// The route's path parameters (`/items/:id`), deserialised into `T`: one value
/// (`Path<u64>`), a tuple in path order (`Path<(String, u32)>`), or a struct by name.
/// Values are percent-decoded first. A value that does not parse is a 400; `Path` on a
/// route without parameters a 500.
///
/// # Examples
///
/// ```
/// use quasar_http::app::{App, Path};
///
/// async fn item(Path(id): Path<u64>) -> String {
///     format!("item {id}")
/// }
///
/// let app = App::new().get("/items/:id", item);
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<S, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Rejection;

    fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        // A route without parameters never inserts them: the route and the handler
        // disagree, a server bug rather than a bad request.
        let Some(params) = parts.extensions.get::<Params>() else {
            return Err(Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No path parameters found for the matched route",
            ));
        };
        let bad = |e: super::path_de::PathError| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("Invalid URL: cannot parse the path: {e}"),
            )
        };
        let de = ParamsDe::new(params).map_err(bad)?;
        T::deserialize(de).map(Path).map_err(bad)
    }
}

/// The query string deserialised into `T` with `serde_urlencoded` (a missing query is an
/// empty one, so a struct of `Option` fields always fits). A query that does not parse is
/// a 400.
///
/// # Examples
///
/// ```
/// use quasar_http::app::{App, Query};
///
/// #[derive(serde::Deserialize)]
/// struct Page {
///     offset: Option<usize>,
///     limit: Option<usize>,
/// }
///
/// async fn list(Query(page): Query<Page>) -> String {
///     format!("{:?} {:?}", page.offset, page.limit)
/// }
///
/// let app = App::new().get("/items", list);
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Rejection;

    fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query).map(Query).map_err(|e| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("Failed to deserialize the query string: {e}"),
            )
        })
    }
}

/// The application state given to [`Router::with_state`](crate::server::Router::with_state)
/// (or [`App::with_state`](super::App::with_state)), cloned for the handler: share
/// anything mutable through an `Arc`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use quasar_http::app::State;
/// use quasar_http::server::Router;
///
/// async fn hit(State(hits): State<Arc<AtomicU64>>) -> String {
///     format!("{}", hits.fetch_add(1, Ordering::Relaxed) + 1)
/// }
///
/// let app = Router::with_state(Arc::new(AtomicU64::new(0))).get("/hit", hit);
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S: Clone> FromRequestParts<S> for State<S> {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(State(state.clone()))
    }
}

impl<S> FromRequestParts<S> for HeaderMap {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.headers.clone())
    }
}

impl<S> FromRequestParts<S> for Method {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.method.clone())
    }
}

impl<S> FromRequestParts<S> for Uri {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.uri.clone())
    }
}

impl<S> FromRequestParts<S> for Version {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.version)
    }
}

// ===== the body =====

fn body_limit(req: &Request<Body>) -> usize {
    req.extensions()
        .get::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0)
}

/// The whole body as `Bytes`, within the body limit.
async fn read_body(req: Request<Body>) -> Result<Bytes, Rejection> {
    let limit = body_limit(&req);
    req.into_body().to_bytes(limit).await.map_err(|e| match e {
        ToBytesError::TooLarge { limit } => Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body longer than {limit} bytes"),
        )
        .closing(),
        ToBytesError::Body(e) => Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("Failed to read the body: {e}"),
        )
        .closing(),
    })
}

impl<S: Sync> FromRequest<S> for Request<Body> {
    type Rejection = std::convert::Infallible;

    fn from_request(
        req: Request<Body>,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        std::future::ready(Ok(req))
    }
}

impl<S: Sync> FromRequest<S> for Body {
    type Rejection = std::convert::Infallible;

    fn from_request(
        req: Request<Body>,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        std::future::ready(Ok(req.into_body()))
    }
}

impl<S: Sync> FromRequest<S> for Bytes {
    type Rejection = Rejection;

    fn from_request(
        req: Request<Body>,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        read_body(req)
    }
}

impl<S: Sync> FromRequest<S> for String {
    type Rejection = Rejection;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req).await?;
        String::from_utf8(bytes.into())
            .map_err(|_| Rejection::new(StatusCode::BAD_REQUEST, "Request body is not valid UTF-8"))
    }
}

/// JSON: as an extractor, the request body deserialised into `T`; as a response, `T`
/// serialised with `Content-Type: application/json`.
///
/// The request must say `Content-Type: application/json` (or `application/*+json`), else
/// 415; a body over the limit is a 413 ([`DEFAULT_BODY_LIMIT`], or
/// [`App::body_limit`](super::App::body_limit)); bytes that are not JSON a 400; JSON that
/// does not match `T` (a missing field, a string for a number) a 422.
///
/// # Examples
///
/// ```
/// use quasar_http::app::{App, Json};
/// use quasar_http::http::StatusCode;
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Item {
///     name: String,
/// }
///
/// async fn create(Json(item): Json<Item>) -> (StatusCode, Json<Item>) {
///     (StatusCode::CREATED, Json(item))
/// }
///
/// let app = App::new().post("/items", create);
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

fn is_json(req: &Request<Body>) -> bool {
    let Some(ct) = req.headers().get(CONTENT_TYPE) else {
        return false;
    };
    let Ok(ct) = ct.to_str() else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

impl<S: Sync, T: DeserializeOwned + Send> FromRequest<S> for Json<T> {
    type Rejection = Rejection;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = read_body(req).await?;
        serde_json::from_slice(&bytes).map(Json).map_err(|e| {
            let status = match e.classify() {
                serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            Rejection::new(status, format!("Failed to deserialize the JSON body: {e}"))
        })
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response<Body> {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut resp = Response::new(Body::from(bytes));
                resp.headers_mut().insert(
                    CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                resp
            }
            Err(e) => {
                tracing::debug!(error = %e, "response did not serialise");
                Rejection::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Failed to serialize the response: {e}"),
                )
                .into_response()
            }
        }
    }
}
