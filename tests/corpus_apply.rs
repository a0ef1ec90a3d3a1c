//! The apply round trip on every layout of tests/common/corpus.rs, for each built-in
//! profile: apply in a namespace the layout's boot loader booted from a copy of the tree
//! (temp --root, temp --state-dir); a whole-tree diff shows only the value bytes of edited
//! lines under /etc (or a new file in /etc/sysctl.d); both real loaders (tests/common/
//! oracle.rs) then leave every profile key passing the profile; a second apply changes
//! nothing; `rollback --last` restores every byte, mode, link and live value. Every
//! disagreement is printed; the test asserts there are none.

mod common;
use common::corpus::*;
use common::oracle::{self, fresh_values, Loader};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Everything under a root as apply may change it: each path's bytes and mode, link
/// target, or directory mode.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File(Vec<u8>, u32),
    Link(PathBuf),
    Dir(u32),
}

fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mode = m.permissions().mode() & 0o7777;
            let entry = if m.file_type().is_symlink() {
                Entry::Link(std::fs::read_link(&p).unwrap())
            } else if m.is_dir() {
                todo.push(p.clone());
                Entry::Dir(mode)
            } else {
                Entry::File(std::fs::read(&p).unwrap(), mode)
            };
            out.insert(rel, entry);
        }
    }
    out
}

/// What differs between two snapshots other than the value bytes of edited lines in
/// files under etc/, or a new file in etc/sysctl.d (tuneguard's drop-in).
fn edits_beyond_values(
    before: &BTreeMap<String, Entry>,
    after: &BTreeMap<String, Entry>,
) -> Vec<String> {
    let mut out = Vec::new();
    let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for p in paths {
        match (before.get(p), after.get(p)) {
            (None, Some(Entry::File(..))) if p.starts_with("etc/sysctl.d/") => {}
            (None, Some(Entry::Dir(_))) if p == "etc/sysctl.d" => {}
            (None, Some(e)) => out.push(format!("created /{p} ({})", kind(e))),
            (Some(_), None) => out.push(format!("removed /{p}")),
            (None, None) => {}
            (Some(a), Some(b)) if a == b => {}
            (Some(Entry::File(a, ma)), Some(Entry::File(b, mb))) => {
                if ma != mb {
                    out.push(format!("/{p}: mode {ma:o} became {mb:o}"));
                }
                if a != b && !p.starts_with("etc/") {
                    out.push(format!("/{p}: edited outside /etc"));
                }
                let la: Vec<&[u8]> = a.split(|&c| c == b'\n').collect();
                let lb: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
                if la.len() != lb.len() {
                    out.push(format!("/{p}: {} lines became {}", la.len(), lb.len()));
                    continue;
                }
                for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
                    if x == y {
                        continue;
                    }
                    let pre = x.iter().zip(y.iter()).take_while(|(c, d)| c == d).count();
                    let suf = x
                        .iter()
                        .rev()
                        .zip(y.iter().rev())
                        .take_while(|(c, d)| c == d)
                        .count()
                        .min(x.len() - pre)
                        .min(y.len() - pre);
                    let ok = oracle::value_span(x).is_some_and(|(s, e)| {
                        // The changed bytes lie inside the old value, and the new bytes are a
                        // plain value (no line break, no note).
                        pre >= s
                            && x.len() - suf <= e
                            && !y[pre..y.len() - suf]
                                .iter()
                                .any(|c| matches!(c, b'\r' | b'#'))
                    }) || (pre == x.len() - suf && x[..pre].contains(&b'='));
                    if !ok {
                        out.push(format!(
                            "/{p}:{}: more than the value changed: {:?} became {:?}",
                            i + 1,
                            String::from_utf8_lossy(x),
                            String::from_utf8_lossy(y)
                        ));
                    }
                }
            }
            (Some(a), Some(b)) => out.push(format!("/{p}: {} became {}", kind(a), kind(b))),
        }
    }
    out
}

fn kind(e: &Entry) -> String {
    match e {
        Entry::File(_, m) => format!("file {m:o}"),
        Entry::Link(t) => format!("link to {}", t.display()),
        Entry::Dir(m) => format!("directory {m:o}"),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// The apply round trip on one layout, for each built-in profile: apply in a namespace the
/// boot loader booted from the tree (temp --root copy, temp --state-dir); only value bytes
/// change; both loaders then give the profile's values; a second apply changes nothing;
/// `rollback --last` restores every byte, mode, link and live value.
fn check_apply(layout: &Layout) -> Vec<String> {
    let mut bad = Vec::new();
    for profile in PROFILES {
        let mut say = |msg: String| bad.push(format!("{} apply {profile}: {msg}", layout.name));
        let rules = rules(profile);
        let keys: Vec<&str> = rules
            .keys()
            .map(String::as_str)
            .filter(|k| fresh_values().contains_key(*k))
            .collect();
        let built = layout.build();
        let dirs = Dirs::new();
        let root = dirs.root.path();
        std::fs::remove_dir(root).unwrap();
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(built.path())
            .arg(root)
            .status()
            .unwrap();
        assert!(st.success());
        let ns = Netns::new();
        oracle::boot(root, layout.boot, &ns.name, &keys);
        let live = |ns: &Netns| -> BTreeMap<String, String> {
            keys.iter().map(|k| (k.to_string(), ns.get(k))).collect()
        };
        let (s0, l0) = (snapshot(root), live(&ns));
        let args = ["--profile", profile, "--yes", "--format", "json"];
        let r = common::apply::apply_in(&ns, &dirs, &args);
        if r.code != 0 {
            say(format!("apply exits {}: {}", r.code, first_line(&r.stderr)));
            continue;
        }
        let (s1, l1) = (snapshot(root), live(&ns));
        for e in edits_beyond_values(&s0, &s1) {
            say(e);
        }
        for l in Loader::BOTH {
            let got = oracle::load(root, l, &keys);
            for k in &keys {
                if !passes(&rules[*k], &got[*k]) && !inert(k, &got) {
                    say(format!(
                        "after apply, {l:?} sets {k} = {}, which fails the profile",
                        got[*k]
                    ));
                }
            }
        }
        let r2 = common::apply::apply_in(&ns, &dirs, &args);
        let (s2, l2) = (snapshot(root), live(&ns));
        if r2.code != 0 {
            say(format!(
                "a second apply exits {}: {}",
                r2.code,
                first_line(&r2.stderr)
            ));
        }
        if s2 != s1 {
            let changed: Vec<&String> = s1
                .keys()
                .chain(s2.keys())
                .filter(|p| s1.get(*p) != s2.get(*p))
                .collect();
            say(format!("a second apply changes files again: {changed:?}"));
        }
        if l2 != l1 {
            say(format!(
                "a second apply changes live values: {l1:?} -> {l2:?}"
            ));
        }
        if s1 == s0 && l1 == l0 {
            // Nothing to do, so no transaction to roll back.
            continue;
        }
        let rb = run(&[
            "rollback",
            "--yes",
            "--last",
            "--state-dir",
            dirs.state.path().to_str().unwrap(),
            "--color",
            "never",
        ]);
        if rb.code != 0 {
            say(format!(
                "rollback --last exits {}: {}",
                rb.code,
                first_line(&rb.stderr)
            ));
        }
        let (s3, l3) = (snapshot(root), live(&ns));
        if s3 != s0 {
            let changed: Vec<&String> = s0
                .keys()
                .chain(s3.keys())
                .filter(|p| s0.get(*p) != s3.get(*p))
                .collect();
            say(format!("rollback leaves files changed: {changed:?}"));
        }
        if l3 != l0 {
            say(format!(
                "rollback leaves live values changed: {l0:?} -> {l3:?}"
            ));
        }
    }
    bad
}

#[test]
fn apply_round_trips_on_every_layout() {
    let (n, bad) = on_all_layouts(check_apply);
    assert!(
        bad.is_empty(),
        "{} disagreements on {n} layouts:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
