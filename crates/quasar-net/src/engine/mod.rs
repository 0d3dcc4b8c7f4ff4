//! The sans-IO connection engine: every consumer rule of one connection.
//!
//! [`Engine`] owns the read buffer, the exchanges in flight and their consumers, the
//! write queue with its water marks, the async responses and body streams still being
//! produced, the timers' decisions and the close and drain rules. It has no socket and
//! no runtime: a driver moves bytes and time into it (`start`, `on_read`, `on_eof`,
//! `on_written`, `check_timers`, `on_call`, `on_drain`, `shutdown_write`) and asks it
//! what it wants (`wants_read`, `wants_call`, `wants_shutdown`, the queue's slices,
//! `is_done`). The socket driver
//! (`connection::driver`) and the test harness ([`harness`](crate::harness)) drive the
//! same engine, so they cannot drift apart. The engine never holds a borrowed buffer
//! across an await: a completion-based driver can lend it owned buffers.
//!
//! # States
//!
//! Three orthogonal enums (`state.rs`) plus the write queue's pause flag:
//!
//! | state | value | entered when | leaves when |
//! |---|---|---|---|
//! | `Reading` | `Open` | start; `Connection::resume_reading` | `Context::pause_reading`; the peer's EOF |
//! | | `PausedByConsumer` | `Context::pause_reading` (from a server's first `connection_made`: before the first byte) | `Connection::resume_reading` |
//! | | `Eof` | the peer's EOF, read after every byte sent before it | never |
//! | `Writing` | `Open` | start | `Connection::shutdown_write` |
//! | | `ShutdownPending` | `Connection::shutdown_write` | the queue is written and the driver shuts the side: -> `Shutdown` |
//! | | `Shutdown` | the sending side is shut (a FIN is out) | never; with `Reading::Eof` too the connection closes |
//! | `Lifecycle` | `Open` | start | drain; close; the peer's EOF on a request/response exchange (once every complete request read before it is answered); `max_requests`; both sides shut; detach (errors end the connection at once) |
//! | | `CloseAfterExchange` | a drain finds a request started or unparsed input; the server's last session | the exchange in flight (if none started yet, the first one) ends: -> `Closing` |
//! | | `Closing` | `Context::close`, `Connection::close`, the peer's EOF on a request/response exchange, `max_requests`, a drain finding no exchange in flight (idle, never spoke, or only output owed, which is written first), detach, both sides shut | output written (or the write side shut): done |
//! | write queue | paused | queued + parked bytes reach the high mark | they drain to the low mark |
//!
//! What each state allows (`Engine::wants_read`, `takes_input`, `wants_call`, `feed`,
//! `Output::poll_pull`):
//!
//! | | read | feed consumers | pull responses | take client calls |
//! |---|---|---|---|---|
//! | `Open`, queue not paused | yes | yes | yes | below `max_in_flight` |
//! | queue paused | request/response: no; full duplex: yes | request/response: no (a consumer that stopped is called again on resume); full duplex: yes | body streams: below the high mark only; finished results: yes | no |
//! | `PausedByConsumer` | no (the peer's bytes wait in the socket) | no (bytes already read wait in the buffer) | yes | yes |
//! | `Eof` | no | the bytes read before it; then a long-lived exchange gets `eof_received` | yes | as `Lifecycle` says |
//! | `CloseAfterExchange` | yes | the exchange in flight only | yes | no |
//! | `Closing` | no | no | yes | no |
//!
//! Pulling stops at the high mark for body streams only: a stream is polled for its next chunk
//! while the queue (with the bytes parked behind unfinished responses) is below the high mark;
//! finished results (a future's answer, bytes held behind an earlier response) move into the queue
//! as soon as they reach the front, since they are already in memory.
//!
//! An exchange is short or long-lived. The request timeout runs for a short exchange
//! from its first byte (server) or its call (client) to its end, and for output still
//! owed after it; the idle timeout runs when nothing moved and no short exchange or
//! output is pending. A long-lived exchange is exempt from the request timeout, may set
//! its own idle timeout and a tick, and gets `shutdown` on a drain. On a server the
//! progress rules hold in every state: a started request must arrive at
//! `min_receive_rate`; output waiting must be taken at `min_send_rate` and never stall
//! for `write_stall_timeout`. Timers are lazy (`check_timers` answers "ask again no
//! later than"), so a rate is judged over windows the checks open: a slow peer is
//! closed one to two windows after it starts. The write stall is exact: it runs from
//! the later of "output started waiting" and "the peer took a byte".
//!
//! The tests in `tests.rs` drive each row through the harness in virtual time.

mod calls;
#[allow(clippy::module_inception)]
mod engine;
pub(crate) mod exchange;
mod feed;
mod half_close;
mod output;
mod progress;
mod responses;
mod state;
#[cfg(test)]
mod tests;
mod timers;
pub(crate) mod write_queue;

pub(crate) use calls::PushSink;
pub(crate) use engine::{Engine, Role};
pub(crate) use exchange::Call;
pub(crate) use output::Output;
pub use progress::MinRate;
