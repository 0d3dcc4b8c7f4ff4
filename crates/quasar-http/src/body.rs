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

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
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
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.len() as u64),
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
