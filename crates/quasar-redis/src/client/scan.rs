//! `SCAN` as a [`Stream`]: pages are fetched as the previous one is used up.

use std::collections::VecDeque;

use futures_util::{stream, Stream};

use super::cmd::cmd;
use super::error::{RedisError, RedisResult};
use super::from_frame::FromFrame;
use super::redis_client::RedisClient;
use crate::Frame;

struct ScanState {
    client: RedisClient,
    pattern: Option<String>,
    count: usize,
    /// `None` once the server returned cursor 0 (or an error ended the scan).
    cursor: Option<String>,
    page: VecDeque<String>,
}

/// The keys of `client`'s database matching `pattern`, one page of about `count` at a time.
pub(crate) fn scan(
    client: RedisClient,
    pattern: Option<String>,
    count: usize,
) -> impl Stream<Item = RedisResult<String>> + Send + 'static {
    let state = ScanState {
        client,
        pattern,
        count: count.max(1),
        cursor: Some("0".into()),
        page: VecDeque::new(),
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if let Some(key) = state.page.pop_front() {
                return Some((Ok(key), state));
            }
            let cursor = state.cursor.take()?;
            let mut request = cmd("SCAN").arg(&cursor);
            if let Some(pattern) = &state.pattern {
                request = request.arg("MATCH").arg(pattern);
            }
            request = request.arg("COUNT").arg(state.count);
            match state.client.send(request).await.and_then(page) {
                Ok((next, keys)) => {
                    // Cursor "0" means the iteration is complete.
                    state.cursor = (next != "0").then_some(next);
                    state.page.extend(keys);
                }
                // The cursor was taken: the stream ends after reporting the error.
                Err(e) => return Some((Err(e), state)),
            }
        }
    })
}

/// `[cursor, [keys...]]`.
fn page(frame: Frame) -> RedisResult<(String, Vec<String>)> {
    match frame {
        Frame::Array(items) if items.len() == 2 => {
            let mut items = items.into_iter();
            let (Some(cursor), Some(keys)) = (items.next(), items.next()) else {
                return Err(RedisError::Type("SCAN reply".into()));
            };
            Ok((String::from_frame(cursor)?, Vec::from_frame(keys)?))
        }
        other => Err(RedisError::Type(format!("SCAN reply {other:?}"))),
    }
}
