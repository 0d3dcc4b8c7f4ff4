//! Line-level helpers shared by the check pass, the parse pass and the command decoder:
//! finding a `\r\n`, reading numbers, classifying type bytes and validating line payloads.
//!
//! Everything here works on plain slices and allocates nothing, so the check pass can run it
//! over a partial frame as often as bytes arrive.

use crate::resp::error::DecodeError;

/// The shape of the frame a type byte introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The payload is the rest of the line.
    Line,
    /// A length line, then that many payload bytes and `\r\n`.
    Blob,
    /// A count line, then `count * per_entry` child frames.
    Aggregate { per_entry: u64 },
    /// A pair count, then `2 * count` child frames, then the frame the attribute describes.
    Attribute,
}

impl Kind {
    pub(crate) fn of(ty: u8) -> Result<Kind, DecodeError> {
        Ok(match ty {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Kind::Line,
            b'$' | b'!' | b'=' => Kind::Blob,
            b'*' | b'~' | b'>' => Kind::Aggregate { per_entry: 1 },
            b'%' => Kind::Aggregate { per_entry: 2 },
            b'|' => Kind::Attribute,
            other => return Err(DecodeError::InvalidTypeByte(other)),
        })
    }
}

/// Where the search for a line's end stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line's content ends at this index; `\r\n` follows it.
    Complete(usize),
    /// No complete `\r\n` yet; bytes before this index hold no `\r` or `\n`, so the next
    /// search may start there.
    Partial(usize),
}

/// Finds the end of the line whose content starts at `start`, searching from `from`.
///
/// A lone `\n`, or a `\r` followed by anything but `\n`, is an error: RESP lines never carry
/// them, and rejecting them keeps every decoded simple string re-encodable.
pub(crate) fn find_line(
    buf: &[u8],
    start: usize,
    from: usize,
    max: usize,
) -> Result<Line, DecodeError> {
    let from = from.max(start);
    let hay = buf.get(from..).unwrap_or(&[]);
    match hay.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) => {
            let at = from + i;
            if at - start > max {
                return Err(DecodeError::LineTooLong { limit: max });
            }
            match (buf.get(at), buf.get(at + 1)) {
                (Some(b'\r'), Some(b'\n')) => Ok(Line::Complete(at)),
                (Some(b'\r'), None) => Ok(Line::Partial(at)),
                _ => Err(DecodeError::MissingCrlf),
            }
        }
        None if buf.len().saturating_sub(start) > max => {
            Err(DecodeError::LineTooLong { limit: max })
        }
        None => Ok(Line::Partial(buf.len().max(start))),
    }
}

/// Reads a decimal `i64` with an optional `+` or `-`.
pub(crate) fn parse_i64(s: &[u8]) -> Result<i64, DecodeError> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(DecodeError::InvalidInteger);
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(DecodeError::InvalidInteger);
        }
        let d = i64::from(d - b'0');
        // Accumulating towards the sign lets i64::MIN through without overflowing.
        value = value
            .checked_mul(10)
            .and_then(|v| {
                if negative {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            })
            .ok_or(DecodeError::IntegerOverflow)?;
    }
    Ok(value)
}

/// Reads a length header: `None` for the `-1` null marker, otherwise a non-negative length.
/// Like Redis, a leading `+` is refused.
pub(crate) fn parse_len(s: &[u8]) -> Result<Option<u64>, DecodeError> {
    if s.first() == Some(&b'+') {
        return Err(DecodeError::InvalidLength);
    }
    match parse_i64(s) {
        Ok(-1) => Ok(None),
        Ok(n) if n < 0 => Err(DecodeError::NegativeLength(n)),
        Ok(n) => Ok(Some(n.unsigned_abs())),
        Err(DecodeError::InvalidInteger) => Err(DecodeError::InvalidLength),
        Err(e) => Err(e),
    }
}

/// The value of a [`Kind::Line`] frame, without its text (the parse pass slices that).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LineValue {
    Simple,
    Error,
    Integer(i64),
    Null,
    Double(f64),
    Boolean(bool),
    BigNumber,
}

/// Validates the content of a [`Kind::Line`] frame of type `ty`.
pub(crate) fn line_value(ty: u8, content: &[u8]) -> Result<LineValue, DecodeError> {
    Ok(match ty {
        b'+' => LineValue::Simple,
        b'-' => LineValue::Error,
        b':' => LineValue::Integer(parse_i64(content)?),
        b'_' if content.is_empty() => LineValue::Null,
        b'_' => return Err(DecodeError::InvalidNull),
        b',' => LineValue::Double(parse_double(content)?),
        b'#' => match content {
            b"t" => LineValue::Boolean(true),
            b"f" => LineValue::Boolean(false),
            _ => return Err(DecodeError::InvalidBoolean),
        },
        b'(' => {
            let digits = match content.split_first() {
                Some((b'-' | b'+', rest)) => rest,
                _ => content,
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(DecodeError::InvalidBigNumber);
            }
            LineValue::BigNumber
        }
        other => return Err(DecodeError::InvalidTypeByte(other)),
    })
}

/// Reads a RESP3 double. Rust's float grammar is a superset of what Redis writes (`1.5`,
/// `1e+300`, `inf`, `-inf`, `nan`); it also takes `infinity` and any letter case, which is
/// harmless to accept.
fn parse_double(content: &[u8]) -> Result<f64, DecodeError> {
    std::str::from_utf8(content)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(DecodeError::InvalidDouble)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_cover_the_whole_i64_range_and_no_more() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_i64(b"+7"), Ok(7));
        assert_eq!(
            parse_i64(b"9223372036854775808"),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(
            parse_i64(b"-9223372036854775809"),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(parse_i64(b""), Err(DecodeError::InvalidInteger));
        assert_eq!(parse_i64(b"-"), Err(DecodeError::InvalidInteger));
        assert_eq!(parse_i64(b"1 "), Err(DecodeError::InvalidInteger));
        assert_eq!(parse_i64(b"0x1"), Err(DecodeError::InvalidInteger));
    }

    #[test]
    fn lengths_are_non_negative_or_the_null_marker() {
        assert_eq!(parse_len(b"-1"), Ok(None));
        assert_eq!(parse_len(b"0"), Ok(Some(0)));
        assert_eq!(parse_len(b"-2"), Err(DecodeError::NegativeLength(-2)));
        assert_eq!(parse_len(b"+2"), Err(DecodeError::InvalidLength));
        assert_eq!(parse_len(b""), Err(DecodeError::InvalidLength));
        assert_eq!(parse_len(b"x"), Err(DecodeError::InvalidLength));
    }

    #[test]
    fn line_search_stops_at_crlf_and_rejects_lone_cr_or_lf() {
        assert_eq!(find_line(b"+OK\r\n", 1, 0, 10), Ok(Line::Complete(3)));
        assert_eq!(find_line(b"+OK\r", 1, 0, 10), Ok(Line::Partial(3)));
        assert_eq!(find_line(b"+OK", 1, 2, 10), Ok(Line::Partial(3)));
        assert_eq!(find_line(b"+", 1, 0, 10), Ok(Line::Partial(1)));
        assert_eq!(
            find_line(b"+O\nK\r\n", 1, 0, 10),
            Err(DecodeError::MissingCrlf)
        );
        assert_eq!(
            find_line(b"+O\rK\r\n", 1, 0, 10),
            Err(DecodeError::MissingCrlf)
        );
        assert_eq!(
            find_line(b"+OKAY", 1, 0, 3),
            Err(DecodeError::LineTooLong { limit: 3 })
        );
        assert_eq!(find_line(b"+OKA\r", 1, 0, 3), Ok(Line::Partial(4)));
    }

    #[test]
    fn line_values_are_validated_per_type() {
        assert_eq!(
            line_value(b',', b"-inf"),
            Ok(LineValue::Double(f64::NEG_INFINITY))
        );
        assert_eq!(line_value(b',', b"1e+300"), Ok(LineValue::Double(1e300)));
        assert_eq!(line_value(b',', b"1.5x"), Err(DecodeError::InvalidDouble));
        assert_eq!(line_value(b',', b""), Err(DecodeError::InvalidDouble));
        assert_eq!(line_value(b'#', b"true"), Err(DecodeError::InvalidBoolean));
        assert_eq!(line_value(b'(', b"-12"), Ok(LineValue::BigNumber));
        assert_eq!(line_value(b'(', b"-"), Err(DecodeError::InvalidBigNumber));
        assert_eq!(line_value(b'(', b"1.0"), Err(DecodeError::InvalidBigNumber));
        assert_eq!(line_value(b'_', b" "), Err(DecodeError::InvalidNull));
    }
}
