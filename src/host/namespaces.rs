//! Every network namespace on the host: the ones `ip netns` names (/run/netns) and the
//! distinct namespaces of all processes (/proc/PID/ns/net: containers, pods, services
//! with PrivateNetwork=), one entry per namespace (nsfs device and inode), with what a
//! person would call it. Nothing is held open: a namespace found here may be gone when it
//! is entered, and the caller says so.

use super::workload::{self, Workload};
use crate::safety::netns::{self as policy, Id, Kind, Refused};
use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How many of a namespace's processes are named (and asked for their cgroup): enough
/// for a pod's pause process and its containers, bounded for the host's thousands.
pub const NAMED_PROCESSES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Process {
    pub pid: u32,
    /// /proc/PID/comm: chosen by the process, display-only.
    pub name: String,
}

/// One namespace.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: Id,
    /// Its `ip netns` names, sorted.
    pub names: Vec<String>,
    /// Every process in it, lowest pid first.
    pub pids: Vec<u32>,
    /// The first NAMED_PROCESSES of them, with their names.
    pub processes: Vec<Process>,
    /// The pod, container or unit its processes' cgroups name.
    pub workload: Option<Workload>,
    /// The namespace tuneguard itself runs in (the host's, normally).
    pub own: bool,
}

/// What was found, and what was passed over on the way.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub found: Vec<Found>,
    /// `ip netns` names that vanished between the listing and the open.
    pub vanished: Vec<String>,
    /// One sentence each: /run/netns not trusted, an entry that is not a namespace.
    pub notes: Vec<String>,
}

/// The namespace of a /proc entry or a path, following the kernel's link.
fn id_at(dir: impl rustix::fd::AsFd, path: &str) -> Option<Id> {
    rustix::fs::statat(dir, path, AtFlags::empty())
        .ok()
        .map(|st| Id {
            dev: st.st_dev,
            ino: st.st_ino,
        })
}

/// The namespace of this thread.
pub fn this_thread() -> Option<Id> {
    id_at(rustix::fs::CWD, "/proc/thread-self/ns/net")
}

/// Every pid by namespace, lowest first.
fn processes() -> BTreeMap<Id, Vec<u32>> {
    let mut by_ns: BTreeMap<Id, Vec<u32>> = BTreeMap::new();
    let Ok(proc_fd) = rustix::fs::open(
        "/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return by_ns;
    };
    let Ok(dir) = Dir::read_from(&proc_fd) else {
        return by_ns;
    };
    for entry in dir.flatten() {
        let Some(pid) = std::str::from_utf8(entry.file_name().to_bytes())
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // Gone, or a process ptrace rules hide: nothing to say about it.
        if let Some(id) = id_at(&proc_fd, &format!("{pid}/ns/net")) {
            by_ns.entry(id).or_default().push(pid);
        }
    }
    for pids in by_ns.values_mut() {
        pids.sort_unstable();
    }
    by_ns
}

/// The processes living in namespace `id`, lowest pid first.
pub fn pids_in(id: Id) -> Vec<u32> {
    processes().remove(&id).unwrap_or_default()
}

/// The workload a namespace's processes name (the first NAMED_PROCESSES of them): the one
/// rule `--all-netns` and a single `--netns`/`--pid` run both use.
pub fn workload_of(pids: &[u32]) -> Option<Workload> {
    workload::of_pids(&pids[..pids.len().min(NAMED_PROCESSES)])
}

fn comm(pid: u32) -> Option<String> {
    let path = PathBuf::from(format!("/proc/{pid}/comm"));
    let bytes = crate::safety::tree::read_file(&path, crate::safety::tree::Cap::Small).ok()?;
    Some(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

/// The /run/netns entries that are namespaces, by namespace.
fn named(out: &mut Discovery) -> BTreeMap<Id, Vec<String>> {
    let mut by_ns: BTreeMap<Id, Vec<String>> = BTreeMap::new();
    let dir = Path::new(policy::NAMED_DIR);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return by_ns;
    };
    if let Err(why) = policy::named_dir_trusted() {
        out.notes.push(format!(
            "the names under {} were not used: {why}",
            dir.display()
        ));
        return by_ns;
    }
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        match policy::open(&dir.join(&name), Kind::Named, None) {
            Ok((_, id)) => by_ns.entry(id).or_default().push(name),
            Err(Refused::Gone) => out.vanished.push(name),
            // `ip netns del` unmounts, then removes; an entry left between the two (a
            // failed delete) is no namespace any more.
            Err(Refused::NotNetns(why)) if why.ends_with("not a namespace file") => {
                out.notes.push(format!(
                    "{} is not a mounted namespace (a leftover: `ip netns del {name}` removes it)",
                    dir.join(&name).display()
                ))
            }
            Err(why) => out.notes.push(format!(
                "{} was passed over: {why}",
                dir.join(&name).display()
            )),
        }
    }
    for names in by_ns.values_mut() {
        names.sort();
    }
    by_ns
}

/// Lists every network namespace: named ones first (by name), then the others (by
/// their lowest pid), tuneguard's own first of all.
pub fn discover() -> Discovery {
    let mut out = Discovery::default();
    let mut named = named(&mut out);
    let procs = processes();
    let own = id_at(rustix::fs::CWD, "/proc/self/ns/net");
    let mut ids: Vec<Id> = named.keys().chain(procs.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let pids = procs.get(&id).cloned().unwrap_or_default();
        let processes = pids
            .iter()
            .take(NAMED_PROCESSES)
            .filter_map(|&pid| comm(pid).map(|name| Process { pid, name }))
            .collect();
        out.found.push(Found {
            id,
            names: named.remove(&id).unwrap_or_default(),
            workload: if Some(id) == own {
                None
            } else {
                workload_of(&pids)
            },
            pids,
            processes,
            own: Some(id) == own,
        });
    }
    out.found.sort_by(|a, b| {
        (!a.own, a.names.is_empty(), a.names.first(), a.pids.first()).cmp(&(
            !b.own,
            b.names.is_empty(),
            b.names.first(),
            b.pids.first(),
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_namespace_once_with_itself_inside() {
        let d = discover();
        let own: Vec<_> = d.found.iter().filter(|f| f.own).collect();
        assert_eq!(own.len(), 1);
        assert!(own[0].pids.contains(&std::process::id()));
        assert_eq!(Some(own[0].id), this_thread());
        let mut ids: Vec<_> = d.found.iter().map(|f| f.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), d.found.len());
    }
}
