//! Counting nouns in messages: "1 file", "2 files", never "1 file(s)".

/// `n` and the noun, plural unless `n` is 1. Every noun tuneguard counts takes an `s`.
pub fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(super::count(1, "file"), "1 file");
        assert_eq!(super::count(0, "file edit"), "0 file edits");
        assert_eq!(super::count(15000, "sysctl rule"), "15000 sysctl rules");
    }
}
