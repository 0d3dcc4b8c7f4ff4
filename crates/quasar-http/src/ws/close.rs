//! Close codes (RFC 6455 §7.4) and close frame payloads.
//!
//! A close payload is empty, or a 2-byte big-endian code followed by a UTF-8 reason. Codes are
//! checked against the ranges RFC 6455 and the IANA registry allow on the wire: 1000-1003,
//! 1007-1014 and 3000-4999. 1004, 1005, 1006 and 1015 are reserved for local use and are
//! refused, as is everything else.
//!
//! # Examples
//!
//! ```
//! use quasar_http::ws::{CloseCode, CloseFrame};
//!
//! let frame = CloseFrame::parse(b"\x03\xe8bye".as_slice().into())?.unwrap();
//! assert_eq!(frame.code, CloseCode::NORMAL);
//! assert_eq!(frame.reason(), "bye");
//! assert!(!CloseCode(1005).is_allowed_on_wire());
//! # Ok::<(), quasar_http::ws::WsError>(())
//! ```

use bytes::Bytes;

use crate::ws::WsError;

/// A close status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no code was present (local use only, never sent).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed without a close frame (local use only, never sent).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether this code may appear in a close frame.
    pub fn is_allowed_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// A parsed close frame payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    reason: Bytes,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`.
    ///
    /// # Errors
    ///
    /// [`WsError::InvalidCloseCode`] for a code not allowed on the wire, and
    /// [`WsError::ControlFrameTooLong`] when the reason is over 123 bytes.
    pub fn new(code: CloseCode, reason: &str) -> Result<CloseFrame, WsError> {
        if !code.is_allowed_on_wire() {
            return Err(WsError::InvalidCloseCode);
        }
        if reason.len() > 123 {
            return Err(WsError::ControlFrameTooLong);
        }
        Ok(CloseFrame {
            code,
            reason: Bytes::copy_from_slice(reason.as_bytes()),
        })
    }

    /// The reason text (possibly empty).
    pub fn reason(&self) -> &str {
        // Validated at construction; a failure here cannot happen and shows as "".
        std::str::from_utf8(&self.reason).unwrap_or_default()
    }

    /// Parses a close frame's (unmasked) payload; `None` for an empty one.
    ///
    /// # Errors
    ///
    /// [`WsError::InvalidClosePayload`] for one byte, [`WsError::InvalidCloseCode`],
    /// [`WsError::InvalidUtf8`] for a reason that is not UTF-8.
    pub fn parse(payload: Bytes) -> Result<Option<CloseFrame>, WsError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(WsError::InvalidClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_allowed_on_wire() {
                    return Err(WsError::InvalidCloseCode);
                }
                let reason = payload.slice(2..);
                std::str::from_utf8(&reason).map_err(|_| WsError::InvalidUtf8)?;
                Ok(Some(CloseFrame { code, reason }))
            }
        }
    }

    /// The payload bytes: code then reason.
    pub(crate) fn write_payload(&self, out: &mut [u8; 125]) -> usize {
        out[..2].copy_from_slice(&self.code.0.to_be_bytes());
        out[2..2 + self.reason.len()].copy_from_slice(&self.reason);
        2 + self.reason.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_follow_rfc_6455_and_the_registry() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(CloseCode(ok).is_allowed_on_wire(), "{ok}");
        }
        for bad in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(bad).is_allowed_on_wire(), "{bad}");
        }
    }

    #[test]
    fn close_payloads_are_validated() {
        assert_eq!(CloseFrame::parse(Bytes::new()), Ok(None));
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(b"\x03")),
            Err(WsError::InvalidClosePayload)
        );
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(b"\x03\xed")),
            Err(WsError::InvalidCloseCode)
        );
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(b"\x03\xe8\xff")),
            Err(WsError::InvalidUtf8)
        );
        let f = CloseFrame::parse(Bytes::from_static(b"\x0f\xa0"))
            .unwrap()
            .unwrap();
        assert_eq!((f.code, f.reason()), (CloseCode(4000), ""));
    }

    #[test]
    fn constructed_frames_are_bounded() {
        assert_eq!(
            CloseFrame::new(CloseCode::NO_STATUS, ""),
            Err(WsError::InvalidCloseCode)
        );
        assert_eq!(
            CloseFrame::new(CloseCode::NORMAL, &"x".repeat(124)),
            Err(WsError::ControlFrameTooLong)
        );
        let f = CloseFrame::new(CloseCode::NORMAL, &"x".repeat(123)).unwrap();
        let mut out = [0u8; 125];
        assert_eq!(f.write_payload(&mut out), 125);
    }
}
