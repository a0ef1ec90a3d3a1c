//! The real loaders are the oracle for tuneguard's answer to "which value wins".
//!
//! Each tree is loaded by procps `sysctl --system` and by systemd-sysctl inside a private
//! mount and network namespace (`unshare --mount --net`): every directory the loaders
//! read, and /etc/sysctl.conf, is covered by the tree's own (or an empty one), so no
//! host file is ever applied, and the values land only in the throwaway network
//! namespace. Trees hold per-namespace net.* keys only; the helper refuses anything else.
//! systemd-analyze --root=TREE cat-config is the oracle for the files systemd reads.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const KEYS: &[&str] = &[
    "net.core.somaxconn",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_retries2",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_orphan_retries",
];

/// Refuses a tree that could touch anything but per-namespace net.* keys.
fn assert_safe(tree: &Path) {
    for entry in walk(tree) {
        if !entry.is_file() {
            continue;
        }
        for line in std::fs::read_to_string(&entry).unwrap_or_default().lines() {
            let l = line.trim();
            // Comments, and lines both loaders skip as malformed (no `=`, no leading `-`).
            if l.is_empty()
                || l.starts_with('#')
                || l.starts_with(';')
                || !(l.contains('=') || l.starts_with('-'))
            {
                continue;
            }
            let key = l
                .trim_start_matches('-')
                .split('=')
                .next()
                .unwrap()
                .trim()
                .replace('/', ".");
            assert!(
                key.starts_with("net.") && !GLOBAL_NET_KEYS.contains(&key.as_str()),
                "oracle trees may only hold per-netns net.* keys, not `{key}` ({})",
                entry.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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

/// Runs a loader on `tree` in a private mount + network namespace; returns the values
/// of KEYS the namespace ends with.
fn load(tree: &Path, loader: &str) -> BTreeMap<String, String> {
    assert_safe(tree);
    let empty = tempfile::tempdir().unwrap();
    let empty_file = empty.path().join("sysctl.conf");
    std::fs::write(&empty_file, "").unwrap();
    for must in ["/etc/sysctl.d", "/usr/lib/sysctl.d", "/etc/sysctl.conf"] {
        assert!(
            Path::new(must).exists(),
            "the oracle covers {must} with the tree's; it must exist on this machine"
        );
    }
    let t = tree.display();
    let e = empty.path().display();
    let run_loader = match loader {
        "procps" => "sysctl --system",
        // --prefix=/net/: even a tree that slipped past assert_safe writes only net.* keys.
        "systemd" => "/lib/systemd/systemd-sysctl --prefix=/net/",
        _ => unreachable!(),
    };
    let script = format!(
        r#"set -eu
cover() {{ if [ -e "$1" ]; then mount --bind "$1" "$2"; else mount --bind "{e}" "$2"; fi; }}
mount -t tmpfs tmpfs /run
mkdir -p /run/sysctl.d
cover "{t}/run/sysctl.d" /run/sysctl.d
mount -t tmpfs tmpfs /usr/local
mkdir -p /usr/local/lib/sysctl.d
cover "{t}/usr/local/lib/sysctl.d" /usr/local/lib/sysctl.d
cover "{t}/etc/sysctl.d" /etc/sysctl.d
cover "{t}/usr/lib/sysctl.d" /usr/lib/sysctl.d
if [ ! -L /lib ] && [ -d /lib/sysctl.d ]; then cover "{t}/lib/sysctl.d" /lib/sysctl.d; fi
if [ -e "{t}/etc/sysctl.conf" ]; then mount --bind "{t}/etc/sysctl.conf" /etc/sysctl.conf; else mount --bind "{f}" /etc/sysctl.conf; fi
{run_loader} >/dev/null 2>&1 || true
for k in {keys}; do printf '%s=%s\n' "$k" "$(sysctl -n "$k")"; done
"#,
        f = empty_file.display(),
        keys = KEYS.join(" ")
    );
    let out = Command::new("unshare")
        .args(["--mount", "--net", "bash", "-c", &script])
        .output()
        .expect("unshare");
    assert!(
        out.status.success(),
        "oracle run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_once('=').map(|(k, v)| {
                (
                    k.to_string(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
        })
        .collect()
}

/// tuneguard's answer per loader: the value its write sequence leaves (each line
/// accepted or refused by the kernel), or the default a fresh namespace has when no line
/// applies.
fn predicted(tree: &Path, loader: &str) -> BTreeMap<String, String> {
    let profile = keys_profile(tree, KEYS);
    let r = offline(tree, &["--format", "json", "--profile", &profile]);
    std::fs::remove_file(&profile).unwrap();
    let j = r.json();
    let fresh = Netns::new();
    KEYS.iter()
        .map(|k| {
            let e = &finding(&j, k)["persisted"][loader];
            let v = if e.is_null() || e["after_reboot"].is_null() {
                fresh.get(k)
            } else {
                plain(&e["after_reboot"])
            };
            (k.to_string(), v)
        })
        .collect()
}

fn systemd_files(tree: &Path) -> Vec<String> {
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", tree.display()))
        .args(["cat-config", "sysctl.d"])
        .output()
        .unwrap();
    let prefix = tree.display().to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|p| p.starts_with(&prefix))
        .map(|p| p[prefix.len()..].to_string())
        .collect()
}

fn check_tree(d: &Dirs) {
    let tree = d.root.path();
    for loader in ["procps", "systemd"] {
        assert_eq!(
            predicted(tree, loader),
            load(tree, loader),
            "{loader} disagrees with tuneguard on this tree"
        );
    }
    let r = offline(tree, &["--format", "json"]);
    let ours: Vec<String> = r.json()["persisted"]["systemd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ours,
        systemd_files(tree),
        "systemd-analyze cat-config lists other files"
    );
}

#[test]
fn order_masking_and_sysctl_conf() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/10-tune.conf",
        "net.core.somaxconn = 16384\nnet.ipv4.tcp_fin_timeout=20\n",
    );
    d.write(
        "usr/lib/sysctl.d/10-tune.conf",
        "net.ipv4.tcp_retries2 = 5\n",
    ); // masked by name
    d.write(
        "usr/lib/sysctl.d/50-vendor.conf",
        "net.core.somaxconn = 1024\nnet.ipv4.tcp_keepalive_time = 900\n",
    );
    d.write(
        "run/sysctl.d/30-run.conf",
        "net.ipv4.tcp_keepalive_time = 1200\nnet.ipv4.tcp_keepalive_probes = 4\n",
    );
    d.write(
        "usr/local/lib/sysctl.d/40-local.conf",
        "net.ipv4.tcp_keepalive_probes = 6\n",
    );
    d.write(
        "etc/sysctl.conf",
        "net.ipv4.tcp_abort_on_overflow = 1\nnet.core.somaxconn = 2048\n",
    );
    check_tree(&d);
}

#[test]
fn line_shapes() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/20-shapes.conf",
        "; semicolon comment\r\n   # indented comment\r\nnet/ipv4/tcp_fin_timeout = 25\r\n  net.ipv4.tcp_retries2=9  \r\nnet.core.somaxconn = 512\r\n\
net.core.somaxconn = 768\r\nnet.ipv4.tcp_keepalive_intvl = 40 # trailing text\r\nnet.ipv4.tcp_syncookies = lots\r\nbroken line\r\nnet.ipv4.tcp_orphan_retries =\r\nnet.ipv4.tcp_keepalive_time = 333",
    );
    check_tree(&d);
}

#[test]
fn globs_and_exclusions() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/10-globs.conf",
        "net.ipv4.tcp_keepalive_* = 100\n-net.ipv4.tcp_keepalive_probes\n-net.ipv4.tcp_fin_*\nnet.ipv4.tcp_fin_timeout = 45\n\
net.core.somaxconn = 3000\n-net.core.somaxconn\nnet.core.* = 4444\n-net.ipv4.tcp_retries2 = 7\n",
    );
    d.write("etc/sysctl.d/20-later.conf", "net.ipv4.tcp_keepalive_intvl = 15\nnet.ipv4.tcp_orphan_retries = 2\nnet.ipv4.tcp_*_retries = 3\n");
    check_tree(&d);
}

#[test]
fn star_globs_and_a_line_too_long_for_systemd() {
    let d = Dirs::new();
    // The issue's 14 stars, which made a recursive matcher take minutes.
    d.write(
        "etc/sysctl.d/10-stars.conf",
        "net.ipv4.tcp_**************_time = 333\nnet.ipv4.**************x = 1\nnet.ipv4.tcp_[!a-e]*[[:digit:]] = 6\n",
    );
    // A line of 1 MiB and more: procps reads it (and expands the glob), systemd-sysctl
    // stops reading the file there.
    let long = format!("net.ipv4.tcp_fin_{} = 42\n", "*".repeat(1 << 20));
    d.write(
        "etc/sysctl.d/20-long.conf",
        &format!("net.ipv4.tcp_keepalive_probes = 7\n{long}net.core.somaxconn = 1235\n"),
    );
    check_tree(&d);
}

#[test]
fn braces_in_globs_are_systemds_alone() {
    // systemd-sysctl globs with GLOB_BRACE; procps reads `{` literally (matching nothing).
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/10-braces.conf",
        "net.ipv4.tcp_{fin,keepalive}_time* = 55\nnet.core.{somaxconn,x{y,z}}* = 1111\n\
net.ipv4.tcp_retries{}2* = 7\nnet.ipv4.{tcp_orphan_retries* = 3\nnet.ipv4.tcp_keepalive_{probes,intvl} = 4\n",
    );
    check_tree(&d);
}

/// The issue's case: procps writes 8192 then the quoted 16384, which the kernel refuses,
/// so 8192 stays; systemd-sysctl writes only the quoted line, so the default stays. With
/// more lines the kernel reads in its own way (hex, octal, a note after the value, a
/// value beyond INT_MAX/HZ, a sign on a u8 key), and two globs of which the kernel
/// refuses the last: both loaders write both, so the first one's value stays.
#[test]
fn a_refused_last_line_and_the_kernels_own_parsing() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/10-a.conf",
        "net.core.somaxconn = 8192\nnet.ipv4.tcp_fin_timeout = 0x1e\nnet.ipv4.tcp_retries2 = 010\nnet.ipv4.tcp_keepalive_time = 600\n",
    );
    d.write(
        "etc/sysctl.d/20-b.conf",
        "net.core.somaxconn = \"16384\"\nnet.ipv4.tcp_fin_timeout = 9000000\nnet.ipv4.tcp_retries2 = -0\n\
net.ipv4.tcp_keepalive_intvl = 20 ; note\nnet.ipv4.tcp_keepalive_probes = 0x\nnet.ipv4.tcp_keepalive_time = 7#x\n\
net.ipv4.tcp_orphan_* = 3\nnet.ipv4.tcp_orphan_r* = -1\n",
    );
    check_tree(&d);
    let tree = d.root.path();
    let profile = keys_profile(tree, KEYS);
    // Under both boot loaders: the loaders disagree, nothing is "overridden".
    for (boot, after) in [("systemd", 4096), ("procps", 8192)] {
        let bin = if boot == "procps" {
            "usr/sbin/sysctl"
        } else {
            "lib/systemd/systemd-sysctl"
        };
        d.write(bin, "");
        let j = offline(tree, &["--format", "json", "--profile", &profile]).json();
        std::fs::remove_file(tree.join(bin)).unwrap();
        let f = finding(&j, "net.core.somaxconn");
        assert_eq!(f["drift"], "loaders-disagree", "{boot}: {f}");
        assert_eq!(f["persisted"]["after_reboot"], after, "{boot}: {f}");
        assert!(
            f["persisted"]["shadowed"].as_array().unwrap().is_empty(),
            "{f}"
        );
        let msg = f["message"].as_str().unwrap();
        assert!(
            msg.contains("sets `\"16384\"`, which the kernel rejects"),
            "{msg}"
        );
    }
}

/// Debian's `99-sysctl.conf -> ../sysctl.conf` with no /etc/sysctl.conf: procps warns
/// and goes on, systemd-sysctl skips it; tuneguard skips it too, says so, and apply does
/// not refuse.
#[test]
fn a_dangling_link_is_skipped_like_the_loaders_skip_it() {
    let d = Dirs::new();
    d.write("etc/sysctl.d/10-a.conf", "net.core.somaxconn = 2048\n");
    std::os::unix::fs::symlink(
        "../sysctl.conf",
        d.root.path().join("etc/sysctl.d/99-sysctl.conf"),
    )
    .unwrap();
    // A dangling link still masks a same-named file in a later directory, under both.
    d.write(
        "usr/lib/sysctl.d/50-x.conf",
        "net.ipv4.tcp_fin_timeout = 33\n",
    );
    std::os::unix::fs::symlink(
        "../nowhere.conf",
        d.root.path().join("etc/sysctl.d/50-x.conf"),
    )
    .unwrap();
    check_tree(&d);
    let tree = d.root.path();
    let r = offline(tree, &["--format", "json"]);
    assert_ne!(r.code, 2, "{}", r.stderr);
    let f = finding(&r.json(), "/etc/sysctl.d/99-sysctl.conf").clone();
    assert_eq!(f["severity"], "info", "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("both loaders skip it"),
        "{f}"
    );
    let state = tempfile::tempdir().unwrap();
    let ns = Netns::new();
    let r = run(&[
        "apply",
        "--netns",
        &ns.name,
        "--root",
        tree.to_str().unwrap(),
        "--state-dir",
        state.path().to_str().unwrap(),
        "--no-nginx",
        "--dry-run",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("is unknown"), "{}", r.stderr);
}

// apply, judged by the same oracle: after apply both real loaders set the profile's
// values from the files it left, a second apply changes nothing, and rollback restores
// every byte.

/// Every file under `dir`, relative path → bytes (a link: `-> target`).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(dir)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            match std::fs::read_link(&p) {
                Ok(to) => (rel, format!("-> {}", to.display()).into_bytes()),
                Err(_) => (rel, std::fs::read(&p).unwrap()),
            }
        })
        .collect()
}

fn read(d: &Dirs, rel: &str) -> String {
    std::fs::read_to_string(d.root.path().join(rel)).unwrap()
}

/// Applies PROFILE (YAML text) in a fresh namespace with `d` as --root; asserts both
/// loader models and both real loaders then give `want` for each key, that a second
/// apply changes nothing, and that rollback restores every byte under the root.
fn apply_and_check(d: &Dirs, profile: &str, want: &[(&str, &str)], check: impl Fn(&Dirs)) {
    let ns = Netns::new();
    let pdir = tempfile::tempdir().unwrap();
    let profile = write_profile(pdir.path(), "issue14", profile);
    let before = files(d.root.path());
    let r = common::apply::apply_in(&ns, d, &["--yes", "--profile", &profile]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    check(d);
    let tree = d.root.path();
    for loader in ["procps", "systemd"] {
        let model = predicted(tree, loader);
        let real = load(tree, loader);
        for (k, v) in want {
            assert_eq!(
                model[*k], *v,
                "tuneguard's {loader} model, {k}: {}",
                r.stdout
            );
            assert_eq!(real[*k], *v, "the real {loader}, {k}: {}", r.stdout);
        }
    }
    let after = files(tree);
    let again = common::apply::apply_in(&ns, d, &["--yes", "--profile", &profile]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(files(tree), after, "a second apply changes no file");
    let state = d.state.path().to_str().unwrap();
    let rb = run(&["rollback", "--yes", "--state-dir", state, "--last"]);
    assert_eq!(rb.code, 0, "{}\n{}", rb.stdout, rb.stderr);
    assert_eq!(files(tree), before, "rollback restores every byte");
}

#[test]
fn apply_wins_for_both_loaders_when_lines_repeat_a_value() {
    // Issue 14: 60-a and 70-b both set 300, sysctl.conf 600. systemd-sysctl skips 70-b's
    // repeat, but 70-b is the line that decides (edit 60-a alone and 70-b's 300 replaces
    // it), so apply edits 70-b for systemd and sysctl.conf for procps, and 60-a stays.
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/60-a.conf",
        "net.ipv4.tcp_keepalive_time = 300\n",
    );
    d.write(
        "etc/sysctl.d/70-b.conf",
        "net.ipv4.tcp_keepalive_time = 300\n",
    );
    d.write("etc/sysctl.conf", "net.ipv4.tcp_keepalive_time = 600\n");
    apply_and_check(
        &d,
        "sysctl:\n  net.ipv4.tcp_keepalive_time: {max: 240}\n",
        &[("net.ipv4.tcp_keepalive_time", "240")],
        |d| {
            // Only value bytes changed, only under /etc; no drop-in was needed.
            assert_eq!(
                read(d, "etc/sysctl.d/60-a.conf"),
                "net.ipv4.tcp_keepalive_time = 300\n"
            );
            for f in ["etc/sysctl.d/70-b.conf", "etc/sysctl.conf"] {
                assert_eq!(read(d, f), "net.ipv4.tcp_keepalive_time = 240\n", "{f}");
            }
        },
    );
}

#[test]
fn apply_keeps_notes_after_values_byte_for_byte() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/60-site.conf",
        "net.core.somaxconn = 1024 # 16384\r\nnet.ipv4.tcp_fin_timeout=30 ; site\r\n",
    );
    d.write(
        "etc/sysctl.conf",
        "net.ipv4.tcp_keepalive_time = 600 #note\n",
    );
    apply_and_check(
        &d,
        "sysctl:\n  net.ipv4.tcp_keepalive_time: {max: 240}\n  net.core.somaxconn: {min: 300000}\n  net.ipv4.tcp_fin_timeout: {max: 20}\n",
        &[
            ("net.ipv4.tcp_keepalive_time", "240"),
            ("net.core.somaxconn", "300000"),
            ("net.ipv4.tcp_fin_timeout", "20"),
        ],
        |d| {
            assert_eq!(
                read(d, "etc/sysctl.d/60-site.conf"),
                "net.core.somaxconn = 300000 # 16384\r\nnet.ipv4.tcp_fin_timeout=20 ; site\r\n"
            );
            assert_eq!(read(d, "etc/sysctl.conf"), "net.ipv4.tcp_keepalive_time = 240 #note\n");
            // systemd-sysctl never reads /etc/sysctl.conf: the drop-in carries the key.
            assert!(read(d, "etc/sysctl.d/90-tuneguard.conf")
                .ends_with("\nnet.ipv4.tcp_keepalive_time = 240\n"));
        },
    );
}

#[test]
fn apply_never_edits_outside_etc_and_its_drop_in_beats_a_later_vendor_file() {
    // Keys set only in package-owned /usr/lib and tmpfs /run: the drop-in in
    // /etc/sysctl.d carries them, named after zzzz.conf so it wins; those files keep
    // every byte.
    let d = Dirs::new();
    let vendor = "# vendor\nnet.ipv4.tcp_keepalive_time = 7200\n";
    let late = "net.ipv4.tcp_fin_timeout = 60\n";
    let run_file = "net.core.somaxconn = 128\n";
    d.write("usr/lib/sysctl.d/50-vendor.conf", vendor);
    d.write("usr/lib/sysctl.d/zzzz.conf", late);
    d.write("run/sysctl.d/40-run.conf", run_file);
    std::fs::create_dir_all(d.root.path().join("etc/sysctl.d")).unwrap();
    apply_and_check(
        &d,
        "sysctl:\n  net.ipv4.tcp_keepalive_time: {max: 240}\n  net.ipv4.tcp_fin_timeout: {max: 20}\n  net.core.somaxconn: {min: 4096}\n",
        &[
            ("net.ipv4.tcp_keepalive_time", "240"),
            ("net.ipv4.tcp_fin_timeout", "20"),
            ("net.core.somaxconn", "4096"),
        ],
        |d| {
            assert_eq!(read(d, "usr/lib/sysctl.d/50-vendor.conf"), vendor);
            assert_eq!(read(d, "usr/lib/sysctl.d/zzzz.conf"), late);
            assert_eq!(read(d, "run/sysctl.d/40-run.conf"), run_file);
            let names: Vec<String> = std::fs::read_dir(d.root.path().join("etc/sysctl.d"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["zzzz_tuneguard.conf"]);
        },
    );
}

#[test]
fn apply_masks_a_vendor_file_no_drop_in_name_sorts_after() {
    // A 255-byte name: `<name>_tuneguard.conf` would pass NAME_MAX, and zz-tuneguard.conf
    // sorts before it. A same-named copy in /etc/sysctl.d masks it, its other line kept.
    let d = Dirs::new();
    let name = format!("{}.conf", "z".repeat(250));
    let vendor = "# vendor\nnet.core.somaxconn = 4096\nnet.ipv4.tcp_keepalive_time = 900 # v\n";
    d.write(&format!("usr/lib/sysctl.d/{name}"), vendor);
    std::fs::create_dir_all(d.root.path().join("etc/sysctl.d")).unwrap();
    apply_and_check(
        &d,
        "sysctl:\n  net.ipv4.tcp_keepalive_time: {max: 240}\n",
        &[
            ("net.ipv4.tcp_keepalive_time", "240"),
            ("net.core.somaxconn", "4096"),
        ],
        |d| {
            assert_eq!(read(d, &format!("usr/lib/sysctl.d/{name}")), vendor);
            assert_eq!(
                read(d, &format!("etc/sysctl.d/{name}")),
                vendor.replace("900", "240")
            );
        },
    );
}

#[test]
fn apply_on_random_trees_wins_for_both_real_loaders() {
    // Lines that set, repeat, note, reject, exclude and glob the key, in files spread
    // over the directories and /etc/sysctl.conf, with names that collide across
    // directories and with the drop-in's. /lib is a link to usr/lib, as on this host
    // (the oracle can cover a split /lib only on a split host).
    const K: &str = "net.ipv4.tcp_keepalive_time";
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
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
    for _ in 0..20 {
        let d = Dirs::new();
        std::fs::create_dir_all(d.root.path().join("etc/sysctl.d")).unwrap();
        std::os::unix::fs::symlink("usr/lib", d.root.path().join("lib")).unwrap();
        for _ in 0..1 + next(5) {
            let rel = format!("{}/{}", dirs[next(4)], names[next(6)]);
            let text: String = (0..1 + next(3)).map(|_| lines[next(8)]).collect();
            d.write(&rel, &text);
        }
        if next(2) == 0 {
            d.write("etc/sysctl.conf", lines[next(8)]);
        }
        let before = files(d.root.path());
        apply_and_check(
            &d,
            "sysctl:\n  net.ipv4.tcp_keepalive_time: {equals: 240}\n",
            &[(K, "240")],
            |d| {
                // Nothing outside /etc changed.
                let after = files(d.root.path());
                for (rel, bytes) in &before {
                    if !rel.starts_with("etc/") {
                        assert_eq!(after.get(rel), Some(bytes), "{rel}");
                    }
                }
            },
        );
    }
}
