//! [`Methods`]: the method table, and running one message against it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::RpcError;
use super::message::{decode, write_error, write_result, Call, Decoded, Id};
use crate::server::WsSender;
use crate::ws::Message;

/// Default [`Methods::body_limit`]: 2 MiB, the application layer's default.
pub const DEFAULT_RPC_BODY_LIMIT: usize = crate::app::DEFAULT_BODY_LIMIT;
/// Default [`Methods::max_batch`].
pub const DEFAULT_MAX_BATCH: usize = 1024;
/// Default [`Methods::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

type MethodFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, RpcError>> + Send + 'static>>;

/// A registered method with its types erased: decodes the params (synchronously, from the
/// borrowed message) and returns the call's future, which owns everything it needs.
type ErasedMethod =
    dyn Fn(Option<&RawValue>, Option<&Notifier>) -> Result<MethodFuture, RpcError> + Send + Sync;

/// What a method that takes a context sees: the shared state and, on a WebSocket, a
/// [`Notifier`] to send notifications to the caller's socket.
#[derive(Debug)]
pub struct Ctx<S> {
    state: Arc<S>,
    notifier: Option<Notifier>,
}

impl<S> Ctx<S> {
    /// The state given to [`Methods::with_state`].
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The state, shared (to keep it past the call).
    pub fn state_arc(&self) -> &Arc<S> {
        &self.state
    }

    /// Sends notifications to the WebSocket the call came on; `None` over HTTP, where a
    /// response is all the server can send.
    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }
}

/// Sends server-initiated notifications (`{"jsonrpc":"2.0","method":...,"params":...}`,
/// no id) to one WebSocket client. Cloneable; keep it past the call to notify later.
#[derive(Clone)]
pub struct Notifier {
    tx: WsSender,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("socket", &self.tx)
            .finish()
    }
}

impl Notifier {
    pub(crate) fn new(tx: WsSender) -> Self {
        Notifier { tx }
    }

    /// Sends the notification `method` with `params` (an array or object; `()` sends
    /// none), waiting while the socket's write queue is full.
    ///
    /// # Errors
    ///
    /// [`quasar_net::Error::is_closed`] once the socket is closing or gone; a protocol
    /// error when `params` does not serialise.
    pub async fn notify<P: Serialize>(&self, method: &str, params: P) -> quasar_net::Result<()> {
        let text = super::client::encode_request(method, &params, None)
            .map_err(|e| quasar_net::Error::protocol_with("json-rpc notification", e))?;
        self.tx.send(Message::Text(Bytes::from(text))).await
    }
}

/// Deserialises params into `P`: from the array or object given, or, when the request has
/// none, from `null` (a `()` or `Option`), then `{}` (a struct of optional fields), then `[]`.
fn params<P: DeserializeOwned>(raw: Option<&RawValue>) -> Result<P, RpcError> {
    match raw {
        Some(raw) => serde_json::from_str(raw.get()).map_err(RpcError::invalid_params),
        None => serde_json::from_str("null")
            .or_else(|e| {
                serde_json::from_str("{}").or_else(|_| serde_json::from_str("[]").map_err(|_| e))
            })
            .map_err(RpcError::invalid_params),
    }
}

fn serialise<R: Serialize>(result: &R) -> Result<Vec<u8>, RpcError> {
    serde_json::to_vec(result).map_err(RpcError::internal)
}

/// A table of JSON-RPC 2.0 methods sharing the state `S`, served over HTTP and WebSocket
/// with [`Router::rpc`](crate::server::Router::rpc), or run directly with
/// [`handle`](Self::handle).
///
/// Each method is an async function of typed params (anything `Deserialize`: a tuple
/// takes positional params, a struct takes positional *or* named ones) returning
/// `Result<R, E>` with `R: Serialize` and `E: Into<RpcError>`. [`method_with`](Self::method_with)
/// methods also get a [`Ctx`] (state, WebSocket notifier). Names are free-form:
/// `calc.add` is a namespace by convention, and [`nest`](Self::nest) puts a whole table
/// under a prefix.
///
/// # Examples
///
/// ```
/// use quasar_http::rpc::{Methods, RpcError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let methods = Methods::new()
///     .method("calc.add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) });
/// let reply = methods
///     .handle(br#"{"jsonrpc":"2.0","method":"calc.add","params":[1,2],"id":1}"#)
///     .await;
/// assert_eq!(reply.unwrap(), br#"{"jsonrpc":"2.0","result":3,"id":1}"#);
/// # });
/// ```
pub struct Methods<S = ()> {
    state: Arc<S>,
    pub(crate) table: Table,
}

/// The state-free part of [`Methods`]: what a server keeps.
#[derive(Clone)]
pub(crate) struct Table {
    methods: HashMap<Box<str>, Arc<ErasedMethod>>,
    pub(crate) body_limit: usize,
    pub(crate) max_batch: usize,
    pub(crate) max_in_flight: usize,
}

impl<S> fmt::Debug for Methods<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("Methods")
            .field("methods", &names)
            .field("body_limit", &self.table.body_limit)
            .field("max_batch", &self.table.max_batch)
            .field("max_in_flight", &self.table.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Methods<()> {
    /// An empty table without state.
    pub fn new() -> Self {
        Methods::with_state(())
    }
}

impl Default for Methods<()> {
    fn default() -> Self {
        Methods::new()
    }
}

impl<S: Send + Sync + 'static> Methods<S> {
    /// An empty table whose [`method_with`](Self::method_with) methods share `state`.
    pub fn with_state(state: S) -> Self {
        Methods {
            state: Arc::new(state),
            table: Table {
                methods: HashMap::new(),
                body_limit: DEFAULT_RPC_BODY_LIMIT,
                max_batch: DEFAULT_MAX_BATCH,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            },
        }
    }

    /// Registers `name` as `f(params)`; a later registration of the same name replaces it.
    pub fn method<P, R, E, F, Fut>(mut self, name: &str, f: F) -> Self
    where
        P: DeserializeOwned,
        R: Serialize,
        E: Into<RpcError>,
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let erased = move |raw: Option<&RawValue>, _: Option<&Notifier>| {
            let p = params::<P>(raw)?;
            let fut = f(p);
            Ok(Box::pin(async move { serialise(&fut.await.map_err(Into::into)?) }) as MethodFuture)
        };
        self.table.methods.insert(name.into(), Arc::new(erased));
        self
    }

    /// Registers `name` as `f(ctx, params)`, where [`Ctx`] holds the state and, on a
    /// WebSocket, the caller's [`Notifier`].
    pub fn method_with<P, R, E, F, Fut>(mut self, name: &str, f: F) -> Self
    where
        P: DeserializeOwned,
        R: Serialize,
        E: Into<RpcError>,
        F: Fn(Ctx<S>, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let state = self.state.clone();
        let erased = move |raw: Option<&RawValue>, notifier: Option<&Notifier>| {
            let p = params::<P>(raw)?;
            let ctx = Ctx {
                state: state.clone(),
                notifier: notifier.cloned(),
            };
            let fut = f(ctx, p);
            Ok(Box::pin(async move { serialise(&fut.await.map_err(Into::into)?) }) as MethodFuture)
        };
        self.table.methods.insert(name.into(), Arc::new(erased));
        self
    }

    /// Adds every method of `other` as `prefix.name` (its state stays its own).
    ///
    /// # Examples
    ///
    /// ```
    /// use quasar_http::rpc::{Methods, RpcError};
    ///
    /// let calc = Methods::new()
    ///     .method("add", |(a, b): (f64, f64)| async move { Ok::<_, RpcError>(a + b) });
    /// let methods = Methods::new().nest("calc", calc);
    /// assert_eq!(methods.names().collect::<Vec<_>>(), ["calc.add"]);
    /// ```
    pub fn nest<T>(mut self, prefix: &str, other: Methods<T>) -> Self {
        for (name, method) in other.table.methods {
            self.table
                .methods
                .insert(format!("{prefix}.{name}").into(), method);
        }
        self
    }

    /// The most bytes an HTTP request body may have (default [`DEFAULT_RPC_BODY_LIMIT`]);
    /// past it the answer is 413 and the body is not read. WebSocket messages are bounded
    /// by the server's [`WsLimits`](crate::ws::WsLimits) instead.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.table.body_limit = bytes;
        self
    }

    /// The most requests one batch may hold (default [`DEFAULT_MAX_BATCH`]); a longer
    /// batch is answered with one `-32600` error.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.table.max_batch = n.max(1);
        self
    }

    /// The most messages of one WebSocket being answered at once (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]); at the bound the server stops reading that socket until
    /// a call finishes.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.table.max_in_flight = n.max(1);
        self
    }
}

impl<S> Methods<S> {
    /// The registered method names, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.table.methods.keys().map(|k| &**k)
    }

    /// Answers one message (a request or a batch, as JSON text): `None` when nothing is to
    /// be sent back (a notification, a batch of notifications). What HTTP `POST` runs.
    pub async fn handle(&self, message: &[u8]) -> Option<Vec<u8>> {
        self.table.dispatch(message, None).run().await
    }
}

/// One request's answer in the making.
pub(crate) enum Pending {
    /// Answered already (an error), or nothing to send (`None`: a notification).
    Ready(Option<Vec<u8>>),
    /// A running call; `id` is `None` for a notification.
    Call(Option<Id>, MethodFuture),
}

/// A decoded message, its calls started: run it to get the answer.
pub(crate) enum Dispatch {
    One(Pending),
    Batch(Vec<Pending>),
}

impl Table {
    /// Decodes `message` and starts its calls (decoding params on the way); nothing of
    /// `message` is borrowed afterwards.
    pub(crate) fn dispatch(&self, message: &[u8], notifier: Option<&Notifier>) -> Dispatch {
        match decode(message, self.max_batch) {
            Decoded::Error(e) => Dispatch::One(Pending::Ready(Some(error(&Id::null(), &e)))),
            Decoded::Single(call) => Dispatch::One(self.start(call, notifier)),
            Decoded::Batch(calls) => Dispatch::Batch(
                calls
                    .into_iter()
                    .map(|call| self.start(call, notifier))
                    .collect(),
            ),
        }
    }

    fn start(
        &self,
        call: Result<Call<'_>, (RpcError, Id)>,
        notifier: Option<&Notifier>,
    ) -> Pending {
        let call = match call {
            Ok(call) => call,
            Err((e, id)) => return Pending::Ready(Some(error(&id, &e))),
        };
        let started = match self.methods.get(&*call.method) {
            Some(method) => method(call.params, notifier),
            None => Err(RpcError::method_not_found(&call.method)),
        };
        match (started, call.id) {
            (Ok(fut), id) => Pending::Call(id, fut),
            (Err(e), Some(id)) => Pending::Ready(Some(error(&id, &e))),
            (Err(_), None) => Pending::Ready(None),
        }
    }
}

fn error(id: &Id, e: &RpcError) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    write_error(&mut out, id, e);
    out
}

impl Pending {
    async fn finish(self) -> Option<Vec<u8>> {
        match self {
            Pending::Ready(out) => out,
            Pending::Call(id, fut) => {
                // A method that panics answers -32603 instead of taking the connection down.
                let result = std::panic::AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(RpcError::internal("the method panicked")));
                let id = id?;
                let mut out = Vec::new();
                match result {
                    Ok(bytes) => {
                        out.reserve(bytes.len() + 40 + id.as_json().len());
                        write_result(&mut out, &id, &bytes);
                    }
                    Err(e) => write_error(&mut out, &id, &e),
                }
                Some(out)
            }
        }
    }
}

impl Dispatch {
    /// Runs the calls (a batch's concurrently) and encodes the answer: `None` when there
    /// is nothing to send.
    pub(crate) async fn run(self) -> Option<Vec<u8>> {
        match self {
            Dispatch::One(pending) => pending.finish().await,
            Dispatch::Batch(pending) => {
                let answers =
                    futures_util::future::join_all(pending.into_iter().map(Pending::finish)).await;
                let mut out = Vec::new();
                for answer in answers.into_iter().flatten() {
                    out.push(if out.is_empty() { b'[' } else { b',' });
                    out.extend_from_slice(&answer);
                }
                if out.is_empty() {
                    return None;
                }
                out.push(b']');
                Some(out)
            }
        }
    }
}
