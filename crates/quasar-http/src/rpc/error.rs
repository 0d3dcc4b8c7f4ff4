//! [`RpcError`]: the error object of a JSON-RPC 2.0 response, and the spec's codes.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `-32700`: the message is not JSON.
pub const PARSE_ERROR: i32 = -32700;
/// `-32600`: the JSON is not a valid Request object (or is an empty batch).
pub const INVALID_REQUEST: i32 = -32600;
/// `-32601`: no method of that name.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// `-32602`: the params do not fit the method (serde's message is in `data`).
pub const INVALID_PARAMS: i32 = -32602;
/// `-32603`: the server failed (a result that did not serialise, a method that panicked).
pub const INTERNAL_ERROR: i32 = -32603;

/// The `error` member of a JSON-RPC 2.0 response: a code, a message and optional `data`.
///
/// Methods return it for application errors with codes of their own (outside
/// `-32768..=-32000`, which the spec reserves); the server builds the spec's own ones
/// ([`PARSE_ERROR`], [`INVALID_REQUEST`], [`METHOD_NOT_FOUND`], [`INVALID_PARAMS`],
/// [`INTERNAL_ERROR`]). Clients get it back as
/// [`CallError::Rpc`](super::CallError::Rpc).
///
/// # Examples
///
/// ```
/// use quasar_http::rpc::RpcError;
///
/// let e = RpcError::new(1001, "division by zero").with_data(serde_json::json!({"a": 1}));
/// assert_eq!(
///     serde_json::to_string(&e).unwrap(),
///     r#"{"code":1001,"message":"division by zero","data":{"a":1}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// The error code.
    pub code: i32,
    /// A short description.
    pub message: Cow<'static, str>,
    /// Anything more the client may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message` and no `data`.
    pub fn new(code: i32, message: impl Into<Cow<'static, str>>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with `data`.
    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// `-32700 Parse error`, with the JSON parser's reason as `data`.
    pub fn parse_error(reason: impl fmt::Display) -> Self {
        RpcError::new(PARSE_ERROR, "Parse error").with_data(reason.to_string())
    }

    /// `-32600 Invalid Request`, with why as `data`.
    pub fn invalid_request(reason: impl Into<Cow<'static, str>>) -> Self {
        let reason: Cow<'static, str> = reason.into();
        RpcError::new(INVALID_REQUEST, "Invalid Request").with_data(reason.into_owned())
    }

    /// `-32601 Method not found`, naming the method in `data`.
    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(METHOD_NOT_FOUND, "Method not found").with_data(method.to_owned())
    }

    /// `-32602 Invalid params`, with serde's message (or any reason) as `data`.
    pub fn invalid_params(reason: impl fmt::Display) -> Self {
        RpcError::new(INVALID_PARAMS, "Invalid params").with_data(reason.to_string())
    }

    /// `-32603 Internal error`, with `reason` as `data`.
    pub fn internal(reason: impl fmt::Display) -> Self {
        RpcError::new(INTERNAL_ERROR, "Internal error").with_data(reason.to_string())
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)?;
        if let Some(data) = &self.data {
            write!(f, " ({data})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

impl From<std::convert::Infallible> for RpcError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
