//! Inline commands: `PING\r\n` or `SET k "a b"\n` typed into telnet, split like Redis does.
//!
//! Redis splits an inline line with `sdssplitargs`: runs of spaces separate arguments,
//! `"..."` takes the escapes `\n \r \t \b \a \\ \"` and `\xHH`, `'...'` takes only `\'`, and a
//! closing quote must be followed by a space or the end of the line. This module follows those
//! rules with one deliberate difference: a NUL byte is an ordinary argument byte, where
//! Redis's C-string loop silently drops the rest of the line.

use bytes::Bytes;

use crate::resp::error::DecodeError;
use crate::resp::limits::Limits;

/// `isspace` in the C locale, which Redis uses to skip between arguments.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits one inline command line (without its line ending) into arguments.
///
/// # Errors
///
/// [`DecodeError::UnbalancedQuotes`] when a quote is not closed, or a closing quote is
/// followed by something other than a space. An inline command obeys the caps of an array
/// command too: [`DecodeError::AggregateTooLarge`] for more than `max_aggregate_len`
/// arguments, [`DecodeError::BulkTooLarge`] for an argument longer than `max_bulk_len`.
pub(crate) fn split_args(line: &[u8], limits: &Limits) -> Result<Vec<Bytes>, DecodeError> {
    let max_args = limits.max_aggregate_len;
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|&b| is_space(b)) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(args);
        }
        if args.len() == max_args {
            return Err(DecodeError::AggregateTooLarge {
                len: args.len() as u64 + 1,
                limit: max_args,
            });
        }
        let (arg, next) = one_arg(line, i)?;
        if arg.len() > limits.max_bulk_len {
            return Err(DecodeError::BulkTooLarge {
                len: arg.len() as u64,
                limit: limits.max_bulk_len,
            });
        }
        args.push(Bytes::from(arg));
        i = next;
    }
}

/// Reads the argument starting at `i`. An unquoted argument runs to the next space, tab, CR
/// or LF; a quote inside it starts a quoted part that ends the argument, as in Redis
/// (`a"b c"` is the one argument `ab c`).
fn one_arg(line: &[u8], mut i: usize) -> Result<(Vec<u8>, usize), DecodeError> {
    let mut out = Vec::new();
    loop {
        match line.get(i) {
            None | Some(b' ' | b'\n' | b'\r' | b'\t') => return Ok((out, i)),
            Some(b'"') => {
                let next = double_quoted(line, i + 1, &mut out)?;
                return Ok((out, next));
            }
            Some(b'\'') => {
                let next = single_quoted(line, i + 1, &mut out)?;
                return Ok((out, next));
            }
            Some(&b) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Checks what follows a closing quote; returns the index to continue from.
fn after_quote(line: &[u8], close: usize) -> Result<usize, DecodeError> {
    match line.get(close + 1) {
        None => Ok(close + 1),
        Some(&b) if is_space(b) => Ok(close + 1),
        Some(_) => Err(DecodeError::UnbalancedQuotes),
    }
}

fn double_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, DecodeError> {
    loop {
        match line.get(i) {
            None => return Err(DecodeError::UnbalancedQuotes),
            Some(b'\\') if line.get(i + 1) == Some(&b'x') => {
                let hi = line.get(i + 2).copied().and_then(hex_value);
                let lo = line.get(i + 3).copied().and_then(hex_value);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi * 16 + lo);
                    i += 4;
                } else {
                    // Not a valid \xHH: Redis keeps the 'x' as an escaped character.
                    out.push(b'x');
                    i += 2;
                }
            }
            Some(b'\\') if i + 1 < line.len() => {
                out.push(match line[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
                i += 2;
            }
            Some(b'"') => return after_quote(line, i),
            Some(&b) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

fn single_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize, DecodeError> {
    loop {
        match line.get(i) {
            None => return Err(DecodeError::UnbalancedQuotes),
            Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                out.push(b'\'');
                i += 2;
            }
            Some(b'\'') => return after_quote(line, i),
            Some(&b) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
        split_args(line, &Limits::default()).map(|v| v.into_iter().map(|b| b.to_vec()).collect())
    }

    #[test]
    fn unquoted_arguments_split_on_runs_of_whitespace() {
        assert_eq!(
            split(b"  SET a\tb  \x0bc "),
            Ok(vec![
                b"SET".to_vec(),
                b"a".to_vec(),
                b"b".to_vec(),
                b"c".to_vec()
            ])
        );
        assert_eq!(split(b""), Ok(vec![]));
        assert_eq!(split(b"   "), Ok(vec![]));
        // Vertical tab separates only between arguments, as with Redis's isspace/switch split.
        assert_eq!(split(b"a\x0bb"), Ok(vec![b"a\x0bb".to_vec()]));
        assert_eq!(split(b"a\0b"), Ok(vec![b"a\0b".to_vec()]));
    }

    #[test]
    fn double_quotes_take_c_escapes_and_hex() {
        assert_eq!(
            split(br#"SET k "a b\n\r\t\b\a\\\"\x41\xzz""#),
            Ok(vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a b\n\r\t\x08\x07\\\"Axzz".to_vec()
            ])
        );
        assert_eq!(split(br#""""#), Ok(vec![b"".to_vec()]));
    }

    #[test]
    fn single_quotes_take_only_the_quote_escape() {
        assert_eq!(
            split(br"'it\'s \n' x"),
            Ok(vec![b"it's \\n".to_vec(), b"x".to_vec()])
        );
    }

    #[test]
    fn a_quote_inside_an_argument_opens_a_quoted_tail() {
        assert_eq!(
            split(br#"a"b c" d"#),
            Ok(vec![b"ab c".to_vec(), b"d".to_vec()])
        );
    }

    #[test]
    fn arguments_are_capped_in_number_and_size() {
        let limits = Limits {
            max_aggregate_len: 2,
            max_bulk_len: 3,
            ..Limits::default()
        };
        assert_eq!(split_args(b"a b", &limits).map(|v| v.len()), Ok(2));
        assert_eq!(
            split_args(b"a b c", &limits),
            Err(DecodeError::AggregateTooLarge { len: 3, limit: 2 })
        );
        assert_eq!(
            split_args(b"abcd", &limits),
            Err(DecodeError::BulkTooLarge { len: 4, limit: 3 })
        );
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        for bad in [
            &br#""abc"#[..],
            br"'abc",
            br#""a"b"#,
            br"'a'b",
            br#""abc\""#,
        ] {
            assert_eq!(split(bad), Err(DecodeError::UnbalancedQuotes), "{bad:?}");
        }
    }
}
