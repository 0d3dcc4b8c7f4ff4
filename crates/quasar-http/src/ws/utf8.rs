//! Incremental UTF-8 validation of a text message that arrives in pieces.
//!
//! `str::from_utf8` tells a byte that can never be valid (`error_len() == Some(_)`) from a
//! sequence cut short by the end of the input (`None`), so validating only the new bytes (plus
//! an unfinished sequence of at most 3 bytes) finds invalid text as soon as it arrives.

use crate::ws::WsError;

/// How much of a growing buffer is known to be valid UTF-8.
#[derive(Debug, Clone, Default)]
pub(crate) struct Utf8Validator {
    valid_up_to: usize,
}

impl Utf8Validator {
    /// Checks the bytes of `buf` added since the last call; an unfinished last character is
    /// allowed (more may follow).
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Result<(), WsError> {
        let tail = buf.get(self.valid_up_to..).unwrap_or_default();
        match std::str::from_utf8(tail) {
            Ok(_) => self.valid_up_to = buf.len(),
            Err(e) if e.error_len().is_none() => self.valid_up_to += e.valid_up_to(),
            Err(_) => return Err(WsError::InvalidUtf8),
        }
        Ok(())
    }

    /// Checks that `buf` (fed already) ends on a character boundary.
    pub(crate) fn finish(&self, buf: &[u8]) -> Result<(), WsError> {
        if self.valid_up_to == buf.len() {
            Ok(())
        } else {
            Err(WsError::InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_pieces_is_valid() {
        let text = "κόσμε".as_bytes();
        let mut v = Utf8Validator::default();
        for n in 1..=text.len() {
            v.feed(&text[..n]).unwrap();
        }
        v.finish(text).unwrap();
    }

    #[test]
    fn invalid_bytes_fail_before_the_message_ends() {
        let mut v = Utf8Validator::default();
        // U+110000 is out of range: 0xF4 0x90 can never start a valid character.
        assert_eq!(v.feed(b"ok\xf4\x90"), Err(WsError::InvalidUtf8));
        let mut v = Utf8Validator::default();
        v.feed(b"ok\xce").unwrap();
        assert_eq!(v.finish(b"ok\xce"), Err(WsError::InvalidUtf8));
    }
}
