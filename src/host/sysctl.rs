//! Live sysctl values: through the `sysctl` crate for the running kernel (in the
//! calling thread's network namespace), or from a captured proc tree.

use super::{LiveSource, Reading};
use std::path::{Path, PathBuf};
use sysctl::Sysctl;

/// A global key that exists only in the initial network namespace: its absence is the
/// kernel's own word that we are inside a child netns (docs/kernel.md §3).
pub const INITIAL_NETNS_WITNESS: &str = "net.core.netdev_max_backlog";

pub struct Reader {
    source: LiveSource,
}

impl Reader {
    pub fn new(source: LiveSource) -> Self {
        Self { source }
    }

    /// Reads one key. Callers validate key names before they get here
    /// (`catalog::validate_key_name`); a name that would leave /proc/sys is refused.
    pub fn read(&self, key: &str) -> Reading {
        if crate::catalog::validate_key_name(key).is_err() {
            return Reading::Absent;
        }
        match &self.source {
            LiveSource::Kernel => read_live(key),
            LiveSource::ProcDir(dir) => read_captured(dir, key),
            LiveSource::Offline => Reading::Absent,
        }
    }

    /// Whether `key` is a net.* key present under the reading namespace's own
    /// /proc/sys/net (see `Snapshot::per_netns`). Looked at without following a link:
    /// the kernel's sysctl tree has none, so one would not be the kernel's word.
    pub fn in_own_net(&self, key: &str) -> bool {
        let sys = match &self.source {
            LiveSource::Kernel => PathBuf::from("/proc/sys"),
            LiveSource::ProcDir(dir) => dir.join("sys"),
            LiveSource::Offline => return false,
        };
        key.starts_with("net.")
            && crate::catalog::validate_key_name(key).is_ok()
            && std::fs::symlink_metadata(key_path(&sys, key)).is_ok_and(|m| m.is_file())
    }
}

pub fn key_path(sys: &Path, key: &str) -> PathBuf {
    sys.join(key.replace('.', "/"))
}

fn read_live(key: &str) -> Reading {
    // The crate reports every failure to open as NotFound; tell absence from a
    // permission problem by looking at the file ourselves.
    match sysctl::Ctl::new(key).and_then(|c| c.value_string()) {
        Ok(v) => Reading::Value(normalize(&v)),
        Err(_) => read_file(&key_path(Path::new("/proc/sys"), key)),
    }
}

/// A key of a captured tree: below its top only (a link out of it is refused, so a
/// planted link cannot print another file as a value), a regular file of at most
/// [`Cap::Config`].
fn read_captured(dir: &Path, key: &str) -> Reading {
    use crate::safety::tree::{Cap, Confine, ReadError, Tree};
    let rel = key_path(Path::new("sys"), key);
    let read = Tree::open(dir, Confine::Beneath)
        .map_err(ReadError::Io)
        .and_then(|t| t.read(&rel, Cap::Config));
    match read {
        Ok(bytes) => Reading::Value(normalize(&String::from_utf8_lossy(&bytes))),
        Err(ReadError::NotFound) => Reading::Absent,
        Err(e) => Reading::Unreadable {
            path: dir.join(&rel),
            permission: matches!(&e, ReadError::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied),
            error: e.to_string(),
        },
    }
}

fn read_file(path: &Path) -> Reading {
    match std::fs::read_to_string(path) {
        Ok(v) => Reading::Value(normalize(&v)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Reading::Absent,
        Err(e) => Reading::Unreadable {
            path: path.to_path_buf(),
            permission: e.kind() == std::io::ErrorKind::PermissionDenied,
            error: e.to_string(),
        },
    }
}

/// The kernel separates fields with tabs; we keep one space, as sysctl.d files do.
fn normalize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_captured_tree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sys/net/ipv4");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("tcp_rmem"), "4096\t131072\t6291456\n").unwrap();
        let r = Reader::new(LiveSource::ProcDir(dir.path().into()));
        assert_eq!(
            r.read("net.ipv4.tcp_rmem"),
            Reading::Value("4096 131072 6291456".into())
        );
        assert_eq!(r.read("net.ipv4.tcp_wmem"), Reading::Absent);
        assert_eq!(r.read("net.ipv4/../../x"), Reading::Absent);
        assert!(r.in_own_net("net.ipv4.tcp_rmem"));
        assert!(!r.in_own_net("net.ipv4.tcp_wmem"));
        std::fs::create_dir_all(dir.path().join("sys/kernel")).unwrap();
        std::fs::write(dir.path().join("sys/kernel/core_pattern"), "core\n").unwrap();
        assert!(!r.in_own_net("kernel.core_pattern"));
    }
}
