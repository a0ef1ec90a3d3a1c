//! fnmatch(3) for one path component, as glob(3) calls it with flags 0 (glibc 2.36,
//! C locale): `fnmatch(pattern, name, FNM_PERIOD)`. Both glob users share it: nginx's
//! `include` patterns, and the glob keys of sysctl.d, which procps 4.0 and systemd 252
//! expand with glob(3) over /proc/sys (one component per key segment).
//!
//! - `*` any run of bytes, `?` one byte, `\x` the byte x (a trailing `\` matches
//!   nothing);
//! - `[...]`: bytes, ranges `a-z` (byte order), `[:alpha:]`-style classes, `\x` inside;
//!   `!` or `^` first negates; a `]` first is a member; `-` first or last is a member;
//!   `[=x=]` and `[.x.]` are x; an unknown class or symbol name makes the bracket
//!   match nothing; an unterminated `[` is a literal `[`, unless the would-be set holds
//!   an unknown name (then it matches nothing, as in glibc);
//! - a leading `.` in the name matches only a literal `.` (FNM_PERIOD);
//! - bytes, not characters: nginx never calls setlocale, and the sysctl loaders run at
//!   boot in the C locale.
//!
//! The pattern is compiled once, in linear time, and matched with two pointers that
//! backtrack only to the last `*`: O(pattern × name) at worst, no recursion, so no
//! pattern (a million stars included) can take long or exhaust the stack, unlike a
//! matcher that recurses at every star (glibc's does, and so did ours).

/// Whether a pattern has glob characters at all (glob(3)'s and nginx's test:
/// `strpbrk(path, "*?[")`).
pub fn is_pattern(s: &[u8]) -> bool {
    s.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// Whether `name` (one path component) matches `pattern` (one pattern component).
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    Pattern::new(pattern).matches(name)
}

/// A compiled pattern, for matching many names.
#[derive(Debug, Clone)]
pub struct Pattern {
    elems: Vec<Elem>,
    /// Elements that each consume one byte: a name shorter than this cannot match.
    min_len: usize,
}

#[derive(Debug, Clone)]
enum Elem {
    /// One or more `*` (consecutive stars are one).
    Star,
    One(One),
}

#[derive(Debug, Clone)]
enum One {
    Any,
    Byte(u8),
    Set { negate: bool, members: Vec<Member> },
    Never,
}

#[derive(Debug, Clone, Copy)]
enum Member {
    Byte(u8),
    Range(u8, u8),
    Class(fn(&u8) -> bool),
    /// glibc gives up on the whole bracket here (an unknown class name): a name byte
    /// that no earlier member matched does not match.
    Abort,
}

impl One {
    fn matches(&self, c: u8) -> bool {
        match self {
            One::Any => true,
            One::Byte(b) => *b == c,
            One::Never => false,
            One::Set { negate, members } => {
                for m in members {
                    let hit = match *m {
                        Member::Byte(b) => b == c,
                        Member::Range(lo, hi) => lo <= c && c <= hi,
                        Member::Class(f) => f(&c),
                        Member::Abort => return false,
                    };
                    if hit {
                        return !negate;
                    }
                }
                *negate
            }
        }
    }
}

/// glibc's CHAR_CLASS_MAX_LENGTH: a longer `[:name` makes the bracket match nothing.
const CLASS_MAX: usize = 256;

fn class(name: &[u8]) -> Option<fn(&u8) -> bool> {
    Some(match name {
        b"alnum" => u8::is_ascii_alphanumeric,
        b"alpha" => u8::is_ascii_alphabetic,
        b"blank" => |c: &u8| *c == b' ' || *c == b'\t',
        b"cntrl" => u8::is_ascii_control,
        b"digit" => u8::is_ascii_digit,
        b"graph" => u8::is_ascii_graphic,
        b"lower" => u8::is_ascii_lowercase,
        b"print" => |c: &u8| c.is_ascii_graphic() || *c == b' ',
        b"punct" => u8::is_ascii_punctuation,
        b"space" => |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b"upper" => u8::is_ascii_uppercase,
        b"xdigit" => u8::is_ascii_hexdigit,
        _ => return None,
    })
}

enum Symbol {
    /// `[.x.]`: the byte x.
    Byte(u8),
    /// A symbol the C locale has no name for (`[.ab.]`), this long: glibc gives up.
    Bad(usize),
    /// No `.]` follows.
    Open,
}

/// A collating symbol whose `[.` is at `p[0]`.
fn symbol(p: &[u8]) -> Symbol {
    match p[2..].windows(2).position(|w| w == b".]") {
        Some(1) => Symbol::Byte(p[2]),
        Some(n) => Symbol::Bad(n + 4),
        None => Symbol::Open,
    }
}

/// A bracket expression whose `[` is at `p[0]`: its element and length. When it is
/// unterminated: the offset of the last member that gives up, if any (glibc reads an
/// unterminated bracket as a literal `[` unless it gives up on the way to the end).
fn bracket(p: &[u8]) -> Result<(One, usize), Option<usize>> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    // Each member with the offset it starts at.
    let mut members: Vec<(usize, Member)> = Vec::new();
    let unterminated = |members: &[(usize, Member)]| {
        members
            .iter()
            .rev()
            .find(|(_, m)| matches!(m, Member::Abort))
            .map(|&(at, _)| at)
    };
    let mut first = true;
    loop {
        let at = i;
        let Some(&c) = p.get(i) else {
            return Err(unterminated(&members));
        };
        if c == b']' && !first {
            let members = members.into_iter().map(|(_, m)| m).collect();
            return Ok((One::Set { negate, members }, i + 1));
        }
        first = false;
        // One member's low byte, and where it ends.
        let lo = match c {
            b'\\' => {
                let Some(&e) = p.get(i + 1) else {
                    // A trailing backslash inside a bracket: glibc gives up.
                    return Err(Some(at));
                };
                i += 2;
                e
            }
            b'[' if p.get(i + 1) == Some(&b':') => {
                let start = i + 2;
                let mut j = start;
                while j < p.len() && (b'a'..=b'y').contains(&p[j]) && j - start < CLASS_MAX {
                    j += 1;
                }
                if j - start >= CLASS_MAX {
                    members.push((at, Member::Abort));
                    i = j;
                    continue;
                }
                if p.get(j) == Some(&b':') && p.get(j + 1) == Some(&b']') {
                    let m = class(&p[start..j]).map_or(Member::Abort, Member::Class);
                    members.push((at, m));
                    i = j + 2;
                    continue;
                }
                // Not a class name: the `[` is an ordinary member.
                i += 1;
                b'['
            }
            // `[=x=]`: in the C locale, the byte x; malformed, an ordinary `[`.
            b'[' if p.get(i + 1) == Some(&b'=')
                && p.get(i + 3) == Some(&b'=')
                && p.get(i + 4) == Some(&b']') =>
            {
                i += 5;
                p[i - 3]
            }
            b'[' if p.get(i + 1) == Some(&b'.') => match symbol(&p[i..]) {
                Symbol::Byte(x) => {
                    i += 5;
                    x
                }
                Symbol::Bad(len) => {
                    members.push((at, Member::Abort));
                    i += len;
                    continue;
                }
                Symbol::Open => return Err(Some(at)),
            },
            _ => {
                i += 1;
                c
            }
        };
        if p.get(i) == Some(&b'-') && p.get(i + 1).is_some_and(|&h| h != b']') {
            let (hi, len) = match p[i + 1] {
                b'\\' => match p.get(i + 2) {
                    Some(&h) => (h, 3),
                    None => return Err(Some(at)),
                },
                b'[' if p.get(i + 2) == Some(&b'.') => match symbol(&p[i + 1..]) {
                    Symbol::Byte(x) => (x, 6),
                    Symbol::Bad(len) => {
                        members.push((at, Member::Abort));
                        i += 1 + len;
                        continue;
                    }
                    Symbol::Open => return Err(Some(at)),
                },
                h => (h, 2),
            };
            members.push((at, Member::Range(lo, hi)));
            i += len;
        } else {
            members.push((at, Member::Byte(lo)));
        }
    }
}

/// Whether `p` begins `[:name:]` with a name glibc would read as one (a to y: glibc
/// tests `c >= 'z'`, so no `z`; at most CLASS_MAX letters).
fn class_form(p: &[u8]) -> bool {
    let Some(rest) = p.strip_prefix(b"[:") else {
        return false;
    };
    let n = rest
        .iter()
        .take(CLASS_MAX)
        .take_while(|c| (b'a'..=b'y').contains(c))
        .count();
    rest[n..].starts_with(b":]")
}

impl Pattern {
    pub fn new(p: &[u8]) -> Pattern {
        let mut elems = Vec::new();
        let mut min_len = 0;
        // Once a bracket runs off the end, every later one does too (its members are a
        // tail of the first one's), except a `[` that begins `[:name:]`, which seen alone
        // is a bracket of `:name:` ending at that `]`: remembering it keeps `[[[[...`
        // linear.
        let mut unterminated_from = usize::MAX;
        // In that first one, the offset of the last member that gives up: a later
        // unterminated `[` before it is no literal either.
        let mut blocked_until: Option<usize> = None;
        let mut i = 0;
        while i < p.len() {
            let (one, len) = match p[i] {
                b'*' => {
                    if !matches!(elems.last(), Some(Elem::Star)) {
                        elems.push(Elem::Star);
                    }
                    i += 1;
                    continue;
                }
                b'?' => (One::Any, 1),
                b'\\' => match p.get(i + 1) {
                    Some(&c) => (One::Byte(c), 2),
                    None => (One::Never, 1),
                },
                b'[' if i < unterminated_from || class_form(&p[i..]) => match bracket(&p[i..]) {
                    Ok(found) => found,
                    Err(block) => {
                        if unterminated_from == usize::MAX {
                            unterminated_from = i;
                            blocked_until = block.map(|b| i + b);
                        }
                        match block {
                            Some(_) => (One::Never, 1),
                            None => (One::Byte(b'['), 1),
                        }
                    }
                },
                b'[' => match blocked_until {
                    Some(b) if b > i => (One::Never, 1),
                    _ => (One::Byte(b'['), 1),
                },
                c => (One::Byte(c), 1),
            };
            elems.push(Elem::One(one));
            min_len += 1;
            i += len;
        }
        Pattern { elems, min_len }
    }

    pub fn matches(&self, name: &[u8]) -> bool {
        if name.len() < self.min_len {
            return false;
        }
        // FNM_PERIOD: a leading dot only matches a literal dot.
        if name.first() == Some(&b'.')
            && !matches!(self.elems.first(), Some(Elem::One(One::Byte(b'.'))))
        {
            return false;
        }
        let e = &self.elems;
        let (mut p, mut n) = (0, 0);
        // Where to resume after the last `*`: (element after it, name byte it took up to).
        let mut star: Option<(usize, usize)> = None;
        loop {
            match e.get(p) {
                Some(Elem::Star) => {
                    star = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                Some(Elem::One(one)) if n < name.len() && one.matches(name[n]) => {
                    p += 1;
                    n += 1;
                    continue;
                }
                Some(Elem::One(_)) => {}
                None if n == name.len() => return true,
                None => {}
            }
            match star {
                Some((sp, sn)) if sn < name.len() => {
                    star = Some((sp, sn + 1));
                    p = sp;
                    n = sn + 1;
                }
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, n: &str) -> bool {
        matches(p.as_bytes(), n.as_bytes())
    }

    #[test]
    fn stars_questions_and_escapes() {
        assert!(m("*.conf", "a.conf"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("site-?", "site-a"));
        assert!(!m("site-?", "site-ab"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(!m("a\\", "a\\"), "a trailing backslash matches nothing");
        assert!(m("*", ""));
        assert!(!m("?", ""));
    }

    #[test]
    fn classes() {
        assert!(m("[a-c]*", "beta"));
        assert!(!m("[!a-c]*", "beta"));
        assert!(!m("[^a-c]*", "beta"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(m("[a-]", "-"));
        assert!(m("[\\]]", "]"));
        assert!(m("[[:digit:]]x", "7x"));
        assert!(!m("[[:digit:]]x", "ax"));
        assert!(!m("[[:nope:]]", "a"), "an unknown class matches nothing");
        assert!(m("[a[:nope:]]", "a"), "unless an earlier member matched");
        assert!(
            !m("[z-a]", "z") && !m("[z-a]", "a"),
            "a reversed range is empty"
        );
        assert!(m("[", "["), "an unterminated bracket is a literal");
        assert!(m("[ab", "[ab"));
        // The first `[` is unterminated (a literal); `[:alpha:]` alone is then a
        // bracket of the bytes `:alph`.
        assert!(m("[[:alpha:]", "[a") && !m("[[:alpha:]", "[x"));
    }

    #[test]
    fn leading_dot() {
        assert!(!m("*.conf", ".hidden.conf"));
        assert!(!m("?hidden", ".hidden"));
        assert!(!m("[.]hidden", ".hidden"));
        assert!(m(".*.conf", ".hidden.conf"));
        assert!(m("\\.h*", ".hidden"));
        assert!(m("a*", "a.b"), "only a leading dot is special");
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let stars = "*".repeat(1 << 20);
        assert!(m(&stars, "tcp_fin_timeout"));
        assert!(!m(&format!("{stars}x"), "tcp_fin_timeout"));
        assert!(!m(&("*a".repeat(1 << 16) + "b"), &"a".repeat(200)));
        assert!(!m(&("*a".repeat(100) + "b"), &"a".repeat(5000)));
        assert!(!m(&"[".repeat(1 << 20), "a"));
        assert!(!m(&"[\\]".repeat(1 << 18), "a"));
        assert!(!m(&"[:[:".repeat(1 << 18), "a"));
        assert!(m(&"[[:alpha:]".repeat(1 << 16), &"[a".repeat(1 << 16)));
    }
}

/// The same answers as the C library's fnmatch(3), on random patterns and names.
#[cfg(test)]
mod against_libc {
    use super::matches;
    use std::ffi::CString;

    fn libc_fnmatch(p: &[u8], n: &[u8]) -> bool {
        let (p, n) = (CString::new(p).unwrap(), CString::new(n).unwrap());
        // SAFETY: both are NUL-terminated strings that outlive the call.
        unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), libc::FNM_PERIOD) == 0 }
    }

    /// xorshift64: reproducible without a crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 as usize
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.next() % from.len()]
        }
    }

    const TOKENS: &[&str] = &[
        "a",
        "b",
        ".",
        "-",
        "]",
        "!",
        "^",
        ":",
        "[",
        "*",
        "*",
        "?",
        "\\a",
        "\\*",
        "\\[",
        "\\]",
        "\\",
        "[ab]",
        "[!a]",
        "[^b]",
        "[a-c]",
        "[]a]",
        "[!]b]",
        "[a-]",
        "[-a]",
        "[\\]]",
        "[a\\-c]",
        "[.]",
        "[!.]",
        "[[:alpha:]]",
        "[[:digit:].]",
        "[![:punct:]]",
        "[[:nope:]]",
        "[a[:nope:]]",
        "[b-a]",
        "[[]",
        "[!",
        "[a",
        "[[:alpha:]",
        "[:a:]",
    ];
    const NAME_BYTES: &[u8] = b"ab.-]1[";

    #[test]
    fn agrees_with_libc() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut names: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=3u32 {
            for i in 0..NAME_BYTES.len().pow(len) {
                let mut x = i;
                let name = (0..len)
                    .map(|_| {
                        let c = NAME_BYTES[x % NAME_BYTES.len()];
                        x /= NAME_BYTES.len();
                        c
                    })
                    .collect();
                names.push(name);
            }
        }
        let mut disagree = Vec::new();
        for _ in 0..3000 {
            let n = 1 + rng.next() % 4;
            let pattern: String = (0..n).map(|_| rng.pick(TOKENS)).collect();
            for name in &names {
                let (ours, theirs) = (
                    matches(pattern.as_bytes(), name),
                    libc_fnmatch(pattern.as_bytes(), name),
                );
                if ours != theirs {
                    disagree.push(format!(
                        "{pattern:?} vs {:?}: ours {ours}, libc {theirs}",
                        String::from_utf8_lossy(name)
                    ));
                }
            }
        }
        assert!(
            disagree.is_empty(),
            "{} disagreements:\n{}",
            disagree.len(),
            disagree[..disagree.len().min(40)].join("\n")
        );
    }
}
