//! One sysctl.d file, line by line, as procps `sysctl --system` (4.0) and
//! systemd-sysctl (252) read it; the two agree on every rule here (measured against
//! both, see tests/persisted_oracle.rs):
//! - leading and trailing whitespace (CR included) is stripped; empty lines and lines
//!   starting with `#` or `;` are comments; there are no inline comments (the text is
//!   part of the value);
//! - `key = value`, spaces around `=` optional; `-key = value` ignores a failed write;
//! - `-key` alone excludes the key from globs (exact names only: a glob after `-`
//!   excludes nothing in either loader);
//! - keys may use `/` instead of `.` (the first separator decides, as both loaders'
//!   normalization does) and may be globs (`*?[`);
//! - anything else is a malformed line, which both loaders skip with a warning;
//! - a line of 1 MiB or more ends systemd-sysctl's reading of the file; procps reads it.

use crate::host::fnmatch;

/// One meaningful line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Assign {
        key: String,
        value: String,
        ignore_failure: bool,
        /// For a glob key with `{a,b}` in it: the globs systemd-sysctl expands it to
        /// ([`systemd_globs`]); empty when they would be more than [`MAX_BRACE_STEPS`].
        /// None for every other key, which both loaders take as written.
        braces: Option<Vec<String>>,
    },
    Exclude {
        key: String,
    },
    Malformed {
        why: String,
    },
    /// systemd-sysctl stops reading the file here: the line is at least
    /// [`SYSTEMD_LINE_MAX`] bytes long (`len`), and its read_line() gives up on the
    /// rest of the file ("Failed to read file ..., ignoring: No buffer space
    /// available"). procps reads the line whole, so the line's own entry follows,
    /// with the same number.
    SystemdStops {
        len: usize,
    },
}

/// systemd's LONG_LINE_MAX: a line of this many bytes or more (newline not counted)
/// ends systemd-sysctl's reading of the file (measured with systemd 252: 1 MiB - 1
/// bytes read, 1 MiB refused). procps 4.0 reads lines of any length.
pub const SYSTEMD_LINE_MAX: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based.
    pub number: usize,
    pub kind: LineKind,
}

/// Parses a file's text. Comments and blank lines are dropped; malformed lines are
/// kept, so they can be reported with their line number.
pub fn parse(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let len = raw.strip_suffix('\r').unwrap_or(raw).len();
        if len >= SYSTEMD_LINE_MAX {
            out.push(Line {
                number: i + 1,
                kind: LineKind::SystemdStops { len },
            });
        }
        let line = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let number = i + 1;
        let kind = match line.split_once('=') {
            Some((k, v)) => {
                let (k, ignore_failure) = match k.strip_prefix('-') {
                    Some(rest) => (rest, true),
                    None => (k, false),
                };
                let key = normalize_key(k.trim());
                let value = v.trim().to_string();
                if key.is_empty() {
                    LineKind::Malformed {
                        why: "no key before `=`".into(),
                    }
                } else if value.is_empty() {
                    LineKind::Malformed {
                        why: format!(
                            "{key} has no value after `=`: the kernel rejects an empty write"
                        ),
                    }
                } else {
                    LineKind::Assign {
                        braces: systemd_globs(&key),
                        key,
                        value,
                        ignore_failure,
                    }
                }
            }
            None => match line.strip_prefix('-') {
                Some(k) if !k.trim().is_empty() => LineKind::Exclude {
                    key: normalize_key(k.trim()),
                },
                _ => LineKind::Malformed {
                    why: "not an assignment (`key = value`) and not an exclusion (`-key`)".into(),
                },
            },
        };
        out.push(Line { number, kind });
    }
    out
}

/// `net/core/somaxconn` → `net.core.somaxconn`. When the first separator is `/`, dots
/// are literal parts of a name (a VLAN interface `eth0.100`) and become `/` in the
/// dotted form, as procps' slashdot() and systemd's sysctl_normalize() swap them.
pub fn normalize_key(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// How many patterns brace expansion may visit for one key: `{a,b}{c,d}...` doubles
/// with each group, and glibc would expand them all.
pub const MAX_BRACE_STEPS: usize = 256;

/// systemd-sysctl expands a glob key with glob(3) and GLOB_BRACE, so `{fin,keepalive}`
/// is either word (measured with systemd 252; procps passes no flag and reads `{`
/// literally). Only keys that are globs (`*?[`) are expanded, as systemd only globs
/// those. None when there is no brace expression; the globs in glibc's order otherwise,
/// or none when there would be more than MAX_BRACE_STEPS.
///
/// glibc's rules: the first `{` not escaped by `\` opens; `,` at its depth separates
/// alternatives, `}` closes; each alternative is put in place of the braces and expanded
/// again; a `{` without its `}` makes the whole pattern literal.
pub fn systemd_globs(key: &str) -> Option<Vec<String>> {
    if !is_glob(key) || !key.contains('{') {
        return None;
    }
    let mut out = Vec::new();
    // A worklist rather than recursion: a pattern may hold any number of groups.
    let mut todo = vec![key.as_bytes().to_vec()];
    let mut steps = 0;
    while let Some(p) = todo.pop() {
        steps += 1;
        if steps > MAX_BRACE_STEPS {
            return Some(Vec::new());
        }
        let Some((begin, alts, rest)) = brace_group(&p) else {
            out.push(String::from_utf8_lossy(&p).into_owned());
            continue;
        };
        // Reversed onto the stack, so they come off in order.
        for a in alts.into_iter().rev() {
            let mut q = p[..begin].to_vec();
            q.extend_from_slice(&p[a]);
            q.extend_from_slice(&p[rest..]);
            todo.push(q);
        }
    }
    (out.len() != 1 || out[0] != key).then_some(out)
}

/// The first brace expression of `p`: where its `{` is, its alternatives, and where the
/// text after its `}` starts. None when there is none, or it is not closed.
fn brace_group(p: &[u8]) -> Option<(usize, Vec<std::ops::Range<usize>>, usize)> {
    let mut i = 0;
    let begin = loop {
        match p.get(i)? {
            b'\\' if i + 1 < p.len() => i += 2,
            b'{' => break i,
            _ => i += 1,
        }
    };
    let mut alts = Vec::new();
    let mut start = begin + 1;
    loop {
        let end = next_brace_sub(p, start)?;
        alts.push(start..end);
        if p[end] == b'}' {
            return Some((begin, alts, end + 1));
        }
        start = end + 1;
    }
}

/// glibc's next_brace_sub(): the `,` or `}` that ends the alternative starting at `i`.
fn next_brace_sub(p: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < p.len() {
        match p[i] {
            b'\\' => i += 2,
            b'}' | b',' if depth == 0 => return Some(i),
            b'}' => {
                depth -= 1;
                i += 1;
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

pub fn is_glob(key: &str) -> bool {
    fnmatch::is_pattern(key.as_bytes())
}

/// Whether a glob key matches a dotted key, segment by segment: `*`, `?` and `[...]`
/// never cross a `.` (both loaders expand a glob key with glob(3) over /proc/sys, where
/// segments are directories), with fnmatch(3)'s rules per segment
/// ([`crate::host::fnmatch`]: linear, so a key of a million stars costs milliseconds).
pub fn glob_matches(pattern: &str, key: &str) -> bool {
    let mut k = key.split('.');
    for p in pattern.split('.') {
        let Some(k) = k.next() else {
            return false;
        };
        // Most segments are plain names: compared as they are, nothing compiled.
        let plain = !p.bytes().any(|c| matches!(c, b'*' | b'?' | b'[' | b'\\'));
        if !(if plain {
            p == k
        } else {
            fnmatch::matches(p.as_bytes(), k.as_bytes())
        }) {
            return false;
        }
    }
    k.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(usize, LineKind)> {
        parse(text)
            .into_iter()
            .map(|l| (l.number, l.kind))
            .collect()
    }

    #[test]
    fn every_line_shape() {
        let text = "# comment\n; also\n\n  net.core.somaxconn=1024\r\nnet/ipv4/tcp_fin_timeout = 30 # not a comment\n\
-net.ipv4.tcp_retries2 = 8\n-net.ipv4.tcp_keepalive_probes\nnet.ipv4.tcp_keepalive_* = 60\njunk\nnet.core.somaxconn =\n= 5\n\
net.ipv4.ip_local_port_range = 1024\t65000";
        assert_eq!(
            kinds(text),
            vec![
                (4, LineKind::Assign { key: "net.core.somaxconn".into(), value: "1024".into(), ignore_failure: false, braces: None }),
                (5, LineKind::Assign { key: "net.ipv4.tcp_fin_timeout".into(), value: "30 # not a comment".into(), ignore_failure: false, braces: None }),
                (6, LineKind::Assign { key: "net.ipv4.tcp_retries2".into(), value: "8".into(), ignore_failure: true, braces: None }),
                (7, LineKind::Exclude { key: "net.ipv4.tcp_keepalive_probes".into() }),
                (8, LineKind::Assign { key: "net.ipv4.tcp_keepalive_*".into(), value: "60".into(), ignore_failure: false, braces: None }),
                (9, LineKind::Malformed { why: "not an assignment (`key = value`) and not an exclusion (`-key`)".into() }),
                (10, LineKind::Malformed { why: "net.core.somaxconn has no value after `=`: the kernel rejects an empty write".into() }),
                (11, LineKind::Malformed { why: "no key before `=`".into() }),
                (12, LineKind::Assign { key: "net.ipv4.ip_local_port_range".into(), value: "1024\t65000".into(), ignore_failure: false, braces: None }),
            ]
        );
    }

    #[test]
    fn slash_keys_swap_literal_dots() {
        assert_eq!(
            normalize_key("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(normalize_key("net.core.somaxconn"), "net.core.somaxconn");
    }

    #[test]
    fn systemd_expands_braces_in_globs() {
        let g = |k: &str| systemd_globs(k);
        assert_eq!(g("net.ipv4.tcp_{fin,keepalive}_time"), None, "not a glob");
        assert_eq!(g("net.ipv4.tcp_*"), None);
        assert_eq!(
            g("net.ipv4.tcp_{fin,keepalive}_time*"),
            Some(vec![
                "net.ipv4.tcp_fin_time*".into(),
                "net.ipv4.tcp_keepalive_time*".into()
            ])
        );
        assert_eq!(
            g("net.core.{somaxconn,x{y,z}}*"),
            Some(vec![
                "net.core.somaxconn*".into(),
                "net.core.xy*".into(),
                "net.core.xz*".into()
            ])
        );
        assert_eq!(
            g("net.ipv4.tcp_retries{}2*"),
            Some(vec!["net.ipv4.tcp_retries2*".into()])
        );
        assert_eq!(g("net.ipv4.{tcp_fin*"), None, "an open brace is literal");
        assert_eq!(g("net.ipv4.\\{a,b}*"), None, "an escaped brace is literal");
        assert_eq!(g(&format!("net.*{}", "{a,b}".repeat(20))), Some(Vec::new()));
        let many = format!("net.*{}", "{}".repeat(1 << 18));
        assert_eq!(
            systemd_globs(&many),
            Some(Vec::new()),
            "bounded, not recursive"
        );
    }

    #[test]
    fn globs_match_by_segment() {
        assert!(glob_matches(
            "net.ipv4.tcp_keepalive_*",
            "net.ipv4.tcp_keepalive_time"
        ));
        assert!(!glob_matches("net.*", "net.core.somaxconn"));
        assert!(glob_matches("net.*.somaxconn", "net.core.somaxconn"));
        assert!(glob_matches(
            "net.ipv4.tcp_keepalive_[pt]*",
            "net.ipv4.tcp_keepalive_probes"
        ));
        assert!(!glob_matches(
            "net.ipv4.tcp_keepalive_[!pt]*",
            "net.ipv4.tcp_keepalive_probes"
        ));
        assert!(glob_matches(
            "net.ipv4.tcp_retries?",
            "net.ipv4.tcp_retries2"
        ));
    }
}
