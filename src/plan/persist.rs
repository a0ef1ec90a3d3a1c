//! Persisted edits: the line that wins for a key is changed in place (only its value;
//! the key's spelling, spacing, comments, order, other keys and line endings stay byte
//! for byte), and a key no exact line sets gets a line in a drop-in whose name still
//! wins. Never the whole-file rewrite of ansible.posix.sysctl (FACTS.md §5).
//!
//! Every edit is checked before it is planned: the edited files are parsed again and
//! both loaders' winner is resolved; an edit that would not win is not planned, and
//! the plan says why.

use super::{FileChange, FileKind};
use crate::audit::after_boot;
use crate::catalog::{KeyInfo, Meaning};
use crate::host::sysctl_d::parse::parse;
use crate::host::sysctl_d::resolve::resolve;
use crate::host::sysctl_d::{ConfFile, Loader, Persisted, DIRS};
use crate::kversion::KernelVersion;
use crate::profile::{Constraint, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A key whose persisted value must become `value`.
pub struct Want<'a> {
    pub key: &'a str,
    pub value: Value,
    pub constraint: &'a Constraint,
    pub info: Option<&'static KeyInfo>,
    /// The live value changes too: a boot value we cannot know (a kernel default that
    /// depends on the machine) is then not trusted to be right.
    pub changed: bool,
}

/// Drop-in names tried in order: the first under which every key wins for both loaders.
const DROP_INS: [&str; 3] = [
    "90-tuneguard.conf",
    "99-tuneguard.conf",
    "zz-tuneguard.conf",
];

/// Whether the loader leaves the key satisfying the rule after boot. An unknown boot
/// value (no file sets the key and its default depends on the machine) holds unless the
/// plan changes the live value.
fn holds(p: &Persisted, w: &Want, loader: Loader, kernel: Option<KernelVersion>) -> bool {
    let r = resolve(p, w.key);
    let meaning = w.info.map_or(Meaning::Plain, |i| i.meaning);
    match after_boot(r.winner(loader), w.info, kernel).value {
        Some(v) => w.constraint.holds(&v, &|x| meaning.effective(x)),
        None => !w.changed,
    }
}

/// The keys whose persisted value does not satisfy the rule under some loader.
pub fn needs<'a>(
    p: &Persisted,
    wants: Vec<Want<'a>>,
    kernel: Option<KernelVersion>,
) -> Vec<Want<'a>> {
    wants
        .into_iter()
        .filter(|w| {
            [Loader::Procps, Loader::Systemd]
                .iter()
                .any(|l| !holds(p, w, *l, kernel))
        })
        .collect()
}

/// The file edits that make every wanted value win under both loaders, and notes for
/// the keys that cannot be made to win.
pub fn edits(
    p: &Persisted,
    wants: &[Want],
    kernel: Option<KernelVersion>,
) -> (Vec<FileChange>, Vec<String>) {
    // In-place edits: (index into p.files) → line → (key, value).
    let mut in_place: BTreeMap<PathBuf, BTreeMap<usize, String>> = BTreeMap::new();
    let mut why: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut dropin: Vec<&Want> = Vec::new();
    for w in wants {
        let r = resolve(p, w.key);
        let mut needs_dropin = false;
        for loader in [Loader::Procps, Loader::Systemd] {
            if holds(p, w, loader, kernel) {
                continue;
            }
            match r.winner(loader) {
                Some(a) if a.glob.is_none() => {
                    let real = real_of(p, &a.file);
                    in_place
                        .entry(real.clone())
                        .or_default()
                        .insert(a.line, w.value.to_sysctl_string());
                    let line = format!("{}: {} → {} (line {})", w.key, a.value, w.value, a.line);
                    let list = why.entry(real).or_default();
                    if !list.contains(&line) {
                        list.push(line);
                    }
                }
                // A glob or nothing sets it: an exact line beats every glob.
                _ => needs_dropin = true,
            }
        }
        if needs_dropin {
            dropin.push(w);
        }
    }
    let mut changes: Vec<FileChange> = Vec::new();
    for (real, lines) in &in_place {
        let f = file_by_real(p, real);
        changes.push(FileChange {
            kind: FileKind::Sysctl,
            path: f.path.clone(),
            real: real.clone(),
            before: Some(f.bytes.clone()),
            after: set_values(&f.bytes, lines),
            why: why.remove(real).unwrap_or_default(),
        });
    }
    let mut notes = Vec::new();
    if dropin.is_empty() {
        notes.extend(unverified(p, &changes, wants, kernel));
        return (changes, notes);
    }
    let mut last_failure = Vec::new();
    for name in DROP_INS {
        let host = Path::new(DIRS[0]).join(name);
        // A same-named file in a later directory would be masked by ours, and its keys
        // silently dropped.
        let masks = p
            .files
            .iter()
            .any(|f| f.path.file_name() == Some(name.as_ref()) && f.path != host);
        if masks {
            continue;
        }
        let existing = p.files.iter().find(|f| f.path == host);
        let mut bytes = existing.map_or_else(
            || {
                b"# Written by tuneguard apply: values its profiles want that no other file sets.\n"
                    .to_vec()
            },
            |f| f.bytes.clone(),
        );
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        let mut reasons = Vec::new();
        for w in &dropin {
            bytes.extend_from_slice(format!("{} = {}\n", w.key, w.value).as_bytes());
            reasons.push(format!("{} = {} (no exact line sets it)", w.key, w.value));
        }
        let real = existing.map_or_else(
            || p.root.join(host.strip_prefix("/").unwrap()),
            |f| f.real.clone(),
        );
        let mut all = changes.clone();
        all.push(FileChange {
            kind: FileKind::Sysctl,
            path: host.clone(),
            real,
            before: existing.map(|f| f.bytes.clone()),
            after: bytes,
            why: reasons,
        });
        let failures = unverified(p, &all, wants, kernel);
        if failures.is_empty() {
            return (all, notes);
        }
        last_failure = failures;
    }
    notes.extend(last_failure);
    (changes, notes)
}

/// What the loaders would do with the edited files: a note per key that still would not
/// get its value.
fn unverified(
    p: &Persisted,
    changes: &[FileChange],
    wants: &[Want],
    kernel: Option<KernelVersion>,
) -> Vec<String> {
    let edited = with_changes(p, changes);
    let mut out = Vec::new();
    for w in wants {
        for loader in [Loader::Procps, Loader::Systemd] {
            if !holds(&edited, w, loader, kernel) {
                out.push(format!(
                    "{}: no edit tuneguard can make wins for {} (an exclusion line `-{}` or a later file undoes it); not persisted",
                    w.key,
                    loader.name(),
                    w.key
                ));
            }
        }
    }
    out
}

/// `p` as the loaders would read it after the changes.
pub fn with_changes(p: &Persisted, changes: &[FileChange]) -> Persisted {
    let mut out = p.clone();
    for c in changes {
        let lines = parse(&String::from_utf8_lossy(&c.after));
        let mut found = false;
        for f in out.files.iter_mut().filter(|f| f.real == c.real) {
            f.lines = lines.clone();
            f.bytes = c.after.clone();
            found = true;
        }
        if !found {
            out.files.push(ConfFile {
                path: c.path.clone(),
                target: None,
                lines,
                real: c.real.clone(),
                bytes: c.after.clone(),
            });
            let i = out.files.len() - 1;
            let name = c.path.file_name().map(|n| n.as_encoded_bytes().to_vec());
            for order in [&mut out.procps, &mut out.systemd] {
                // Among the sysctl.d files by name; /etc/sysctl.conf stays last.
                let at = order
                    .iter()
                    .position(|&j| {
                        let f = &p.files[j];
                        f.path == Path::new(crate::host::sysctl_d::SYSCTL_CONF)
                            || f.path.file_name().map(|n| n.as_encoded_bytes().to_vec()) > name
                    })
                    .unwrap_or(order.len());
                order.insert(at, i);
            }
        }
    }
    out
}

fn real_of(p: &Persisted, host: &Path) -> PathBuf {
    p.files
        .iter()
        .find(|f| f.path == host)
        .map_or_else(|| host.to_path_buf(), |f| f.real.clone())
}

fn file_by_real<'a>(p: &'a Persisted, real: &Path) -> &'a ConfFile {
    p.files
        .iter()
        .find(|f| f.real == real)
        .expect("planned from a read file")
}

/// Replaces the value of the given lines (1-based) and nothing else: the bytes before the
/// value (key, `-`, spacing, `=`) and after it (trailing spaces, CR) are kept.
pub fn set_values(bytes: &[u8], lines: &BTreeMap<usize, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        match lines.get(&(i + 1)) {
            Some(v) => out.extend_from_slice(&replace_value(line, v)),
            None => out.extend_from_slice(line),
        }
    }
    out
}

fn replace_value(line: &[u8], value: &str) -> Vec<u8> {
    let Some(eq) = line.iter().position(|&b| b == b'=') else {
        return line.to_vec();
    };
    let rest = &line[eq + 1..];
    let start = eq
        + 1
        + rest
            .iter()
            .take_while(|b| b.is_ascii_whitespace() && **b != b'\n')
            .count();
    let end = line.len()
        - line
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    let end = end.max(start);
    let mut out = line[..start].to_vec();
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&line[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(usize, &str)]) -> BTreeMap<usize, String> {
        pairs.iter().map(|(l, v)| (*l, v.to_string())).collect()
    }

    fn tree(files: &[(&str, &str)]) -> Persisted {
        let mut p = Persisted::empty(Path::new("/r"));
        for (path, text) in files {
            p.files.push(ConfFile {
                path: path.into(),
                target: None,
                lines: parse(text),
                real: Path::new("/r").join(path.trim_start_matches('/')),
                bytes: text.as_bytes().to_vec(),
            });
            p.procps.push(p.files.len() - 1);
            p.systemd.push(p.files.len() - 1);
        }
        p
    }

    #[test]
    fn the_drop_in_is_named_to_win_after_an_exclusion() {
        // A glob sets the key (a drop-in's exact line beats it), and systemd's `-key` in
        // 95-ex.conf would cancel an exact line read before it: 90- loses, 99- wins.
        let p = tree(&[
            ("/etc/sysctl.d/10-glob.conf", "net.core.* = 100\n"),
            ("/etc/sysctl.d/95-ex.conf", "-net.core.somaxconn\n"),
        ]);
        let c = Constraint::Range {
            min: Some(Value::Int(8192)),
            max: None,
        };
        let want = Want {
            key: "net.core.somaxconn",
            value: Value::Int(8192),
            constraint: &c,
            info: crate::catalog::lookup("net.core.somaxconn"),
            changed: true,
        };
        let (changes, notes) = edits(&p, &[want], None);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].path,
            Path::new("/etc/sysctl.d/99-tuneguard.conf")
        );
        assert_eq!(
            changes[0].real,
            Path::new("/r/etc/sysctl.d/99-tuneguard.conf")
        );
        assert!(changes[0].before.is_none());
        assert!(String::from_utf8_lossy(&changes[0].after).ends_with("net.core.somaxconn = 8192\n"));
    }

    #[test]
    fn the_winning_line_is_edited_once_for_both_loaders() {
        // /etc/sysctl.conf wins for procps, 60-site for systemd: both lines change.
        let mut p = tree(&[("/etc/sysctl.d/60-site.conf", "net.core.somaxconn=128\n")]);
        p.files.push(ConfFile {
            path: "/etc/sysctl.conf".into(),
            target: None,
            lines: parse("net.core.somaxconn = 256\n"),
            real: "/r/etc/sysctl.conf".into(),
            bytes: b"net.core.somaxconn = 256\n".to_vec(),
        });
        p.procps.push(1);
        let c = Constraint::Range {
            min: Some(Value::Int(4096)),
            max: None,
        };
        let want = Want {
            key: "net.core.somaxconn",
            value: Value::Int(4096),
            constraint: &c,
            info: crate::catalog::lookup("net.core.somaxconn"),
            changed: true,
        };
        let (changes, notes) = edits(&p, &[want], None);
        assert!(notes.is_empty(), "{notes:?}");
        let after: Vec<(String, String)> = changes
            .iter()
            .map(|c| {
                (
                    c.path.display().to_string(),
                    String::from_utf8_lossy(&c.after).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            after,
            [
                (
                    "/etc/sysctl.conf".to_string(),
                    "net.core.somaxconn = 4096\n".to_string()
                ),
                (
                    "/etc/sysctl.d/60-site.conf".to_string(),
                    "net.core.somaxconn=4096\n".to_string()
                )
            ]
        );
    }

    #[test]
    fn only_the_value_changes() {
        let text = b"# keep\r\nnet.core.somaxconn\t=  128  \r\n-net.ipv4.tcp_syncookies=0\nx = 1";
        let out = set_values(text, &map(&[(2, "4096"), (3, "1"), (4, "2")]));
        assert_eq!(
            out,
            b"# keep\r\nnet.core.somaxconn\t=  4096  \r\n-net.ipv4.tcp_syncookies=1\nx = 2"
                .to_vec()
        );
        assert_eq!(set_values(text, &BTreeMap::new()), text.to_vec());
    }
}
