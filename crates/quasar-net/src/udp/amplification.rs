//! The anti-amplification cap: what one received datagram may cause to be sent.
//!
//! A UDP sender's address is not verified, so a server that answers one small datagram
//! with many (or with many more bytes) reflects an attacker's traffic onto a forged
//! victim: pulsar's line echo answered one 65,506-byte datagram of one-byte lines with
//! 32,753 datagrams. Every datagram therefore gets a [`ReplyBudget`]: at most
//! `max_replies` datagrams and at most `ratio` times its own size on the wire (UDP + IPv4
//! headers counted on both sides, as QUIC's 3x anti-amplification limit does). Replies
//! past either bound are dropped before they are sent and counted in
//! `info().datagrams.replies_dropped`.
//!
//! ```
//! use quasar_net::udp::{DEFAULT_MAX_REPLIES_PER_DATAGRAM, DEFAULT_MAX_REPLY_RATIO};
//! // One small request can never be answered by more than a few small datagrams.
//! assert!(DEFAULT_MAX_REPLIES_PER_DATAGRAM <= 16);
//! assert!(DEFAULT_MAX_REPLY_RATIO <= 3);
//! ```

/// Bytes of headers a datagram costs on the wire besides its payload (IPv4 20 + UDP 8),
/// counted for the request and each reply so that many empty replies still cost.
pub const UDP_WIRE_OVERHEAD: usize = 28;

/// The default most datagrams sent because of one received datagram.
pub const DEFAULT_MAX_REPLIES_PER_DATAGRAM: usize = 16;

/// The default most reply bytes (on the wire) per received byte (on the wire).
pub const DEFAULT_MAX_REPLY_RATIO: usize = 3;

/// What the replies to one datagram may still spend.
#[derive(Debug, Clone)]
pub(crate) struct ReplyBudget {
    count: usize,
    bytes: usize,
}

impl ReplyBudget {
    /// The budget of a `request_len`-byte datagram; 0 for `max_replies` or `ratio` turns
    /// that bound off.
    pub(crate) fn new(max_replies: usize, ratio: usize, request_len: usize) -> Self {
        ReplyBudget {
            count: if max_replies == 0 {
                usize::MAX
            } else {
                max_replies
            },
            bytes: if ratio == 0 {
                usize::MAX
            } else {
                ratio.saturating_mul(request_len.saturating_add(UDP_WIRE_OVERHEAD))
            },
        }
    }

    /// Spends one reply of `len` payload bytes if the budget allows it.
    pub(crate) fn take(&mut self, len: usize) -> bool {
        let wire = len.saturating_add(UDP_WIRE_OVERHEAD);
        if self.count == 0 || wire > self.bytes {
            return false;
        }
        self.count -= 1;
        self.bytes -= wire;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn count_bound() {
        let mut b = ReplyBudget::new(2, 0, 1);
        assert!(b.take(1000));
        assert!(b.take(1000));
        assert!(!b.take(0));
    }

    #[test]
    fn byte_bound_counts_headers() {
        // 2-byte request: 30 wire bytes, ratio 3 -> 90: three empty replies (28 each)
        // fit, a fourth does not; one 62-byte reply (90 wire) fits exactly.
        let mut b = ReplyBudget::new(0, 3, 2);
        assert!(b.take(0) && b.take(0) && b.take(0));
        assert!(!b.take(0));
        let mut b = ReplyBudget::new(0, 3, 2);
        assert!(b.take(62));
        assert!(!b.take(0));
        assert!(!ReplyBudget::new(0, 3, 2).take(63));
    }

    #[test]
    fn zero_turns_bounds_off() {
        let mut b = ReplyBudget::new(0, 0, 0);
        for _ in 0..10_000 {
            assert!(b.take(65_000));
        }
    }

    proptest! {
        #[test]
        fn sent_stays_within_both_bounds(
            max in 1usize..64, ratio in 1usize..8, req in 0usize..70_000,
            replies in proptest::collection::vec(0usize..70_000, 0..200),
        ) {
            let mut b = ReplyBudget::new(max, ratio, req);
            let (mut n, mut wire) = (0usize, 0usize);
            for len in replies {
                if b.take(len) {
                    n += 1;
                    wire += len + UDP_WIRE_OVERHEAD;
                }
            }
            prop_assert!(n <= max);
            prop_assert!(wire <= ratio * (req + UDP_WIRE_OVERHEAD));
        }
    }
}
