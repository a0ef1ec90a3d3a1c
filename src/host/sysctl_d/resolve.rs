//! Which line wins for a key under each loader: the loaders' own rules, modelled line
//! for line on procps 4.0's write_setting_list() and systemd 252's apply_all(), and
//! checked against both in tests/persisted_oracle.rs.
//!
//! - An exact `key = value` always beats a glob, wherever the glob is. Among exact
//!   lines the last one applied wins; among globs, the last matching one.
//! - `-key` (exclusion) keeps globs off the key. In systemd it also replaces an earlier
//!   exact assignment of the key (its option table holds one entry per key), so the key
//!   is then not set at all; procps still writes the exact assignment.
//! - systemd keeps the *first* line when a key is assigned the same value again, and
//!   moves a re-assigned key with a new value to the end of its order (which decides
//!   between globs).
//! - systemd expands `{a,b}` in a glob key; procps takes the brace literally.

use super::parse::{glob_matches, is_glob, LineKind};
use super::{Loader, Persisted};
use std::path::PathBuf;

/// One line that sets the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub file: PathBuf,
    pub line: usize,
    pub value: String,
    /// The glob that matched, when the line is a glob.
    pub glob: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub procps: Option<Assignment>,
    pub systemd: Option<Assignment>,
    /// Every line, in any file either loader reads, that sets the key (exactly or by a
    /// matching glob), in procps order then the files only systemd reads.
    pub all: Vec<Assignment>,
    /// Exclusion lines for the key (file, line).
    pub excluded: Vec<(PathBuf, usize)>,
    /// Lines setting the key in files no loader reads (masked by a same-named file in
    /// an earlier directory), with the masking file.
    pub masked: Vec<(Assignment, PathBuf)>,
}

impl Resolution {
    pub fn winner(&self, loader: Loader) -> Option<&Assignment> {
        match loader {
            Loader::Procps => self.procps.as_ref(),
            Loader::Systemd => self.systemd.as_ref(),
        }
    }
}

/// (file, line, kind) in the order a loader reads them: for systemd, each file up to a
/// line too long for it.
fn lines_of(p: &Persisted, loader: Loader) -> impl Iterator<Item = (&PathBuf, usize, &LineKind)> {
    p.order(loader).iter().flat_map(move |&i| {
        let f = &p.files[i];
        f.lines
            .iter()
            .take_while(move |l| {
                loader == Loader::Procps || !matches!(l.kind, LineKind::SystemdStops { .. })
            })
            .map(move |l| (&f.path, l.number, &l.kind))
    })
}

pub fn resolve(p: &Persisted, key: &str) -> Resolution {
    let mut r = Resolution {
        procps: procps(p, key),
        systemd: systemd(p, key),
        ..Resolution::default()
    };
    let mut seen_files: std::collections::HashSet<&PathBuf> = Default::default();
    for loader in [Loader::Procps, Loader::Systemd] {
        for (file, line, kind) in lines_of(p, loader) {
            if loader == Loader::Systemd && seen_files.contains(&file) {
                continue;
            }
            match kind {
                LineKind::Assign {
                    key: k,
                    value,
                    braces,
                    ..
                } if sets(loader, k, braces, key) => {
                    r.all.push(Assignment {
                        file: file.clone(),
                        line,
                        value: value.clone(),
                        glob: is_glob(k).then(|| k.clone()),
                    });
                }
                LineKind::Exclude { key: k } if k == key => r.excluded.push((file.clone(), line)),
                _ => {}
            }
        }
        seen_files.extend(p.order(Loader::Procps).iter().map(|&i| &p.files[i].path));
    }
    for (i, by) in &p.masked {
        let f = &p.files[*i];
        for l in &f.lines {
            if let LineKind::Assign {
                key: k,
                value,
                braces,
                ..
            } = &l.kind
            {
                if sets(Loader::Procps, k, braces, key) || sets(Loader::Systemd, k, braces, key) {
                    let a = Assignment {
                        file: f.path.clone(),
                        line: l.number,
                        value: value.clone(),
                        glob: is_glob(k).then(|| k.clone()),
                    };
                    r.masked.push((a, by.clone()));
                }
            }
        }
    }
    r
}

/// Whether a line's key `k` sets `key` under `loader`: the same name, or a glob that
/// matches it, which systemd-sysctl first expands at its braces.
fn sets(loader: Loader, k: &str, braces: &Option<Vec<String>>, key: &str) -> bool {
    if k == key {
        return true;
    }
    match (loader, braces) {
        (Loader::Systemd, Some(globs)) => globs.iter().any(|g| glob_matches(g, key)),
        _ => is_glob(k) && glob_matches(k, key),
    }
}

fn procps(p: &Persisted, key: &str) -> Option<Assignment> {
    let mut exact = None;
    let mut glob = None;
    let mut excluded = false;
    for (file, line, kind) in lines_of(p, Loader::Procps) {
        match kind {
            LineKind::Assign { key: k, value, .. } if k == key => {
                exact = Some(Assignment {
                    file: file.clone(),
                    line,
                    value: value.clone(),
                    glob: None,
                });
            }
            LineKind::Assign { key: k, value, .. } if is_glob(k) && glob_matches(k, key) => {
                glob = Some(Assignment {
                    file: file.clone(),
                    line,
                    value: value.clone(),
                    glob: Some(k.clone()),
                });
            }
            LineKind::Exclude { key: k } if k == key => excluded = true,
            _ => {}
        }
    }
    exact.or(if excluded { None } else { glob })
}

fn systemd(p: &Persisted, key: &str) -> Option<Assignment> {
    // The option table, by key or glob: (place in systemd's order, value or None for an
    // exclusion, first line). A hash map with order numbers rather than an ordered
    // list, so a file of a million distinct globs costs linear time.
    let mut table: std::collections::HashMap<&str, (usize, Option<&String>, Assignment)> =
        Default::default();
    for (order, (file, line, kind)) in lines_of(p, Loader::Systemd).enumerate() {
        let (k, value, braces) = match kind {
            LineKind::Assign {
                key, value, braces, ..
            } => (key, Some(value), braces),
            LineKind::Exclude { key } => (key, None, &None),
            LineKind::Malformed { .. } | LineKind::SystemdStops { .. } => continue,
        };
        if !sets(Loader::Systemd, k, braces, key) {
            continue;
        }
        if table.get(k.as_str()).is_some_and(|t| t.1 == value) {
            continue;
        }
        let here = Assignment {
            file: file.clone(),
            line,
            value: value.cloned().unwrap_or_default(),
            glob: is_glob(k).then(|| k.clone()),
        };
        table.insert(k, (order, value, here));
    }
    if let Some((_, value, at)) = table.get(key) {
        return value.map(|_| at.clone());
    }
    table
        .into_values()
        .filter(|(_, v, _)| v.is_some())
        .max_by_key(|(order, _, _)| *order)
        .map(|(_, _, a)| a)
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::super::{ConfFile, Persisted};
    use super::*;

    fn tree(files: &[(&str, &str)], conf: Option<&str>) -> Persisted {
        let mut p = Persisted::empty(std::path::Path::new("/"));
        for (path, text) in files {
            p.files.push(ConfFile {
                path: path.into(),
                target: None,
                lines: parse(text),
                real: path.into(),
                bytes: text.as_bytes().to_vec(),
            });
            p.procps.push(p.files.len() - 1);
            p.systemd.push(p.files.len() - 1);
        }
        if let Some(text) = conf {
            p.files.push(ConfFile {
                path: "/etc/sysctl.conf".into(),
                target: None,
                lines: parse(text),
                real: "/etc/sysctl.conf".into(),
                bytes: text.as_bytes().to_vec(),
            });
            p.procps.push(p.files.len() - 1);
        }
        p
    }

    const K: &str = "net.core.somaxconn";

    fn won(a: Option<Assignment>) -> Option<(String, usize, String)> {
        a.map(|a| (a.file.display().to_string(), a.line, a.value))
    }

    #[test]
    fn later_file_wins_and_sysctl_conf_is_procps_only() {
        let p = tree(
            &[
                ("/etc/sysctl.d/10-a.conf", "net.core.somaxconn = 1024\n"),
                ("/usr/lib/sysctl.d/20-b.conf", "net.core.somaxconn=2048\n"),
            ],
            Some("net.core.somaxconn = 4096\n"),
        );
        let r = resolve(&p, K);
        assert_eq!(
            won(r.procps),
            Some(("/etc/sysctl.conf".into(), 1, "4096".into()))
        );
        assert_eq!(
            won(r.systemd),
            Some(("/usr/lib/sysctl.d/20-b.conf".into(), 1, "2048".into()))
        );
        assert_eq!(r.all.len(), 3);
    }

    #[test]
    fn exact_beats_glob_wherever_it_is() {
        let p = tree(
            &[
                ("/etc/sysctl.d/10-a.conf", "net.core.somaxconn = 1024\n"),
                (
                    "/etc/sysctl.d/20-b.conf",
                    "net.core.* = 9\nnet.*.somaxconn = 8\n",
                ),
            ],
            None,
        );
        let r = resolve(&p, K);
        assert_eq!(
            won(r.procps.clone()),
            Some(("/etc/sysctl.d/10-a.conf".into(), 1, "1024".into()))
        );
        assert_eq!(r.procps, r.systemd);
        let p = tree(
            &[(
                "/etc/sysctl.d/20-b.conf",
                "net.core.* = 9\nnet.*.somaxconn = 8\n",
            )],
            None,
        );
        let r = resolve(&p, K);
        assert_eq!(
            won(r.procps.clone()),
            Some(("/etc/sysctl.d/20-b.conf".into(), 2, "8".into()))
        );
        assert_eq!(r.procps, r.systemd);
    }

    #[test]
    fn exclusion_after_assignment_differs_between_loaders() {
        let p = tree(
            &[(
                "/etc/sysctl.d/10-a.conf",
                "net.core.somaxconn = 1024\n-net.core.somaxconn\nnet.core.* = 7\n",
            )],
            None,
        );
        let r = resolve(&p, K);
        assert_eq!(
            won(r.procps),
            Some(("/etc/sysctl.d/10-a.conf".into(), 1, "1024".into()))
        );
        assert_eq!(r.systemd, None);
        assert_eq!(r.excluded.len(), 1);
    }

    #[test]
    fn systemd_stops_at_a_line_of_a_mebibyte() {
        let long = format!("# {}\n", "x".repeat(super::super::parse::SYSTEMD_LINE_MAX));
        let text = format!("net.core.somaxconn = 5\n{long}net.core.somaxconn = 6\n");
        let p = tree(&[("/etc/sysctl.d/10-a.conf", &text)], None);
        let r = resolve(&p, K);
        assert_eq!(won(r.procps).map(|w| w.1), Some(3));
        assert_eq!(won(r.systemd).map(|w| w.1), Some(1));
    }

    #[test]
    fn systemd_keeps_the_first_line_of_a_repeated_value() {
        let p = tree(
            &[(
                "/etc/sysctl.d/10-a.conf",
                "net.core.somaxconn = 5\nnet.core.somaxconn = 5\n",
            )],
            None,
        );
        let r = resolve(&p, K);
        assert_eq!(r.procps.unwrap().line, 2);
        assert_eq!(r.systemd.unwrap().line, 1);
    }
}
