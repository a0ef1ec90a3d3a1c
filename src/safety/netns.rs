//! Which files tuneguard opens to enter a network namespace it found on the host
//! (`audit --all-netns`), and how.
//!
//! - `/run/netns` (what `ip netns` lists) is used only while it is root's alone
//!   (`owner::trusted`): a directory another user may write could hold a planted entry
//!   naming any namespace. Its entries are opened without following a link
//!   (O_NOFOLLOW), without blocking (O_NONBLOCK: a FIFO opens at once and is then
//!   refused), and must be nsfs files (fstatfs), the bind mounts `ip netns add` makes.
//! - `/proc/PID/ns/net` is a link the kernel makes, followed to its nsfs inode. The
//!   process may exit and its PID be reused between the listing and the open, so what
//!   was opened must still be the namespace found (device and inode, as
//!   `ip netns identify` compares).
//!
//! The process names and cgroups seen on the way are display-only text (host/workload.rs).

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::path::Path;

/// The directory `ip netns add` pins namespaces in.
pub const NAMED_DIR: &str = "/run/netns";

/// nsfs's magic number (linux/magic.h NSFS_MAGIC).
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// A namespace's identity: the nsfs device and inode of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Id {
    pub dev: u64,
    pub ino: u64,
}

/// Why a namespace file was not opened.
#[derive(Debug)]
pub enum Refused {
    /// Not there any more (the process exited, `ip netns del` ran).
    Gone,
    /// Something else than a network namespace: a planted file, a FIFO, a link, an entry
    /// `ip netns del` has unmounted but not yet removed.
    NotNetns(String),
    Io(Errno),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Gone => write!(f, "it is gone"),
            Refused::NotNetns(why) => write!(f, "{why}"),
            Refused::Io(e) => write!(f, "{}", std::io::Error::from(*e)),
        }
    }
}

/// Whether /run/netns may be believed; Err says why not.
pub fn named_dir_trusted() -> Result<(), super::owner::Untrusted> {
    super::owner::trusted(Path::new(NAMED_DIR)).map(|_| ())
}

/// How to open a namespace file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An entry of /run/netns: never follow a link.
    Named,
    /// /proc/PID/ns/net: the kernel's own link, followed.
    Process,
}

/// Opens a namespace file for setns(2): O_RDONLY (setns refuses O_PATH descriptors),
/// never blocking, and only an nsfs file; `expect`, when given, is the identity it must
/// still have.
pub fn open(path: &Path, kind: Kind, expect: Option<Id>) -> Result<(OwnedFd, Id), Refused> {
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if kind == Kind::Named {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| match e {
        Errno::NOENT | Errno::SRCH => Refused::Gone,
        Errno::LOOP => Refused::NotNetns(format!("{} is a link", path.display())),
        e => Refused::Io(e),
    })?;
    let fs = rustix::fs::fstatfs(&fd).map_err(Refused::Io)?;
    #[allow(clippy::unnecessary_cast)]
    if fs.f_type as i64 != NSFS_MAGIC {
        return Err(Refused::NotNetns(format!(
            "{} is not a namespace file",
            path.display()
        )));
    }
    let st = rustix::fs::fstat(&fd).map_err(Refused::Io)?;
    let id = Id {
        dev: st.st_dev,
        ino: st.st_ino,
    };
    match expect {
        Some(want) if want != id => Err(Refused::Gone),
        _ => Ok((fd, id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_fifos_and_links_and_opens_its_own_namespace() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(
            open(&file, Kind::Named, None),
            Err(Refused::NotNetns(_))
        ));
        let fifo = d.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(
            open(&fifo, Kind::Named, None),
            Err(Refused::NotNetns(_))
        ));
        let link = d.path().join("link");
        std::os::unix::fs::symlink("/proc/self/ns/net", &link).unwrap();
        assert!(matches!(
            open(&link, Kind::Named, None),
            Err(Refused::NotNetns(_))
        ));
        assert!(matches!(
            open(&d.path().join("none"), Kind::Named, None),
            Err(Refused::Gone)
        ));
        let (_, id) = open(Path::new("/proc/self/ns/net"), Kind::Process, None).unwrap();
        assert!(open(Path::new("/proc/self/ns/net"), Kind::Process, Some(id)).is_ok());
        let other = Id {
            dev: id.dev,
            ino: id.ino + 1,
        };
        assert!(matches!(
            open(Path::new("/proc/self/ns/net"), Kind::Process, Some(other)),
            Err(Refused::Gone)
        ));
    }
}
