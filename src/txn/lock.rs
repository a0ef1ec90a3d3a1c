//! One transaction at a time, by exclusive flock(2)s the kernel releases when the holder
//! exits, also when it is killed:
//! - `STATE_DIR/lock`: one transaction per state directory (its journals). Opened with
//!   O_NOFOLLOW and checked (a regular file of root's with one link), so a planted
//!   symlink or hard link cannot make tuneguard truncate another file. The holder writes
//!   its pid into it so a refused second run can name it.
//! - the target: the network namespace written to (its nsfs inode, from
//!   /proc/thread-self/ns/net once entered) and every directory a file is written in.
//!   Two runs with different state directories still share these, so the second is
//!   refused; its holder is named from /proc/locks.

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
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path);
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
    /// are skipped: nothing can be written there).
    pub fn target(netns: &str, dirs: &[PathBuf]) -> Result<Lock> {
        let mut files = Vec::new();
        let ns = Path::new("/proc/thread-self/ns/net");
        let f = File::open(ns).with_context(|| format!("opening {}", ns.display()))?;
        if !try_lock(&f, ns)? {
            return Err(busy(holder(&f), &format!("network namespace {netns}")));
        }
        files.push(f);
        let mut dirs = dirs.to_vec();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            let f = match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&d)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("opening {}", d.display())),
            };
            if !try_lock(&f, &d)? {
                return Err(busy(holder(&f), &d.display().to_string()));
            }
            files.push(f);
        }
        Ok(Lock { _files: files })
    }
}
