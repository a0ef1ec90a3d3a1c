//! The glob(3) nginx uses for `include` patterns (flags 0): sorted, `*` and `?` do not
//! match a leading dot, `[...]`/`[!...]` classes, backslash quotes the next character.
//! nginx does not call setlocale, so the sort is byte order.

/// Whether `name` (one path component) matches `pat` (one pattern component).
pub fn matches(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        // Only a literal dot matches a leading dot (no GLOB_PERIOD).
        if !(pat.first() == Some(&b'\\') && pat.get(1) == Some(&b'.')) {
            return false;
        }
    }
    match_from(pat, name)
}

fn match_from(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Backtracking point for the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                b'?' => Some(p + 1),
                b'[' => class(&pat[p..], name[n])
                    .map(|(ok, len)| (ok, p + len))
                    .and_then(|(ok, next)| ok.then_some(next)),
                b'\\' if p + 1 < pat.len() => (pat[p + 1] == name[n]).then_some(p + 2),
                c => (c == name[n]).then_some(p + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                p = next;
                n += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    p = sp;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A bracket expression at the start of `pat`: whether `c` matches and the length of the
/// expression. An unterminated `[` is a literal character, as in glob(3).
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < pat.len() {
        let lo = pat[i];
        if lo == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pat[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    Some((c == b'[', 1))
}

/// Whether a pattern has glob characters at all (nginx's test: `strpbrk(path, "*?[")`).
pub fn is_pattern(path: &[u8]) -> bool {
    path.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_classes_and_dots() {
        assert!(matches(b"*.conf", b"a.conf"));
        assert!(!matches(b"*.conf", b".hidden.conf"));
        assert!(matches(b".*.conf", b".hidden.conf"));
        assert!(matches(b"site-?", b"site-a"));
        assert!(!matches(b"site-?", b"site-ab"));
        assert!(matches(b"[a-c]*", b"beta"));
        assert!(!matches(b"[!a-c]*", b"beta"));
        assert!(matches(b"*", b"anything"));
        assert!(matches(b"a*b*c", b"axxbyyc"));
        assert!(!matches(b"a*b*c", b"axxbyy"));
        assert!(matches(b"\\*", b"*"));
        assert!(matches(b"[", b"["));
    }
}
