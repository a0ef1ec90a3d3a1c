//! Which line wins for a key under each loader: the loaders' own rules, modelled line
//! for line on procps 4.0's write_setting_list() and systemd 252's apply_all(), and
//! checked against both in tests/persisted_oracle.rs.
//!
//! - An exact `key = value` always beats a glob, wherever the glob is. Among exact
//!   lines the last one applied wins; among globs, the last matching one.
//! - `-key` (exclusion) keeps globs off the key. In systemd it also replaces an earlier
//!   exact assignment of the key (its option table holds one entry per key), so the key
//!   is then not set at all; procps still writes the exact assignment.
//! - systemd skips a line that assigns a key the value it already has (keeping the
//!   entry's place in its order), and moves a re-assigned key with a new value to the end
//!   of its order (which decides between globs). Of equal repeats the *last* is named as
//!   the winner: editing an earlier one alone makes them differ, and the last one wins.
//! - systemd expands `{a,b}` in a glob key; procps takes the brace literally.
//!
//! What each loader *writes*, in order, is what decides the value after boot, since the
//! kernel may refuse a write (a quoted value, a number out of range) and then keeps the
//! value it had:
//! - procps writes every exact line for the key, in file order (or, when there is none
//!   and no exclusion, every matching glob line), each write on its own: the last one
//!   the kernel accepts stays;
//! - systemd-sysctl writes the one line its option table keeps for the key (or, when the
//!   key has no entry, each matching glob entry in table order): if the kernel refuses
//!   it, the value before it stays, at boot the kernel default.

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
    /// The last line procps writes for the key: the winner when the kernel accepts it.
    pub procps: Option<Assignment>,
    /// The last line systemd-sysctl writes for the key.
    pub systemd: Option<Assignment>,
    /// Every write procps makes to the key, in order (`procps` is the last).
    pub procps_writes: Vec<Assignment>,
    /// Every write systemd-sysctl makes to the key, in order (`systemd` is the last).
    pub systemd_writes: Vec<Assignment>,
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

    /// The loader's writes to the key, in order; which of them the kernel accepts is
    /// the catalog's answer (catalog::accept).
    pub fn writes(&self, loader: Loader) -> &[Assignment] {
        match loader {
            Loader::Procps => &self.procps_writes,
            Loader::Systemd => &self.systemd_writes,
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
    let procps_writes = procps(p, key);
    let systemd_writes = systemd(p, key);
    let mut r = Resolution {
        procps: procps_writes.last().cloned(),
        systemd: systemd_writes.last().cloned(),
        procps_writes,
        systemd_writes,
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

fn procps(p: &Persisted, key: &str) -> Vec<Assignment> {
    let mut exact = Vec::new();
    let mut glob = Vec::new();
    let mut excluded = false;
    for (file, line, kind) in lines_of(p, Loader::Procps) {
        match kind {
            LineKind::Assign { key: k, value, .. } if k == key => {
                exact.push(Assignment {
                    file: file.clone(),
                    line,
                    value: value.clone(),
                    glob: None,
                });
            }
            LineKind::Assign { key: k, value, .. } if is_glob(k) && glob_matches(k, key) => {
                glob.push(Assignment {
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
    if !exact.is_empty() {
        exact
    } else if excluded {
        Vec::new()
    } else {
        glob
    }
}

fn systemd(p: &Persisted, key: &str) -> Vec<Assignment> {
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
        let here = Assignment {
            file: file.clone(),
            line,
            value: value.cloned().unwrap_or_default(),
            glob: is_glob(k).then(|| k.clone()),
        };
        // A repeat of the same value: systemd skips it and keeps the first entry, with
        // its place in the order. But the later line is the one that decides: edit the
        // first alone and the two differ, so the later replaces it (proven with
        // sentinels against systemd-sysctl in tests/corpus_oracle.rs). It is named as
        // the line that wins.
        if let Some(t) = table.get_mut(k.as_str()).filter(|t| t.1 == value) {
            t.2 = here;
            continue;
        }
        table.insert(k, (order, value, here));
    }
    if let Some((_, value, at)) = table.get(key) {
        return value.map(|_| at.clone()).into_iter().collect();
    }
    let mut globs: Vec<(usize, Assignment)> = table
        .into_values()
        .filter(|(_, v, _)| v.is_some())
        .map(|(order, _, a)| (order, a))
        .collect();
    globs.sort_by_key(|(order, _)| *order);
    globs.into_iter().map(|(_, a)| a).collect()
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
    fn systemd_names_the_last_line_of_a_repeated_value() {
        let p = tree(
            &[(
                "/etc/sysctl.d/10-a.conf",
                "net.core.somaxconn = 5\nnet.core.somaxconn = 5\n",
            )],
            None,
        );
        let r = resolve(&p, K);
        assert_eq!(r.procps.unwrap().line, 2);
        assert_eq!(r.systemd.unwrap().line, 2);
    }

    #[test]
    fn procps_writes_every_line_and_systemd_only_its_last() {
        let p = tree(
            &[
                ("/etc/sysctl.d/10-a.conf", "net.core.somaxconn = 8192\n"),
                (
                    "/etc/sysctl.d/20-b.conf",
                    "net.core.somaxconn = \"16384\"\n",
                ),
            ],
            None,
        );
        let r = resolve(&p, K);
        let lines = |w: &[Assignment]| w.iter().map(|a| a.value.clone()).collect::<Vec<_>>();
        assert_eq!(lines(r.writes(Loader::Procps)), ["8192", "\"16384\""]);
        assert_eq!(lines(r.writes(Loader::Systemd)), ["\"16384\""]);
        // Globs only: systemd writes each matching glob in its table order.
        let p = tree(
            &[(
                "/etc/sysctl.d/20-b.conf",
                "net.core.* = 9\nnet.*.somaxconn = 8\n",
            )],
            None,
        );
        let r = resolve(&p, K);
        assert_eq!(lines(r.writes(Loader::Procps)), ["9", "8"]);
        assert_eq!(lines(r.writes(Loader::Systemd)), ["9", "8"]);
    }
}
