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
//! - anything else is a malformed line, which both loaders skip with a warning.

/// One meaningful line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Assign {
        key: String,
        value: String,
        ignore_failure: bool,
    },
    Exclude {
        key: String,
    },
    Malformed {
        why: String,
    },
}

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

pub fn is_glob(key: &str) -> bool {
    key.contains(['*', '?', '['])
}

/// Whether a glob key matches a dotted key, segment by segment: `*`, `?` and `[...]`
/// never cross a `.` (both loaders glob over /proc/sys paths, where segments are
/// directories).
pub fn glob_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    p.len() == k.len()
        && p.iter()
            .zip(&k)
            .all(|(p, k)| segment_matches(p.as_bytes(), k.as_bytes()))
}

fn segment_matches(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| segment_matches(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && segment_matches(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(close) = p.iter().skip(2).position(|&c| c == b']').map(|i| i + 2) else {
                return s.first() == Some(&b'[') && segment_matches(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let (negate, set) = match p[1] {
                b'!' | b'^' => (true, &p[2..close]),
                _ => (false, &p[1..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && segment_matches(&p[close + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && segment_matches(&p[1..], &s[1..]),
    }
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
                (4, LineKind::Assign { key: "net.core.somaxconn".into(), value: "1024".into(), ignore_failure: false }),
                (5, LineKind::Assign { key: "net.ipv4.tcp_fin_timeout".into(), value: "30 # not a comment".into(), ignore_failure: false }),
                (6, LineKind::Assign { key: "net.ipv4.tcp_retries2".into(), value: "8".into(), ignore_failure: true }),
                (7, LineKind::Exclude { key: "net.ipv4.tcp_keepalive_probes".into() }),
                (8, LineKind::Assign { key: "net.ipv4.tcp_keepalive_*".into(), value: "60".into(), ignore_failure: false }),
                (9, LineKind::Malformed { why: "not an assignment (`key = value`) and not an exclusion (`-key`)".into() }),
                (10, LineKind::Malformed { why: "net.core.somaxconn has no value after `=`: the kernel rejects an empty write".into() }),
                (11, LineKind::Malformed { why: "no key before `=`".into() }),
                (12, LineKind::Assign { key: "net.ipv4.ip_local_port_range".into(), value: "1024\t65000".into(), ignore_failure: false }),
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
