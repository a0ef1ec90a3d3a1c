//! Where a value of a container's, a pod's or a unit's network namespace is really set.
//! Such a namespace starts from the kernel's defaults when its runtime makes it, so
//! neither the host's /etc/sysctl.d nor a `sysctl -w` on the host reaches it, and a
//! `sysctl -w` inside it lasts only until the container, pod or unit is made again.

use crate::catalog::kubernetes;
use crate::host::workload::{Runtime, Workload};
use crate::kversion::KernelVersion;

/// The remedy for `key` (written `arg`, "key=value") in `w`'s namespace; `now` is the
/// command that changes it in the running namespace until then.
pub fn remedy(
    w: &Workload,
    key: &str,
    arg: &str,
    now: &str,
    kernel: Option<KernelVersion>,
) -> String {
    let value = arg.split_once('=').map_or("", |(_, v)| v);
    let lasts = "lasts only until it is made again";
    match w {
        Workload::Pod { uid, .. } => format!(
            "set it in the pod's spec (pod {uid}), spec.securityContext.sysctls: [{{name: {key}, value: {value}}}]; {}; `{now}` {lasts}",
            kubernetes::pod_clause(key, kernel)
        ),
        Workload::Container(c) => {
            let how = match c.runtime {
                Some(Runtime::Podman) => format!("`podman run --sysctl {arg}`"),
                Some(Runtime::Containerd) | Some(Runtime::Crio) => {
                    format!("its OCI spec's linux.sysctl (`nerdctl run --sysctl {arg}`, or the pod's securityContext.sysctls when Kubernetes runs it)")
                }
                Some(Runtime::Docker) | None => {
                    format!("`docker run --sysctl {arg}` (compose: `sysctls:`)")
                }
            };
            format!("start the container with {how}; `{now}` {lasts}")
        }
        Workload::Machine { name } => format!(
            "set it in the container's own files, {arg} in /etc/sysctl.d/ of machine {name}: its systemd-sysctl applies it when the container boots (systemd-nspawn -b), as the host's does for the host; `{now}` {lasts}"
        ),
        Workload::Unit { name } => format!(
            "set it in the unit's own settings: a drop-in (`systemctl edit {name}`) with `ExecStartPre=+/usr/sbin/sysctl -w {arg}` runs in the unit's network namespace before the service; `{now}` {lasts}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::workload::Container;

    #[test]
    fn says_where_each_workload_sets_it() {
        let pod = Workload::Pod {
            uid: "u".into(),
            container: None,
        };
        let now = "nsenter --net=/proc/9/ns/net sysctl -w net.core.somaxconn=4096";
        let r = remedy(
            &pod,
            "net.core.somaxconn",
            "net.core.somaxconn=4096",
            now,
            None,
        );
        assert!(
            r.contains("securityContext.sysctls: [{name: net.core.somaxconn, value: 4096}]"),
            "{r}"
        );
        assert!(
            r.contains("--allowed-unsafe-sysctls=net.core.somaxconn"),
            "{r}"
        );
        assert!(r.contains(now), "{r}");
        let docker = Workload::Container(Container {
            runtime: Some(Runtime::Docker),
            id: "0".repeat(64),
        });
        let r = remedy(
            &docker,
            "net.ipv4.tcp_syncookies",
            "net.ipv4.tcp_syncookies=1",
            now,
            None,
        );
        assert!(
            r.contains("docker run --sysctl net.ipv4.tcp_syncookies=1"),
            "{r}"
        );
        let unit = Workload::Unit {
            name: "x.service".into(),
        };
        assert!(remedy(&unit, "k", "k=1", now, None).contains("systemctl edit x.service"));
    }
}
