//! Redis's glob rules for pattern subscriptions (`news.*`), so that a pattern matches the
//! same channels in the in-process back-end as it does on a Redis server.
//!
//! `*` any run of bytes, `?` one byte, `[abc]`, `[^a-z]` (`^` negates, `a-z` is a range,
//! a reversed range `z-a` is taken as `a-z`, as Redis does), `\x` the byte `x`. The glob
//! crates (`glob`, `globset`, `wildmatch`) follow shell or path rules instead (`[!a]`, `/` as
//! a separator, no `\` escape), which would make a pattern mean one thing in-process and
//! another through Redis. quasar-redis's server matches `KEYS`, `SCAN MATCH` and
//! `PSUBSCRIBE` with this same function, so the two cannot drift apart. Only the most recent
//! `*` is a backtracking point, which is enough because every other element matches exactly
//! one byte: the work is at most O(pattern x subject), where Redis's recursive matcher is
//! exponential on patterns like `a*a*a*a*b`.

/// Whether `subject` matches the glob `pattern`, by Redis's rules.
///
/// # Examples
///
/// ```
/// use quasar_net::pubsub::glob::matches;
///
/// assert!(matches(b"news.*", b"news.sport"));
/// assert!(matches(b"h[^e]llo", b"hallo"));
/// assert!(!matches(b"h?llo", b"hllo"));
/// ```
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, subject index).
    let mut star: Option<(usize, usize)> = None;
    while s < subject.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    // Consecutive stars are one star.
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    star = Some((p, s));
                    continue;
                }
                _ => {
                    if let Some((ok, next)) = one(pattern, p, subject[s]) {
                        if ok {
                            p = next;
                            s += 1;
                            continue;
                        }
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                p = sp;
                s = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Matches the single-byte element at `pattern[p]` against `c`: `Some((matched, end))`,
/// or `None` at the end of the pattern.
fn one(pattern: &[u8], p: usize, c: u8) -> Option<(bool, usize)> {
    match *pattern.get(p)? {
        b'?' => Some((true, p + 1)),
        b'\\' if p + 1 < pattern.len() => Some((pattern[p + 1] == c, p + 2)),
        b'[' => Some(class(pattern, p + 1, c)),
        b => Some((b == c, p + 1)),
    }
}

/// A `[...]` class starting after the `[`; an unclosed class runs to the end of the
/// pattern, as in Redis.
fn class(pattern: &[u8], mut p: usize, c: u8) -> (bool, usize) {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut hit = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            hit |= pattern[p + 1] == c;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' && pattern[p + 2] != b']' {
            let (a, b) = (pattern[p], pattern[p + 2]);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            hit |= (lo..=hi).contains(&c);
            p += 3;
        } else {
            hit |= pattern[p] == c;
            p += 1;
        }
    }
    // Skip the `]` (absent when the class runs to the end).
    (hit != negate, (p + 1).min(pattern.len()))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_like_redis() {
        let yes: &[(&str, &str)] = &[
            ("*", ""),
            ("*", "anything"),
            ("h?llo", "hello"),
            ("h*llo", "heeeello"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hallo"),
            ("h\\*llo", "h*llo"),
            ("user:*:name", "user:42:name"),
            ("a*b*c", "aXbYc"),
            ("*.txt", "a.b.txt"),
        ];
        for (p, s) in yes {
            assert!(matches(p.as_bytes(), s.as_bytes()), "{p} ~ {s}");
        }
        let no: &[(&str, &str)] = &[
            ("h?llo", "hllo"),
            ("h[^e]llo", "hello"),
            ("h[a-b]llo", "hcllo"),
            ("h\\*llo", "hello"),
            ("a*b", "aXbY"),
            ("", "x"),
            ("abc", "ab"),
        ];
        for (p, s) in no {
            assert!(!matches(p.as_bytes(), s.as_bytes()), "{p} !~ {s}");
        }
    }

    #[test]
    fn a_pathological_pattern_is_not_exponential() {
        let pattern = "a*".repeat(50) + "b";
        let subject = "a".repeat(5000);
        assert!(!matches(pattern.as_bytes(), subject.as_bytes()));
    }
}
