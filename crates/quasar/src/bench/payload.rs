//! Request bodies that differ per request, and the check of each reply against them.
//!
//! A request of `size` bytes is the request's sequence number in hexadecimal (its low digits
//! when the body is shorter than [`SEQ_DIGITS`]), then letters from a repeating alphabet starting
//! at an offset picked by the connection and the sequence number, then `\r\n\r\n` in pulsar
//! framing. No body byte is `\r` or `\n`, so the framed server sees exactly one message per
//! request and the UDP server exactly one line per datagram. Because every request differs from
//! its neighbours, a reply that is reordered, duplicated, truncated or corrupted fails the check.
//!
//! Building and checking a request copies from a pattern made once per connection: no
//! allocation per request.

/// Bytes that close a message in pulsar's echo framing.
pub(crate) const SEPARATOR: &[u8] = b"\r\n\r\n";

/// Hexadecimal digits of the sequence number at the front of each body.
pub(crate) const SEQ_DIGITS: usize = 16;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The requests of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    size: usize,
    framed: bool,
    salt: u64,
    // The alphabet repeated to cover any filler length from any starting offset.
    pattern: Vec<u8>,
}

/// Where a reply first differs from the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// Offset of the first differing byte (the length of the shorter when one is a prefix).
    pub(crate) offset: usize,
    /// Length of the reply that was checked.
    pub(crate) got_len: usize,
    /// Length the reply should have had.
    pub(crate) expected_len: usize,
}

// ===== impl Payload =====

impl Payload {
    /// Requests of `size` bytes on the wire, ending in [`SEPARATOR`] when `framed`.
    ///
    /// `salt` (the connection number) shifts the filler so two connections send different bytes.
    pub(crate) fn new(size: usize, framed: bool, salt: u64) -> Payload {
        let body = if framed {
            size.saturating_sub(SEPARATOR.len())
        } else {
            size
        };
        let pattern = ALPHABET
            .iter()
            .copied()
            .cycle()
            .take(body + ALPHABET.len())
            .collect();
        Payload {
            size,
            framed,
            salt,
            pattern,
        }
    }

    /// Bytes of one request on the wire.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn body_len(&self) -> usize {
        if self.framed {
            self.size - SEPARATOR.len()
        } else {
            self.size
        }
    }

    fn digits(seq: u64) -> [u8; SEQ_DIGITS] {
        let mut out = [0u8; SEQ_DIGITS];
        for (i, digit) in out.iter_mut().rev().enumerate() {
            *digit = HEX[((seq >> (4 * i)) & 0xf) as usize];
        }
        out
    }

    // Splits the body into (sequence digits shown, filler slice).
    fn parts(&self, seq: u64) -> ([u8; SEQ_DIGITS], usize, &[u8]) {
        let body = self.body_len();
        let shown = body.min(SEQ_DIGITS);
        let filler = body - shown;
        let offset = (seq.wrapping_mul(7).wrapping_add(self.salt.wrapping_mul(13)) % 26) as usize;
        (
            Self::digits(seq),
            shown,
            &self.pattern[offset..offset + filler],
        )
    }

    /// Appends request `seq` to `out`.
    pub(crate) fn write_to(&self, seq: u64, out: &mut Vec<u8>) {
        let (digits, shown, filler) = self.parts(seq);
        out.extend_from_slice(&digits[SEQ_DIGITS - shown..]);
        out.extend_from_slice(filler);
        if self.framed {
            out.extend_from_slice(SEPARATOR);
        }
    }

    /// Checks that `reply` is exactly request `seq`.
    ///
    /// # Errors
    ///
    /// Where the reply first differs.
    pub(crate) fn check(&self, seq: u64, reply: &[u8]) -> Result<(), Mismatch> {
        self.check_prefix(seq, reply, 0)?;
        if reply.len() == self.size {
            Ok(())
        } else {
            Err(Mismatch {
                offset: reply.len(),
                got_len: reply.len(),
                expected_len: self.size,
            })
        }
    }

    /// Checks that `part` is how request `seq` begins (all of it, or less), skipping the first
    /// `from` bytes (already checked).
    ///
    /// # Errors
    ///
    /// Where `part` first differs, or `part` is longer than the request.
    pub(crate) fn check_prefix(&self, seq: u64, part: &[u8], from: usize) -> Result<(), Mismatch> {
        let (digits, shown, filler) = self.parts(seq);
        let sep: &[u8] = if self.framed { SEPARATOR } else { &[] };
        let mismatch = |offset| Mismatch {
            offset,
            got_len: part.len(),
            expected_len: self.size,
        };
        if part.len() > self.size {
            return self
                .check_prefix(seq, &part[..self.size], from)
                .and(Err(mismatch(self.size)));
        }
        // `start` is where each segment begins in the request.
        let mut start = 0;
        for segment in [&digits[SEQ_DIGITS - shown..], filler, sep] {
            if start >= part.len() {
                break;
            }
            let end = (start + segment.len()).min(part.len());
            let lo = from.clamp(start, end);
            let got = &part[lo..end];
            let want = &segment[lo - start..end - start];
            if got != want {
                let at = got.iter().zip(want).position(|(a, b)| a != b);
                return Err(mismatch(lo + at.unwrap_or(0)));
            }
            start += segment.len();
        }
        Ok(())
    }

    /// Reads the sequence number a datagram carries in its first [`SEQ_DIGITS`] bytes.
    pub(crate) fn seq_of(reply: &[u8]) -> Option<u64> {
        let digits = reply.get(..SEQ_DIGITS)?;
        let mut seq = 0u64;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                _ => return None,
            };
            seq = (seq << 4) | u64::from(v);
        }
        Some(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_requests_end_in_the_separator_and_carry_no_other_line_break() {
        let payload = Payload::new(64, true, 3);
        let mut out = Vec::new();
        payload.write_to(0x2a, &mut out);
        assert_eq!(out.len(), 64);
        assert!(out.starts_with(b"000000000000002a"));
        assert!(out.ends_with(SEPARATOR));
        assert!(!out[..60].iter().any(|&b| b == b'\r' || b == b'\n'));
    }

    #[test]
    fn consecutive_requests_differ_and_each_checks_only_against_itself() {
        let payload = Payload::new(40, false, 0);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        payload.write_to(1, &mut a);
        payload.write_to(2, &mut b);
        assert_ne!(a, b);
        assert_eq!(payload.check(1, &a), Ok(()));
        assert!(payload.check(2, &a).is_err());
    }

    #[test]
    fn short_bodies_keep_the_low_digits_of_the_sequence_number() {
        let payload = Payload::new(7, true, 0);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        payload.write_to(0x10, &mut a);
        payload.write_to(0x11, &mut b);
        assert_eq!(a, b"010\r\n\r\n");
        assert_ne!(a, b);
    }

    #[test]
    fn a_mismatch_reports_the_first_differing_offset() {
        let payload = Payload::new(32, true, 9);
        let mut reply = Vec::new();
        payload.write_to(5, &mut reply);
        reply.remove(20);
        reply.push(b'x');
        let mismatch = payload.check(5, &reply).unwrap_err();
        assert_eq!(mismatch.offset, 20);
        assert_eq!(payload.check(5, &reply[..31]).unwrap_err().got_len, 31);
        assert_eq!(payload.check_prefix(5, &reply[..20], 0), Ok(()));
        assert_eq!(
            payload.check_prefix(5, &reply[..25], 0).unwrap_err().offset,
            20
        );
        assert_eq!(
            payload
                .check_prefix(5, &reply[..25], 21)
                .unwrap_err()
                .offset,
            21
        );
        assert_eq!(payload.check_prefix(5, &reply[..20], 30), Ok(()));
        let mut longer = Vec::new();
        payload.write_to(5, &mut longer);
        longer.push(b'!');
        assert_eq!(payload.check_prefix(5, &longer, 0).unwrap_err().offset, 32);
        longer.truncate(32);
        assert_eq!(payload.check_prefix(5, &longer, 0), Ok(()));
    }

    #[test]
    fn the_sequence_number_reads_back_from_a_datagram() {
        let payload = Payload::new(20, false, 1);
        let mut out = Vec::new();
        payload.write_to(123_456, &mut out);
        assert_eq!(Payload::seq_of(&out), Some(123_456));
        assert_eq!(Payload::seq_of(b"short"), None);
    }
}
