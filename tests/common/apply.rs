//! A host for apply tests: a namespace with values off the baseline profile, and a temp
//! `--root` whose sysctl files set some of them (CRLF line ends, comments, a file mode
//! of 0640), plus a way to capture everything apply may touch and compare it later.
#![allow(dead_code)]

use super::{run, Dirs, Netns, Run};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub const KEYS: [&str; 4] = [
    "net.core.somaxconn",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_ecn",
];

pub const SITE: &str = "# site tuning, keep this comment\r\nnet.core.somaxconn = 128\r\n\r\nvm.swappiness=10\r\n-net.ipv4.tcp_syncookies=0\r\n";

pub struct Host {
    pub ns: Netns,
    pub dirs: Dirs,
}

impl Host {
    /// somaxconn 128 and syncookies 0 (set in a file too), keepalive_time 9000 (live
    /// only, above the baseline's 7200).
    pub fn new() -> Host {
        let ns = Netns::new();
        ns.set("net.core.somaxconn", "128");
        ns.set("net.ipv4.tcp_syncookies", "0");
        ns.set("net.ipv4.tcp_keepalive_time", "9000");
        let dirs = Dirs::new();
        let site = dirs.write("etc/sysctl.d/60-site.conf", SITE);
        std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o640)).unwrap();
        dirs.write(
            "usr/lib/sysctl.d/50-default.conf",
            "net.ipv4.tcp_keepalive_*= 7200\n",
        );
        Host { ns, dirs }
    }

    pub fn root(&self) -> &str {
        self.dirs.root.path().to_str().unwrap()
    }

    pub fn state(&self) -> &str {
        self.dirs.state.path().to_str().unwrap()
    }

    /// `tuneguard apply` on this host, with ARGS.
    pub fn apply(&self, args: &[&str]) -> Run {
        apply_in(&self.ns, &self.dirs, args)
    }

    /// The arguments of `apply` on this host (for a test that spawns it itself).
    pub fn apply_args(&self) -> Vec<&str> {
        apply_args(&self.ns, &self.dirs)
    }

    pub fn tool(&self, cmd: &str, args: &[&str]) -> Run {
        let mut all = vec![cmd, "--state-dir", self.state()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Everything apply may change: the keys as the kernel shows them (read with
    /// sysctl(8) in the namespace), and every file under the root with its mode.
    pub fn capture(&self) -> State {
        let mut files = BTreeMap::new();
        collect(self.dirs.root.path(), self.dirs.root.path(), &mut files);
        State {
            live: KEYS
                .iter()
                .map(|k| (k.to_string(), self.ns.get(k)))
                .collect(),
            files,
        }
    }

    /// Transactions in the state dir, from `history --format json`.
    pub fn history(&self) -> Vec<serde_json::Value> {
        let r = self.tool("history", &["--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()["transactions"].as_array().unwrap().clone()
    }
}

/// `apply --netns NS --root R --state-dir S --no-nginx --color never`.
pub fn apply_args<'a>(ns: &'a Netns, dirs: &'a Dirs) -> Vec<&'a str> {
    vec![
        "apply",
        "--netns",
        &ns.name,
        "--root",
        dirs.root.path().to_str().unwrap(),
        "--state-dir",
        dirs.state.path().to_str().unwrap(),
        "--no-nginx",
        "--color",
        "never",
    ]
}

/// `tuneguard apply` in a namespace with a temp root and state dir, plus ARGS.
pub fn apply_in(ns: &Netns, dirs: &Dirs, args: &[&str]) -> Run {
    let mut all = apply_args(ns, dirs);
    all.extend_from_slice(args);
    run(&all)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub live: BTreeMap<String, String>,
    /// Path under the root → (bytes, mode).
    pub files: BTreeMap<String, (Vec<u8>, u32)>,
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, u32)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            collect(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(
                rel,
                (
                    std::fs::read(&p).unwrap(),
                    meta.permissions().mode() & 0o7777,
                ),
            );
        }
    }
}
