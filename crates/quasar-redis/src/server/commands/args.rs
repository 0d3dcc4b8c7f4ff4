//! Argument parsing with Redis's exact rules.

/// Redis's `string2ll`: an optional `-`, then digits with no leading zero (except `0`
/// itself), no `+`, no spaces, within `i64`.
pub(crate) fn int(b: &[u8]) -> Option<i64> {
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    if digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

/// A float as Redis's `strtold`-based parsers take it: no surrounding space, no NaN;
/// `inf`, `-inf` and exponents allowed.
pub(crate) fn float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// A sorted-set range bound: `(1.5` exclusive, `-inf`, `+inf`, `1.5`.
pub(crate) fn score_bound(b: &[u8]) -> Option<(f64, bool)> {
    match b.split_first() {
        Some((b'(', rest)) => float(rest).map(|v| (v, true)),
        _ => float(b).map(|v| (v, false)),
    }
}

/// Whether `a` equals the ASCII word `word` ignoring case.
pub(crate) fn is(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

/// The text of a float as Redis writes it into a string value (`INCRBYFLOAT`).
pub(crate) fn float_text(v: f64) -> String {
    let mut s = String::new();
    let _ = crate::resp::encode::write_double(&mut s, v);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(int(b"0"), Some(0));
        assert_eq!(int(b"-12"), Some(-12));
        assert_eq!(int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"01"[..],
            b"+1",
            b"-0",
            b" 1",
            b"1 ",
            b"",
            b"-",
            b"9223372036854775808",
            b"1a",
        ] {
            assert_eq!(int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn floats_refuse_nan_and_spaces() {
        assert_eq!(float(b"1.5"), Some(1.5));
        assert_eq!(float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(float(b"1e3"), Some(1000.0));
        assert_eq!(float(b"nan"), None);
        assert_eq!(float(b" 1"), None);
        assert_eq!(score_bound(b"(2"), Some((2.0, true)));
    }
}
