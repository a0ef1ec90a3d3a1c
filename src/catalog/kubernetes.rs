//! Which keys a Kubernetes pod may set without the node's consent: the kubelet's safe set
//! (pkg/kubelet/sysctl/safe_sysctls.go), by the Kubernetes release that added each, and
//! the kernel a key needs to be per namespace (the kubelet drops it from the set on an
//! older kernel). Any other key in a pod's `securityContext.sysctls` is "unsafe": the
//! kubelet refuses the pod unless started with `--allowed-unsafe-sysctls` naming it.
//!
//! Sources, each the kubernetes/kubernetes pull request that added the keys:
//! - 1.4 (#27180, the first sysctl support): kernel.shm_rmid_forced,
//!   net.ipv4.ip_local_port_range, net.ipv4.tcp_syncookies (whitelist.go of that time);
//! - 1.18 (#85463): net.ipv4.ping_group_range;
//! - 1.22 (#103326): net.ipv4.ip_unprivileged_port_start;
//! - 1.27 (#115374): net.ipv4.ip_local_reserved_ports, kernel 3.16;
//! - 1.29 (#118846): net.ipv4.tcp_keepalive_time, kernel 4.5 (merged June 2023; its
//!   release note and the Pod Security admission policy say v1.29+);
//! - 1.29 (#121240): net.ipv4.tcp_fin_timeout (kernel 4.6), tcp_keepalive_intvl and
//!   tcp_keepalive_probes (kernel 4.5), the kernel versions of pkg/util/kernel/constants.go;
//! - 1.32 (#127489): net.ipv4.tcp_rmem and net.ipv4.tcp_wmem, kernel 4.15;
//! - 1.37 (#138389, kubernetes/website#56276): net.ipv4.tcp_slow_start_after_idle
//!   (kernel 4.15) and net.ipv4.tcp_notsent_lowat (kernel 4.6).

use crate::kversion::KernelVersion;

/// One key of the kubelet's safe set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeSysctl {
    pub key: &'static str,
    /// The Kubernetes release (major, minor) whose kubelet first allows it by default.
    pub since: (u8, u8),
    /// The kernel from which the key is per network namespace, when the kubelet checks.
    pub kernel: Option<KernelVersion>,
}

const fn safe(key: &'static str, since: (u8, u8), kernel: Option<(u32, u32)>) -> SafeSysctl {
    SafeSysctl {
        key,
        since,
        kernel: match kernel {
            Some((a, b)) => Some(KernelVersion::new(a, b)),
            None => None,
        },
    }
}

pub const SAFE_SYSCTLS: &[SafeSysctl] = &[
    safe("kernel.shm_rmid_forced", (1, 4), None),
    safe("net.ipv4.ip_local_port_range", (1, 4), None),
    safe("net.ipv4.tcp_syncookies", (1, 4), None),
    safe("net.ipv4.ping_group_range", (1, 18), None),
    safe("net.ipv4.ip_unprivileged_port_start", (1, 22), None),
    safe("net.ipv4.ip_local_reserved_ports", (1, 27), Some((3, 16))),
    safe("net.ipv4.tcp_keepalive_time", (1, 29), Some((4, 5))),
    safe("net.ipv4.tcp_fin_timeout", (1, 29), Some((4, 6))),
    safe("net.ipv4.tcp_keepalive_intvl", (1, 29), Some((4, 5))),
    safe("net.ipv4.tcp_keepalive_probes", (1, 29), Some((4, 5))),
    safe("net.ipv4.tcp_rmem", (1, 32), Some((4, 15))),
    safe("net.ipv4.tcp_wmem", (1, 32), Some((4, 15))),
    safe("net.ipv4.tcp_slow_start_after_idle", (1, 37), Some((4, 15))),
    safe("net.ipv4.tcp_notsent_lowat", (1, 37), Some((4, 6))),
];

/// The key's entry in the kubelet's safe set, if it has one.
pub fn safe_sysctl(key: &str) -> Option<&'static SafeSysctl> {
    SAFE_SYSCTLS.iter().find(|s| s.key == key)
}

/// How a pod gets `key`, in one clause: "safe since Kubernetes 1.29: ..." or "unsafe in
/// Kubernetes: ...". `kernel` is the node's, when known (an older one makes the kubelet
/// drop the key from its safe set).
pub fn pod_clause(key: &str, kernel: Option<KernelVersion>) -> String {
    let unsafe_clause = |why: &str| {
        format!("{key} is {why}, so the kubelet admits the pod only when started with --allowed-unsafe-sysctls={key} (or a pattern such as net.*)")
    };
    match safe_sysctl(key) {
        Some(s) if s.kernel.is_some_and(|k| kernel.is_some_and(|have| have < k)) => {
            unsafe_clause(&format!(
                "in the kubelet's safe set since Kubernetes {}.{} only on Linux {} or later, and this node runs {}",
                s.since.0,
                s.since.1,
                s.kernel.map(|k| k.to_string()).unwrap_or_default(),
                kernel.map(|k| k.to_string()).unwrap_or_default()
            ))
        }
        Some(s) => format!(
            "{key} is in the kubelet's safe set since Kubernetes {}.{}: no kubelet flag is needed from that release on (before it, --allowed-unsafe-sysctls={key})",
            s.since.0, s.since.1
        ),
        None => unsafe_clause("not in the kubelet's safe set (an unsafe sysctl)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn somaxconn_is_unsafe_and_keepalive_safe_since_1_29() {
        assert!(safe_sysctl("net.core.somaxconn").is_none());
        assert!(pod_clause("net.core.somaxconn", None)
            .contains("--allowed-unsafe-sysctls=net.core.somaxconn"));
        assert_eq!(
            safe_sysctl("net.ipv4.tcp_keepalive_time").map(|s| s.since),
            Some((1, 29))
        );
        assert!(pod_clause(
            "net.ipv4.tcp_keepalive_time",
            Some(KernelVersion::new(6, 1))
        )
        .contains("safe set since Kubernetes 1.29"));
        // An old node kernel takes the key out of the safe set.
        assert!(
            pod_clause("net.ipv4.tcp_rmem", Some(KernelVersion::new(4, 14)))
                .contains("--allowed-unsafe-sysctls=net.ipv4.tcp_rmem")
        );
    }

    #[test]
    fn every_safe_key_is_named_once() {
        for (i, s) in SAFE_SYSCTLS.iter().enumerate() {
            assert!(
                !SAFE_SYSCTLS[..i].iter().any(|o| o.key == s.key),
                "{}",
                s.key
            );
            crate::catalog::validate_key_name(s.key).unwrap();
        }
    }
}
