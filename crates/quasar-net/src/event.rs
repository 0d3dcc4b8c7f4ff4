//! One-time events: values that resolve once and can be awaited by anyone.
//!
//! pulsar's `OneTime` is a future that several callbacks can bind to; it fires once, with
//! a value or an error, and a second fire is refused. [`OneTime`] keeps that contract in a
//! form Rust users expect: clone the handle, `wait().await` it from as many tasks as you
//! like, and read the outcome without waiting through [`OneTime::get`]. Callbacks become
//! code after the `.await`. The events named by the spec live on the objects that own
//! them: `Connection::connection_made`/`connection_lost`, the client request's
//! `on_finished`, and a server's `start`/`stop`.
//!
//! # Examples
//!
//! ```
//! use quasar_net::OneTime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let finished = OneTime::new();
//! let waiter = finished.clone();
//! let task = tokio::spawn(async move { waiter.wait().await });
//! assert!(finished.fire(Ok("foo")));
//! assert!(!finished.fire(Ok("bar")), "a one-time event fires once");
//! assert_eq!(task.await.unwrap().unwrap(), "foo");
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::Error;

/// An event that fires once with `Ok(T)` or an [`Error`]; cloning shares the event.
pub struct OneTime<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    outcome: Mutex<Option<Result<T, Error>>>,
    notify: Notify,
}

// ===== impl OneTime =====

impl<T: Clone> OneTime<T> {
    /// A new event that has not fired.
    pub fn new() -> OneTime<T> {
        OneTime {
            inner: Arc::new(Inner {
                outcome: Mutex::new(None),
                notify: Notify::new(),
            }),
        }
    }

    /// Fires the event with its outcome and wakes every waiter.
    ///
    /// Returns `false`, and changes nothing, when the event had already fired (pulsar logs
    /// "already fired" in that case; the caller decides here).
    pub fn fire(&self, outcome: Result<T, Error>) -> bool {
        {
            let mut slot = self
                .inner
                .outcome
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if slot.is_some() {
                return false;
            }
            *slot = Some(outcome);
        }
        self.inner.notify.notify_waiters();
        true
    }

    /// Whether the event has fired.
    pub fn is_fired(&self) -> bool {
        self.inner
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The outcome, if the event has fired.
    pub fn get(&self) -> Option<Result<T, Error>> {
        self.inner
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits for the event and returns its outcome.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and a later call sees the outcome.
    pub async fn wait(&self) -> Result<T, Error> {
        loop {
            // Register before checking, so a fire between the check and the await is seen.
            let notified = self.inner.notify.notified();
            if let Some(outcome) = self.get() {
                return outcome;
            }
            notified.await;
        }
    }
}

impl<T: Clone> Default for OneTime<T> {
    fn default() -> Self {
        OneTime::new()
    }
}

impl<T> Clone for OneTime<T> {
    fn clone(&self) -> Self {
        OneTime {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for OneTime<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fired = self
            .inner
            .outcome
            .lock()
            .map(|o| o.is_some())
            .unwrap_or(false);
        f.debug_struct("OneTime").field("fired", &fired).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn handler_value_does_not_change_the_result() {
        // pulsar test_one_time: the fired argument is the result, whatever waiters do.
        let ev = OneTime::new();
        let w = ev.clone();
        let t = tokio::spawn(async move {
            let v: &str = w.wait().await.unwrap();
            format!("{v}-seen")
        });
        tokio::task::yield_now().await;
        ev.fire(Ok("foo"));
        assert_eq!(t.await.unwrap(), "foo-seen");
        assert_eq!(ev.get().unwrap().unwrap(), "foo");
    }

    #[tokio::test]
    async fn error_outcome_reaches_every_waiter() {
        let ev: OneTime<()> = OneTime::new();
        let a = ev.clone();
        let b = ev.clone();
        let ta = tokio::spawn(async move { a.wait().await });
        let tb = tokio::spawn(async move { b.wait().await });
        ev.fire(Err(Error::connection_lost(None)));
        assert!(ta.await.unwrap().unwrap_err().is_connection_lost());
        assert!(tb.await.unwrap().unwrap_err().is_connection_lost());
    }

    #[tokio::test]
    async fn waiting_after_fire_returns_at_once() {
        let ev = OneTime::new();
        ev.fire(Ok(3));
        assert!(ev.is_fired());
        assert_eq!(ev.wait().await.unwrap(), 3);
    }
}
