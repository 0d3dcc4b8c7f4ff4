//! The wire: request decoding ([`decode`]) and response encoding, over serde_json.
//!
//! Nothing here parses JSON by hand: serde_json checks the whole message once (into
//! borrowed [`RawValue`]s, which also enforces its nesting limit of 128), and each member
//! is then read from its raw text. Ids stay as their JSON text so they are echoed byte for
//! byte (a 40-digit number or `1e400` included).

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::error::RpcError;

/// A request id: a string, a number or `null`, kept as its JSON text.
///
/// # Examples
///
/// ```
/// use quasar_http::rpc::Id;
///
/// assert_eq!(Id::number(7).as_json(), "7");
/// assert_eq!(Id::null().as_json(), "null");
/// assert!(Id::from_json("[1]").is_none()); // not an allowed id type
/// ```
#[derive(Debug, Clone)]
pub struct Id(Box<RawValue>);

impl Id {
    /// The id `null`.
    pub fn null() -> Id {
        Id::from_json("null").unwrap_or_else(|| unreachable!("null is an id"))
    }

    /// A numeric id.
    pub fn number(n: u64) -> Id {
        Id::from_json(&n.to_string()).unwrap_or_else(|| unreachable!("a u64 is an id"))
    }

    /// An id from its JSON text: `None` unless it is one JSON string, number or `null`.
    pub fn from_json(json: &str) -> Option<Id> {
        let raw: &RawValue = serde_json::from_str(json).ok()?;
        Id::from_raw(raw)
    }

    /// An id from a raw value: `None` for an object, array or boolean.
    pub(crate) fn from_raw(raw: &RawValue) -> Option<Id> {
        match raw.get().as_bytes().first() {
            Some(b'"' | b'-' | b'0'..=b'9' | b'n') => Some(Id(raw.to_owned())),
            _ => None,
        }
    }

    /// The id's JSON text, as it arrived.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for Id {}

/// Deserialises a member that may be `null` as `Some`: without it serde reads `"id": null`
/// as a missing id, which would turn a request into a notification.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// A Request object's members, each as raw JSON; unknown members are ignored.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

/// One decoded Request object.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) method: std::borrow::Cow<'a, str>,
    /// `Some` for an array or object; `None` when absent.
    pub(crate) params: Option<&'a RawValue>,
    /// `None` for a notification.
    pub(crate) id: Option<Id>,
}

/// What one message holds.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    /// One Request object (or an invalid one, with the id to answer with).
    Single(Result<Call<'a>, (RpcError, Id)>),
    /// A non-empty batch, each element decoded alone.
    Batch(Vec<Result<Call<'a>, (RpcError, Id)>>),
    /// Not answerable element by element: not JSON, an empty batch, a batch too long.
    Error(RpcError),
}

/// The first byte of a raw value (serde_json has skipped the whitespace before it).
fn first(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

/// The deepest nesting of arrays and objects a message may have, as serde_json allows
/// when it builds values.
pub const MAX_DEPTH: usize = 128;

/// Whether `json` nests arrays and objects more than [`MAX_DEPTH`] deep.
///
/// serde_json enforces its recursion limit when it builds values, but skips a
/// [`RawValue`] with an iterative loop that has none: without this check a method taking
/// raw params (`echo`) would accept any depth and hand it on to whoever parses it next.
/// Brackets inside strings do not count; the JSON itself is checked by serde_json.
fn too_deep(json: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Decodes a message: one request or a batch of at most `max_batch`.
pub(crate) fn decode(message: &[u8], max_batch: usize) -> Decoded<'_> {
    if too_deep(message) {
        return Decoded::Error(RpcError::parse_error(format_args!(
            "recursion limit exceeded: nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let start = message.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| message[i]) {
        Some(b'{') => {
            // The common case in one pass: the message is a request object.
            if let Ok(env) = serde_json::from_slice::<Envelope<'_>>(message) {
                return Decoded::Single(check(env));
            }
            // It is not: tell JSON that is no request (-32600) from no JSON at all (-32700).
            match serde_json::from_slice::<&RawValue>(message) {
                Ok(raw) => Decoded::Single(decode_one(raw)),
                Err(e) => Decoded::Error(RpcError::parse_error(e)),
            }
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = match serde_json::from_slice(message) {
                Ok(items) => items,
                Err(e) => return Decoded::Error(RpcError::parse_error(e)),
            };
            if items.is_empty() {
                return Decoded::Error(RpcError::invalid_request("empty batch"));
            }
            if items.len() > max_batch {
                return Decoded::Error(RpcError::invalid_request(format!(
                    "batch of {} requests, more than {max_batch}",
                    items.len()
                )));
            }
            Decoded::Batch(items.into_iter().map(decode_one).collect())
        }
        _ => match serde_json::from_slice::<&RawValue>(message) {
            Ok(raw) => Decoded::Single(decode_one(raw)),
            Err(e) => Decoded::Error(RpcError::parse_error(e)),
        },
    }
}

/// Decodes one Request object.
pub(crate) fn decode_one(raw: &RawValue) -> Result<Call<'_>, (RpcError, Id)> {
    if first(raw) != b'{' {
        return Err((
            RpcError::invalid_request("a request must be an object"),
            Id::null(),
        ));
    }
    match serde_json::from_str(raw.get()) {
        Ok(env) => check(env),
        Err(e) => Err((
            RpcError::invalid_request(format!("not a request object: {e}")),
            Id::null(),
        )),
    }
}

/// Checks a request object's members.
fn check(env: Envelope<'_>) -> Result<Call<'_>, (RpcError, Id)> {
    let invalid = |why: &'static str, id: Option<Id>| {
        Err((RpcError::invalid_request(why), id.unwrap_or_else(Id::null)))
    };
    let id = match env.id {
        None => None,
        Some(raw_id) => match Id::from_raw(raw_id) {
            Some(id) => Some(id),
            None => return invalid("id must be a string, a number or null", None),
        },
    };
    let version_ok = env
        .jsonrpc
        .is_some_and(|v| v.get() == "\"2.0\"" || string(v).is_some_and(|v| v == "2.0"));
    if !version_ok {
        return invalid("jsonrpc must be \"2.0\"", id);
    }
    let Some(method) = env.method.and_then(string) else {
        return invalid("method must be a string", id);
    };
    if let Some(params) = env.params {
        if !matches!(first(params), b'[' | b'{') {
            return invalid("params must be an array or an object", id);
        }
    }
    Ok(Call {
        method,
        params: env.params,
        id,
    })
}

/// A JSON string's value, borrowed when it has no escapes.
fn string(raw: &RawValue) -> Option<std::borrow::Cow<'_, str>> {
    if let Ok(s) = serde_json::from_str::<&str>(raw.get()) {
        return Some(s.into());
    }
    serde_json::from_str::<String>(raw.get())
        .ok()
        .map(Into::into)
}

/// Appends a success response.
pub(crate) fn write_result(out: &mut Vec<u8>, id: &Id, result: &[u8]) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
    out.extend_from_slice(result);
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id.as_json().as_bytes());
    out.push(b'}');
}

/// Appends an error response.
pub(crate) fn write_error(out: &mut Vec<u8>, id: &Id, error: &RpcError) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":");
    if serde_json::to_writer(&mut *out, error).is_err() {
        // An RpcError always serialises (a string key map, a code, a string).
        out.extend_from_slice(b"{\"code\":-32603,\"message\":\"Internal error\"}");
    }
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id.as_json().as_bytes());
    out.push(b'}');
}
