//! The engine's timer decisions: idle and request timeouts, ticks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Engine, FAR_FUTURE};
use super::exchange::{with_consumer, Exchange};
use crate::{ConsumerFactory, Error, ProtocolConsumer, Result};

/// Time and progress as the timers see them: the driver's clock, when things last
/// moved, and the bytes each way.
#[derive(Debug)]
pub(super) struct Clock {
    /// The driver's current time, as of the last event.
    pub(super) now: Instant,
    pub(super) last_activity: Instant,
    /// The request-timeout clock of output still owed after its exchange ended.
    pub(super) busy_since: Option<Instant>,
    /// Bytes read and written so far, for the progress timeouts.
    pub(super) read_total: u64,
    pub(super) written_total: u64,
    pub(super) recv_window: super::progress::RateWindow,
    pub(super) send_window: super::progress::RateWindow,
    pub(super) send_stall: super::progress::Stall,
    /// Since when output has waited for the peer (`None`: the queue is empty).
    pub(super) waiting_since: Option<Instant>,
    /// When the peer last took a byte of output.
    pub(super) written_at: Instant,
    /// A consumer changed its timers: the driver must ask for the next deadline now.
    pub(super) timer_changed: bool,
}

impl Clock {
    pub(super) fn new(now: Instant) -> Clock {
        Clock {
            now,
            last_activity: now,
            busy_since: None,
            read_total: 0,
            written_total: 0,
            recv_window: Default::default(),
            send_window: Default::default(),
            send_stall: Default::default(),
            waiting_since: None,
            written_at: now,
            timer_changed: false,
        }
    }
}

// ===== impl Engine: timers =====

impl<F: ConsumerFactory> Engine<F> {
    // ----- timers -----

    /// Whether a consumer changed its timers since the last call (the driver then asks
    /// [`check_timers`](Self::check_timers) for the next deadline at once).
    pub(crate) fn take_timer_changed(&mut self) -> bool {
        std::mem::take(&mut self.clock.timer_changed)
    }

    /// Work the request timeout covers: a short exchange started, or output still owed.
    pub(super) fn is_busy(&self) -> bool {
        self.exchanges.iter().any(Exchange::is_timed) || !self.out.is_idle()
    }

    pub(super) fn track_busy(&mut self) {
        if !self.is_busy() {
            self.clock.busy_since = None;
        } else if self.clock.busy_since.is_none() {
            self.clock.busy_since = Some(self.clock.now);
        }
    }

    /// The idle timeout in force: the front exchange's override, or the connection's.
    pub(super) fn idle_timeout(&self) -> Duration {
        self.exchanges
            .front()
            .and_then(|e| e.lifetime.idle_timeout)
            .unwrap_or(self.cfg.keep_alive)
    }

    /// When the request timeout clock started, if it runs.
    pub(super) fn request_clock(&self) -> Option<Instant> {
        match self.exchanges.front() {
            Some(ex) if ex.lifetime.long_lived => None,
            Some(ex) if ex.is_timed() => Some(ex.since),
            _ if !self.out.is_idle() => self.clock.busy_since,
            _ => None,
        }
    }

    /// A request is being received: bytes of it arrived (or wait unparsed) and the
    /// connection is reading them; a long-lived exchange is exempt.
    fn is_receiving(&self) -> bool {
        // Paused by the memory budget counts: a pause memory never lifts ends here.
        (self.wants_read() || self.paused_by_memory())
            && match self.exchanges.front() {
                Some(ex) if ex.lifetime.long_lived => false,
                Some(ex) => ex.started || !self.rbuf.is_empty(),
                None => !self.rbuf.is_empty(),
            }
    }

    /// The progress timeouts (server side): minimum receive and send rates, write stall.
    /// They hold whatever `request_timeout` is, so no setting leaves a slow peer a hole.
    fn check_progress(&mut self, now: Instant) -> Result<Option<Instant>> {
        if self.is_client() {
            return Ok(None);
        }
        let receiving = self.is_receiving();
        let sending = !self.out.queue.is_empty();
        let cfg = Arc::clone(&self.cfg);
        let (receive, send) = (cfg.min_receive_rate, cfg.min_send_rate);
        let a = self
            .clock
            .recv_window
            .check(receive, receiving, self.clock.read_total, now)
            .map_err(|e| Error::new_receive_too_slow(e.describe(receive)))?;
        let b = self
            .clock
            .send_window
            .check(send, sending, self.clock.written_total, now)
            .map_err(|e| Error::new_send_too_slow(format!("peer took {}", e.describe(send))))?;
        // The stall runs from the later of: output started waiting, the peer took a byte.
        let stalled_since = self
            .clock
            .waiting_since
            .filter(|_| sending)
            .map(|since| since.max(self.clock.written_at));
        let c = self
            .clock
            .send_stall
            .check(cfg.write_stall_timeout, stalled_since, now)
            .map_err(|stalled| {
                Error::new_send_too_slow(format!("peer took no byte for {stalled:?}"))
            })?;
        Ok([a, b, c].into_iter().flatten().min())
    }

    /// Checks the idle and request timeouts and fires due ticks; returns when to look
    /// again. Timers are lazy: this answers "no earlier than", and is asked again then.
    ///
    /// # Errors
    ///
    /// [`Error::is_idle_timeout`] or [`Error::is_request_timeout`]: close the connection;
    /// or the error of a consumer's `tick`.
    pub(crate) fn check_timers(&mut self, now: Instant) -> Result<Instant> {
        self.clock.now = now;
        let mut next = now + FAR_FUTURE;
        let ka = self.idle_timeout();
        let rt = self.cfg.request_timeout;
        let busy = self.is_busy();
        if !ka.is_zero() {
            if busy {
                next = next.min(now + ka);
            } else {
                if now >= self.clock.last_activity + ka {
                    return Err(Error::new_idle_timeout());
                }
                next = next.min(self.clock.last_activity + ka);
            }
        }
        if !rt.is_zero() {
            match self.request_clock() {
                Some(since) if now >= since + rt => return Err(Error::new_request_timeout()),
                Some(since) => next = next.min(since + rt),
                None => next = next.min(now + rt),
            }
        }
        if let Some(at) = self.check_progress(now)? {
            next = next.min(at);
        }
        if let Some(at) = self.recheck_memory(now)? {
            next = next.min(at);
        }
        for idx in 0..self.exchanges.len() {
            let Some(at) = self.exchanges[idx].next_tick else {
                continue;
            };
            if now >= at {
                self.exchanges[idx].rearm_tick(now);
                self.call(idx, |c, cx, _| with_consumer!(c, c => c.tick(cx)))?;
                self.apply_actions(false)?;
            }
            if let Some(at) = self.exchanges.get(idx).and_then(|e| e.next_tick) {
                next = next.min(at);
            }
        }
        self.clock.timer_changed = false;
        Ok(next)
    }
}
