//! Many-times events: typed hook lists registered on a producer.
//!
//! pulsar copies a server's many-times callbacks (`connection_made`, `pre_request`,
//! `post_request`, `data_received`, `data_processed`, `connection_lost`) onto every
//! connection and consumer it creates. [`Hooks`] is that list, typed: one `Vec` of
//! closures per event, shared (behind an `Arc`) by every connection of the producer.
//!
//! A hook that returns an error is logged and the connection carries on. The one
//! exception is `pre_request`: returning [`Error::aborted`] aborts the request (pulsar's
//! `abort_request`), which fires `post_request` with that error and closes the connection
//! on a server, or fails the request without sending it on a client.
//!
//! Empty lists cost one branch per event, so the common case (no hooks) stays free.
//!
//! # Examples
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use quasar_net::Hooks;
//!
//! let seen = Arc::new(AtomicUsize::new(0));
//! let counter = Arc::clone(&seen);
//! let mut hooks = Hooks::default();
//! hooks.on_post_request(move |_ev| {
//!     counter.fetch_add(1, Ordering::Relaxed);
//!     Ok(())
//! });
//! assert_eq!(hooks.len(), 1);
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::error::BoxError;
use crate::Error;

/// What a hook returns: `Ok(())`, or an error that is logged (or, from `pre_request`,
/// an [`Error::aborted`] that aborts the request).
pub type HookResult = Result<(), BoxError>;

type ConnHook = Arc<dyn Fn(&ConnectionEvent) -> HookResult + Send + Sync>;
type RequestHook = Arc<dyn for<'a> Fn(&RequestEvent<'a>) -> HookResult + Send + Sync>;
type DataHook = Arc<dyn for<'a> Fn(&DataEvent<'a>) -> HookResult + Send + Sync>;
type LostHook = Arc<dyn for<'a> Fn(&LostEvent<'a>) -> HookResult + Send + Sync>;

/// The connection a hook fires for.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionEvent {
    /// The producer's session number of the connection (1-based).
    pub session: u64,
    /// The peer's address.
    pub peer: SocketAddr,
}

/// A request starting or finishing on a connection (or a datagram being handled).
#[derive(Debug, Clone, Copy)]
pub struct RequestEvent<'a> {
    /// The connection's session number.
    pub session: u64,
    /// The peer's address (the datagram's sender for UDP).
    pub peer: SocketAddr,
    /// The request's number on its connection, 1-based (`processed` after it started).
    pub request: u64,
    /// For `post_request`: the request's error, if it failed or was aborted.
    pub error: Option<&'a Error>,
}

/// Bytes read from a connection, before (`data_received`) or after (`data_processed`)
/// the consumers saw them.
#[derive(Debug, Clone, Copy)]
pub struct DataEvent<'a> {
    /// The connection's session number.
    pub session: u64,
    /// The bytes read in this batch.
    pub data: &'a [u8],
}

/// A connection that ended.
#[derive(Debug, Clone, Copy)]
pub struct LostEvent<'a> {
    /// The connection's session number.
    pub session: u64,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Why it ended; `None` for a clean close.
    pub error: Option<&'a Error>,
}

/// The many-times hooks of a producer, applied to every connection and consumer it makes.
#[derive(Default, Clone)]
pub struct Hooks {
    connection_made: Vec<ConnHook>,
    pre_request: Vec<RequestHook>,
    post_request: Vec<RequestHook>,
    data_received: Vec<DataHook>,
    data_processed: Vec<DataHook>,
    connection_lost: Vec<LostHook>,
    pause_writing: Vec<ConnHook>,
    resume_writing: Vec<ConnHook>,
}

macro_rules! hook_methods {
    ($($(#[$doc:meta])* $on:ident, $fire:ident, $field:ident : $ev:ty, $evany:ty;)*) => {
        impl Hooks {
            $(
                $(#[$doc])*
                pub fn $on<F>(&mut self, hook: F) -> &mut Self
                where
                    F: for<'a> Fn(&$ev) -> HookResult + Send + Sync + 'static,
                {
                    self.$field.push(Arc::new(hook));
                    self
                }

                #[allow(dead_code)]
                pub(crate) fn $fire(&self, ev: &$evany) {
                    for hook in &self.$field {
                        if let Err(err) = hook(ev) {
                            tracing::warn!(event = stringify!($field), error = %err, "hook failed");
                        }
                    }
                }
            )*
        }
    };
}

hook_methods! {
    /// Registers a hook fired once a connection is established.
    on_connection_made, fire_connection_made, connection_made: ConnectionEvent, ConnectionEvent;
    /// Registers a hook fired when a request starts (server: its first bytes arrived;
    /// client: just before it is written). Returning [`Error::aborted`] aborts it.
    on_pre_request, fire_pre_request_logged, pre_request: RequestEvent<'a>, RequestEvent<'_>;
    /// Registers a hook fired when a request finished (pulsar's `post_request`).
    on_post_request, fire_post_request, post_request: RequestEvent<'a>, RequestEvent<'_>;
    /// Registers a hook fired with every batch of bytes read, before consumers see it.
    on_data_received, fire_data_received, data_received: DataEvent<'a>, DataEvent<'_>;
    /// Registers a hook fired with every batch of bytes read, after consumers saw it.
    on_data_processed, fire_data_processed, data_processed: DataEvent<'a>, DataEvent<'_>;
    /// Registers a hook fired when a connection ends, with the error that ended it.
    on_connection_lost, fire_connection_lost, connection_lost: LostEvent<'a>, LostEvent<'_>;
    /// Registers a hook fired when a connection's write buffer passes its high-water
    /// mark: writing and reading pause (pulsar's `pause_writing`).
    on_pause_writing, fire_pause_writing, pause_writing: ConnectionEvent, ConnectionEvent;
    /// Registers a hook fired when a paused write buffer drains below its low-water
    /// mark (pulsar's `resume_writing`).
    on_resume_writing, fire_resume_writing, resume_writing: ConnectionEvent, ConnectionEvent;
}

impl Hooks {
    /// Total number of registered hooks.
    pub fn len(&self) -> usize {
        self.connection_made.len()
            + self.pre_request.len()
            + self.post_request.len()
            + self.data_received.len()
            + self.data_processed.len()
            + self.connection_lost.len()
            + self.pause_writing.len()
            + self.resume_writing.len()
    }

    /// Whether no hook is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any `pre_request`/`post_request` hook is registered.
    pub(crate) fn wants_requests(&self) -> bool {
        !self.pre_request.is_empty() || !self.post_request.is_empty()
    }

    /// Whether any `pause_writing`/`resume_writing` hook is registered.
    pub(crate) fn wants_flow(&self) -> bool {
        !self.pause_writing.is_empty() || !self.resume_writing.is_empty()
    }

    /// Whether any `data_received`/`data_processed` hook is registered.
    pub(crate) fn wants_data(&self) -> bool {
        !self.data_received.is_empty() || !self.data_processed.is_empty()
    }

    /// Fires `pre_request`; returns the abort error if a hook aborted the request. Hooks
    /// after an aborting one do not run (the request is gone).
    pub(crate) fn fire_pre_request(&self, ev: &RequestEvent<'_>) -> Result<(), Error> {
        for hook in &self.pre_request {
            if let Err(err) = hook(ev) {
                match err.downcast::<Error>() {
                    Ok(err) if err.is_aborted() => return Err(*err),
                    Ok(err) => tracing::warn!(event = "pre_request", error = %err, "hook failed"),
                    Err(err) => tracing::warn!(event = "pre_request", error = %err, "hook failed"),
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("connection_made", &self.connection_made.len())
            .field("pre_request", &self.pre_request.len())
            .field("post_request", &self.post_request.len())
            .field("data_received", &self.data_received.len())
            .field("data_processed", &self.data_processed.len())
            .field("connection_lost", &self.connection_lost.len())
            .field("pause_writing", &self.pause_writing.len())
            .field("resume_writing", &self.resume_writing.len())
            .finish()
    }
}

/// Generates a one-shot builder's hook methods (`fn on_x(self, hook) -> Self`), which
/// forward to its `hooks: Hooks` field: every producer builder (TCP and UDP servers,
/// clients) registers hooks the same way. Each method keeps the doc written at its call.
/// A leading `hooks;` entry also generates `fn hooks(self, hooks: Hooks) -> Self`, which
/// replaces them all.
macro_rules! builder_hooks {
    ($(#[$hdoc:meta])* hooks; $($rest:tt)*) => {
        $(#[$hdoc])*
        pub fn hooks(mut self, hooks: $crate::Hooks) -> Self {
            self.hooks = hooks;
            self
        }

        $crate::hooks::builder_hooks! { $($rest)* }
    };
    ($($(#[$doc:meta])* $name:ident($ev:ty);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(
                mut self,
                hook: impl for<'a> Fn(&$ev) -> $crate::HookResult + Send + Sync + 'static,
            ) -> Self {
                self.hooks.$name(hook);
                self
            }
        )*
    };
}
pub(crate) use builder_hooks;
