//! The `Date` header value, rendered at most once per second per thread.
//!
//! Formatting an IMF-fixdate costs far more than copying 29 bytes, and every response needs
//! one. Each thread keeps the last rendering keyed by the Unix second, so the cache needs no
//! lock and is re-rendered only when the second changes.
//!
//! # Examples
//!
//! ```
//! let date = quasar_http::http_date();
//! let text = std::str::from_utf8(&date).unwrap();
//! assert!(text.ends_with(" GMT"));
//! assert!(httpdate::parse_http_date(text).is_ok());
//! ```

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// The current time as an HTTP date (IMF-fixdate, RFC 9110 §5.6.7).
pub fn http_date() -> [u8; HTTP_DATE_LEN] {
    CACHE.with(|cache| *cache.borrow_mut().get(SystemTime::now()))
}

thread_local! {
    static CACHE: RefCell<DateCache> = const { RefCell::new(DateCache::new()) };
}

/// The last rendering and the second it belongs to.
#[derive(Debug)]
pub(crate) struct DateCache {
    second: Option<u64>,
    rendered: [u8; HTTP_DATE_LEN],
    /// How many times the date was formatted (tests check the once-per-second promise).
    renders: u64,
}

impl DateCache {
    pub(crate) const fn new() -> Self {
        DateCache {
            second: None,
            rendered: [b' '; HTTP_DATE_LEN],
            renders: 0,
        }
    }

    pub(crate) fn get(&mut self, now: SystemTime) -> &[u8; HTTP_DATE_LEN] {
        let second = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.second != Some(second) {
            let text = httpdate::fmt_http_date(now);
            // fmt_http_date always yields 29 bytes for years 1970..=9999; if it ever did not,
            // the old value stays rather than a torn one.
            if let Ok(bytes) = <[u8; HTTP_DATE_LEN]>::try_from(text.as_bytes()) {
                self.rendered = bytes;
            }
            self.second = Some(second);
            self.renders += 1;
        }
        &self.rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_once_per_second() {
        let mut cache = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(cache.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            cache.get(t + Duration::from_millis(999)),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(cache.renders, 1);
        assert_eq!(
            cache.get(t + Duration::from_secs(1)),
            b"Sun, 06 Nov 1994 08:49:38 GMT"
        );
        assert_eq!(cache.renders, 2);
    }

    #[test]
    fn the_shared_date_is_close_to_now() {
        let text = String::from_utf8(http_date().to_vec()).unwrap();
        let parsed = httpdate::parse_http_date(&text).unwrap();
        let skew = SystemTime::now().duration_since(parsed).unwrap_or_default();
        assert!(skew < Duration::from_secs(2), "{text}");
    }
}
