//! JSON-RPC clients: [`RpcHttpClient`] over the pooled [`HttpClient`], and
//! [`RpcWsClient`], many calls multiplexed by id on one WebSocket.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{FutureExt, Stream};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::error::RpcError;
use super::message::present;
use crate::client::{ClientError, HttpClient, WebSocket};
use crate::ws::{CloseCode, Message};

/// Default [`RpcWsClient::connect_with`] bound on calls in flight.
pub const DEFAULT_CLIENT_IN_FLIGHT: usize = 4096;
/// Server notifications an [`RpcWsClient`] holds for its [`Notifications`] stream; past
/// it new ones are dropped and counted ([`RpcWsClient::dropped_notifications`]).
pub const NOTIFICATION_BUFFER: usize = 1024;

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// The server answered with an error object.
    Rpc(RpcError),
    /// The HTTP or WebSocket client failed (connect, handshake, I/O).
    Transport(ClientError),
    /// The HTTP server answered a status other than `200` (or `204` for a notification).
    Status(StatusCode),
    /// The answer was not a JSON-RPC response, or its result did not fit the type asked for.
    InvalidResponse(String),
    /// The params did not serialise.
    Params(serde_json::Error),
    /// The WebSocket closed before the answer came.
    Closed,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rpc(e) => write!(f, "{e}"),
            CallError::Transport(e) => write!(f, "transport: {e}"),
            CallError::Status(s) => write!(f, "unexpected HTTP status {s}"),
            CallError::InvalidResponse(why) => write!(f, "invalid JSON-RPC response: {why}"),
            CallError::Params(e) => write!(f, "params did not serialise: {e}"),
            CallError::Closed => f.write_str("the connection closed before the answer"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rpc(e) => Some(e),
            CallError::Transport(e) => Some(e),
            CallError::Params(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ClientError> for CallError {
    fn from(e: ClientError) -> Self {
        CallError::Transport(e)
    }
}

impl CallError {
    /// The error object when the server answered one.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self {
            CallError::Rpc(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Outgoing<'a> {
    jsonrpc: &'static str,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

/// Encodes a request (`id` given) or a notification; params that serialise to `null`
/// (`()`) are left out.
pub(crate) fn encode_request<P: Serialize + ?Sized>(
    method: &str,
    params: &P,
    id: Option<u64>,
) -> Result<Vec<u8>, serde_json::Error> {
    let params = serde_json::value::to_raw_value(params)?;
    let out = Outgoing {
        jsonrpc: "2.0",
        method,
        params: (params.get() != "null").then_some(&*params),
        id,
    };
    serde_json::to_vec(&out)
}

/// A response or a notification from the server, each member raw.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<RpcError>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

type Answer = Result<Box<RawValue>, RpcError>;

fn answer_of(msg: Incoming<'_>) -> Answer {
    match (msg.error, msg.result) {
        (Some(e), _) => Err(e),
        (None, Some(result)) => Ok(result.to_owned()),
        // A response has one of the two; read a missing result as `null`.
        (None, None) => Ok(RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!())),
    }
}

fn result_of<R: DeserializeOwned>(answer: Answer) -> Result<R, CallError> {
    let raw = answer.map_err(CallError::Rpc)?;
    serde_json::from_str(raw.get()).map_err(|e| CallError::InvalidResponse(e.to_string()))
}

// ===== HTTP =====

/// A JSON-RPC client over HTTP `POST`, on a pooled [`HttpClient`] (cheap to clone).
///
/// # Examples
///
/// ```no_run
/// use quasar_http::rpc::RpcHttpClient;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = RpcHttpClient::new("http://127.0.0.1:8070/rpc")?;
/// let sum: i64 = client.call("calc.add", (1, 2)).await?;
/// assert_eq!(sum, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RpcHttpClient {
    http: HttpClient,
    uri: Uri,
    ids: Arc<AtomicU64>,
}

impl RpcHttpClient {
    /// A client of the endpoint `url` on a new [`HttpClient`].
    ///
    /// # Errors
    ///
    /// [`CallError::Transport`] with [`ClientError::InvalidUrl`] for a bad URL.
    pub fn new(url: &str) -> Result<Self, CallError> {
        RpcHttpClient::with_client(HttpClient::new(), url)
    }

    /// A client of `url` sharing `http`'s pools.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_client(http: HttpClient, url: &str) -> Result<Self, CallError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| CallError::Transport(ClientError::InvalidUrl(url.to_owned())))?;
        Ok(RpcHttpClient {
            http,
            uri,
            ids: Arc::new(AtomicU64::new(1)),
        })
    }

    async fn post(&self, body: Vec<u8>) -> Result<http::Response<Bytes>, CallError> {
        let mut req = Request::new(Bytes::from(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(self.http.request(req).await?)
    }

    /// Calls `method` with `params` (a tuple or array for positional params, a struct or
    /// map for named ones, `()` for none) and reads the result as `R`.
    ///
    /// # Errors
    ///
    /// [`CallError::Rpc`] when the server answers an error; the others when the call did
    /// not get an answer that fits.
    ///
    /// # Cancel safety
    ///
    /// As [`HttpClient::request`]: the request may or may not have reached the server.
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<R, CallError> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let body = encode_request(method, &params, Some(id)).map_err(CallError::Params)?;
        let res = self.post(body).await?;
        if res.status() != StatusCode::OK {
            return Err(CallError::Status(res.status()));
        }
        let msg: Incoming<'_> = serde_json::from_slice(res.body())
            .map_err(|e| CallError::InvalidResponse(e.to_string()))?;
        if msg.id.map(RawValue::get) != Some(&*id.to_string()) {
            if let Some(e) = msg.error {
                return Err(CallError::Rpc(e));
            }
            return Err(CallError::InvalidResponse("the id does not match".into()));
        }
        result_of(answer_of(msg))
    }

    /// Sends the notification `method` with `params`: no answer is expected.
    ///
    /// # Errors
    ///
    /// [`CallError::Status`] unless the server answers `204` or `200`.
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub async fn notify(&self, method: &str, params: impl Serialize) -> Result<(), CallError> {
        let body = encode_request(method, &params, None).map_err(CallError::Params)?;
        let res = self.post(body).await?;
        match res.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
            other => Err(CallError::Status(other)),
        }
    }
}

// ===== WebSocket =====

/// A notification the server sent on an [`RpcWsClient`]'s socket.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The method name.
    pub method: String,
    /// The params as sent, if any.
    pub params: Option<Box<RawValue>>,
}

impl Notification {
    /// The params read as `T` (from `null` when there were none).
    ///
    /// # Errors
    ///
    /// serde's error when they do not fit.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.params.as_deref().map_or("null", RawValue::get))
    }
}

/// The server's notifications of an [`RpcWsClient`], as a [`Stream`]; it ends when the
/// socket does.
#[derive(Debug)]
pub struct Notifications {
    rx: mpsc::Receiver<Notification>,
}

impl Stream for Notifications {
    type Item = Notification;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        self.rx.poll_recv(cx)
    }
}

/// What the calls of one socket and its driver task share.
#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    ids: AtomicU64,
    slots: Semaphore,
    dropped: AtomicU64,
    late: AtomicU64,
}

#[derive(Debug, Default)]
struct Pending {
    calls: HashMap<u64, oneshot::Sender<Answer>>,
    closed: bool,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a call's slot when its future is dropped before the answer came.
struct Slot<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.shared.pending().calls.remove(&self.id);
    }
}

/// A JSON-RPC client on one WebSocket: calls are multiplexed by id (any number in flight,
/// answered in any order), and the server's notifications come out of
/// [`notifications`](Self::notifications). Clones share the socket; the socket closes
/// when the last clone is dropped.
///
/// Cancel-safe: dropping a call's future frees its slot, and an answer that arrives for it
/// later is discarded (and counted, [`late_answers`](Self::late_answers)).
///
/// # Examples
///
/// ```no_run
/// use quasar_http::rpc::RpcWsClient;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = RpcWsClient::connect("ws://127.0.0.1:8070/rpc").await?;
/// let (a, b) = tokio::join!(
///     client.call::<i64>("calc.add", (1, 2)),
///     client.call::<i64>("calc.multiply", (3, 4)),
/// );
/// assert_eq!((a?, b?), (3, 12));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RpcWsClient {
    shared: Arc<Shared>,
    out: mpsc::Sender<Bytes>,
    notifications: Arc<Mutex<Option<Notifications>>>,
}

impl fmt::Debug for RpcWsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcWsClient")
            .field("in_flight", &self.in_flight())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl RpcWsClient {
    /// Opens a WebSocket to `url` on a new [`HttpClient`].
    ///
    /// # Errors
    ///
    /// [`CallError::Transport`] when the connection or the handshake fails.
    pub async fn connect(url: &str) -> Result<Self, CallError> {
        RpcWsClient::connect_with(&HttpClient::new(), url, DEFAULT_CLIENT_IN_FLIGHT).await
    }

    /// Opens a WebSocket to `url` with `http`, allowing `max_in_flight` calls at once
    /// (more wait for a slot).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        http: &HttpClient,
        url: &str,
        max_in_flight: usize,
    ) -> Result<Self, CallError> {
        let ws = http.websocket(url).await?;
        Ok(RpcWsClient::over(ws, max_in_flight))
    }

    /// Runs the client over a WebSocket already open (its driver is a task of the current
    /// tokio runtime: call it inside one).
    pub fn over(ws: WebSocket, max_in_flight: usize) -> Self {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            ids: AtomicU64::new(1),
            slots: Semaphore::new(max_in_flight.max(1)),
            dropped: AtomicU64::new(0),
            late: AtomicU64::new(0),
        });
        let (out, out_rx) = mpsc::channel(256);
        let (note_tx, note_rx) = mpsc::channel(NOTIFICATION_BUFFER);
        tokio::spawn(drive(ws, out_rx, note_tx, shared.clone()));
        RpcWsClient {
            shared,
            out,
            notifications: Arc::new(Mutex::new(Some(Notifications { rx: note_rx }))),
        }
    }

    /// Calls `method` with `params` and reads the result as `R`.
    ///
    /// # Errors
    ///
    /// [`CallError::Rpc`] when the server answers an error; [`CallError::Closed`] when the
    /// socket ends first; [`CallError::InvalidResponse`] when the result does not fit `R`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before the answer, the call frees its slot and its answer is
    /// discarded when it comes. The request may or may not have been sent.
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<R, CallError> {
        let _permit = self
            .shared
            .slots
            .acquire()
            .await
            .map_err(|_| CallError::Closed)?;
        let id = self.shared.ids.fetch_add(1, Ordering::Relaxed);
        let text = encode_request(method, &params, Some(id)).map_err(CallError::Params)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.shared.pending();
            if pending.closed {
                return Err(CallError::Closed);
            }
            pending.calls.insert(id, tx);
        }
        let slot = Slot {
            shared: &self.shared,
            id,
        };
        self.out
            .send(Bytes::from(text))
            .await
            .map_err(|_| CallError::Closed)?;
        let answer = rx.await.map_err(|_| CallError::Closed)?;
        std::mem::forget(slot);
        result_of(answer)
    }

    /// Sends the notification `method` with `params`.
    ///
    /// # Errors
    ///
    /// [`CallError::Closed`] when the socket has ended.
    pub async fn notify(&self, method: &str, params: impl Serialize) -> Result<(), CallError> {
        let text = encode_request(method, &params, None).map_err(CallError::Params)?;
        self.out
            .send(Bytes::from(text))
            .await
            .map_err(|_| CallError::Closed)
    }

    /// The server's notifications; `None` after the first call (there is one stream).
    pub fn notifications(&self) -> Option<Notifications> {
        self.notifications
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Calls waiting for their answer.
    pub fn in_flight(&self) -> usize {
        self.shared.pending().calls.len()
    }

    /// Notifications dropped because the [`Notifications`] stream was not read fast enough
    /// (or not at all).
    pub fn dropped_notifications(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Answers that came for no waiting call (their call was dropped) and were discarded.
    pub fn late_answers(&self) -> u64 {
        self.shared.late.load(Ordering::Relaxed)
    }

    /// Whether the socket has ended (every call now fails with [`CallError::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.shared.pending().closed
    }
}

/// Owns the socket: writes what the calls queue, routes answers by id and notifications
/// to their stream, and fails every waiting call when the socket ends.
async fn drive(
    mut ws: WebSocket,
    mut out: mpsc::Receiver<Bytes>,
    notes: mpsc::Sender<Notification>,
    shared: Arc<Shared>,
) {
    let conn = ws.connection().clone();
    let mut handle_dropped = false;
    // Set while the write queue is above its high mark: the loop then waits for room
    // without taking more requests, and keeps reading, so that a server blocked on its
    // own writes to us is never waiting for a client blocked on writes to it.
    let mut blocked = false;
    loop {
        tokio::select! {
            msg = ws.recv() => match msg {
                Some(Ok(Message::Text(data) | Message::Binary(data))) => route(&data, &notes, &shared),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            room = conn.writable(), if blocked => {
                if room.is_err() {
                    break;
                }
                blocked = false;
            }
            text = out.recv(), if !blocked => match text {
                // The message is queued at the first poll; only the wait for room is left.
                Some(text) => match ws.send(Message::Text(text)).now_or_never() {
                    Some(Ok(())) => {}
                    Some(Err(_)) => break,
                    None => blocked = true,
                },
                None => {
                    handle_dropped = true;
                    break;
                }
            },
        }
    }
    {
        let mut pending = shared.pending();
        pending.closed = true;
        pending.calls.clear();
    }
    shared.slots.close();
    if handle_dropped {
        let _ = ws.close(CloseCode::NORMAL, "").await;
    }
}

fn route(data: &[u8], notes: &mpsc::Sender<Notification>, shared: &Shared) {
    let Ok(raw) = serde_json::from_slice::<&RawValue>(data) else {
        tracing::debug!("json-rpc client: the server sent something that is not JSON");
        return;
    };
    if raw.get().starts_with('[') {
        if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
            for item in items {
                route_one(item, notes, shared);
            }
        }
    } else {
        route_one(raw, notes, shared);
    }
}

fn route_one(raw: &RawValue, notes: &mpsc::Sender<Notification>, shared: &Shared) {
    let Ok(msg) = serde_json::from_str::<Incoming<'_>>(raw.get()) else {
        tracing::debug!("json-rpc client: a message that is neither a response nor a notification");
        return;
    };
    match (msg.id, &msg.method) {
        (None, Some(method)) => {
            let note = Notification {
                method: method.clone().into_owned(),
                params: msg.params.map(ToOwned::to_owned),
            };
            if notes.try_send(note).is_err() {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        (Some(id), _) => {
            let waiter = id
                .get()
                .parse::<u64>()
                .ok()
                .and_then(|id| shared.pending().calls.remove(&id));
            match waiter {
                Some(waiter) => {
                    if waiter.send(answer_of(msg)).is_err() {
                        shared.late.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    shared.late.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        (None, None) => {}
    }
}
