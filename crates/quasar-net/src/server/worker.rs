//! Worker threads, shared by the TCP and datagram servers: each runs a current-thread
//! runtime of its own and serves the sockets it was given until the server closes.

use std::future::Future;
use std::thread::JoinHandle;

use crate::{Error, Result};

/// Starts worker `id` on a thread named `thread_name`: builds its current-thread runtime
/// here (so a failure is the caller's error), then blocks the thread on `body`, which
/// must stay until every task of the worker has ended (a current-thread runtime drives
/// its tasks only while something blocks on it).
///
/// Every line logged on the thread carries `worker{id}`. The span is entered once for
/// the thread's life: every task there is this worker's, and entering and leaving it
/// around every poll of every connection would add work to each request whenever a
/// subscriber is installed.
pub(crate) fn spawn_worker<F, Fut>(
    thread_name: String,
    id: usize,
    body: F,
) -> Result<JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::config(format!("worker runtime: {e}")))?;
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let span = tracing::info_span!("worker", id);
            let _in_span = span.enter();
            rt.block_on(body());
        })
        .map_err(|e| Error::config(format!("worker thread: {e}")))
}
