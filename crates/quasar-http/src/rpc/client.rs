//! JSON-RPC clients: [`RpcHttpClient`] over the pooled [`HttpClient`], and
//! [`RpcWsClient`], many calls multiplexed by id on one WebSocket (`client/ws.rs`). This
//! file holds the HTTP client and what both share: [`CallError`], the request encoding and
//! the reading of an answer.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::RpcError;
use super::message::present;
use crate::client::{ClientError, HttpClient};

mod ws;

pub use ws::{
    Notification, Notifications, RpcWsClient, DEFAULT_CLIENT_IN_FLIGHT, NOTIFICATION_BUFFER,
};

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
