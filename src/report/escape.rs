//! Text that came from a file, a process or the kernel (file names, values, nginx
//! arguments, profile descriptions, process names, error messages), made safe to print.
//! Such text may carry terminal control sequences (`ESC ] 0 ; title BEL` retitles the
//! window, `ESC [ 2 J` clears the screen, and worse): printed raw by root, they act on
//! the reader's terminal or forge lines of the report. Every control character (C0, DEL,
//! C1) is shown escaped instead, `\x1b` or `\u{9b}`, by every text and JUnit renderer and
//! by main's error printer. JSON escapes them by itself.

use std::borrow::Cow;

/// For a field that is one line: every control character is escaped, newline and tab
/// included (a newline in a file name must not start a forged report line).
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// For text whose newlines and tabs are its structure (a profile's text, a diff, an
/// error with causes): those stay, every other control character is escaped. A CR
/// stays only before a newline (a CRLF file's lines).
pub fn block(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let kept = |i: usize, c: char| {
        keep_lines && (c == '\n' || c == '\t' || (c == '\r' && s[i + 1..].starts_with('\n')))
    };
    if !s.char_indices().any(|(i, c)| c.is_control() && !kept(i, c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        if !c.is_control() || kept(i, c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        let evil = "a\x1b]0;pwned\x07b\x1b[2Jc\u{9b}31md\x7fe";
        assert_eq!(line(evil), "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\u{9b}31md\\x7fe");
        assert_eq!(line("x\ny\tz"), "x\\x0ay\\x09z");
        assert_eq!(block("x\r\ny\tz\rw"), "x\r\ny\tz\\x0dw");
        assert!(matches!(line("plain · ünïcode"), Cow::Borrowed(_)));
    }
}
