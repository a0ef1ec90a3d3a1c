//! tuneguard against the real loaders on real-world sysctl files (tests/corpus/sysctl,
//! origins in its README), arranged in layouts across /etc, /run, /usr/local/lib, /usr/lib
//! and a split /lib, with same-name and /dev/null masking, /etc/sysctl.conf present or
//! absent, Debian's `99-sysctl.conf -> ../sysctl.conf` link (dangling when sysctl.conf is
//! absent), and procps-booted hosts (no systemd-sysctl under the root).
//!
//! The oracle is tests/common/oracle.rs: each loader in a fresh `unshare --mount --net`,
//! chrooted into a tmpfs copy of the tree, with a /proc/sys that shows only net/, so no
//! line of the corpus can touch the host. Every disagreement is collected and printed
//! (layout, key, loader, tuneguard's answer, the loader's); the tests assert there are none.

mod common;
use common::oracle::{self, Loader};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/sysctl");
const PROFILES: [&str; 5] = [
    "baseline",
    "long-lived-clients",
    "small-proxy",
    "web-frontend",
    "websocket-gateway",
];

/// Files of the corpus, each with the name a host gives it in a sysctl.d directory.
const POOL: &[(&str, &str)] = &[
    (
        "50-pid-max.conf",
        "systemd_252.39-1~deb12u2/usr/lib/sysctl.d/50-pid-max.conf",
    ),
    (
        "99-protect-links.conf",
        "procps_4.0.2-3/usr/lib/sysctl.d/99-protect-links.conf",
    ),
    ("README.sysctl", "procps_4.0.2-3/etc/sysctl.d/README.sysctl"),
    (
        "10-coredump-debian.conf",
        "systemd_257.13-1~deb13u1/usr/lib/sysctl.d/10-coredump-debian.conf",
    ),
    (
        "50-coredump.conf",
        "systemd-coredump_252.39-1~deb12u2/usr/lib/sysctl.d/50-coredump.conf",
    ),
    (
        "50-coredump.conf",
        "systemd-coredump_257.13-1~deb13u1/usr/lib/sysctl.d/50-coredump.conf",
    ),
    (
        "50-coredump.conf",
        "systemd-coredump_262.1-1/usr/lib/sysctl.d/50-coredump.conf",
    ),
    (
        "50-coredump.conf",
        "systemd_257.13.orig/sysctl.d/50-coredump.conf.in",
    ),
    (
        "50-coredump.conf.in",
        "systemd_252.39.orig/sysctl.d/50-coredump.conf.in",
    ),
    (
        "50-default.conf",
        "systemd_252.39.orig/sysctl.d/50-default.conf",
    ),
    (
        "50-default.conf",
        "linux-sysctl-defaults_4.12.1/usr/lib/sysctl.d/50-default.conf",
    ),
    (
        "99-apparmor-unpriv-userns.conf",
        "systemd_257.13.orig/mkosi/mkosi.extra/usr/lib/sysctl.d/99-apparmor-unpriv-userns.conf",
    ),
    (
        "50-bubblewrap.conf",
        "bubblewrap_0.8.0-2+deb12u1/usr/lib/sysctl.d/50-bubblewrap.conf",
    ),
    (
        "30-lxc-inotify.conf",
        "lxc_5.0.2-1+deb12u4/etc/sysctl.d/30-lxc-inotify.conf",
    ),
    (
        "10-lxd-inotify.conf",
        "lxd_5.0.2-5+deb12u6/etc/sysctl.d/10-lxd-inotify.conf",
    ),
    (
        "30-ceph-osd.conf",
        "ceph-osd_16.2.15+ds-0+deb12u2/etc/sysctl.d/30-ceph-osd.conf",
    ),
    ("10-ufw.conf", "ufw_0.36.2-1/etc/ufw/sysctl.conf"),
    (
        "60-libvirtd.conf",
        "libvirt_9.0.0.orig/src/remote/libvirtd.sysctl",
    ),
    (
        "60-qemu-postcopy-migration.conf",
        "libvirt_9.0.0.orig/src/qemu/postcopy-migration.sysctl",
    ),
    ("README", "procps_4.0.4-9/etc/sysctl.d/README.sysctl"),
    ("60-mininet.conf", "mininet_2.3.0.orig/util/sysctl_addon"),
];

/// Candidates for /etc/sysctl.conf.
const SYSCTL_CONFS: &[&str] = &[
    "procps_4.0.2-3/etc/sysctl.conf",
    "procps-ng_4.0.2.orig/sysctl.conf",
    "ufw_0.36.2-1/etc/ufw/sysctl.conf",
];

const DIRS: [&str; 5] = [
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
];

enum Src {
    Corpus(&'static str),
    Link(&'static str),
    /// An executable placeholder, which tells tuneguard which loader boots the root.
    Exec,
}

struct Layout {
    name: String,
    entries: Vec<(String, Src)>,
    boot: Loader,
}

impl Layout {
    fn build(&self) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        // Every host has /etc/sysctl.d (procps ships its README there), even with no file in it.
        std::fs::create_dir_all(d.path().join("etc/sysctl.d")).unwrap();
        for (rel, src) in &self.entries {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            match src {
                Src::Corpus(c) => {
                    let from = Path::new(CORPUS).join(c);
                    match std::fs::read_link(&from) {
                        Ok(t) => symlink(t, &p).unwrap(),
                        Err(_) => {
                            std::fs::copy(&from, &p).unwrap();
                            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
                                .unwrap();
                        }
                    }
                }
                Src::Link(t) => symlink(t, &p).unwrap(),
                Src::Exec => {
                    std::fs::write(&p, "").unwrap();
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
                }
            }
        }
        d
    }
}

/// A Debian 12 host as installed (merged /usr), booted by `boot`.
fn debian12(name: &str, boot: Loader) -> Layout {
    let mut e: Vec<(String, Src)> = vec![
        ("etc/sysctl.conf".into(), Src::Corpus(SYSCTL_CONFS[0])),
        (
            "etc/sysctl.d/99-sysctl.conf".into(),
            Src::Corpus("systemd_252.39-1~deb12u2/etc/sysctl.d/99-sysctl.conf"),
        ),
        ("etc/sysctl.d/README.sysctl".into(), Src::Corpus(POOL[2].1)),
        (
            "usr/lib/sysctl.d/50-pid-max.conf".into(),
            Src::Corpus(POOL[0].1),
        ),
        (
            "usr/lib/sysctl.d/99-protect-links.conf".into(),
            Src::Corpus(POOL[1].1),
        ),
        (
            "usr/lib/sysctl.d/50-coredump.conf".into(),
            Src::Corpus(POOL[4].1),
        ),
        (
            "usr/lib/sysctl.d/50-bubblewrap.conf".into(),
            Src::Corpus(POOL[12].1),
        ),
        (
            "etc/sysctl.d/30-lxc-inotify.conf".into(),
            Src::Corpus(POOL[13].1),
        ),
        (
            "etc/sysctl.d/10-lxd-inotify.conf".into(),
            Src::Corpus(POOL[14].1),
        ),
        (
            "etc/sysctl.d/30-ceph-osd.conf".into(),
            Src::Corpus(POOL[15].1),
        ),
        ("lib".into(), Src::Link("usr/lib")),
        ("usr/sbin/sysctl".into(), Src::Exec),
    ];
    if boot == Loader::Systemd {
        e.push(("usr/lib/systemd/systemd-sysctl".into(), Src::Exec));
    }
    Layout {
        name: name.into(),
        entries: e,
        boot,
    }
}

/// Layouts spread from the pool by a fixed pseudo-random choice, so each run tests the
/// same trees: which files, in which directory, masking by name and by /dev/null, a split
/// /lib (every third), /etc/sysctl.conf or not, the 99-sysctl.conf link (dangling when
/// sysctl.conf is absent), and a procps-booted host every seventh.
fn layouts() -> Vec<Layout> {
    let mut out = vec![
        debian12("debian12", Loader::Systemd),
        debian12("debian12-procps-booted", Loader::Procps),
    ];
    for i in 0..26u64 {
        let mut seed = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let split = i % 3 == 0;
        let boot = if i % 7 == 3 {
            Loader::Procps
        } else {
            Loader::Systemd
        };
        let mut entries = Vec::new();
        let mut taken = BTreeSet::new();
        let mut placed = Vec::new();
        for (name, src) in POOL {
            if next(10) >= 6 {
                continue;
            }
            let dirs = if split { 5 } else { 4 };
            let dir = DIRS[next(dirs) as usize];
            let rel = format!("{dir}/{name}");
            if taken.insert(rel.clone()) {
                placed.push((dir, *name));
                entries.push((rel, Src::Corpus(src)));
            }
        }
        if i % 4 == 1 {
            if let Some((_, name)) = placed
                .iter()
                .find(|(d, n)| *d != "etc/sysctl.d" && n.ends_with(".conf"))
            {
                let rel = format!("etc/sysctl.d/{name}");
                if taken.insert(rel.clone()) {
                    entries.push((rel, Src::Link("/dev/null")));
                }
            }
        }
        let conf = next(4) as usize;
        if conf < SYSCTL_CONFS.len() {
            entries.push(("etc/sysctl.conf".into(), Src::Corpus(SYSCTL_CONFS[conf])));
        }
        if i % 2 == 0 && taken.insert("etc/sysctl.d/99-sysctl.conf".into()) {
            entries.push((
                "etc/sysctl.d/99-sysctl.conf".into(),
                Src::Link("../sysctl.conf"),
            ));
        }
        let bin = if split { "" } else { "usr/" };
        if !split && i % 3 == 1 {
            entries.push(("lib".into(), Src::Link("usr/lib")));
        }
        entries.push((format!("{bin}sbin/sysctl"), Src::Exec));
        if boot == Loader::Systemd {
            entries.push((format!("{bin}lib/systemd/systemd-sysctl"), Src::Exec));
        }
        out.push(Layout {
            name: format!(
                "spread-{i:02}{}{}",
                if split { "-split-lib" } else { "" },
                if boot == Loader::Procps {
                    "-procps-booted"
                } else {
                    ""
                }
            ),
            entries,
            boot,
        });
    }
    out
}

/// A profile's sysctl rules (min, max, equals), with `extends` resolved.
type Rules = BTreeMap<String, serde_yaml::Value>;

fn rules(profile: &str) -> Rules {
    let path = format!("{}/profiles/{profile}.yaml", env!("CARGO_MANIFEST_DIR"));
    let y: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Rules::new();
    if let Some(parents) = y["extends"].as_sequence() {
        for p in parents {
            out.extend(rules(p.as_str().unwrap()));
        }
    }
    if let Some(m) = y["sysctl"].as_mapping() {
        for (k, v) in m {
            out.insert(k.as_str().unwrap().to_string(), v.clone());
        }
    }
    out
}

/// Whether `value` (as sysctl prints it) passes a profile rule.
fn passes(rule: &serde_yaml::Value, value: &str) -> bool {
    let nums: Vec<i64> = value
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let bound = |v: &serde_yaml::Value| -> Vec<i64> {
        match v {
            serde_yaml::Value::Sequence(s) => s.iter().map(|x| x.as_i64().unwrap()).collect(),
            other => vec![other.as_i64().unwrap()],
        }
    };
    let cmp = |name: &str, ok: fn(i64, i64) -> bool| match rule.get(name) {
        None => true,
        Some(b) => {
            let b = bound(b);
            b.len() == nums.len() && nums.iter().zip(&b).all(|(v, b)| ok(*v, *b))
        }
    };
    cmp("min", |v, b| v >= b) && cmp("max", |v, b| v <= b) && cmp("equals", |v, b| v == b)
}

/// Whether the kernel ignores `key` given the other values (src/catalog/dependencies.rs:
/// tcp_max_syn_backlog is read only while tcp_syncookies is 0), so no rule holds for it.
fn inert(key: &str, values: &BTreeMap<String, String>) -> bool {
    key == "net.ipv4.tcp_max_syn_backlog"
        && values
            .get("net.ipv4.tcp_syncookies")
            .is_some_and(|v| v != "0")
}

fn all_profile_keys() -> Vec<String> {
    let mut keys = BTreeSet::new();
    for p in PROFILES {
        keys.extend(rules(p).into_keys());
    }
    keys.into_iter().collect()
}

/// The net.* keys a fresh namespace has and may write, and their values there (the kernel
/// defaults a namespace starts from). Keys read-only there (rmem_max and the other
/// host-wide ones a child namespace only sees) are left out: the loaders cannot set them in
/// the oracle's namespace, and on the host they are not the namespace's own.
fn fresh_values() -> &'static BTreeMap<String, String> {
    static V: std::sync::OnceLock<BTreeMap<String, String>> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let ns = Netns::new();
        let ro = ns.exec(&["find", "/proc/sys/net", "-type", "f", "!", "-perm", "-u+w"]);
        let ro: BTreeSet<String> = String::from_utf8_lossy(&ro.stdout)
            .lines()
            .map(|p| p.trim_start_matches("/proc/sys/").replace('/', "."))
            .collect();
        let out = ns.exec(&["sysctl", "-a", "-r", "^net\\."]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .filter(|(k, _)| !ro.contains(*k))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect()
    })
}

/// One assignment line of a file under a tree, as both loaders parse it.
#[derive(Debug, Clone)]
struct Line {
    /// The path as the loaders name it (`/etc/sysctl.d/x.conf`).
    file: String,
    /// The file it really is under the tree (links resolved): the line's identity.
    real: PathBuf,
    line: usize,
    key: String,
    value: Option<String>,
}

/// Every assignment or exclusion line of every `*.conf` file the loaders may read (masked
/// ones included) and of /etc/sysctl.conf: the oracle's own list, independent of tuneguard.
fn lines_of(tree: &Path) -> Vec<Line> {
    let mut files = Vec::new();
    for d in DIRS {
        for e in std::fs::read_dir(tree.join(d))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".conf") {
                files.push(format!("/{d}/{name}"));
            }
        }
    }
    files.push("/etc/sysctl.conf".into());
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for f in files {
        let real = oracle::resolve_in(tree, &f);
        if !seen.insert(real.clone()) {
            continue;
        }
        let Ok(text) = std::fs::read(&real) else {
            continue;
        };
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let l = String::from_utf8_lossy(raw);
            let l = l.trim_matches(|c: char| c.is_whitespace());
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            let (k, v) = match l.split_once('=') {
                Some((k, v)) => (k, Some(v.split_whitespace().collect::<Vec<_>>().join(" "))),
                None => (l, None),
            };
            let key = k.trim().trim_start_matches('-').trim().replace('/', ".");
            out.push(Line {
                file: f.clone(),
                real: real.clone(),
                line: i + 1,
                key,
                value: v,
            });
        }
    }
    out
}

fn fnmatch(pattern: &str, key: &str) -> bool {
    if pattern == key {
        return true;
    }
    if !pattern.contains(['*', '?', '[']) {
        return false;
    }
    let p = std::ffi::CString::new(pattern.replace('.', "/")).unwrap();
    let k = std::ffi::CString::new(key.replace('.', "/")).unwrap();
    // SAFETY: both are NUL-terminated strings that outlive the call.
    unsafe { libc::fnmatch(p.as_ptr(), k.as_ptr(), libc::FNM_PATHNAME) == 0 }
}

/// The keys compared on a layout: every key a built-in profile names, and every net.* key
/// a corpus line in the tree names (exactly or by glob) that a namespace has.
fn keys_for(tree: &Path) -> Vec<String> {
    let mut keys: BTreeSet<String> = all_profile_keys().into_iter().collect();
    for l in lines_of(tree) {
        if l.key.starts_with("net.") {
            // Integer keys only: a profile rule cannot name a string (default_qdisc).
            let numeric = |k: &&String| {
                fresh_values()[*k]
                    .split_whitespace()
                    .all(|f| f.parse::<i64>().is_ok())
            };
            keys.extend(
                fresh_values()
                    .keys()
                    .filter(|k| fnmatch(&l.key, k))
                    .filter(numeric)
                    .cloned(),
            );
        }
    }
    keys.into_iter().collect()
}

/// A profile checking each key with a rule every value passes, so findings carry each
/// key's persisted side without failing on it.
fn open_profile(dir: &Path, keys: &[&str]) -> String {
    let mut text = String::from("sysctl:\n");
    for k in keys {
        let fields = fresh_values()
            .get(*k)
            .map(|v| v.split_whitespace().count())
            .unwrap_or(1);
        let min = if fields == 1 {
            "0".to_string()
        } else {
            format!("[{}]", vec!["1"; fields].join(", "))
        };
        text.push_str(&format!("  {k}: {{min: {min}}}\n"));
    }
    write_profile(dir, "keys", &text)
}

/// A valid value for `key` unlike any in `avoid`.
fn sentinel(key: &str, avoid: &[&str]) -> String {
    let cands: &[&str] = match key {
        "net.ipv4.ip_local_port_range" => &["20000 50000", "20001 50001"],
        "net.ipv4.ping_group_range" => &["1 2", "3 4"],
        "net.core.default_qdisc" => &["pfifo_fast", "fq"],
        _ => {
            // The fresh value with its last field raised by 1, 2, 3 (as many fields as the
            // key has: a shorter write would set only the first ones), or 0/1/2 for a flag.
            let v = fresh_values().get(key).map(String::as_str).unwrap_or("0");
            if matches!(v, "0" | "1" | "2") {
                &["0", "1", "2"]
            } else {
                let mut f: Vec<i64> = v.split_whitespace().map(|x| x.parse().unwrap()).collect();
                let last = f.len() - 1;
                let base = f[last];
                let mut out = Vec::new();
                for d in 1..=3 {
                    f[last] = base + d;
                    out.push(f.iter().map(i64::to_string).collect::<Vec<_>>().join(" "));
                }
                return out
                    .into_iter()
                    .find(|c| !avoid.contains(&c.as_str()))
                    .unwrap_or_else(|| panic!("no sentinel for {key}"));
            }
        }
    };
    cands
        .iter()
        .find(|c| !avoid.contains(c))
        .unwrap_or_else(|| panic!("no sentinel for {key}"))
        .to_string()
}

fn s(v: &serde_json::Value) -> String {
    plain(v).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tg_json(args: &[&str]) -> serde_json::Value {
    let r = run(args);
    assert!(
        r.code == 0 || r.code == 1,
        "tuneguard {args:?} exit {}: {}",
        r.code,
        r.stderr
    );
    r.json()
}

/// A winning line: the file it really is under the tree, its number, and the name
/// tuneguard gives the file.
type Win = (PathBuf, usize, String);

/// One layout's disagreements.
fn check_layout(layout: &Layout) -> Vec<String> {
    let tree_dir = layout.build();
    let tree = tree_dir.path();
    let keys = keys_for(tree);
    let keys_ref: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut bad = Vec::new();
    let mut say = |key: &str, who: &str, msg: String| {
        bad.push(format!("{}: {key} [{who}]: {msg}", layout.name));
    };

    // The loaders' own answers.
    let base: BTreeMap<Loader, BTreeMap<String, String>> = Loader::BOTH
        .iter()
        .map(|&l| (l, oracle::load(tree, l, &keys_ref)))
        .collect();
    let lines = lines_of(tree);

    // tuneguard's, offline.
    let pdir = tempfile::tempdir().unwrap();
    let kp = open_profile(pdir.path(), &keys_ref);
    let root = tree.to_str().unwrap();
    let audit = |extra: &[&str]| {
        let mut a = vec![
            "audit",
            "--root",
            root,
            "--no-nginx",
            "--format",
            "json",
            "--color",
            "never",
        ];
        a.extend_from_slice(extra);
        tg_json(&a)
    };
    let j = audit(&["--proc", "none", "--profile", &kp]);
    let persisted = |j: &serde_json::Value, key: &str| -> serde_json::Value {
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["subject"] == key && f["kind"] == "sysctl")
            .map(|f| f["persisted"].clone())
            .unwrap_or(serde_json::Value::Null)
    };

    let present: Vec<&str> = keys_ref
        .iter()
        .copied()
        .filter(|k| base[&Loader::Procps].contains_key(*k))
        .collect();

    // 1. Each loader's value and winning line.
    // Per loader and key: the winning line tuneguard names, as (real file, line, name).
    let mut winners: BTreeMap<Loader, BTreeMap<String, Win>> = BTreeMap::new();
    for l in Loader::BOTH {
        let who = l.json_key();
        let mut sentinels: BTreeMap<(PathBuf, usize), String> = BTreeMap::new();
        for &k in &present {
            let p = persisted(&j, k);
            let w = &p[who];
            let got = &base[&l][k];
            let ours = if w.is_null() || w["applied"] == false {
                fresh_values()[k].clone()
            } else {
                s(&w["value"])
            };
            if &ours != got {
                say(
                    k,
                    who,
                    format!(
                        "tuneguard predicts {ours} ({}), the loader sets {got}",
                        describe(w)
                    ),
                );
            }
            if !w.is_null() && w["applied"] != false {
                let name = w["file"].as_str().unwrap().to_string();
                let at = (
                    oracle::resolve_in(tree, &name),
                    w["line"].as_u64().unwrap() as usize,
                );
                sentinels
                    .entry(at.clone())
                    .or_insert_with(|| sentinel(k, &[got, &fresh_values()[k], &ours]));
                winners
                    .entry(l)
                    .or_default()
                    .insert(k.to_string(), (at.0, at.1, name));
            }
        }
        // The sentinel run: every line tuneguard calls a winner gets a distinct valid value;
        // the loader must then set exactly that value on each key it wins.
        if !sentinels.is_empty() {
            let copy = oracle::copy_tree(tree);
            for ((f, n), v) in &sentinels {
                oracle::set_line_value(&copy.path().join(f.strip_prefix(tree).unwrap()), *n, v);
            }
            let after = oracle::load(copy.path(), l, &keys_ref);
            for (k, (real, n, name)) in winners.get(&l).into_iter().flatten() {
                let want = &sentinels[&(real.clone(), *n)];
                if &after[k] != want {
                    say(k, who, format!("tuneguard's winner {name}:{n} is not the loader's: with sentinel {want} there the loader sets {}", after[k]));
                }
            }
        }
        // The other lines: a sentinel on every other line that names the key (shadowed,
        // masked, excluded, or in no list at all) must change nothing.
        let wins: BTreeSet<(PathBuf, usize)> = winners
            .get(&l)
            .into_iter()
            .flatten()
            .map(|(_, (r, n, _))| (r.clone(), *n))
            .collect();
        let others: Vec<&Line> = lines
            .iter()
            .filter(|x| x.value.is_some() && !wins.contains(&(x.real.clone(), x.line)))
            .filter(|x| present.iter().any(|k| fnmatch(&x.key, k)))
            .collect();
        if !others.is_empty() {
            let run_with = |subset: &[&Line]| {
                let copy = oracle::copy_tree(tree);
                for x in subset {
                    let k = present.iter().find(|k| fnmatch(&x.key, k)).unwrap();
                    let v = sentinel(k, &[x.value.as_deref().unwrap(), &base[&l][*k]]);
                    oracle::set_line_value(
                        &copy.path().join(x.real.strip_prefix(tree).unwrap()),
                        x.line,
                        &v,
                    );
                }
                oracle::load(copy.path(), l, &keys_ref)
            };
            if run_with(&others) != base[&l] {
                for x in &others {
                    let after = run_with(&[*x]);
                    for &k in &present {
                        if after[k] != base[&l][k] {
                            let p = persisted(&j, k);
                            say(k, who, format!("{}:{} takes effect (a sentinel there makes the loader set {}), but tuneguard calls it {}", x.file, x.line, after[k], where_listed(&p, &x.file, x.line)));
                        }
                    }
                }
            }
        }
    }

    // Every line tuneguard lists as shadowed, masked or excluded names the key.
    for &k in &present {
        let p = persisted(&j, k);
        for list in ["shadowed", "masked", "excluded"] {
            for e in p[list].as_array().into_iter().flatten() {
                let (f, n) = (plain(&e["file"]), e["line"].as_u64().unwrap_or(0) as usize);
                let real = oracle::resolve_in(tree, &f);
                let named = lines
                    .iter()
                    .any(|x| x.real == real && x.line == n && fnmatch(&x.key, k));
                if !named {
                    say(
                        k,
                        list,
                        format!("tuneguard lists {f}:{n}, a line that does not name the key"),
                    );
                }
            }
        }
    }

    // 2. after_reboot: what the boot loader leaves.
    let boot = layout.boot;
    for &k in &present {
        let p = persisted(&j, k);
        let want = &base[&boot][k];
        let got = if p["after_reboot"].is_null() {
            "unknown".to_string()
        } else {
            s(&p["after_reboot"])
        };
        if &got != want {
            say(
                k,
                "after_reboot",
                format!(
                    "tuneguard says {got} ({}), {:?} boots it to {want}",
                    p["after_reboot_source"], boot
                ),
            );
        }
    }

    // 3. Drift class per built-in profile, offline and live in a namespace the boot loader
    // booted from this tree.
    let ns = Netns::new();
    oracle::boot(tree, boot, &ns.name, &keys_ref);
    for profile in PROFILES {
        let rules = rules(profile);
        let off = audit(&["--proc", "none", "--profile", profile]);
        let live = audit(&["--netns", &ns.name, "--profile", profile]);
        for (k, rule) in &rules {
            if !present.contains(&k.as_str()) {
                continue;
            }
            let want = expected_drift(
                k,
                rule,
                &base,
                boot,
                &lines,
                winners.get(&boot).and_then(|w| w.get(k)),
            );
            for (mode, j) in [("offline", &off), ("live", &live)] {
                let f = j["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["subject"] == k.as_str() && f["kind"] == "sysctl");
                let got = f
                    .map(|f| plain(&f["drift"]))
                    .unwrap_or_else(|| "no finding".into());
                if got != want {
                    say(
                        k,
                        &format!("drift {profile} {mode}"),
                        format!(
                            "tuneguard says {got}, the loaders give {want} (procps {}, systemd {})",
                            base[&Loader::Procps][k],
                            base[&Loader::Systemd][k]
                        ),
                    );
                }
            }
        }
    }
    bad
}

fn describe(w: &serde_json::Value) -> String {
    if w.is_null() {
        "no line".into()
    } else {
        format!(
            "{}:{}{}",
            plain(&w["file"]),
            w["line"],
            if w["applied"] == false {
                ", rejected"
            } else {
                ""
            }
        )
    }
}

fn where_listed(p: &serde_json::Value, file: &str, line: usize) -> String {
    for list in ["shadowed", "masked", "excluded"] {
        if p[list]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["file"] == file && e["line"] == line as u64)
        {
            return list.into();
        }
    }
    "nothing (it lists no such line)".into()
}

/// The drift class the loaders' own results give (docs/persisted.md): they disagree; the
/// boot loader's winning line fails the rule; another line sets something else; or in sync.
fn expected_drift(
    key: &str,
    rule: &serde_yaml::Value,
    base: &BTreeMap<Loader, BTreeMap<String, String>>,
    boot: Loader,
    lines: &[Line],
    winner: Option<&Win>,
) -> String {
    let v = &base[&boot][key];
    if base[&Loader::Procps][key] != base[&Loader::Systemd][key] {
        return "loaders-disagree".into();
    }
    if winner.is_some() && !passes(rule, v) && !inert(key, &base[&boot]) {
        return "persisted-below-profile".into();
    }
    let other = lines.iter().any(|l| {
        fnmatch(&l.key, key)
            && l.value.as_deref().is_some_and(|x| x != v)
            && winner.is_none_or(|w| (&w.0, w.1) != (&l.real, l.line))
    });
    if other {
        "shadowed".into()
    } else {
        "in-sync".into()
    }
}

/// Runs `check` on every layout, four at a time (each loader run is its own unshare), and
/// returns every disagreement.
fn on_all_layouts(check: fn(&Layout) -> Vec<String>) -> (usize, Vec<String>) {
    require_root();
    let all = layouts();
    let next = AtomicUsize::new(0);
    let bad = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(l) = all.get(i) else { break };
                let found = check(l);
                bad.lock().unwrap().extend(found);
            });
        }
    });
    let mut bad = bad.into_inner().unwrap();
    bad.sort();
    (all.len(), bad)
}

#[test]
fn every_corpus_file_has_its_origin_and_the_layouts_cover_every_kind() {
    let ls = layouts();
    assert!(ls.len() >= 25, "{} layouts", ls.len());
    assert!(
        ls.iter().any(|l| l.boot == Loader::Procps),
        "a procps-booted host"
    );
    let has = |f: &dyn Fn(&(String, Src)) -> bool| ls.iter().any(|l| l.entries.iter().any(f));
    for d in DIRS {
        assert!(
            has(&|(p, s)| p.starts_with(d) && matches!(s, Src::Corpus(_))),
            "no corpus file in {d}"
        );
    }
    assert!(
        has(&|(_, s)| matches!(s, Src::Link("/dev/null"))),
        "no /dev/null mask"
    );
    assert!(
        ls.iter().any(|l| {
            l.entries
                .iter()
                .any(|(p, _)| p == "etc/sysctl.d/99-sysctl.conf")
                && !l.entries.iter().any(|(p, _)| p == "etc/sysctl.conf")
        }),
        "no dangling 99-sysctl.conf"
    );
    let readme = std::fs::read_to_string(Path::new(CORPUS).join("README.md")).unwrap();
    let mut n = 0;
    for e in walk(Path::new(CORPUS)) {
        let rel = e.strip_prefix(CORPUS).unwrap().display().to_string();
        if rel == "README.md" {
            continue;
        }
        n += 1;
        assert!(readme.contains(&rel), "README.md names no origin for {rel}");
    }
    println!("{n} corpus files in {} layouts", ls.len());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_real_loaders_agree_with_tuneguard_on_every_layout() {
    let (n, bad) = on_all_layouts(check_layout);
    assert!(
        bad.is_empty(),
        "{} disagreements on {n} layouts:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

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
