//! What runs in a network namespace, as a person names it: a Kubernetes pod, a container
//! of docker, containerd, CRI-O or podman, or a systemd unit, told by the cgroup of the
//! processes inside (/proc/PID/cgroup), the way `systemd-cgls` and `crictl` show them.
//!
//! The cgroup path is the kernel's, but below a delegated subtree (a user's
//! user@UID.service, a rootless runtime) its names are the user's: whatever it says is
//! display-only text (printed escaped), never a path or a command tuneguard acts on.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    Containerd,
    Crio,
    Podman,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "cri-o",
            Runtime::Podman => "podman",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Container {
    /// None where the path names no runtime (the cgroupfs driver's bare ids).
    pub runtime: Option<Runtime>,
    /// 64 hex digits.
    pub id: String,
}

/// Who runs in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Workload {
    /// A Kubernetes pod (its UID as the API shows it, with dashes).
    Pod {
        uid: String,
        container: Option<Container>,
    },
    Container(Container),
    /// A systemd-nspawn container, as systemd-machined registers it
    /// (machine.slice/machine-NAME.scope).
    Machine {
        name: String,
    },
    /// A systemd unit (a service with PrivateNetwork= or NetworkNamespacePath=).
    Unit {
        name: String,
    },
}

impl Workload {
    /// "pod 7f0c…", "docker container 0123456789ab", "unit nginx.service".
    pub fn describe(&self) -> String {
        let short = |id: &str| id.chars().take(12).collect::<String>();
        match self {
            Workload::Pod { uid, container } => match container {
                Some(c) => format!("Kubernetes pod {uid} (container {})", short(&c.id)),
                None => format!("Kubernetes pod {uid}"),
            },
            Workload::Container(c) => match c.runtime {
                Some(r) => format!("{} container {}", r.as_str(), short(&c.id)),
                None => format!("container {}", short(&c.id)),
            },
            Workload::Machine { name } => format!("systemd-nspawn machine {name}"),
            Workload::Unit { name } => format!("systemd unit {name}"),
        }
    }

    /// Pods first, then containers, then units: the most specific name wins.
    fn rank(&self) -> u8 {
        match self {
            Workload::Pod { .. } => 0,
            Workload::Container(_) | Workload::Machine { .. } => 1,
            Workload::Unit { .. } => 2,
        }
    }
}

/// The workload /proc/PID/cgroup's text names, from any of its hierarchies (the unified
/// one, "0::/...", and v1's, such as name=systemd).
pub fn of_cgroup(text: &str) -> Option<Workload> {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .filter_map(of_path)
        .min_by_key(Workload::rank)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A pod UID as cgroups spell it: dashes (cgroupfs) or underscores (systemd slices).
fn pod_uid(s: &str) -> Option<String> {
    let uid = s.replace('_', "-");
    let hex: String = uid.chars().filter(|c| *c != '-').collect();
    (is_hex(&hex, 32) && uid.len() <= 36).then_some(uid)
}

/// "docker-<id>.scope" and its kin.
fn scoped(comp: &str) -> Option<Container> {
    let body = comp.strip_suffix(".scope")?;
    let (runtime, id) = [
        ("docker-", Runtime::Docker),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::Crio),
        ("libpod-", Runtime::Podman),
    ]
    .iter()
    .find_map(|(p, r)| body.strip_prefix(p).map(|id| (*r, id)))?;
    is_hex(id, 64).then(|| Container {
        runtime: Some(runtime),
        id: id.to_string(),
    })
}

fn of_path(path: &str) -> Option<Workload> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let kube = comps.iter().any(|c| c.starts_with("kubepods"));
    let mut pod = None;
    let mut container = None;
    let mut unit = None;
    let mut machine = None;
    for (i, c) in comps.iter().enumerate() {
        if let Some(rest) = c.strip_suffix(".slice") {
            // kubepods-pod<uid>.slice, kubepods-burstable-pod<uid>.slice, ...
            if let Some((_, uid)) = rest.rsplit_once("-pod").filter(|_| kube) {
                pod = pod_uid(uid).or(pod);
            }
        } else if let Some(found) = scoped(c) {
            container = Some(found);
        } else if let Some(uid) = c.strip_prefix("pod").filter(|_| kube) {
            pod = pod_uid(uid).or(pod);
        } else if is_hex(c, 64) && (kube || i > 0 && comps[i - 1] == "docker") {
            container = Some(Container {
                runtime: (!kube).then_some(Runtime::Docker),
                id: c.to_string(),
            });
        } else if let Some(name) = c
            .strip_prefix("machine-")
            .and_then(|m| m.strip_suffix(".scope"))
            .filter(|m| !m.is_empty() && i > 0 && comps[i - 1] == "machine.slice")
        {
            // systemd escapes a '-' of the machine's name as \x2d.
            machine = Some(name.replace("\\x2d", "-"));
        } else if c.ends_with(".service") && c.len() > ".service".len() {
            unit = Some(c.to_string());
        }
    }
    match (pod, container, machine, unit) {
        (Some(uid), container, _, _) => Some(Workload::Pod { uid, container }),
        (None, Some(c), _, _) => Some(Workload::Container(c)),
        (None, None, Some(name), _) => Some(Workload::Machine { name }),
        (None, None, None, Some(name)) => Some(Workload::Unit { name }),
        _ => None,
    }
}

/// The workload of process `pid`, from its cgroup file; None when it names none or the
/// process is gone.
pub fn of_pid(pid: u32) -> Option<Workload> {
    let path = std::path::PathBuf::from(format!("/proc/{pid}/cgroup"));
    let bytes = crate::safety::tree::read_file(&path, crate::safety::tree::Cap::Small).ok()?;
    of_cgroup(&String::from_utf8_lossy(&bytes))
}

/// The most specific workload among these processes (the lowest pid of the best kind):
/// every process of a pod names the same pod, and a pod's pause process names it too.
pub fn of_pids(pids: &[u32]) -> Option<Workload> {
    pids.iter()
        .filter_map(|&p| of_pid(p))
        .min_by_key(Workload::rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn names_docker_containerd_crio_podman_pods_and_units() {
        let c = |r| {
            Some(Workload::Container(Container {
                runtime: Some(r),
                id: ID.into(),
            }))
        };
        assert_eq!(
            of_cgroup(&format!("0::/system.slice/docker-{ID}.scope\n")),
            c(Runtime::Docker)
        );
        assert_eq!(
            of_cgroup(&format!("12:cpu:/docker/{ID}\n0::/\n")),
            c(Runtime::Docker)
        );
        assert_eq!(
            of_cgroup(&format!("0::/system.slice/crio-{ID}.scope")),
            c(Runtime::Crio)
        );
        assert_eq!(
            of_cgroup(&format!("0::/machine.slice/libpod-{ID}.scope/container")),
            c(Runtime::Podman)
        );
        let pod = |container| Workload::Pod {
            uid: "1b4e28ba-2fa1-11d2-883f-0016d3cca427".into(),
            container,
        };
        assert_eq!(
            of_cgroup(&format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice/cri-containerd-{ID}.scope\n"
            )),
            Some(pod(Some(Container { runtime: Some(Runtime::Containerd), id: ID.into() })))
        );
        assert_eq!(
            of_cgroup(&format!(
                "4:memory:/kubepods/besteffort/pod1b4e28ba-2fa1-11d2-883f-0016d3cca427/{ID}\n"
            )),
            Some(pod(Some(Container {
                runtime: None,
                id: ID.into()
            })))
        );
        assert_eq!(
            of_cgroup(
                "0::/kubepods.slice/kubepods-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice\n"
            ),
            Some(pod(None))
        );
        assert_eq!(
            of_cgroup(
                "1:name=systemd:/system.slice/nginx.service\n0::/system.slice/nginx.service\n"
            ),
            Some(Workload::Unit {
                name: "nginx.service".into()
            })
        );
        assert_eq!(
            of_cgroup("0::/machine.slice/machine-web\\x2d1.scope/payload\n"),
            Some(Workload::Machine {
                name: "web-1".into()
            })
        );
        // A pod outranks the unit another hierarchy shows.
        assert!(matches!(
            of_cgroup(&format!("1:name=systemd:/system.slice/containerd.service\n0::/kubepods/pod1b4e28ba-2fa1-11d2-883f-0016d3cca427/{ID}\n")),
            Some(Workload::Pod { .. })
        ));
    }

    #[test]
    fn names_nothing_from_look_alikes() {
        for text in [
            "0::/\n",
            "0::/user.slice/user-1000.slice/session-2.scope\n",
            "0::/system.slice/docker-abc.scope\n",
            "0::/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg.scope\n",
            "0::/pod1b4e28ba-2fa1-11d2-883f-0016d3cca427\n",
            "4:memory:/process_api/dc9e849bb76d9db325491e41742215ab\n",
            "0::/system.slice/.service\n",
        ] {
            assert_eq!(of_cgroup(text), None, "{text}");
        }
    }
}
