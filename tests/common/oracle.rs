//! The real loaders as an oracle that cannot touch the host: procps `sysctl --system` and
//! systemd-sysctl, each run in a fresh `unshare --mount --net`, chrooted into a tmpfs copy
//! of a tree, with a /proc/sys that shows only the new namespace's `net/` (a read-only
//! tmpfs over /proc/sys with /proc/sys/net bound back into it). A kernel.*, vm.* or fs.*
//! line of any file finds no file to write (ENOENT); a net.* line reaches only the
//! throwaway namespace, where global net keys are not even visible.
//!
//! The loaders come from this machine (Debian 12: procps 4.0.2, systemd 252) and run in
//! the chroot through the dynamic linker with their libraries copied beside them, so the
//! tree under test is exactly what the loaders see as /.
#![allow(dead_code)]

use super::Netns;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Loader {
    Procps,
    Systemd,
}

impl Loader {
    pub const BOTH: [Loader; 2] = [Loader::Procps, Loader::Systemd];

    /// The key of this loader's winner in a finding's `persisted` object.
    pub fn json_key(self) -> &'static str {
        match self {
            Loader::Procps => "procps",
            Loader::Systemd => "systemd",
        }
    }

    fn command(self) -> &'static str {
        match self {
            Loader::Procps => "/.oracle/bin/sysctl --system",
            Loader::Systemd => "/.oracle/bin/systemd-sysctl",
        }
    }
}

const BINARIES: [&str; 2] = ["/usr/sbin/sysctl", "/lib/systemd/systemd-sysctl"];

/// The loaders and their libraries, copied once per test process.
fn kit() -> &'static Path {
    static KIT: OnceLock<PathBuf> = OnceLock::new();
    KIT.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Kits of earlier runs whose process is gone.
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("oracle-kit-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let kit = tmp.join(format!("oracle-kit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&kit);
        std::fs::create_dir_all(kit.join("bin")).unwrap();
        std::fs::create_dir_all(kit.join("lib")).unwrap();
        for b in BINARIES {
            assert!(
                Path::new(b).exists(),
                "the oracle needs {b} on this machine"
            );
            std::fs::copy(b, kit.join("bin").join(Path::new(b).file_name().unwrap())).unwrap();
            let out = Command::new("ldd").arg(b).output().expect("ldd");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let lib = match line.split_once("=>") {
                    Some((_, rest)) => rest.split_whitespace().next(),
                    None => None,
                };
                if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
                    let name = Path::new(lib).file_name().unwrap();
                    std::fs::copy(lib, kit.join("lib").join(name)).unwrap();
                }
            }
        }
        std::fs::copy("/lib64/ld-linux-x86-64.so.2", kit.join("ld.so")).unwrap();
        kit
    })
}

/// `/proc/sys/net/...` for a key.
fn proc_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// The shell lines that chroot `tree`'s tmpfs copy at `mnt` and run `loader` there, with
/// only net/ under /proc/sys. Runs inside a new mount namespace already in the target
/// network namespace.
fn script(tree: &Path, mnt: &Path, loader: Loader, keys: &[&str]) -> String {
    let r = mnt.display();
    let mut s = format!(
        r#"set -eu
mount -t tmpfs tmpfs "{r}"
cp -a "{t}/." "{r}/"
mkdir -p "{r}/.oracle" "{r}/proc"
mount --bind "{k}" "{r}/.oracle"
mount -o remount,bind,ro "{r}/.oracle"
mount -t proc proc "{r}/proc"
mount -t tmpfs tmpfs "{r}/proc/sys"
mkdir "{r}/proc/sys/net"
mount --bind /proc/sys/net "{r}/proc/sys/net"
mount -o remount,bind,ro "{r}/proc/sys"
chroot "{r}" /.oracle/ld.so --library-path /.oracle/lib {cmd} >/dev/null 2>&1 || true
"#,
        t = tree.display(),
        k = kit().display(),
        cmd = loader.command(),
    );
    for k in keys {
        s.push_str(&format!(
            "if [ -e {p} ]; then printf '%s=%s\\n' {k} \"$(cat {p})\"; fi\n",
            p = proc_path(k)
        ));
    }
    s
}

fn parse(out: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(out)
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

/// Runs `loader` on `tree` in a fresh mount + network namespace; returns the values the
/// namespace ends with for `keys` (a key the namespace does not have is left out).
pub fn load(tree: &Path, loader: Loader, keys: &[&str]) -> BTreeMap<String, String> {
    let mnt = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "bash", "-c"])
        .arg(script(tree, mnt.path(), loader, keys))
        .output()
        .expect("unshare");
    assert!(
        out.status.success(),
        "oracle run of {loader:?} on {} failed: {}",
        tree.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&out.stdout)
}

/// Runs `loader` on `tree` inside the existing network namespace `netns` (a boot of that
/// namespace); returns the values of `keys` it ends with.
pub fn boot(tree: &Path, loader: Loader, netns: &str, keys: &[&str]) -> BTreeMap<String, String> {
    let mnt = tempfile::tempdir().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "unshare", "--mount"])
        .args(["--propagation", "private", "bash", "-c"])
        .arg(script(tree, mnt.path(), loader, keys))
        .output()
        .expect("ip netns exec");
    assert!(
        out.status.success(),
        "booting {netns} with {loader:?} on {} failed: {}",
        tree.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&out.stdout)
}

/// `cp -a` of a tree (links, modes and all) into a new temp dir.
pub fn copy_tree(tree: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", tree.display()))
        .arg(d.path())
        .status()
        .unwrap();
    assert!(st.success());
    d
}

/// The file a loader reads for `rel` (an absolute path as the loaders name it), with
/// links resolved inside `tree` at every component (absolute targets re-rooted), as a
/// chroot resolves them, so the result never leaves the tree.
pub fn resolve_in(tree: &Path, rel: &str) -> PathBuf {
    fn push_rev(todo: &mut Vec<std::ffi::OsString>, p: &Path) {
        for c in p.components().rev() {
            match c {
                std::path::Component::Normal(n) => todo.push(n.to_os_string()),
                std::path::Component::ParentDir => todo.push("..".into()),
                _ => {}
            }
        }
    }
    let mut todo = Vec::new();
    push_rev(&mut todo, Path::new(rel));
    let mut at = PathBuf::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&c);
        match std::fs::read_link(tree.join(&next)) {
            Ok(t) => {
                hops += 1;
                assert!(hops < 40, "{rel}: too many links");
                if t.is_absolute() {
                    at = PathBuf::new();
                }
                push_rev(&mut todo, &t);
            }
            Err(_) => at = next,
        }
    }
    tree.join(at)
}

/// The byte range of the value on a sysctl line (`key = value  # note\r`): after `=` and
/// its blanks, up to the blanks, CR or ` #` note that end it. None for a line with no `=`.
pub fn value_span(line: &[u8]) -> Option<(usize, usize)> {
    let eq = line.iter().position(|&b| b == b'=')?;
    let mut start = eq + 1;
    while start < line.len() && (line[start] == b' ' || line[start] == b'\t') {
        start += 1;
    }
    let mut end = line.len();
    for i in start..line.len() {
        if line[i] == b'#' && i > start && (line[i - 1] == b' ' || line[i - 1] == b'\t') {
            end = i;
            break;
        }
    }
    while end > start && matches!(line[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    Some((start, end))
}

/// Replaces the value on line `line` (1-based) of `file` with `value`, keeping every other
/// byte.
pub fn set_line_value(file: &Path, line: usize, value: &str) {
    let bytes = std::fs::read(file).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(|l| l.to_vec()).collect();
    let l = &mut lines[line - 1];
    let (s, e) = value_span(l)
        .unwrap_or_else(|| panic!("{}:{line} has no value to replace", file.display()));
    l.splice(s..e, value.bytes());
    std::fs::write(file, lines.join(&b'\n')).unwrap();
}

/// The net.* keys a fresh namespace has and may write, and their values there (the kernel
/// defaults a namespace starts from). Keys read-only there (rmem_max and the other
/// host-wide ones a child namespace only sees) are left out: the loaders cannot set them in
/// the oracle's namespace, and on the host they are not the namespace's own.
pub fn fresh_values() -> &'static BTreeMap<String, String> {
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
pub struct Line {
    /// The path as the loaders name it (`/etc/sysctl.d/x.conf`).
    pub file: String,
    /// The file it really is under the tree (links resolved): the line's identity.
    pub real: PathBuf,
    pub line: usize,
    pub key: String,
    pub value: Option<String>,
}

/// Every assignment or exclusion line of every `*.conf` file the loaders may read (masked
/// ones included) and of /etc/sysctl.conf: the oracle's own list, independent of tuneguard.
pub fn lines_of(tree: &Path) -> Vec<Line> {
    let mut files = Vec::new();
    for d in super::corpus::DIRS {
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
        let real = resolve_in(tree, &f);
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

pub fn fnmatch(pattern: &str, key: &str) -> bool {
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

/// A valid value for `key` unlike any in `avoid`.
pub fn sentinel(key: &str, avoid: &[&str]) -> String {
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
                // A fresh value at INT_MAX or UINT_MAX is the type's top: go down from it.
                let step = if base >= i64::from(i32::MAX) { -1 } else { 1 };
                let mut out = Vec::new();
                for d in 1..=3 {
                    f[last] = base + step * d;
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
