//! Where to persist a value so that it really wins at boot, under both loaders: the
//! remedy names the line that wins now, never "a file under /etc/sysctl.d/" (a new
//! 50-tune.conf changes nothing while 60-site.conf sets the key).

use crate::host::sysctl_d::resolve::{resolve, Assignment};
use crate::host::sysctl_d::{Loader, Persisted};

/// "edit /etc/sysctl.d/60-site.conf:1, which wins under both loaders: `key = value`", or
/// what `tuneguard apply` writes when the winner is not the administrator's to edit.
pub fn remedy(p: &Persisted, key: &str, value: &str) -> String {
    let r = resolve(p, key);
    let line = format!("`{key} = {value}`");
    let mut winners: Vec<(&Assignment, Vec<Loader>)> = Vec::new();
    for loader in [Loader::Systemd, Loader::Procps] {
        if let Some(a) = r.winner(loader) {
            match winners.iter_mut().find(|(w, _)| *w == a) {
                Some((_, ls)) => ls.push(loader),
                None => winners.push((a, vec![loader])),
            }
        }
    }
    if winners.is_empty() {
        return format!("put {line} in a new file under /etc/sysctl.d/ (no file sets {key} now)");
    }
    let mut edits = Vec::new();
    let mut outside = Vec::new();
    for (a, loaders) in &winners {
        let under = match loaders.as_slice() {
            [_, _] => "both loaders".to_string(),
            [l] => l.name().to_string(),
            _ => continue,
        };
        let at = format!("{}:{}", a.file.display(), a.line);
        if a.glob.is_none() && a.file.starts_with("/etc") {
            edits.push(format!("{at}, which wins under {under}"));
        } else {
            let why = match &a.glob {
                Some(_) => "a glob line",
                None if a.file.starts_with("/run") => "a runtime file, gone at reboot",
                None if a.file.starts_with("/usr/local") => "outside /etc, where overrides belong",
                None => "a package's file, replaced on upgrade",
            };
            outside.push(format!("{at} ({why}) wins under {under}"));
        }
    }
    let mut parts = Vec::new();
    if !edits.is_empty() {
        parts.push(format!("edit {}: {line}", edits.join(", and ")));
    }
    if !outside.is_empty() {
        parts.push(format!(
            "{}: `tuneguard apply` writes {line} to a file under /etc/sysctl.d named to sort after it",
            outside.join(", and ")
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::sysctl_d;

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Persisted) {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let p = sysctl_d::read(dir.path());
        (dir, p)
    }

    #[test]
    fn names_the_line_that_wins() {
        let k = "net.core.somaxconn";
        let (_d, p) = tree(&[("etc/sysctl.d/60-site.conf", "net.core.somaxconn = 1024\n")]);
        assert_eq!(
            remedy(&p, k, "4096"),
            "edit /etc/sysctl.d/60-site.conf:1, which wins under both loaders: `net.core.somaxconn = 4096`"
        );
        let (_d, p) = tree(&[]);
        assert_eq!(
            remedy(&p, k, "4096"),
            "put `net.core.somaxconn = 4096` in a new file under /etc/sysctl.d/ (no file sets net.core.somaxconn now)"
        );
        // procps reads /etc/sysctl.conf last; systemd-sysctl never reads it.
        let (_d, p) = tree(&[
            (
                "etc/sysctl.d/70-b.conf",
                "x = 1\nnet.core.somaxconn = 300\n",
            ),
            ("etc/sysctl.conf", "net.core.somaxconn = 600\n"),
        ]);
        assert_eq!(
            remedy(&p, k, "4096"),
            "edit /etc/sysctl.d/70-b.conf:2, which wins under systemd-sysctl, and /etc/sysctl.conf:1, which wins under sysctl --system: `net.core.somaxconn = 4096`"
        );
        let (_d, p) = tree(&[(
            "usr/lib/sysctl.d/50-pkg.conf",
            "net.core.somaxconn = 1024\n",
        )]);
        assert_eq!(
            remedy(&p, k, "4096"),
            "/usr/lib/sysctl.d/50-pkg.conf:1 (a package's file, replaced on upgrade) wins under both loaders: `tuneguard apply` writes `net.core.somaxconn = 4096` to a file under /etc/sysctl.d named to sort after it"
        );
    }
}
