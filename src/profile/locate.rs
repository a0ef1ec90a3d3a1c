//! Finds the line and column of a path (`sysctl` → `net.core.somaxconn` → `max`) in a
//! profile's YAML text, for errors serde_yaml cannot place: those found after parsing
//! (min > max, a cycle in `extends`, a bad key name). serde_yaml keeps no spans in its
//! values, so this walks block-style YAML by indentation, with a fallback into flow
//! mappings on one line. When a segment is not found it returns the deepest one that
//! was, so an error always points somewhere useful.

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

pub fn locate(src: &str, path: &[&str]) -> Pos {
    let lines: Vec<&str> = src.lines().collect();
    let mut best = Pos { line: 1, col: 1 };
    let mut start = 0usize;
    let mut parent_indent: isize = -1;
    for (depth, seg) in path.iter().enumerate() {
        match find_in_block(&lines, start, parent_indent, seg) {
            Some((idx, col)) => {
                best = Pos {
                    line: idx + 1,
                    col: col + 1,
                };
                parent_indent = indent(lines[idx]) as isize;
                start = idx + 1;
                // A flow mapping or sequence on the same line holds the rest of the path.
                let after = &lines[idx][col..];
                if after.contains('{') || after.contains('[') {
                    for rest in &path[depth + 1..] {
                        if let Some(off) = find_token(after, rest) {
                            best = Pos {
                                line: idx + 1,
                                col: col + off + 1,
                            };
                        }
                    }
                    return best;
                }
            }
            None => return best,
        }
    }
    best
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '-']).len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Looks for `seg:` (a key, possibly quoted) or `- seg` (a list item) among the lines of
/// the block that starts at `start` and is indented deeper than `parent_indent`.
fn find_in_block(
    lines: &[&str],
    start: usize,
    parent_indent: isize,
    seg: &str,
) -> Option<(usize, usize)> {
    for (idx, line) in lines.iter().enumerate().skip(start) {
        if is_blank(line) {
            continue;
        }
        if (indent(line) as isize) <= parent_indent {
            return None;
        }
        // Top-level keys sit at column 1; deeper lines belong to other blocks.
        if parent_indent < 0 && indent(line) > 0 {
            continue;
        }
        let body_start = indent(line);
        let body = &line[body_start..];
        for quoted in [seg.to_string(), format!("\"{seg}\""), format!("'{seg}'")] {
            if let Some(rest) = body.strip_prefix(quoted.as_str()) {
                let rest = rest.trim_start();
                if rest.starts_with(':') || rest.is_empty() || rest.starts_with('#') {
                    return Some((idx, body_start));
                }
            }
        }
        // `extends: [a, b]` or `- b`: a value rather than a key.
        if parent_indent >= 0 {
            if let Some(off) = find_token(line, seg) {
                if line[..off].trim_start().starts_with('-') || line[..off].contains('[') {
                    return Some((idx, off));
                }
            }
        }
    }
    None
}

/// The byte offset of `tok` in `text` as a whole word (not part of a longer name).
fn find_token(text: &str, tok: &str) -> Option<usize> {
    if tok.is_empty() {
        return None;
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    let mut from = 0;
    while let Some(off) = text[from..].find(tok) {
        let at = from + off;
        let before_ok = text[..at].chars().next_back().is_none_or(|c| !word(c));
        let after_ok = text[at + tok.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + tok.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "name: x\nextends: [baseline, web-frontend]\nsysctl:\n  net.core.somaxconn:\n    min: 10\n    max: 5\n  \"net.ipv4.tcp_syncookies\": {equals: 1, severity: bad}\nwaivers:\n  x: y\n";

    #[test]
    fn finds_block_keys() {
        assert_eq!(
            locate(SRC, &["sysctl", "net.core.somaxconn", "max"]),
            Pos { line: 6, col: 5 }
        );
        assert_eq!(
            locate(SRC, &["sysctl", "net.core.somaxconn"]),
            Pos { line: 4, col: 3 }
        );
    }

    #[test]
    fn finds_flow_and_quoted_keys() {
        assert_eq!(
            locate(SRC, &["sysctl", "net.ipv4.tcp_syncookies", "severity"]),
            Pos { line: 7, col: 42 }
        );
        assert_eq!(
            locate(SRC, &["extends", "web-frontend"]),
            Pos { line: 2, col: 21 }
        );
    }

    #[test]
    fn falls_back_to_the_deepest_found() {
        assert_eq!(
            locate(SRC, &["sysctl", "net.core.somaxconn", "nope"]),
            Pos { line: 4, col: 3 }
        );
        assert_eq!(locate(SRC, &["nothing"]), Pos { line: 1, col: 1 });
        // Does not match a key of another block.
        assert_eq!(locate(SRC, &["waivers", "max"]), Pos { line: 8, col: 1 });
    }

    #[test]
    fn empty_segments_and_nested_namesakes() {
        assert_eq!(locate(SRC, &["sysctl", ""]), Pos { line: 3, col: 1 });
        let src = "waivers:\n  keepalive: because\nkeepalive:\n  max_detection: 0\n";
        assert_eq!(
            locate(src, &["keepalive", "max_detection"]),
            Pos { line: 4, col: 3 }
        );
    }

    #[test]
    fn finds_list_items() {
        let src = "extends:\n  - baseline\n  - small-proxy\n";
        assert_eq!(
            locate(src, &["extends", "small-proxy"]),
            Pos { line: 3, col: 5 }
        );
    }
}
