//! When each request of a connection is due: at once (closed loop) or on a fixed timetable
//! (open loop).
//!
//! In open loop the total `--rate` is shared evenly by the connections, each staggered by a
//! fraction of its interval so their sends do not bunch up. A request that could not go out on
//! time (the connection already had `--pipeline` requests outstanding, or the tool's timer woke
//! late) keeps its intended time, and latency is measured from there: a stalled server shows up
//! as latency instead of as requests never sent (no coordinated omission).

use std::time::{Duration, Instant};

/// The send timetable of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pacing {
    /// Send whenever fewer than `--pipeline` requests are outstanding.
    Closed,
    /// Request `k` is due at `start + phase + k * interval`.
    Open {
        start: Instant,
        phase: Duration,
        interval: Duration,
    },
}

impl Pacing {
    /// The timetable of connection `id` of `connections` for a total `rate` (None: closed loop).
    pub(crate) fn new(rate: Option<f64>, start: Instant, id: u32, connections: u32) -> Pacing {
        match rate {
            None => Pacing::Closed,
            Some(rate) => {
                let interval = f64::from(connections) / rate;
                let phase = interval * f64::from(id) / f64::from(connections);
                Pacing::Open {
                    start,
                    phase: Duration::from_secs_f64(phase),
                    interval: Duration::from_secs_f64(interval),
                }
            }
        }
    }

    /// When request `k` is due; `now` in closed loop.
    #[inline]
    pub(crate) fn due(&self, k: u64, now: Instant) -> Instant {
        match *self {
            Pacing::Closed => now,
            Pacing::Open {
                start,
                phase,
                interval,
            } => {
                // Multiply instead of adding interval by interval so rounding does not drift.
                let offset = interval.as_secs_f64() * k as f64;
                start + phase + Duration::from_secs_f64(offset)
            }
        }
    }

    /// Whether requests wait for their time.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, Pacing::Open { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_connections_share_the_rate_and_are_staggered() {
        let start = Instant::now();
        let first = Pacing::new(Some(1000.0), start, 0, 10);
        let second = Pacing::new(Some(1000.0), start, 5, 10);
        let micros = |t: Instant| (t - start).as_secs_f64() * 1e6;
        assert_eq!(first.due(0, start), start);
        assert!((micros(first.due(3, start)) - 30_000.0).abs() < 1.0);
        assert!((micros(second.due(0, start)) - 5_000.0).abs() < 1.0);
    }

    #[test]
    fn closed_loop_requests_are_due_now() {
        let now = Instant::now();
        let pacing = Pacing::new(None, now, 0, 1);
        assert!(!pacing.is_open());
        assert_eq!(pacing.due(42, now), now);
    }
}
