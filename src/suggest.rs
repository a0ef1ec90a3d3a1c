//! "Did you mean": the nearest known name to a mistyped one, for profile names, catalog
//! keys and man pages (clap's `suggestions` feature does it for subcommands and flags).

/// The known name fewest edits away from `typed` (insertions, deletions, substitutions
/// and swaps of two neighbours: strsim's optimal string alignment), when it is close
/// enough to be a typo: at most a third of the typed name's characters, at least one.
pub fn nearest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let most = (typed.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (strsim::osa_distance(typed, k), k))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `; did you mean `NAME`?`, or nothing when no known name is near.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    match nearest(typed, known) {
        Some(k) => format!("; did you mean `{k}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn a_typo_finds_its_name_and_nonsense_finds_none() {
        let profiles = [
            "baseline",
            "web-frontend",
            "small-proxy",
            "websocket-gateway",
        ];
        assert_eq!(nearest("web-fronted", profiles), Some("web-frontend"));
        assert_eq!(nearest("basline", profiles), Some("baseline"));
        assert_eq!(nearest("zzzz", profiles), None);
        let keys = ["net.core.somaxconn", "net.ipv4.tcp_syncookies"];
        assert_eq!(
            nearest("net.core.somaxcon", keys),
            Some("net.core.somaxconn")
        );
    }
}
