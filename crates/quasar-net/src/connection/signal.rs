//! A one-shot broadcast flag for server-wide shutdown signals.
//!
//! `tokio_util`'s `CancellationToken` takes a mutex shared by every clone on each
//! `is_cancelled()` and each poll of `cancelled()`. Every connection of a server checks
//! the drain and abort signals on every wake-up, so that mutex would be taken by every
//! connection on every core for every request. [`Signal`] is an atomic flag read with a
//! plain load, plus a `Notify` a task registers with once.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A flag that is raised once and wakes everyone waiting for it.
#[derive(Clone, Default)]
pub(crate) struct Signal {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    raised: AtomicBool,
    notify: Notify,
}

impl Signal {
    /// Raises the flag and wakes every waiter; later calls do nothing.
    pub(crate) fn cancel(&self) {
        if !self.inner.raised.swap(true, Ordering::AcqRel) {
            self.inner.notify.notify_waiters();
        }
    }

    /// Whether the flag is raised: one atomic load.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.inner.raised.load(Ordering::Acquire)
    }

    /// Waits until the flag is raised.
    ///
    /// A task that polls this future once stays registered with the task's waker, so a
    /// hot loop can poll it once and afterwards check [`is_cancelled`](Self::is_cancelled)
    /// on every wake-up instead of re-polling.
    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("raised", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_wakes_once_raised() {
        let s = Signal::default();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.cancelled().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!s.is_cancelled());
        s.cancel();
        s.cancel();
        for w in waiters {
            w.await.unwrap();
        }
        assert!(s.is_cancelled());
        s.cancelled().await; // already raised: returns at once
    }
}
