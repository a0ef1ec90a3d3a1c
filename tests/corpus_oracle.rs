//! tuneguard against the real loaders on real-world sysctl files: the layouts of
//! tests/common/corpus.rs, each loaded by procps `sysctl --system` and systemd-sysctl
//! through tests/common/oracle.rs (a fresh `unshare --mount --net`, chrooted into a tmpfs
//! copy of the tree, with a /proc/sys that shows only net/, so no line of the corpus can
//! touch the host). Every disagreement is collected and printed (layout, key, which check,
//! tuneguard's answer, the loader's); the test asserts there are none.

mod common;
use common::corpus::*;
use common::oracle::{self, fnmatch, fresh_values, lines_of, sentinel, Line, Loader};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
        // A bound apply could write, as profile validation demands (the port range's
        // low end is at least ip_unprivileged_port_start, 1024 by default).
        let min = if *k == "net.ipv4.ip_local_port_range" {
            "[1024, 1024]".to_string()
        } else if fields == 1 {
            "0".to_string()
        } else {
            format!("[{}]", vec!["1"; fields].join(", "))
        };
        text.push_str(&format!("  {k}: {{min: {min}}}\n"));
    }
    write_profile(dir, "keys", &text)
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
                // Unlike the line's value; unlike the fresh one too when the loader leaves the
                // key there (else a skipped line would pass), which a flag key whose line sets
                // the other value cannot afford (its third value the kernel refuses).
                let fresh = &fresh_values()[k];
                let avoid: &[&str] = if got == fresh {
                    &[got, fresh, &ours]
                } else {
                    &[got, &ours]
                };
                sentinels
                    .entry(at.clone())
                    .or_insert_with(|| sentinel(k, avoid));
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
        // Offline there is no kernel to learn a machine's default from (tcp_max_syn_backlog
        // scales with memory; conf.* keys are copied from the host's values when a
        // namespace is made): tuneguard then says only that no file sets the key, which
        // holds when the loader left the key at this machine's fresh default.
        let honest_unknown = p["after_reboot"].is_null()
            && p["after_reboot_source"]
                .as_str()
                .is_some_and(|src| src.contains("no file sets it"))
            && fresh_values()
                .get(k)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                == Some(want.clone());
        if &got != want && !honest_unknown {
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
                // Live, the answer for a reboot is the same as offline: the boot loader's.
                let after = f.map(|f| &f["persisted"]["after_reboot"]);
                let after = match after {
                    Some(v) if !v.is_null() => s(v),
                    _ => "unknown".into(),
                };
                if mode == "live" && after != base[&boot][k.as_str()] {
                    say(
                        k,
                        &format!("after_reboot {profile} live"),
                        format!(
                            "tuneguard says {after}, {boot:?} boots it to {}",
                            base[&boot][k.as_str()]
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

/// The oracle's own guarantee: a tree full of host-wide lines (kernel.*, vm.*, fs.*, and
/// net.core.rmem_max, which a child namespace sees read-only) changes nothing on the host,
/// while its per-namespace net.* line does take effect in the loader's namespace.
#[test]
fn the_oracle_cannot_touch_the_host() {
    require_root();
    let host_keys = [
        "kernel.pid_max",
        "vm.swappiness",
        "fs.protected_regular",
        "net.core.rmem_max",
        "net.core.somaxconn",
    ];
    let host = || -> Vec<String> {
        host_keys
            .iter()
            .map(|k| std::fs::read_to_string(format!("/proc/sys/{}", k.replace('.', "/"))).unwrap())
            .collect()
    };
    let before = host();
    let d = Dirs::new();
    let odd = |v: &str| (v.trim().parse::<i64>().unwrap() + 7).to_string();
    let mut text = String::new();
    for (k, v) in host_keys.iter().zip(&before) {
        let v = if *k == "fs.protected_regular" {
            "0".into()
        } else {
            odd(v)
        };
        text.push_str(&format!("{k} = {v}\n"));
    }
    d.write("etc/sysctl.d/10-host.conf", &text);
    d.write("usr/lib/sysctl.d/10-host.conf", &text);
    d.write("lib/sysctl.d/20-host.conf", &text);
    d.write("etc/sysctl.conf", &text);
    for l in Loader::BOTH {
        let got = oracle::load(d.root.path(), l, &["net.core.somaxconn"]);
        assert_eq!(
            got["net.core.somaxconn"],
            odd(&before[4]),
            "{l:?} did not run"
        );
    }
    assert_eq!(host(), before, "an oracle run changed the host");
}

#[test]
fn a_sentinel_replaces_only_the_value_bytes() {
    let d = Dirs::new();
    let f = d.write(
        "x.conf",
        "# c\r\nnet.core.somaxconn = 600 #note\r\n\tnet.ipv4.tcp_fin_timeout=30\n",
    );
    oracle::set_line_value(&f, 2, "4111");
    oracle::set_line_value(&f, 3, "31");
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "# c\r\nnet.core.somaxconn = 4111 #note\r\n\tnet.ipv4.tcp_fin_timeout=31\n"
    );
}
