//! Which processes hold a socket: the scan of /proc/PID/fd that `ss -p` does, limited to
//! the processes living in the audited network namespace.
//!
//! A busy host holds hundreds of thousands of open files in processes that have nothing
//! to do with the namespace tuneguard audits (other containers, databases); listing them
//! all cost seconds (one readlink per fd). A process's namespace is one `stat` of
//! /proc/PID/ns/net, compared with the nsfs identity (device and inode) of the namespace
//! this thread has entered, so other processes' fd tables are never listed.
//!
//! Nothing of a process is believed beyond what `ss -p` shows: the fd links (never
//! followed: `readlinkat`) and `comm` (at most 15 bytes, printed escaped by the reports).
//! Every lookup starts from one pinned /proc/PID descriptor, so a PID reused while it is
//! read cannot mix two processes.

use crate::safety::tree::{self, Cap};
use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use rustix::io::Errno;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub pid: u32,
    /// /proc/PID/comm, trimmed (at most 15 bytes: the kernel truncates it).
    pub name: String,
}

/// Which processes hold each of these socket inodes, found by reading /proc/*/fd/* links
/// "socket:[INODE]". Processes we may not read are skipped silently; report how many
/// were skipped so the caller can say "owner unknown (not permitted)".
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Owners {
    /// One entry per process (not per fd); a socket shared after fork() has several.
    pub by_inode: HashMap<u64, Vec<Owner>>,
    /// Processes whose fd table we were refused. Processes we cannot see at all (another
    /// PID namespace, a hidepid= /proc) are not counted: their sockets just have no entry.
    pub unreadable_processes: usize,
}

/// The nsfs identity of a network namespace: what `stat` of an ns/net link says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NetnsId {
    dev: u64,
    ino: u64,
}

fn netns_of(dir: impl AsFd, path: &str) -> Result<NetnsId, Errno> {
    // ns/net is a magic link to an nsfs inode; stat follows it to that inode (it opens
    // nothing), which is exactly the identity `ip netns identify` compares.
    let st = rustix::fs::statat(dir, path, AtFlags::empty())?;
    Ok(NetnsId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// Owners of `inodes` among the processes in this thread's network namespace (the one
/// `--netns` entered). A socket held only by a process that has since moved to another
/// namespace (setns(2) after creating it, or received it over a unix socket) is not
/// attributed: the price of not listing every fd on the host.
pub fn owners(inodes: &HashSet<u64>) -> Owners {
    let mut out = Owners::default();
    if inodes.is_empty() {
        return out;
    }
    let open_dir = |at: &dyn AsFd, name: &str, flags: OFlags| {
        rustix::fs::openat(
            at,
            name,
            flags | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let Ok(proc_fd) = open_dir(&rustix::fs::CWD, "/proc", OFlags::RDONLY) else {
        return out;
    };
    // Where the namespace cannot be told (no nsfs), every process is scanned, as before.
    let target = netns_of(&proc_fd, "thread-self/ns/net").ok();
    let Ok(procs) = Dir::read_from(&proc_fd) else {
        return out;
    };
    for entry in procs.flatten() {
        let name = entry.file_name().to_bytes();
        let Some(pid) = std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // Gone since /proc was listed: it holds nothing any more.
        let Ok(pid_dir) = open_dir(&proc_fd, &pid.to_string(), OFlags::PATH) else {
            continue;
        };
        if let Some(target) = target {
            match netns_of(&pid_dir, "ns/net") {
                Ok(ns) if ns == target => {}
                Ok(_) => continue,
                // Refused (a process ptrace rules hide, like some containers' init):
                // its fd table, when readable, still says what it holds, as before.
                Err(Errno::ACCESS | Errno::PERM) => {}
                // A kernel thread or a process exiting has no namespace to compare.
                Err(_) => continue,
            }
        }
        let held = match held_sockets(&pid_dir, inodes) {
            Ok(h) => h,
            Err(Errno::ACCESS | Errno::PERM) => {
                out.unreadable_processes += 1;
                continue;
            }
            Err(_) => continue,
        };
        if held.is_empty() {
            continue;
        }
        let name = comm(&pid_dir);
        for ino in held {
            let owner = Owner {
                pid,
                name: name.clone(),
            };
            out.by_inode.entry(ino).or_default().push(owner);
        }
    }
    out
}

/// The asked-for socket inodes among a process's fds, each once.
fn held_sockets(pid_dir: &OwnedFd, inodes: &HashSet<u64>) -> Result<Vec<u64>, Errno> {
    let fd_dir = rustix::fs::openat(
        pid_dir,
        "fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut held = Vec::new();
    // "socket:[18446744073709551615]" is 29 bytes; a longer link is no socket.
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
    for fd in Dir::read_from(&fd_dir)?.flatten() {
        if fd.file_name().to_bytes().first() == Some(&b'.') {
            continue;
        }
        let Ok((link, _)) = rustix::fs::readlinkat_raw(&fd_dir, fd.file_name(), &mut buf) else {
            continue;
        };
        if let Some(ino) = socket_inode(link) {
            if inodes.contains(&ino) && !held.contains(&ino) {
                held.push(ino);
            }
        }
    }
    Ok(held)
}

fn comm(pid_dir: &OwnedFd) -> String {
    rustix::fs::openat(
        pid_dir,
        "comm",
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
    .and_then(|fd| tree::read_fd(fd, Cap::Small).ok())
    .map(|b| String::from_utf8_lossy(&b).trim_end().to_string())
    .unwrap_or_default()
}

fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    fn inode_of(fd: &impl AsRawFd) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        socket_inode(link.to_str().unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn owners_finds_this_process() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = inode_of(&l);
        let found = owners(&HashSet::from([inode, u64::MAX]));
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        let me = Owner {
            pid: std::process::id(),
            name: comm.trim_end().to_string(),
        };
        assert_eq!(found.by_inode.get(&inode), Some(&vec![me]));
        assert!(!found.by_inode.contains_key(&u64::MAX));
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[12345"), None);
    }

    #[test]
    fn the_namespace_identity_is_the_one_ip_netns_identify_compares() {
        let proc_fd =
            rustix::fs::open("/proc", OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mine = netns_of(&proc_fd, "thread-self/ns/net").unwrap();
        assert_eq!(netns_of(&proc_fd, "self/ns/net").unwrap(), mine);
        let st = std::fs::metadata("/proc/self/ns/net").unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((mine.dev, mine.ino), (st.dev(), st.ino()));
    }
}
