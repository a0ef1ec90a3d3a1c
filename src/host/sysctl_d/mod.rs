//! The persisted sysctl configuration under a root (default `/`): every file procps
//! `sysctl --system` and systemd-sysctl would read, in their order, parsed. Which line
//! wins for a key is `resolve`'s job; this module only reads.
//!
//! Directories, in priority order (a file name seen in an earlier one masks the same
//! name in later ones; files are then applied sorted by name across directories):
//! - procps 4.0: /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d,
//!   /lib/sysctl.d, then /etc/sysctl.conf last;
//! - systemd-sysctl: the same five directories (/lib/sysctl.d is read by split-usr builds
//!   such as Debian 12's systemd 252; on merged-/usr hosts it is /usr/lib/sysctl.d), and
//!   never /etc/sysctl.conf.
//!
//! Symlinks are followed inside the root (an absolute link target is taken relative to
//! it), so a copied tree reads as the host would; a link to /dev/null masks a file, as
//! systemd documents.

pub mod parse;
pub mod resolve;

use crate::safety::tree::{Cap, Confine, ReadError, Tree};
use parse::Line;
use std::path::{Component, Path, PathBuf};

pub const DIRS: [&str; 5] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];
pub const SYSCTL_CONF: &str = "/etc/sysctl.conf";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loader {
    /// procps `sysctl --system`.
    Procps,
    /// systemd-sysctl.service.
    Systemd,
}

impl Loader {
    pub fn name(self) -> &'static str {
        match self {
            Loader::Procps => "sysctl --system",
            Loader::Systemd => "systemd-sysctl",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConfFile {
    /// The path as the loader names it on the host (`/etc/sysctl.d/99-sysctl.conf`).
    pub path: PathBuf,
    /// Where a symlink led, when it was one (`/etc/sysctl.conf`).
    pub target: Option<PathBuf>,
    pub lines: Vec<Line>,
    /// Where the bytes are on disk (under the root, symlinks followed): what an edit
    /// rewrites.
    pub real: PathBuf,
    /// The file as read: an edit changes only the lines it must.
    pub bytes: Vec<u8>,
}

/// A file or directory that exists but could not be read: named in a finding, and
/// the answer for every key is uncertain while it stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub path: PathBuf,
    pub error: String,
    /// tuneguard refused the file (safety::tree: not a regular file, too large, a link
    /// out of the root), rather than failing to read it: the audit stops (exit 2).
    pub refused: bool,
}

#[derive(Debug, Clone)]
pub struct Persisted {
    pub root: PathBuf,
    pub files: Vec<ConfFile>,
    /// Files in the order each loader applies them (indices into `files`).
    pub procps: Vec<usize>,
    pub systemd: Vec<usize>,
    /// Files no loader reads because a file of the same name in an earlier directory
    /// masks them: (index into `files`, the masking file). Parsed, so a key set only
    /// there can be shown as masked.
    pub masked: Vec<(usize, PathBuf)>,
    pub problems: Vec<Problem>,
    /// Links whose target does not exist (a Debian `99-sysctl.conf -> ../sysctl.conf`
    /// with no /etc/sysctl.conf), with where they point: procps warns "cannot open" and
    /// goes on, systemd-sysctl skips them, so they set nothing; each still masks a
    /// same-named file in a later directory (measured under both).
    pub dangling: Vec<(PathBuf, PathBuf)>,
    /// Which loader runs at boot under this root.
    pub boot: Loader,
    /// False when `boot` is a guess (no loader binary under the root, as in a
    /// repository's deploy tree): systemd is assumed.
    pub boot_known: bool,
}

impl Persisted {
    /// Nothing read yet: no files, boot loader assumed to be systemd.
    pub fn empty(root: &Path) -> Self {
        Persisted {
            root: root.to_path_buf(),
            files: Vec::new(),
            procps: Vec::new(),
            systemd: Vec::new(),
            masked: Vec::new(),
            problems: Vec::new(),
            dangling: Vec::new(),
            boot: Loader::Systemd,
            boot_known: false,
        }
    }

    pub fn order(&self, loader: Loader) -> &[usize] {
        match loader {
            Loader::Procps => &self.procps,
            Loader::Systemd => &self.systemd,
        }
    }
}

/// The most tuneguard reads of all sysctl files under a root together, and the most
/// files: real hosts hold a few dozen files of a few KiB; a tree of many files at the
/// 16 MiB cap each would otherwise take gigabytes.
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;
pub const MAX_FILES: usize = 10_000;

/// Reads everything both loaders would read under `root`.
pub fn read(root: &Path) -> Persisted {
    let mut p = Persisted::empty(root);
    let tree = match Tree::open(root, Confine::InRoot) {
        Ok(t) => t,
        Err(e) => {
            p.problems.push(Problem {
                path: root.into(),
                error: e.to_string(),
                refused: false,
            });
            return p;
        }
    };
    // (name, host path) of every *.conf, first directory wins.
    let mut chosen: Vec<(String, PathBuf)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut masked: Vec<(PathBuf, PathBuf)> = Vec::new();
    for dir in DIRS {
        let entries = match tree.read_dir(Path::new(dir)) {
            Ok(e) => e,
            Err(ReadError::NotFound) => continue,
            Err(ReadError::Io(e)) if e.raw_os_error() == Some(libc::ENOTDIR) => continue,
            Err(e) => {
                p.problems.push(Problem {
                    path: dir.into(),
                    error: e.to_string(),
                    refused: e.is_refusal(),
                });
                continue;
            }
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .filter(|n| n.len() > 5 && n.ends_with(".conf"))
            .collect();
        names.sort();
        for name in names {
            let host = Path::new(dir).join(&name);
            // /lib is /usr/lib on merged-/usr hosts: the same file seen twice, not a mask.
            let real = resolve_in_root(root, &host);
            if real != Path::new("/dev/null") && !seen.insert((name.clone(), real)) {
                continue;
            }
            match chosen.iter().find(|(n, _)| *n == name) {
                Some((_, by)) => masked.push((host, by.clone())),
                None => chosen.push((name, host)),
            }
        }
    }
    chosen.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if chosen.len() + masked.len() > MAX_FILES {
        p.problems.push(Problem {
            path: root.into(),
            error: format!(
                "holds {} sysctl files, more than the {MAX_FILES} tuneguard reads: refused",
                chosen.len() + masked.len()
            ),
            refused: true,
        });
        return p;
    }
    let mut budget = MAX_TOTAL_BYTES;
    for (_, host) in &chosen {
        if let Some(i) = read_file(&tree, host, &mut p, &mut budget) {
            p.procps.push(i);
            p.systemd.push(i);
        }
    }
    for (host, by) in masked {
        if let Some(i) = read_file(&tree, &host, &mut p, &mut budget) {
            p.masked.push((i, by));
        }
    }
    if tree.file_type(Path::new(SYSCTL_CONF)) == Some(rustix::fs::FileType::RegularFile) {
        if let Some(i) = read_file(&tree, Path::new(SYSCTL_CONF), &mut p, &mut budget) {
            p.procps.push(i);
        }
    }
    let has = |rel: &str| tree.file_type(Path::new(rel)).is_some();
    if has("/lib/systemd/systemd-sysctl") || has("/usr/lib/systemd/systemd-sysctl") {
        p.boot = Loader::Systemd;
        p.boot_known = true;
    } else if has("/sbin/sysctl") || has("/usr/sbin/sysctl") {
        p.boot = Loader::Procps;
        p.boot_known = true;
    }
    p
}

/// Reads one file through the tree: links followed only inside the root, a regular
/// file only, at most [`Cap::Config`] of it and what is left of the `budget` for all.
fn read_file(tree: &Tree, host: &Path, p: &mut Persisted, budget: &mut u64) -> Option<usize> {
    let root = tree.top();
    let real = resolve_in_root(root, host);
    let target = link_target(root, host);
    if target.as_deref() == Some(Path::new("/dev/null")) {
        p.files.push(ConfFile {
            path: host.into(),
            target,
            lines: Vec::new(),
            real,
            bytes: Vec::new(),
        });
        return Some(p.files.len() - 1);
    }
    match tree.read_within(host, Cap::Config, budget, "the sysctl files (64 MiB)") {
        Ok(bytes) => {
            let lines = parse::parse(&String::from_utf8_lossy(&bytes));
            p.files.push(ConfFile {
                path: host.into(),
                target,
                lines,
                real,
                bytes,
            });
            Some(p.files.len() - 1)
        }
        // Listed in its directory but not there: a link to a missing file. Both
        // loaders go on without it, and so does tuneguard.
        Err(ReadError::NotFound) if target.is_some() => {
            p.dangling.push((host.into(), target.unwrap_or_default()));
            None
        }
        Err(e) => {
            p.problems.push(Problem {
                path: host.into(),
                error: e.to_string(),
                refused: e.is_refusal(),
            });
            None
        }
    }
}

/// The host path a symlink chain at `host` ends at, when `host` is a symlink.
fn link_target(root: &Path, host: &Path) -> Option<PathBuf> {
    std::fs::symlink_metadata(root.join(strip_root(host)))
        .ok()?
        .file_type()
        .is_symlink()
        .then(|| {
            let real = resolve_in_root(root, host);
            match real.strip_prefix(root) {
                Ok(rel) => Path::new("/").join(rel),
                Err(_) => real,
            }
        })
}

fn strip_root(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

/// Resolves `host` (an absolute path as the host sees it) inside `root`, following
/// symlinks component by component with absolute targets re-rooted, as a chroot would.
/// `/dev/null` is returned as is so callers can see a mask.
pub fn resolve_in_root(root: &Path, host: &Path) -> PathBuf {
    let mut pending: Vec<PathBuf> = host
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(PathBuf::from(s)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    let mut current = PathBuf::from("/");
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part.as_os_str() == ".." {
            current.pop();
            continue;
        }
        let next = current.join(&part);
        let on_disk = root.join(strip_root(&next));
        match std::fs::read_link(&on_disk) {
            Ok(target) if hops < 40 => {
                hops += 1;
                if target == Path::new("/dev/null") {
                    return target;
                }
                if target.is_absolute() {
                    current = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(PathBuf::from(s)),
                        Component::ParentDir => pending.push(PathBuf::from("..")),
                        _ => {}
                    }
                }
            }
            _ => current = next,
        }
    }
    root.join(strip_root(&current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("usr/lib/sysctl.d")).unwrap();
        std::fs::create_dir_all(root.join("etc/sysctl.d")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        std::fs::write(root.join("etc/sysctl.conf"), "net.core.somaxconn = 1\n").unwrap();
        symlink("../sysctl.conf", root.join("etc/sysctl.d/99-sysctl.conf")).unwrap();
        symlink("/etc/sysctl.conf", root.join("etc/sysctl.d/98-abs.conf")).unwrap();
        symlink("/dev/null", root.join("etc/sysctl.d/50-masked.conf")).unwrap();
        std::fs::write(
            root.join("usr/lib/sysctl.d/50-masked.conf"),
            "net.core.somaxconn = 2\n",
        )
        .unwrap();
        let p = read(root);
        let names: Vec<_> = p
            .procps
            .iter()
            .map(|&i| p.files[i].path.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/etc/sysctl.d/50-masked.conf",
                "/etc/sysctl.d/98-abs.conf",
                "/etc/sysctl.d/99-sysctl.conf",
                "/etc/sysctl.conf"
            ]
        );
        assert_eq!(p.systemd.len(), 3);
        assert!(
            p.files[p.procps[0]].lines.is_empty(),
            "a link to /dev/null masks"
        );
        assert_eq!(
            p.files[p.procps[1]].target.as_deref(),
            Some(Path::new("/etc/sysctl.conf"))
        );
        assert_eq!(
            p.files[p.procps[1]].lines.len(),
            1,
            "an absolute link is read inside the root"
        );
        let masked: Vec<_> = p
            .masked
            .iter()
            .map(|(i, by)| (p.files[*i].path.clone(), by.clone()))
            .collect();
        assert_eq!(
            masked,
            vec![(
                PathBuf::from("/usr/lib/sysctl.d/50-masked.conf"),
                PathBuf::from("/etc/sysctl.d/50-masked.conf")
            )]
        );
        assert!(!p.boot_known);
    }

    #[test]
    fn a_dangling_link_is_skipped_as_both_loaders_skip_it() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc/sysctl.d")).unwrap();
        symlink("../sysctl.conf", root.join("etc/sysctl.d/99-sysctl.conf")).unwrap();
        std::fs::write(
            root.join("etc/sysctl.d/10-a.conf"),
            "net.core.somaxconn = 1\n",
        )
        .unwrap();
        let p = read(root);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.procps.len(), 1);
        assert_eq!(
            p.dangling,
            [(
                PathBuf::from("/etc/sysctl.d/99-sysctl.conf"),
                PathBuf::from("/etc/sysctl.conf")
            )]
        );
    }
}
