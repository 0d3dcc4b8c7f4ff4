//! The message body shared by the server and client: full, empty, or a stream.
//!
//! [`Body`] implements [`http_body::Body`] with `Data = Bytes`, so the `http-body-util`
//! combinators (`BodyExt::collect`, `Limited`, ...) and tower/axum middleware work with it.
//! A full body keeps its bytes reachable ([`Body::as_full`]) so a server writes head and
//! body in one buffer with `Content-Length`; any other body is streamed.
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use http_body::Body as _;
//! use http_body_util::BodyExt;
//! use quasar_http::Body;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let full = Body::from("hello");
//! assert_eq!(full.size_hint().exact(), Some(5));
//!
//! let chunks = futures_util::stream::iter([
//!     Ok::<_, std::io::Error>(Bytes::from("a")),
//!     Ok(Bytes::from("b")),
//! ]);
//! let streamed = Body::from_stream(chunks);
//! assert_eq!(streamed.size_hint().exact(), None);
//! assert_eq!(streamed.collect().await.unwrap().to_bytes(), "ab");
//! # });
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};

/// The error a streamed [`Body`] yields.
pub type BodyError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What `poll_frame` returns for the crate's body types.
pub(crate) type PollFrame = Poll<Option<Result<Frame<Bytes>, BodyError>>>;

/// The size hint of a body of `len` bytes, or of unknown length.
pub(crate) fn size_hint(len: Option<u64>) -> SizeHint {
    len.map_or_else(SizeHint::default, SizeHint::with_exact)
}

/// An HTTP message body: empty, full ([`Bytes`]) or streamed.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Bytes),
    Stream(UnsyncBoxBody<Bytes, BodyError>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// A body of exactly these bytes.
    pub fn full(data: impl Into<Bytes>) -> Body {
        let data = data.into();
        if data.is_empty() {
            return Body::empty();
        }
        Body {
            kind: Kind::Full(data),
        }
    }

    /// A body streamed from `stream`; its length is unknown (chunked on HTTP/1.1).
    pub fn from_stream<S, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BodyError> + 'static,
    {
        let frames = stream.map_ok(Frame::data).map_err(Into::into);
        Body::new(StreamBody::new(frames))
    }

    /// Wraps any [`http_body::Body`] of `Bytes` (its size hint is kept, so an exact one is
    /// sent as `Content-Length`).
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        Body {
            kind: Kind::Stream(body.map_err(Into::into).boxed_unsync()),
        }
    }

    /// The bytes of a full (or empty) body; `None` for a streamed one.
    pub fn as_full(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Empty => Some(&[]),
            Kind::Full(b) => Some(b),
            Kind::Stream(_) => None,
        }
    }

    /// Reads the whole body into one `Bytes`, refusing more than `limit` bytes.
    ///
    /// A full body is returned without a copy. A body whose announced length
    /// (`Content-Length`) passes `limit` is refused before anything is read; a streamed one
    /// as soon as the bytes read pass it, so at most `limit` bytes are ever buffered.
    ///
    /// # Errors
    ///
    /// [`ToBytesError::TooLarge`] past `limit`; [`ToBytesError::Body`] when the body fails
    /// (a request body cut short, a broken chunked framing, a stream's own error).
    ///
    /// # Examples
    ///
    /// ```
    /// use quasar_http::{Body, ToBytesError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(Body::from("hello").to_bytes(1024).await.unwrap(), "hello");
    /// let big = Body::from(vec![0u8; 2048]);
    /// assert!(matches!(big.to_bytes(1024).await, Err(ToBytesError::TooLarge { limit: 1024 })));
    /// # });
    /// ```
    pub async fn to_bytes(self, limit: usize) -> Result<Bytes, ToBytesError> {
        use http_body::Body as _;
        let too_large = ToBytesError::TooLarge { limit };
        if self.size_hint().lower() > limit as u64 {
            return Err(too_large);
        }
        let mut body = match self.into_full() {
            Ok(bytes) => return Ok(bytes),
            Err(body) => body,
        };
        let mut first: Option<Bytes> = None;
        let mut rest: Option<bytes::BytesMut> = None;
        let mut len = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(ToBytesError::Body)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            len += data.len();
            if len > limit {
                return Err(too_large);
            }
            // One chunk (the usual small body) is returned as it came, without a copy.
            match (&mut first, &mut rest) {
                (None, _) => first = Some(data),
                (Some(f), None) => {
                    let mut buf = bytes::BytesMut::with_capacity(len);
                    buf.extend_from_slice(f);
                    buf.extend_from_slice(&data);
                    rest = Some(buf);
                }
                (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            }
        }
        Ok(match (first, rest) {
            (_, Some(buf)) => buf.freeze(),
            (Some(f), None) => f,
            (None, None) => Bytes::new(),
        })
    }

    /// Takes the bytes of a full (or empty) body, or gives a streamed body back.
    ///
    /// # Errors
    ///
    /// The body itself when it is streamed.
    pub fn into_full(self) -> Result<Bytes, Body> {
        match self.kind {
            Kind::Empty => Ok(Bytes::new()),
            Kind::Full(b) => Ok(b),
            Kind::Stream(_) => Err(self),
        }
    }
}

/// Why [`Body::to_bytes`] failed.
#[derive(Debug)]
pub enum ToBytesError {
    /// The body is longer than the limit (its announced length, or the bytes read so far).
    TooLarge {
        /// The limit passed.
        limit: usize,
    },
    /// The body itself failed.
    Body(BodyError),
}

impl fmt::Display for ToBytesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToBytesError::TooLarge { limit } => write!(f, "body longer than {limit} bytes"),
            ToBytesError::Body(e) => write!(f, "body failed: {e}"),
        }
    }
}

impl std::error::Error for ToBytesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ToBytesError::TooLarge { .. } => None,
            ToBytesError::Body(e) => Some(&**e),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> PollFrame {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => match std::mem::replace(&mut self.kind, Kind::Empty) {
                Kind::Full(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                _ => Poll::Ready(None),
            },
            Kind::Stream(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(_) => false,
            Kind::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => size_hint(Some(0)),
            Kind::Full(b) => size_hint(Some(b.len() as u64)),
            Kind::Stream(s) => s.size_hint(),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(b) => f.debug_tuple("Body::Full").field(&b.len()).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(v)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::full(Bytes::from_static(s))
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}
