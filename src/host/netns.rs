//! Entering another network namespace before anything is read. setns(2) applies to the
//! calling thread; tuneguard reads on its main thread, so everything after `enter`
//! (including /proc/sys/net, which follows the reader's namespace) sees the target.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Target {
    /// A name under /run/netns (as `ip netns add` makes) or a path to a netns file.
    Netns(String),
    /// The network namespace of a process.
    Pid(u32),
}

impl Target {
    pub fn path(&self) -> PathBuf {
        match self {
            Target::Netns(s) if s.contains('/') => PathBuf::from(s),
            Target::Netns(s) => PathBuf::from("/run/netns").join(s),
            Target::Pid(p) => PathBuf::from(format!("/proc/{p}/ns/net")),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Target::Netns(s) => s.clone(),
            Target::Pid(p) => format!("pid:{p}"),
        }
    }
}

pub fn enter(target: &Target) -> Result<()> {
    let path = target.path();
    if let Target::Netns(name) = target {
        if !name.contains('/') && (name.is_empty() || name.starts_with('.')) {
            bail!("`{name}` is not a network namespace name");
        }
    }
    let uid = crate::safety::state::euid();
    let file = match std::fs::File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && uid != 0 => bail!(
            "{}: only root may open {} and enter another network namespace (CAP_SYS_ADMIN): run tuneguard as root (you are uid {uid})",
            match target {
                Target::Netns(n) => format!("--netns {n}"),
                Target::Pid(p) => format!("--pid {p}"),
            },
            path.display()
        ),
        other => other,
    };
    let file = file.with_context(|| match target {
        Target::Netns(_) => format!(
            "opening network namespace {} (is it listed by `ip netns list`?)",
            path.display()
        ),
        Target::Pid(p) => format!(
            "opening the network namespace of pid {p} ({})",
            path.display()
        ),
    })?;
    enter_fd(file.as_fd(), &path)
}

/// Moves the calling thread into the namespace `fd` refers to (`path` names it in errors).
pub fn enter_fd(fd: BorrowedFd<'_>, path: &Path) -> Result<()> {
    // SAFETY: setns takes a file descriptor the caller keeps open for the call.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EPERM) {
            bail!(
                "entering network namespace {} needs CAP_SYS_ADMIN: run tuneguard as root (you are uid {})",
                path.display(),
                crate::safety::state::euid()
            );
        }
        if err.raw_os_error() == Some(libc::EINVAL) {
            bail!("{} is not a network namespace", path.display());
        }
        return Err(err).with_context(|| format!("entering network namespace {}", path.display()));
    }
    Ok(())
}
