//! The sans-IO connection engine: every consumer rule of one connection.
//!
//! [`Engine`] owns the read buffer, the exchanges in flight and their consumers, the
//! write queue with its water marks, the async responses and body streams still being
//! produced, the timers' decisions and the close and drain rules. It has no socket and
//! no runtime: a driver moves bytes and time into it (`on_read`, `on_eof`, `on_written`,
//! `check_timers`, `on_call`, `on_drain`) and asks it what it wants (`wants_read`,
//! `wants_call`, the queue's slices, `is_done`). The socket driver
//! (`connection::driver`) and the test harness ([`harness`](crate::harness)) drive the
//! same engine, so they cannot drift apart. The engine never holds a borrowed buffer
//! across an await: a completion-based driver can lend it owned buffers.
//!
//! # States
//!
//! Two orthogonal enums plus the write queue's pause flag:
//!
//! | state | value | entered when | leaves when |
//! |---|---|---|---|
//! | `Reading` | `Open` | start; `resume_reading` | `pause_reading`; EOF |
//! | | `PausedByConsumer` | `Context::pause_reading` | `Connection::resume_reading` |
//! | | `Eof` | the peer's EOF | never |
//! | `Lifecycle` | `Open` | start | drain; close; EOF; limits; errors |
//! | | `CloseAfterExchange` | drain with an exchange in flight (or a fresh connection) | that exchange ends -> `Closing` |
//! | | `Closing` | `Context::close`, `Connection::close`, EOF, `max_requests`, drain when idle | output written -> done |
//! | write queue | paused | queued + parked bytes reach the high mark | they drain to the low mark |
//!
//! What each state allows:
//!
//! | | read | feed consumers | pull responses | take client calls |
//! |---|---|---|---|---|
//! | `Open`, not paused | yes | yes | yes | below `max_in_flight` |
//! | write queue paused | no | no (a consumer that stopped is called again on resume) | no | no |
//! | `PausedByConsumer` | no | no | yes | yes |
//! | `CloseAfterExchange` | yes | the exchange in flight only | yes | no |
//! | `Closing` | no | no | yes | no |
//!
//! An exchange is short or long-lived. The request timeout runs for a short exchange
//! from its first byte (server) or its call (client) to its end, and for output still
//! owed after it; the idle timeout runs when nothing moved and no short exchange or
//! output is pending. A long-lived exchange is exempt from the request timeout, may set
//! its own idle timeout and a tick, and gets `shutdown` on a drain.

mod client;
#[allow(clippy::module_inception)]
mod engine;
pub(crate) mod exchange;
mod feed;
mod output;
mod progress;
mod responses;
mod state;
#[cfg(test)]
mod tests;
mod timers;
pub(crate) mod write_queue;

pub(crate) use client::PushSink;
pub(crate) use engine::{Engine, Role};
pub(crate) use exchange::Call;
pub(crate) use output::Output;
pub use progress::MinRate;
