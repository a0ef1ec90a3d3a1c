//! The glob(3) nginx uses for `include` patterns (flags 0): sorted, `*` and `?` do not
//! match a leading dot, `[...]`/`[!...]` classes, backslash quotes the next character.
//! nginx does not call setlocale, so the sort is byte order. Each component is matched
//! by [`crate::host::fnmatch`], in linear time whatever the pattern.

pub use crate::host::fnmatch::{is_pattern, matches, Pattern};

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
