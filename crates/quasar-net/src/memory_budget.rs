//! A server-wide memory budget for the bytes held on behalf of peers: [`MemoryBudget`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{Error, Result};

/// The default budget of a server: 512 MiB (see `docs/overload.md`).
pub const DEFAULT_MEMORY_BUDGET: usize = 512 * 1024 * 1024;

/// How often a connection paused by the soft stage checks whether it may read again.
pub(crate) const RECHECK: Duration = Duration::from_millis(200);

/// How many [`RECHECK`]s a connection may spend paused, in one stretch or across
/// resumes, between two moments it holds nothing, before it is closed as in the hard
/// stage (2 s). A paused connection reads nothing, so it would not even notice its peer
/// leaving: without an end, memory that never frees would hold the largest holders (and
/// their descriptors) until a progress timeout, tens of seconds later.
pub(crate) const MAX_PAUSED_RECHECKS: u8 = 10;

/// What the budget asks of a connection after it reported its holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pressure {
    /// Go on.
    None,
    /// Soft stage: stop reading.
    Pause,
    /// Hard stage: close.
    Shed,
}

/// Bytes held for peers across a server.
///
/// Each connection's limits (`max_read_buffer`, the write-buffer cap) bound one peer;
/// they do not bound many connections each holding just under its limit. A budget is shared by every connection of a server;
/// each connection reports what it holds (unparsed input of an unfinished request plus
/// output queued for the peer) whenever that changes by a read, a round or a write.
///
/// Two stages, as Envoy's overload manager:
///
/// - **soft** (over [`soft_limit`](MemoryBudget::soft_limit), 80% of the limit): a
///   connection holding more than its share of the soft limit stops reading (the peer
///   waits in the kernel's buffers) until the total is back under the soft limit or its
///   share grew back over what it holds; counted as a `budget_shed` abuse event.
///   Paused connections re-check every 200 ms (a timer of their own: no wake-up
///   path between connections is needed, and only paused connections pay for it). A
///   connection paused for ten re-checks (2 s, counted across
///   resumes until it holds nothing again) is closed, as in the hard stage: a paused connection would not notice its
///   peer leaving, and would hold its bytes until a progress timeout.
/// - **hard** (over the limit): a connection holding more than its fair share
///   (limit / connections holding anything) is closed with
///   [`Error::is_over_budget`](crate::Error::is_over_budget) the next time it reads,
///   queues output or re-checks; every other connection holding bytes stops reading
///   until the total is back under the limit (new requests still get their first read).
///   A closing connection's unparsed input is freed at once.
///
/// The largest holders go first in both stages, since they cross the fair share first;
/// small holders keep being served under the limit. Memory then stays within the limit
/// plus one read chunk per connection reading at that moment, plus under 4 KiB per
/// connection (holdings are reported in 4 KiB steps so that a small request touches no
/// shared counter).
///
/// What a connection holds: its unparsed input, its queued output, and what its
/// consumer reports buffering itself with
/// [`Context::report_buffered`](crate::Context::report_buffered) (an HTTP body being
/// collected, for instance).
///
/// # Examples
///
/// ```
/// use quasar_net::MemoryBudget;
///
/// let budget = MemoryBudget::new(1000);
/// assert_eq!(budget.limit(), 1000);
/// assert_eq!(budget.used(), 0);
/// ```
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    soft: usize,
    used: AtomicUsize,
    /// Connections holding at least one byte.
    holders: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            limit,
            soft: limit / 5 * 4 + limit % 5 * 4 / 5,
            used: AtomicUsize::new(0),
            holders: AtomicUsize::new(0),
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The soft stage's mark: 80% of the limit.
    pub fn soft_limit(&self) -> usize {
        self.soft
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A connection's holding went from `before` to `now`; returns what it must do.
    pub(crate) fn update(&self, before: usize, now: usize) -> Pressure {
        if now != before {
            if now > before {
                self.used.fetch_add(now - before, Ordering::Relaxed);
            } else {
                self.used.fetch_sub(before - now, Ordering::Relaxed);
            }
            match (before == 0, now == 0) {
                (true, false) => {
                    self.holders.fetch_add(1, Ordering::Relaxed);
                }
                (false, true) => {
                    self.holders.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        self.pressure(now)
    }

    /// The stage a connection holding `held` bytes is in now.
    pub(crate) fn pressure(&self, held: usize) -> Pressure {
        let used = self.used();
        if held == 0 || used <= self.soft {
            return Pressure::None;
        }
        let holders = self.holders.load(Ordering::Relaxed).max(1);
        if used > self.limit {
            // Over the limit nobody holding bytes reads more, not only the largest: the
            // largest are paused and shed only at their next re-check, and meanwhile
            // thousands of holders under their share would each read on past the limit.
            if held > self.limit / holders {
                Pressure::Shed
            } else {
                Pressure::Pause
            }
        } else if held > self.soft / holders {
            Pressure::Pause
        } else {
            Pressure::None
        }
    }

    /// Whether the total is over the soft mark (reads are then capped at one chunk).
    #[inline]
    pub(crate) fn is_under_pressure(&self) -> bool {
        self.used() > self.soft
    }

    /// The limit divided among the connections holding anything.
    pub fn fair_share(&self) -> usize {
        self.limit / self.holders.load(Ordering::Relaxed).max(1)
    }
}

/// One connection's account with the budget: what it reported last, and whether the
/// soft stage paused its reading.
#[derive(Debug, Default)]
pub(crate) struct Holding {
    held: usize,
    paused: bool,
    /// Re-checks that found it paused since it last held nothing.
    rechecks: u8,
}

impl Holding {
    /// The bytes reported last.
    #[inline]
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Whether the soft stage paused reading.
    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Reports holding `now` bytes. Returns whether reading was paused just now (the
    /// caller then arms the [`RECHECK`] timer and counts the event).
    ///
    /// # Errors
    ///
    /// [`Error::is_over_budget`] in the hard stage: close the connection.
    #[inline]
    pub(crate) fn report(&mut self, budget: &MemoryBudget, now: usize) -> Result<bool> {
        let pressure = budget.update(self.held, now);
        self.held = now;
        if now == 0 {
            // Its request ended: a new one starts with a clean record. Not on resume:
            // a connection resumed for a chunk and paused again is still the same
            // holding, and would otherwise never reach the limit on pauses.
            self.rechecks = 0;
        }
        match pressure {
            Pressure::Shed => Err(Error::new_over_budget(format!(
                "holding {now} bytes, fair share {} of a {}-byte budget",
                budget.fair_share(),
                budget.limit()
            ))),
            Pressure::Pause => Ok(!std::mem::replace(&mut self.paused, true)),
            Pressure::None => {
                self.paused = false;
                Ok(false)
            }
        }
    }

    /// A paused connection's periodic check; returns whether it is still paused.
    ///
    /// # Errors
    ///
    /// [`Error::is_over_budget`] after [`MAX_PAUSED_RECHECKS`] re-checks that found it
    /// still paused, or when the hard stage reached it: a paused connection
    /// reads nothing and so reports nothing, and newcomers each taking their share
    /// would otherwise push the total past the limit while the largest holders sit
    /// paused.
    pub(crate) fn recheck(&mut self, budget: &MemoryBudget) -> Result<bool> {
        match budget.pressure(self.held) {
            Pressure::Shed => self.report(budget, self.held).map(|_| true),
            Pressure::Pause if self.rechecks + 1 >= MAX_PAUSED_RECHECKS => {
                Err(Error::new_over_budget(format!(
                    "paused for {:?} holding {} bytes while the budget stayed under pressure",
                    RECHECK * u32::from(MAX_PAUSED_RECHECKS),
                    self.held
                )))
            }
            Pressure::Pause => {
                self.rechecks += 1;
                Ok(self.paused)
            }
            Pressure::None => {
                self.paused = false;
                Ok(false)
            }
        }
    }

    /// The connection ended: its bytes are freed.
    pub(crate) fn release(&mut self, budget: &MemoryBudget) {
        budget.update(std::mem::take(&mut self.held), 0);
        self.paused = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Pressure::*;

    #[test]
    fn holders_over_their_share_are_shed_while_over_and_small_ones_never() {
        let b = MemoryBudget::new(1000);
        assert_eq!(b.soft_limit(), 800);
        assert_eq!(b.update(0, 600), None);
        assert_eq!(b.update(0, 100), None);
        // 1,100 used by three holders: fair share 333.
        assert_eq!(b.update(0, 400), Shed);
        assert_eq!(
            b.update(100, 100),
            Pause,
            "a small holder waits while over the limit"
        );
        assert_eq!(
            b.update(600, 600),
            Shed,
            "the largest is shed at its next report"
        );
        // It went: 500 used by two, under the soft mark; nobody is paused or shed.
        assert_eq!(b.update(600, 0), None);
        assert_eq!((b.used(), b.fair_share()), (500, 500));
        // 900: under the limit, over the soft mark; 800 is over the soft share of 400.
        assert_eq!(b.update(400, 800), Pause);
    }

    #[test]
    fn the_soft_stage_pauses_the_largest_and_lifts_when_memory_frees() {
        let b = MemoryBudget::new(1000);
        let (mut big, mut small) = (Holding::default(), Holding::default());
        assert_eq!(small.report(&b, 100).ok(), Some(false));
        assert_eq!(big.report(&b, 700).ok(), Some(false), "800 is not over");
        // 850 > 800: soft share 400; the big one pauses (once), the small one reads.
        assert_eq!(big.report(&b, 750).ok(), Some(true));
        assert_eq!(big.report(&b, 750).ok(), Some(false), "already paused");
        assert!(big.is_paused() && big.recheck(&b).unwrap());
        assert_eq!(small.report(&b, 100).ok(), Some(false));
        assert!(!small.is_paused());
        // The small one's request ends: 750 < 800, the big one may read again.
        assert_eq!(small.report(&b, 0).ok(), Some(false));
        assert!(!big.recheck(&b).unwrap());
        // Paused again, then newcomers push the total past the limit: the re-check
        // sheds the paused one, which reads (and reports) nothing by itself.
        assert_eq!(big.report(&b, 850).ok(), Some(true));
        let mut newcomer = Holding::default();
        assert_eq!(newcomer.report(&b, 200).ok(), Some(true), "over: waits");
        assert!(big.recheck(&b).is_err_and(|e| e.is_over_budget()));
        big.release(&b);
        newcomer.release(&b);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_pause_memory_does_not_lift_ends_in_a_close_even_across_resumes() {
        let b = MemoryBudget::new(1000);
        let (mut big, mut other) = (Holding::default(), Holding::default());
        assert_eq!(other.report(&b, 100).ok(), Some(false));
        assert_eq!(big.report(&b, 750).ok(), Some(true), "850 > 800: paused");
        for _ in 0..5 {
            assert!(big.recheck(&b).unwrap(), "still paused");
        }
        // Memory frees for a moment: it resumes, reads, and is paused again. The pauses
        // count on: it is the same holding.
        assert_eq!(other.report(&b, 0).ok(), Some(false));
        assert!(!big.recheck(&b).unwrap(), "resumed");
        assert_eq!(other.report(&b, 100).ok(), Some(false));
        assert_eq!(big.report(&b, 760).ok(), Some(true));
        for _ in 5..MAX_PAUSED_RECHECKS - 1 {
            assert!(big.recheck(&b).unwrap());
        }
        assert!(big.recheck(&b).is_err_and(|e| e.is_over_budget()));
        // Holding nothing (its request ended) starts a clean record.
        assert_eq!(big.report(&b, 0).ok(), Some(false));
        assert_eq!(big.report(&b, 750).ok(), Some(true));
        assert!(big.recheck(&b).unwrap());
    }

    #[test]
    fn a_tiny_budget_has_a_soft_mark_below_it() {
        assert_eq!(MemoryBudget::new(4).soft_limit(), 3);
        assert_eq!(
            MemoryBudget::new(usize::MAX).soft_limit(),
            usize::MAX / 5 * 4
        );
    }
}
