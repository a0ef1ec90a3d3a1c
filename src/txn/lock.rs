//! One transaction at a time, by exclusive flock(2)s the kernel releases when the holder
//! exits, also when it is killed:
//! - `STATE_DIR/lock`: one transaction per state directory (its journals). Opened with
//!   O_NOFOLLOW and checked (a regular file of root's with one link), so a planted
//!   symlink or hard link cannot make tuneguard truncate another file. The holder writes
//!   its pid into it so a refused second run can name it.
//! - the target: the network namespace written to (its nsfs inode, from
//!   /proc/thread-self/ns/net once entered) and every directory a file is written in,
//!   each by a lock file named for its device and inode in /run/tuneguard/locks (root's
//!   alone, so no other user can hold one). Two runs with different state directories
//!   still share these, so the second is refused; its holder is named from /proc/locks.

use crate::safety::state as trust;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub struct Lock {
    _files: Vec<File>,
}

/// flock(LOCK_EX|LOCK_NB): Ok(false) when another process holds it.
fn try_lock(file: &File, what: &Path) -> Result<bool> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(err).with_context(|| format!("locking {}", what.display()))
}

/// The pid holding a flock on `file`, from /proc/locks (`N: FLOCK ADVISORY WRITE PID
/// MAJ:MIN:INODE ...`, device numbers in hex).
fn holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    let want = format!(
        "{:02x}:{:02x}:{}",
        libc::major(dev),
        libc::minor(dev),
        meta.ino()
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&want.as_str()))
            .then(|| f.get(4)?.parse().ok())
            .flatten()
    })
}

/// A lock file, created 0600 if missing, never through a link, never blocking.
fn open_lock_file(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

fn busy(pid: Option<u32>, what: &str) -> anyhow::Error {
    let who = pid.map_or_else(
        || "another tuneguard".to_string(),
        |p| format!("tuneguard pid {p}"),
    );
    anyhow::anyhow!(
        "{who} is changing this host (it holds {what}); nothing was changed: wait for it to finish and run again"
    )
}

impl Lock {
    /// The state directory's lock. `dir` is the checked state directory
    /// (safety::state::dir).
    pub fn take(dir: &Path) -> Result<Lock> {
        let path = dir.join("lock");
        let file = open_lock_file(&path);
        let mut file = match file {
            Ok(f) => trust::checked(&path, f)?,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => bail!(
                "{} is a symbolic link: refused (tuneguard never follows links in its state directory, and would truncate its target); nothing was changed; remove it",
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        if !try_lock(&file, &path)? {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim().parse().ok().or_else(|| holder(&file));
            return Err(busy(pid, &path.display().to_string()));
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(Lock { _files: vec![file] })
    }

    /// The target's locks: the network namespace this thread is in now (`netns` is its
    /// label, for the message), and each directory in `dirs` (canonical; missing ones
    /// are skipped: nothing can be written there). Each is a lock file named by the
    /// target's device and inode in [`TARGET_LOCKS`], a directory only root can enter:
    /// a flock on the target itself (its nsfs file, the directory) could be taken by any
    /// user who can open it, and would block every apply in their name.
    pub fn target(netns: &str, dirs: &[PathBuf]) -> Result<Lock> {
        let locks = target_dir()?;
        let mut files = Vec::new();
        let ns = Path::new("/proc/thread-self/ns/net");
        let meta = std::fs::metadata(ns).with_context(|| format!("examining {}", ns.display()))?;
        files.push(lock_for(
            &locks,
            "netns",
            &meta,
            &format!("network namespace {netns}"),
        )?);
        let mut dirs = dirs.to_vec();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            let meta = match std::fs::symlink_metadata(&d) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("examining {}", d.display())),
            };
            files.push(lock_for(&locks, "dir", &meta, &d.display().to_string())?);
        }
        Ok(Lock { _files: files })
    }
}

/// Where the target locks live: one place for every state directory, on tmpfs (a lock
/// outlives no boot), root's alone.
pub const TARGET_LOCKS: &str = "/run/tuneguard/locks";

fn target_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = Path::new(TARGET_LOCKS);
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::safety::owner::trusted(dir).map_err(|u| {
        anyhow::anyhow!("the lock directory {TARGET_LOCKS}: {u}: refused, nothing was changed")
    })
}

/// Takes the lock file for one target (by device and inode), or says who holds it.
fn lock_for(dir: &Path, kind: &str, target: &std::fs::Metadata, what: &str) -> Result<File> {
    let path = dir.join(format!("{kind}-{}-{}", target.dev(), target.ino()));
    let file = open_lock_file(&path).with_context(|| format!("opening {}", path.display()))?;
    if !try_lock(&file, &path)? {
        return Err(busy(holder(&file), what));
    }
    Ok(file)
}
