//! The driver's clock: `Instant::now` read once per wake-up and reused by the events that
//! follow it.

use tokio::time::Instant;

/// The current time, as the engine takes it (`std` instants; tokio's is the source so
/// that paused-time tests move it).
pub(crate) fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// The time of the driver's current wake-up: read once after the task was parked, then
/// reused by the events that follow without parking (a read, then the write of its
/// answer), and re-read every [`Clock::REUSE`] events so a connection that never parks
/// still sees time move. Reads and writes only stamp activity (idle and progress
/// timeouts have second-scale granularity); timer checks always read the clock.
#[derive(Debug, Default)]
pub(super) struct Clock {
    now: Option<std::time::Instant>,
    uses: u32,
}

impl Clock {
    const REUSE: u32 = 32;

    pub(super) fn now(&mut self) -> std::time::Instant {
        match self.now {
            Some(t) if self.uses < Self::REUSE => {
                self.uses += 1;
                t
            }
            _ => {
                let t = now();
                self.now = Some(t);
                self.uses = 1;
                t
            }
        }
    }

    /// The task waited: the next event reads the clock again.
    pub(super) fn parked(&mut self) {
        self.now = None;
    }
}
