//! Persisted edits: the line under /etc that wins for a key is changed in place (only
//! its value; the key's spelling, spacing, notes after the value, comments, order, other
//! keys and line endings stay byte for byte), and a key no line under /etc can be made
//! to win for gets a line in tuneguard's drop-in in /etc/sysctl.d, named to sort after
//! every file that sets it. Files outside /etc are never edited ([`editable`]). Never
//! the whole-file rewrite of ansible.posix.sysctl (docs/kernel.md §8).
//!
//! Every plan is checked before it is returned: the planned tree (edited files parsed
//! again, the drop-in added) is resolved with both loaders' models, and every key must
//! come out at the profile's value under both; otherwise the plan is refused. docs/apply.md
//! says where apply writes and why.

mod mask;
mod values;

pub use values::set_values;

use super::{FileChange, FileKind};
use crate::audit::after_loader;
use crate::catalog::{KeyInfo, Meaning};
use crate::host::sysctl_d::parse::parse;
use crate::host::sysctl_d::resolve::{resolve, Assignment};
use crate::host::sysctl_d::{ConfFile, Loader, Persisted, DIRS, SYSCTL_CONF};
use crate::kversion::KernelVersion;
use crate::profile::{Constraint, Value};
use mask::Mask;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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
/// After them, a name computed to sort after every file that sets or excludes a key the
/// drop-in carries ([`candidates`]).
const DROP_INS: [&str; 3] = [
    "90-tuneguard.conf",
    "99-tuneguard.conf",
    "zz-tuneguard.conf",
];

/// The longest file name Linux allows (NAME_MAX).
const NAME_MAX: usize = 255;

/// Whether the loader leaves the key satisfying the rule after boot. An unknown boot
/// value (no file sets the key and its default depends on the machine) holds unless the
/// plan changes the live value.
fn holds(p: &Persisted, w: &Want, loader: Loader, kernel: Option<KernelVersion>) -> bool {
    let r = resolve(p, w.key);
    let meaning = w.info.map_or(Meaning::Plain, |i| i.meaning);
    match after_loader(&r, loader, w.info, kernel).value {
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

/// Whether apply may edit a file in place: only what administrators own, under /etc
/// (/etc/sysctl.d/*.conf and /etc/sysctl.conf, and a link only when it leads to /etc
/// too). Files in /usr/lib, /lib and /usr/local/lib belong to packages (the next
/// upgrade replaces them) and /run is a tmpfs (gone at reboot): both loaders document
/// overriding them from /etc, so a key set there gets a line in tuneguard's drop-in.
pub fn editable(f: &ConfFile) -> bool {
    let in_etc = f.path == Path::new(SYSCTL_CONF) || f.path.parent() == Some(Path::new(DIRS[0]));
    in_etc
        && f.target
            .as_deref()
            .is_none_or(|t| t != Path::new("/dev/null") && t.starts_with("/etc"))
}

/// What persisting the wanted values takes.
#[derive(Default)]
pub struct Edits {
    pub changes: Vec<FileChange>,
    pub notes: Vec<String>,
    /// Keys no edit tuneguard may make gets to the value under both loaders: apply
    /// refuses (exit 2) rather than write files that a reboot would not honour.
    pub refusals: Vec<String>,
}

/// Value edits of existing files, by the file's on-disk path.
#[derive(Clone, Default)]
struct InPlace {
    files: BTreeMap<PathBuf, FileEdit>,
}

#[derive(Clone)]
struct FileEdit {
    path: PathBuf,
    before: Vec<u8>,
    lines: BTreeMap<usize, String>,
    why: Vec<String>,
}

impl InPlace {
    /// Plans line `a.line` of `f` to say `w.value`; false when it already does.
    fn add(&mut self, f: &ConfFile, a: &Assignment, w: &Want) -> bool {
        let value = w.value.to_sysctl_string();
        let e = self
            .files
            .entry(f.real.clone())
            .or_insert_with(|| FileEdit {
                path: f.path.clone(),
                before: f.bytes.clone(),
                lines: BTreeMap::new(),
                why: Vec::new(),
            });
        if e.lines.get(&a.line) == Some(&value) {
            return false;
        }
        e.lines.insert(a.line, value);
        e.why.push(format!(
            "{}: {} → {} (line {})",
            w.key, a.value, w.value, a.line
        ));
        true
    }

    fn changes(&self) -> Vec<FileChange> {
        self.files
            .iter()
            .map(|(real, e)| FileChange {
                kind: FileKind::Sysctl,
                path: e.path.clone(),
                real: real.clone(),
                before: Some(e.before.clone()),
                after: set_values(&e.before, &e.lines),
                removed: false,
                why: e.why.clone(),
            })
            .collect()
    }
}

/// Edits the winning line for each loader until `w` holds under both on the planned
/// tree (`base` plus `planned`): editing one line can hand the win to another (of two
/// lines with equal values, editing one makes the other decide). False
/// when a winner is a glob, outside /etc, in `frozen`, or nothing sets the key.
fn edit_winners(
    p: &Persisted,
    base: &[FileChange],
    planned: &mut InPlace,
    w: &Want,
    frozen: Option<&Path>,
    kernel: Option<KernelVersion>,
) -> bool {
    // Each round plans at least one new line; a key is set on finitely many.
    loop {
        let mut all = planned.changes();
        all.extend_from_slice(base);
        let tree = with_changes(p, &all);
        let r = resolve(&tree, w.key);
        let mut ok = true;
        let mut progress = false;
        for loader in [Loader::Procps, Loader::Systemd] {
            if holds(&tree, w, loader, kernel) {
                continue;
            }
            ok = false;
            let Some(a) = r.winner(loader).filter(|a| a.glob.is_none()) else {
                continue;
            };
            let Some(f) = tree.files.iter().find(|f| f.path == a.file) else {
                continue;
            };
            if editable(f) && Some(f.real.as_path()) != frozen {
                // Planned against the file as read: set_values keeps its other bytes.
                let read = p.files.iter().find(|g| g.real == f.real).unwrap_or(f);
                progress |= planned.add(read, a, w);
            }
        }
        if ok || !progress {
            return ok;
        }
    }
}

/// The file edits that make every wanted value win under both loaders at boot: the
/// winning lines under /etc edited in place (value bytes only), else a line in
/// tuneguard's drop-in named to sort after every file that sets the key, else (no name
/// can: a vendor file's name is too long to sort after) a same-named copy in
/// /etc/sysctl.d that masks the file beating the drop-in, said in the plan. The planned
/// tree is checked with both loaders' models before anything is returned; a key that
/// still would not hold is a refusal.
pub fn edits(p: &Persisted, wants: &[Want], kernel: Option<KernelVersion>) -> Edits {
    let mut planned = InPlace::default();
    let mut dropin: Vec<&Want> = Vec::new();
    for w in wants {
        let before = planned.clone();
        if !edit_winners(p, &[], &mut planned, w, None, kernel) {
            planned = before;
            dropin.push(w);
        }
    }
    let mut out = Edits::default();
    if dropin.is_empty() {
        out.changes = planned.changes();
        out.refusals = unverified(p, &out.changes, wants, kernel);
        return out;
    }
    let mut last = None;
    for name in candidates(p, &dropin) {
        let host = Path::new(DIRS[0]).join(&name);
        // A same-named file in a later directory would be masked by ours, and its keys
        // silently dropped.
        let masks = p
            .files
            .iter()
            .any(|f| f.path.file_name() == Some(name.as_os_str()) && f.path != host);
        if masks || p.files.iter().any(|f| f.path == host && !editable(f)) {
            continue;
        }
        match with_dropin(p, &planned, &dropin, &host, &[], wants, kernel) {
            Ok(all) => {
                out.changes = all;
                return out;
            }
            Err(failures) => last = Some((host, failures)),
        }
    }
    let Some((host, mut failures)) = last else {
        out.changes = planned.changes();
        out.refusals.push(format!(
            "no drop-in name under {} is free for {}",
            DIRS[0],
            dropin.iter().map(|w| w.key).collect::<Vec<_>>().join(", ")
        ));
        return out;
    };
    // No name sorts after a file that beats the drop-in: mask that file instead.
    let mut masks: BTreeMap<PathBuf, Mask> = BTreeMap::new();
    loop {
        let mut all: Vec<FileChange> = masks.values().map(Mask::change).collect();
        let tree = with_changes(p, &all);
        let mut grew = false;
        for w in &dropin {
            let r = resolve(&tree, w.key);
            let beaters = [Loader::Procps, Loader::Systemd]
                .into_iter()
                .filter_map(|l| r.winner(l).map(|a| a.file.clone()))
                .chain(r.excluded.iter().map(|(f, _)| f.clone()));
            for file in beaters {
                let Some(f) = tree.files.iter().find(|f| f.path == file) else {
                    continue;
                };
                // A file in /etc/sysctl.d that is not ours to edit (a link out of /etc)
                // cannot be masked either: its copy would take its own name.
                let in_etc = f.path.parent() == Some(Path::new(DIRS[0]));
                if editable(f) || in_etc || f.path.file_name() <= host.file_name() {
                    continue;
                }
                grew |= masks
                    .entry(f.path.clone())
                    .or_insert_with(|| Mask::of(p, f))
                    .set(f, w);
            }
        }
        if !grew {
            break;
        }
        all = masks.values().map(Mask::change).collect();
        match with_dropin(p, &planned, &dropin, &host, &all, wants, kernel) {
            Ok(all) => {
                out.notes.extend(masks.values().map(|m| {
                    format!(
                        "{} is masked by a copy in {} (no drop-in name sorts after it): later package updates of it take effect only once that copy is removed",
                        m.of.display(),
                        DIRS[0]
                    )
                }));
                out.changes = all;
                return out;
            }
            Err(f) => failures = f,
        }
    }
    out.changes = planned.changes();
    out.refusals = failures;
    out
}

/// The plan with `dropin`'s keys in the drop-in at `host` (plus `extra` files, masks),
/// the winning lines under /etc that still beat it edited (/etc/sysctl.conf comes after
/// every drop-in for procps); or the refusals when some key still would not hold.
fn with_dropin(
    p: &Persisted,
    planned: &InPlace,
    dropin: &[&Want],
    host: &Path,
    extra: &[FileChange],
    wants: &[Want],
    kernel: Option<KernelVersion>,
) -> Result<Vec<FileChange>, Vec<String>> {
    let existing = p.files.iter().find(|f| f.path == host);
    let mut pb = planned.clone();
    let real = existing.map_or_else(
        || p.root.join(host.strip_prefix("/").unwrap()),
        |f| f.real.clone(),
    );
    // The drop-in's own value edits, if any, go into its one change.
    let own = pb.files.remove(&real);
    let mut bytes = match (existing, &own) {
        (_, Some(e)) => set_values(&e.before, &e.lines),
        (Some(f), None) => f.bytes.clone(),
        (None, None) => b"# Written by tuneguard apply: values its profiles want where no line under /etc could be edited to win.\n".to_vec(),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let mut why = own.map(|e| e.why).unwrap_or_default();
    for w in dropin {
        bytes.extend_from_slice(format!("{} = {}\n", w.key, w.value).as_bytes());
        why.push(format!("{} = {} ({})", w.key, w.value, dropin_reason(p, w)));
    }
    let mut base = extra.to_vec();
    base.push(FileChange {
        kind: FileKind::Sysctl,
        path: host.to_path_buf(),
        real: real.clone(),
        before: existing.map(|f| f.bytes.clone()),
        after: bytes,
        removed: false,
        why,
    });
    for w in dropin {
        edit_winners(p, &base, &mut pb, w, Some(&real), kernel);
    }
    let mut all = pb.changes();
    all.extend(base);
    let failures = unverified(p, &all, wants, kernel);
    if failures.is_empty() {
        Ok(all)
    } else {
        Err(failures)
    }
}

/// Why a key goes to the drop-in rather than into the line that sets it now.
fn dropin_reason(p: &Persisted, w: &Want) -> String {
    let r = resolve(p, w.key);
    let outside = [Loader::Procps, Loader::Systemd]
        .into_iter()
        .filter_map(|l| r.winner(l))
        .find(|a| {
            p.files
                .iter()
                .find(|f| f.path == a.file)
                .is_some_and(|f| !editable(f))
        });
    match (outside, r.winner(Loader::Systemd)) {
        (Some(a), _) => format!(
            "{}:{} sets it, outside /etc: overridden from /etc, not edited",
            a.file.display(),
            a.line
        ),
        (None, Some(a)) if a.glob.is_some() => {
            "only a glob sets it: an exact line beats every glob".into()
        }
        (None, None) if r.all.is_empty() => "no file sets it".into(),
        (None, _) => "no line under /etc can be edited to win for both loaders".into(),
    }
}

/// The drop-in names to try: the fixed ones, then `<last>_tuneguard.conf` where `<last>`
/// is the greatest name (by bytes, as both loaders sort) of a file that sets or excludes
/// one of the keys: `_` sorts after the `.` of `.conf`, so the name comes after it.
fn candidates(p: &Persisted, keys: &[&Want]) -> Vec<OsString> {
    let mut out: Vec<OsString> = DROP_INS.iter().map(OsString::from).collect();
    let last = keys
        .iter()
        .flat_map(|w| {
            let r = resolve(p, w.key);
            let files: Vec<PathBuf> = r
                .all
                .into_iter()
                .map(|a| a.file)
                .chain(r.excluded.into_iter().map(|(f, _)| f))
                .collect();
            files
        })
        .filter(|f| f != Path::new(SYSCTL_CONF))
        .filter_map(|f| f.file_name().map(|n| n.as_bytes().to_vec()))
        .max();
    if let Some(last) = last {
        let stem = last.strip_suffix(b".conf").unwrap_or(&last);
        let mut name = stem.to_vec();
        name.extend_from_slice(b"_tuneguard.conf");
        let name = OsString::from_vec(name);
        if name.len() <= NAME_MAX && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// What the loaders would do with the edited files: a refusal per key and loader that
/// still would not get its value.
fn unverified(
    p: &Persisted,
    changes: &[FileChange],
    wants: &[Want],
    kernel: Option<KernelVersion>,
) -> Vec<String> {
    let edited = with_changes(p, changes);
    let mut out = Vec::new();
    for w in wants {
        let r = resolve(&edited, w.key);
        for loader in [Loader::Procps, Loader::Systemd] {
            if !holds(&edited, w, loader, kernel) {
                let at = match r.winner(loader) {
                    Some(a) => format!(
                        "{}:{} would still set {} at boot",
                        a.file.display(),
                        a.line,
                        a.value
                    ),
                    None => format!("an exclusion line `-{}` leaves it unset", w.key),
                };
                out.push(format!(
                    "{}: no edit under /etc makes {} set {} ({at})",
                    w.key,
                    loader.name(),
                    w.value
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
            let name = c.path.file_name().map(|n| n.as_bytes().to_vec());
            let name_of = |f: &ConfFile| f.path.file_name().map(|n| n.as_bytes().to_vec());
            // A same-named file in a later directory is masked: ours takes its place.
            let same = out.procps.iter().chain(&out.systemd).copied().find(|&j| {
                out.files[j].path != Path::new(SYSCTL_CONF) && name_of(&out.files[j]) == name
            });
            if let Some(j) = same {
                for order in [&mut out.procps, &mut out.systemd] {
                    for k in order.iter_mut().filter(|k| **k == j) {
                        *k = i;
                    }
                }
                out.masked.push((j, c.path.clone()));
                continue;
            }
            for order in [&mut out.procps, &mut out.systemd] {
                // Among the sysctl.d files by name; /etc/sysctl.conf stays last.
                let at = order
                    .iter()
                    .position(|&j| {
                        let f = &out.files[j];
                        f.path == Path::new(SYSCTL_CONF) || name_of(f) > name
                    })
                    .unwrap_or(order.len());
                order.insert(at, i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let Edits {
            changes, refusals, ..
        } = edits(&p, &[want], None);
        assert!(refusals.is_empty(), "{refusals:?}");
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
        let Edits {
            changes, refusals, ..
        } = edits(&p, &[want], None);
        assert!(refusals.is_empty(), "{refusals:?}");
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

    fn keepalive(max: i64) -> (Constraint, i64) {
        (
            Constraint::Range {
                min: None,
                max: Some(Value::Int(max)),
            },
            max,
        )
    }

    fn want<'a>(key: &'a str, c: &'a Constraint, v: i64) -> Want<'a> {
        Want {
            key,
            value: Value::Int(v),
            constraint: c,
            info: crate::catalog::lookup(key),
            changed: true,
        }
    }

    fn paths(changes: &[FileChange]) -> Vec<String> {
        changes
            .iter()
            .map(|c| c.path.display().to_string())
            .collect()
    }

    /// Issue 14's tree: two lines repeat a value; whichever is edited alone, the other
    /// decides unless the plan checks the planned tree again.
    #[test]
    fn every_line_that_would_win_is_edited_before_the_plan_is_returned() {
        const K: &str = "net.ipv4.tcp_keepalive_time";
        let mut p = tree(&[
            (
                "/etc/sysctl.d/60-a.conf",
                "net.ipv4.tcp_keepalive_time = 300\n",
            ),
            (
                "/etc/sysctl.d/70-b.conf",
                "net.ipv4.tcp_keepalive_time = 300\n",
            ),
        ]);
        p.files.push(ConfFile {
            path: "/etc/sysctl.conf".into(),
            target: None,
            lines: parse("net.ipv4.tcp_keepalive_time = 600\n"),
            real: "/r/etc/sysctl.conf".into(),
            bytes: b"net.ipv4.tcp_keepalive_time = 600\n".to_vec(),
        });
        p.procps.push(2);
        let (c, v) = keepalive(240);
        let e = edits(&p, &[want(K, &c, v)], None);
        assert!(e.refusals.is_empty(), "{:?}", e.refusals);
        let planned = with_changes(&p, &e.changes);
        let r = resolve(&planned, K);
        for l in [Loader::Procps, Loader::Systemd] {
            assert_eq!(r.winner(l).unwrap().value, "240", "{}", l.name());
        }
        assert!(needs(&planned, vec![want(K, &c, v)], None).is_empty());
    }

    #[test]
    fn a_key_set_outside_etc_goes_to_the_drop_in_named_after_every_file_setting_it() {
        const K: &str = "net.ipv4.tcp_keepalive_time";
        let p = tree(&[
            (
                "/usr/lib/sysctl.d/50-vendor.conf",
                "net.ipv4.tcp_keepalive_time = 300\n",
            ),
            (
                "/run/sysctl.d/zzzz.conf",
                "net.ipv4.tcp_keepalive_time = 900\n",
            ),
        ]);
        let (c, v) = keepalive(240);
        let e = edits(&p, &[want(K, &c, v)], None);
        assert!(e.refusals.is_empty(), "{:?}", e.refusals);
        assert_eq!(paths(&e.changes), ["/etc/sysctl.d/zzzz_tuneguard.conf"]);
        let planned = with_changes(&p, &e.changes);
        assert!(needs(&planned, vec![want(K, &c, v)], None).is_empty());
    }

    #[test]
    fn an_etc_file_that_links_outside_etc_is_not_edited() {
        let mut p = tree(&[("/etc/sysctl.d/50-x.conf", "net.core.somaxconn = 128\n")]);
        p.files[0].target = Some("/usr/lib/sysctl.d/50-x.conf".into());
        assert!(!editable(&p.files[0]));
        let c = Constraint::Range {
            min: Some(Value::Int(4096)),
            max: None,
        };
        let e = edits(&p, &[want("net.core.somaxconn", &c, 4096)], None);
        assert_eq!(paths(&e.changes), ["/etc/sysctl.d/90-tuneguard.conf"]);
    }

    #[test]
    fn a_file_no_name_sorts_after_is_masked_by_a_copy_in_etc() {
        const K: &str = "net.ipv4.tcp_keepalive_time";
        let long = format!("/usr/lib/sysctl.d/{}.conf", "z".repeat(250));
        let text = "# vendor\nnet.core.somaxconn = 4096\nnet.ipv4.tcp_keepalive_time = 900 # v\n";
        let p = tree(&[(long.as_str(), text)]);
        let (c, v) = keepalive(240);
        let e = edits(&p, &[want(K, &c, v)], None);
        assert!(e.refusals.is_empty(), "{:?}", e.refusals);
        let copy = format!("/etc/sysctl.d/{}.conf", "z".repeat(250));
        let mask = e
            .changes
            .iter()
            .find(|c| c.path == Path::new(&copy))
            .unwrap();
        assert!(mask.before.is_none());
        assert_eq!(
            String::from_utf8_lossy(&mask.after),
            text.replace("900", "240")
        );
        assert!(
            e.notes.iter().any(|n| n.contains("is masked by a copy")),
            "{:?}",
            e.notes
        );
        let planned = with_changes(&p, &e.changes);
        assert!(needs(&planned, vec![want(K, &c, v)], None).is_empty());
        assert!(resolve(&planned, "net.core.somaxconn")
            .systemd
            .is_some_and(|a| a.value == "4096"));
    }

    /// Random trees across the five directories and /etc/sysctl.conf, read from disk:
    /// a plan either is refused or, written and read back, gives the value under both
    /// models, and a second plan on that tree changes nothing.
    #[test]
    fn on_random_trees_a_written_plan_wins_and_a_second_plans_nothing() {
        const K: &str = "net.ipv4.tcp_keepalive_time";
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let dirs = [
            "etc/sysctl.d",
            "run/sysctl.d",
            "usr/local/lib/sysctl.d",
            "usr/lib/sysctl.d",
            "lib/sysctl.d",
        ];
        let names = [
            "10-a.conf",
            "60-a.conf",
            "70-b.conf",
            "90-tuneguard.conf",
            "99-z.conf",
            "zzzz.conf",
        ];
        let lines = [
            "net.ipv4.tcp_keepalive_time = 300\n",
            "net.ipv4.tcp_keepalive_time = 600 #note\n",
            "net.ipv4.tcp_keepalive_time = 240\n",
            "net.ipv4.tcp_keepalive_time = lots\r\n",
            "-net.ipv4.tcp_keepalive_time = 100\n",
            "net.ipv4.tcp_keepalive_* = 900\n",
            "-net.ipv4.tcp_keepalive_time\n",
            "net.core.somaxconn = 4096\n",
        ];
        let (c, v) = keepalive(240);
        let (mut refused, mut planned) = (0, 0);
        for _ in 0..400 {
            let d = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(d.path().join("etc/sysctl.d")).unwrap();
            for _ in 0..1 + next(5) {
                let path = d.path().join(dirs[next(5)]).join(names[next(6)]);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let text: String = (0..1 + next(3)).map(|_| lines[next(8)]).collect();
                std::fs::write(path, text).unwrap();
            }
            if next(2) == 0 {
                std::fs::write(d.path().join("etc/sysctl.conf"), lines[next(8)]).unwrap();
            }
            let p = crate::host::sysctl_d::read(d.path());
            let wanted = needs(&p, vec![want(K, &c, v)], None);
            let e = edits(&p, &wanted, None);
            if !e.refusals.is_empty() {
                refused += 1;
                continue;
            }
            planned += usize::from(!e.changes.is_empty());
            for ch in &e.changes {
                assert!(
                    ch.real.starts_with(d.path().join("etc")),
                    "{}",
                    ch.real.display()
                );
                std::fs::write(&ch.real, &ch.after).unwrap();
            }
            let again = crate::host::sysctl_d::read(d.path());
            assert!(
                needs(&again, vec![want(K, &c, v)], None).is_empty(),
                "{:?}",
                e.changes
                    .iter()
                    .map(|c| String::from_utf8_lossy(&c.after))
                    .collect::<Vec<_>>()
            );
        }
        assert!(planned > 200, "{planned} plans, {refused} refused");
    }
}
