//! [`TypedHandler`]: async functions of extractors, as [`Handler`]s.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use http::Request;

use super::extract::{BodyLimit, FromRequest, FromRequestParts};
use super::IntoResponse;
use crate::body::Body;
use crate::server::{Handler, ResponseFuture};

/// An async function whose arguments are extractors and whose output is [`IntoResponse`]:
/// `async fn(E1, E2, ..., En) -> impl IntoResponse` with up to 8 arguments, each of
/// `E1..E(n-1)` a [`FromRequestParts`] extractor and `En` a [`FromRequest`] one (which may
/// read the body). `M` only tells the implementations apart; it is inferred.
///
/// A closure works too when its argument types are written out
/// (`|Path(id): Path<u32>| async move { ... }`).
pub trait TypedHandler<M, S>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments from `req`, runs the function, and turns its output into a
    /// response (a rejection's response when an extractor refuses).
    fn call(self, req: Request<Body>, state: Arc<S>) -> ResponseFuture;
}

impl<F, Fut, R, S> TypedHandler<((),), S> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    fn call(self, _req: Request<Body>, _state: Arc<S>) -> ResponseFuture {
        Box::pin(async move { self().await.into_response() })
    }
}

macro_rules! typed_handler {
    ($($part:ident),*; $last:ident) => {
        #[allow(non_snake_case, unused_mut)]
        impl<F, Fut, R, S, M, $($part,)* $last> TypedHandler<(M, $($part,)* $last,), S> for F
        where
            F: FnOnce($($part,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoResponse,
            S: Send + Sync + 'static,
            $($part: FromRequestParts<S> + Send,)*
            $last: FromRequest<S, M> + Send,
        {
            fn call(self, req: Request<Body>, state: Arc<S>) -> ResponseFuture {
                Box::pin(async move {
                    let (mut parts, body) = req.into_parts();
                    $(
                        let $part = match $part::from_request_parts(&mut parts, &state) {
                            Ok(v) => v,
                            Err(rejection) => return rejection.into_response(),
                        };
                    )*
                    let req = Request::from_parts(parts, body);
                    let $last = match $last::from_request(req, &state).await {
                        Ok(v) => v,
                        Err(rejection) => return rejection.into_response(),
                    };
                    self($($part,)* $last).await.into_response()
                })
            }
        }
    };
}

typed_handler!(; T1);
typed_handler!(T1; T2);
typed_handler!(T1, T2; T3);
typed_handler!(T1, T2, T3; T4);
typed_handler!(T1, T2, T3, T4; T5);
typed_handler!(T1, T2, T3, T4, T5; T6);
typed_handler!(T1, T2, T3, T4, T5, T6; T7);
typed_handler!(T1, T2, T3, T4, T5, T6, T7; T8);

/// A [`TypedHandler`] with its state: a [`Handler`] the router serves.
pub(crate) struct Typed<H, M, S> {
    pub(crate) handler: H,
    pub(crate) state: Arc<S>,
    pub(crate) limit: Option<usize>,
    pub(crate) marker: PhantomData<fn() -> M>,
}

impl<H, M, S> Handler for Typed<H, M, S>
where
    H: TypedHandler<M, S>,
    S: Send + Sync + 'static,
    M: 'static,
{
    fn call(&self, mut req: Request<Body>) -> ResponseFuture {
        if let Some(limit) = self.limit {
            req.extensions_mut().insert(BodyLimit(limit));
        }
        self.handler.clone().call(req, self.state.clone())
    }
}
