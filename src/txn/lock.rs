//! One transaction at a time: an exclusive flock(2) on `STATE_DIR/lock`, which the kernel
//! releases when the holder exits, also when it is killed. The holder writes its pid into
//! the file so a refused second run can name it.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub struct Lock {
    _file: File,
}

/// The state directory, made 0700 when missing (journals hold old file contents).
pub fn state_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the state directory {}", dir.display()))?;
    }
    Ok(())
}

impl Lock {
    pub fn take(dir: &Path) -> Result<Lock> {
        state_dir(dir)?;
        let path = dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another tuneguard".to_string()
                } else {
                    format!("tuneguard pid {holder}")
                };
                bail!(
                    "{who} is changing this host (it holds {}); nothing was changed: wait for it to finish and run again",
                    path.display()
                );
            }
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(Lock { _file: file })
    }
}
