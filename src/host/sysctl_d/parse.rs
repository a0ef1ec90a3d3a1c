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
