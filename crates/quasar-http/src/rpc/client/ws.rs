//! [`RpcWsClient`]: many JSON-RPC calls multiplexed by id on one WebSocket, and the
//! server's [`Notifications`].

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{FutureExt, Stream};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{answer_of, encode_request, result_of, Answer, CallError, Incoming};
use crate::client::{HttpClient, WebSocket};
use crate::ws::{CloseCode, Message};

/// Default [`RpcWsClient::connect_with`] bound on calls in flight.
pub const DEFAULT_CLIENT_IN_FLIGHT: usize = 4096;
/// Server notifications an [`RpcWsClient`] holds for its [`Notifications`] stream; past
/// it new ones are dropped and counted ([`RpcWsClient::dropped_notifications`]).
pub const NOTIFICATION_BUFFER: usize = 1024;

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
