//! A server-wide memory budget for the bytes held on behalf of peers.
//!
//! Each connection's limits (`max_read_buffer`, the write-buffer cap) bound one peer;
//! they do not bound many: 3,000 connections each sending just under 1 MiB with no
//! separator pinned 3 GB. A [`MemoryBudget`] is shared by every connection of a server;
//! each connection reports what it holds (unparsed input of an unfinished request plus
//! output queued for the peer) whenever that changes by a read, a round or a write.
//!
//! While the total is over the limit, a connection holding more than its fair share
//! (limit / connections holding anything) is closed with
//! [`Error::is_over_budget`](crate::Error::is_over_budget) the next time it reads or
//! queues output — the largest holders go first, since they cross the fair share
//! first; small holders keep being served. Memory then stays within the limit plus
//! one read chunk per connection reading at that moment.
//!
//! # Examples
//!
//! ```
//! use quasar_net::MemoryBudget;
//!
//! let budget = MemoryBudget::new(1000);
//! assert_eq!(budget.limit(), 1000);
//! assert_eq!(budget.used(), 0);
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default budget of a server: 512 MiB (see `docs/overload.md`).
pub const DEFAULT_MEMORY_BUDGET: usize = 512 * 1024 * 1024;

/// Bytes held for peers across a server; see the [module docs](self).
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    /// Connections holding at least one byte.
    holders: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            holders: AtomicUsize::new(0),
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A connection's holding went from `before` to `now`; returns whether it must be
    /// shed (the budget is exceeded and it holds more than its fair share).
    pub(crate) fn update(&self, before: usize, now: usize) -> bool {
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
        now > 0 && self.used() > self.limit && now > self.fair_share()
    }

    /// The limit divided among the connections holding anything.
    pub fn fair_share(&self) -> usize {
        self.limit / self.holders.load(Ordering::Relaxed).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_over_their_share_are_shed_while_over_and_small_ones_never() {
        let b = MemoryBudget::new(1000);
        assert!(!b.update(0, 600));
        assert!(!b.update(0, 100));
        // 1,100 used by three holders: fair share 333.
        assert!(b.update(0, 400));
        assert!(!b.update(100, 100), "a small holder is served");
        assert!(b.update(600, 600), "the largest is shed at its next report");
        // It went: 500 used by two, under the limit; nobody is shed.
        assert!(!b.update(600, 0));
        assert_eq!((b.used(), b.fair_share()), (500, 500));
        assert!(!b.update(400, 900 - 100));
    }
}
