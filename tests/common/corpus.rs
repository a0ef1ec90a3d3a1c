//! The real-world corpus (tests/corpus/sysctl, origins in its README) arranged in layouts
//! across /etc, /run, /usr/local/lib, /usr/lib and a split /lib, with same-name and
//! /dev/null masking, /etc/sysctl.conf present or absent, Debian's
//! `99-sysctl.conf -> ../sysctl.conf` link (dangling when sysctl.conf is absent), and
//! procps-booted hosts (no systemd-sysctl under the root); and the built-in profiles' rules
//! as the tests read them.
#![allow(dead_code)]

use super::oracle::Loader;
use super::require_root;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/sysctl");
pub const PROFILES: [&str; 5] = [
    "baseline",
    "long-lived-clients",
    "small-proxy",
    "web-frontend",
    "websocket-gateway",
];

/// Files of the corpus, each with the name a host gives it in a sysctl.d directory.
pub const POOL: &[(&str, &str)] = &[
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
    // Public repositories' files (origins in the README), each under a `*.conf` name: an
    // /etc/sysctl.conf of theirs gets a name of its own, a sysctl.d file keeps its name (so
    // same-named files mask each other across directories).
    (
        "90-isucon12-qualify.conf",
        "github_EkeMinusYou_isucon12-qualify/etc/sysctl.conf",
    ),
    (
        "90-isucon12-final.conf",
        "github_EkeMinusYou_isucon12-final-3/etc/sysctl.conf",
    ),
    (
        "90-isucon13-final.conf",
        "github_EkeMinusYou_isucon13-final/etc/sysctl.conf",
    ),
    (
        "60-lancache.conf",
        "github_Navok85_lancache/etc/sysctl.conf",
    ),
    (
        "local.conf",
        "github_FishDDev_shadowsocks-libev/etc/sysctl.conf",
    ),
    (
        "local.conf",
        "github_FishDDev_shadowsocks-python/etc/sysctl.conf",
    ),
    (
        "70-everscale.conf",
        "github_21w42_everscale-setup/etc/sysctl.conf",
    ),
    (
        "10-network-security.conf",
        "github_zanix_server-config/etc/sysctl.d/10-network-security.conf",
    ),
    (
        "10-network-security.conf",
        "github_robertapengelly92_ubuntu-server/etc/sysctl.d/10-network-security.conf",
    ),
    (
        "10-network-security.conf",
        "github_mschweisthal_dotfiles/etc/sysctl.d/10-network-security.conf",
    ),
    (
        "99-sysctl.conf",
        "github_evlaV_jupiter-hw-support/etc/sysctl.d/99-sysctl.conf",
    ),
    (
        "99-sysctl.conf",
        "github_TheSecureTux_hardened-config/etc/sysctl.d/99-sysctl.conf",
    ),
    (
        "local.conf",
        "github_ComputerProsLLC_nginx_lancache/etc/sysctl.d/local.conf",
    ),
    (
        "local.conf",
        "github_dfinity_http-gateway-release/etc/sysctl.d/local.conf",
    ),
    (
        "local.conf",
        "github_MaskRay_Config/etc/sysctl.d/local.conf",
    ),
    (
        "local.conf",
        "github_homeworkprod_dotfiles/etc/sysctl.d/local.conf",
    ),
    (
        "local.conf",
        "github_B-Galati_dotfiles/etc/sysctl.d/local.conf",
    ),
    // Left out (the README says why): tuneguard does not model the kernel's writes from one
    // key to others, so the files that trigger them disagree with the loaders on keys no
    // profile names. A change of net.ipv4.ip_forward (or conf.all.forwarding) also sets
    // conf.{all,default}.forwarding and sets conf.all.accept_redirects to its opposite
    // (github_nebulosa2007_instance, github_OpenHPC-AI_xCAT-docker-container-rocky9.6,
    // github_boldsuck_tor-relay-configs; and, once the sentinel run gives their
    // `ip_forward = 0` line another value, github_privy-cafe_DollarLinuxClub and
    // github_dommyet_lempstack_debian); net.ipv6.conf.all.disable_ipv6 also sets every
    // interface's, lo's included, and a conf.default.* write every interface's not set on its
    // own, which a file naming lo's key or a conf.*.KEY glob then checks
    // (github_8picoz_isucon11, github_kuladog_arch-xfce-hardened,
    // github_GrapheneOS_infrastructure). Also github_boldsuck_tor-relay-configs: for a key
    // outside the catalog tuneguard reports `1 # note` as that text, while the kernel
    // (proc_dointvec stops after the key's fields) sets 1.
];

/// Candidates for /etc/sysctl.conf.
pub const SYSCTL_CONFS: &[&str] = &[
    "procps_4.0.2-3/etc/sysctl.conf",
    "procps-ng_4.0.2.orig/sysctl.conf",
    "ufw_0.36.2-1/etc/ufw/sysctl.conf",
    "github_EkeMinusYou_isucon12-qualify/etc/sysctl.conf",
    "github_EkeMinusYou_isucon12-final-3/etc/sysctl.conf",
    "github_EkeMinusYou_isucon13-final/etc/sysctl.conf",
    "github_Navok85_lancache/etc/sysctl.conf",
    "github_FishDDev_shadowsocks-libev/etc/sysctl.conf",
    "github_FishDDev_shadowsocks-python/etc/sysctl.conf",
    "github_21w42_everscale-setup/etc/sysctl.conf",
];

pub const DIRS: [&str; 5] = [
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
];

pub enum Src {
    Corpus(&'static str),
    Link(&'static str),
    /// An executable placeholder, which tells tuneguard which loader boots the root.
    Exec,
}

pub struct Layout {
    pub name: String,
    pub entries: Vec<(String, Src)>,
    pub boot: Loader,
}

impl Layout {
    pub fn build(&self) -> tempfile::TempDir {
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
pub fn debian12(name: &str, boot: Loader) -> Layout {
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
pub fn layouts() -> Vec<Layout> {
    let mut out = vec![
        debian12("debian12", Loader::Systemd),
        debian12("debian12-procps-booted", Loader::Procps),
    ];
    for i in 0..38u64 {
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
        // One in four has no /etc/sysctl.conf.
        let conf = next(SYSCTL_CONFS.len() as u64 * 4 / 3) as usize;
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
pub type Rules = BTreeMap<String, serde_yaml::Value>;

pub fn rules(profile: &str) -> Rules {
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
pub fn passes(rule: &serde_yaml::Value, value: &str) -> bool {
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
pub fn inert(key: &str, values: &BTreeMap<String, String>) -> bool {
    key == "net.ipv4.tcp_max_syn_backlog"
        && values
            .get("net.ipv4.tcp_syncookies")
            .is_some_and(|v| v != "0")
}

pub fn all_profile_keys() -> Vec<String> {
    let mut keys = BTreeSet::new();
    for p in PROFILES {
        keys.extend(rules(p).into_keys());
    }
    keys.into_iter().collect()
}

/// Runs `check` on every layout, four at a time (each loader run is its own unshare), and
/// returns every disagreement.
pub fn on_all_layouts(check: fn(&Layout) -> Vec<String>) -> (usize, Vec<String>) {
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

pub fn walk(dir: &Path) -> Vec<PathBuf> {
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
