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
        assert!(msg.contains("rejects `\"16384\"`"), "{msg}");
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
