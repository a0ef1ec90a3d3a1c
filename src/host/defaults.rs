//! What a key returns to when no file sets it: the kernel's default for a network
//! namespace, learned from this kernel. Some defaults depend on the machine
//! (tcp_max_syn_backlog scales with the TCP established hash, itself sized from
//! memory), so no table can say them; a brand-new network namespace starts from them
//! (docs/kernel.md §3), so we make one and read it.
//!
//! How, without leaving state: a thread of our own unshares a network namespace (a
//! namespace belongs to a task, so the rest of the process stays where it was), reads
//! the keys there (/proc/sys/net shows the reading task's namespace), and ends; the
//! namespace goes with it. About half a millisecond, so the caller does it only when a
//! key needs it (docs/performance.md).

use super::sysctl::Reader;
use super::{LiveSource, Reading};
use std::collections::BTreeMap;

/// What a brand-new network namespace showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewNetns {
    /// The kernel default of each key asked for that a new namespace shows, as the
    /// kernel printed it.
    pub values: BTreeMap<String, String>,
    /// Keys whose value in a new namespace is not the kernel default, and why.
    pub not_default: BTreeMap<String, String>,
    /// Why nothing could be learned (making a namespace needs CAP_SYS_ADMIN).
    pub failed: Option<String>,
}

/// Keys a new namespace copies from the initial namespace's *current* values instead of
/// starting from the kernel default (net/ipv4/tcp_ipv4.c tcp_sk_init, Linux 6.1:
/// `memcpy(net->ipv4.sysctl_tcp_rmem, init_net.ipv4.sysctl_tcp_rmem, ...)`, the
/// congestion control likewise; net/ipv4/devinet.c for conf.all and conf.default while
/// net.core.devconf_inherit_init_net is 0, its default). Their boot default is computed
/// once at boot (tcp_rmem's max from free memory, net/ipv4/tcp.c tcp_init) and no
/// running kernel shows it again.
const COPIED: &[&str] = &[
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_congestion_control",
];
const COPIED_PREFIXES: &[&str] = &["net.ipv4.conf.", "net.ipv6.conf."];

/// Keys a new namespace sizes from the creating namespace's
/// net.ipv4.tcp_child_ehash_entries when that is not 0 (tcp_set_hashinfo, 6.1), rather
/// than from the boot-time hash that gives the default.
const EHASH_SIZED: &[&str] = &[
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_max_tw_buckets",
];
const CHILD_EHASH: &str = "net.ipv4.tcp_child_ehash_entries";

/// Why a new namespace does not show `key`'s kernel default, when it does not: a copied
/// key, or one that is not per namespace at all.
pub fn copied(key: &str) -> Option<&'static str> {
    if COPIED.contains(&key) || COPIED_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return Some("a new network namespace copies the host's current value, and the boot default is computed once at boot");
    }
    if !key.starts_with("net.") {
        return Some("it is not a network namespace's key");
    }
    None
}

/// tcp_max_syn_backlog's default is max(128, TCP established hash entries / 128)
/// (tcp_set_hashinfo; /256 before 5.4), and since 6.1 the kernel shows the hash's size in
/// net.ipv4.tcp_ehash_entries (negative in a child namespace that shares the host's).
/// So this default can be read without making a namespace: the value one made from the
/// audited namespace would show, unless tcp_child_ehash_entries sizes it otherwise.
pub const SYN_BACKLOG: &str = "net.ipv4.tcp_max_syn_backlog";

/// (value, how it was found) for tcp_max_syn_backlog, when this kernel shows its hash.
pub fn syn_backlog_from_hash(
    kernel: Option<crate::kversion::KernelVersion>,
    initial: bool,
) -> Option<(String, String)> {
    if kernel.is_none_or(|k| k < crate::kversion::KernelVersion::new(5, 4)) {
        return None;
    }
    let reader = Reader::new(LiveSource::Kernel);
    let int = |k: &str| match reader.read(k) {
        Reading::Value(v) => v.trim().parse::<i64>().ok(),
        _ => None,
    };
    if int(CHILD_EHASH).is_some_and(|c| c != 0) {
        return None;
    }
    // A child with a hash of its own (positive) was sized at its creation; a namespace
    // made from it gets the host's hash, which only the initial one shows.
    let entries = match int("net.ipv4.tcp_ehash_entries")? {
        e if e > 0 && !initial => return None,
        e => e.abs(),
    };
    Some((
        (entries / 128).max(128).to_string(),
        format!("1/128 of the {entries}-entry TCP hash this kernel shows"),
    ))
}

/// A namespace being made and read on a thread of its own (`finish` waits for it).
pub struct Learning(Result<std::thread::JoinHandle<NewNetns>, String>);

/// Starts making a throwaway network namespace in a thread of its own and reading
/// `keys` there. The calling thread's namespace is not touched.
pub fn start(keys: &[String]) -> Learning {
    let keys = keys.to_vec();
    Learning(
        std::thread::Builder::new()
            .name("tuneguard-defaults".into())
            .spawn(move || learn_here(&keys))
            .map_err(|e| format!("starting a thread to make a network namespace: {e}")),
    )
}

impl Learning {
    pub fn finish(self) -> NewNetns {
        let joined = self.0.and_then(|h| {
            h.join()
                .map_err(|_| "the thread that reads a new network namespace failed".to_string())
        });
        joined.unwrap_or_else(|why| NewNetns {
            failed: Some(why),
            ..NewNetns::default()
        })
    }
}

/// `start` and `finish`.
pub fn learn(keys: &[String]) -> NewNetns {
    start(keys).finish()
}

/// Runs on a thread that ends right after: it unshares its own network namespace.
fn learn_here(keys: &[String]) -> NewNetns {
    let reader = Reader::new(LiveSource::Kernel);
    let mut out = NewNetns::default();
    // Read in the namespace the new one is made from: it decides how that one is sized.
    let child_ehash = match reader.read(CHILD_EHASH) {
        Reading::Value(v) => v.trim().parse::<u64>().unwrap_or(0),
        _ => 0,
    };
    // SAFETY: unshare takes no pointers; CLONE_NEWNET moves only this thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let err = std::io::Error::last_os_error();
        out.failed = Some(if err.raw_os_error() == Some(libc::EPERM) {
            "learning it takes a new network namespace, which needs root".to_string()
        } else {
            format!("making a network namespace to learn it: {err}")
        });
        return out;
    }
    for key in keys {
        if let Some(why) = copied(key) {
            out.not_default.insert(key.clone(), why.to_string());
        } else if child_ehash != 0 && EHASH_SIZED.contains(&key.as_str()) {
            out.not_default.insert(
                key.clone(),
                format!("{CHILD_EHASH} is {child_ehash} here, and a new network namespace is sized from it"),
            );
        } else if let Reading::Value(v) = reader.read(key) {
            out.values.insert(key.clone(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_keys_are_named() {
        assert!(copied("net.ipv4.tcp_rmem").is_some());
        assert!(copied("net.ipv4.conf.all.rp_filter").is_some());
        assert!(copied("fs.file-max").is_some());
        assert!(copied("net.ipv4.tcp_max_syn_backlog").is_none());
        assert!(copied("net.core.somaxconn").is_none());
    }

    /// Root only (unit tests run as root in this project's harness); skipped otherwise.
    #[test]
    fn learns_in_a_thread_and_leaves_the_caller_where_it_was() {
        if !crate::host::is_root() {
            return;
        }
        let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let keys: Vec<String> = ["net.core.somaxconn", "net.ipv4.tcp_rmem", "kernel.hostname"]
            .map(String::from)
            .to_vec();
        let n = learn(&keys);
        assert_eq!(n.failed, None);
        assert_eq!(
            std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
            before
        );
        assert_eq!(
            n.values.get("net.core.somaxconn").map(String::as_str),
            Some("4096")
        );
        assert!(n.not_default.contains_key("net.ipv4.tcp_rmem"));
        assert!(n.not_default.contains_key("kernel.hostname"));
    }
}
