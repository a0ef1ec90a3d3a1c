//! Why a finding fails, as one stable id, and the findings that share it. One root cause
//! (somaxconn 128) makes several findings fail (each nginx socket's backlog checks);
//! the JSON keeps every finding, each naming its cause, and the text report prints one
//! block per shared cause: the cause, the subjects it affects, one remedy. The block's
//! words live here, beside the ids, so every format says a cause the same way.

use super::targets::Targets;
use super::{Finding, Status};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// net.core.somaxconn cuts nginx backlogs that the somaxconn apply sets would hold:
    /// raising it (and listening again) fixes them all. The somaxconn finding itself
    /// carries it when such sockets exist.
    SomaxconnCapsBacklog,
    /// A listen asks for a backlog below the profile's minimum.
    BacklogBelowProfile,
    /// A listen asks for more than net.core.somaxconn will be, even after apply.
    BacklogAboveSomaxconn,
    /// A live listener's cap is not what listen() gives today.
    ListenerStale,
    /// A socket the configuration declares is not listening.
    ListenerNotListening,
    /// A listener on a port of the configuration that it does not declare.
    ListenerUndeclared,
    /// A listen without so_keepalive where the profile requires it.
    SoKeepaliveOff,
    /// so_keepalive finds a vanished client later than the profile's bound.
    SoKeepaliveSlow,
    /// nginx would refuse the configuration, or fail to start with it.
    NginxConfig,
    /// A process claiming to be nginx, or a binary, was passed over.
    NginxDiscovery,
    /// A sysctl key's value breaks the profile's rule.
    SysctlValue,
    /// The value is right now, but a reboot would lose it.
    SysctlNotPersisted,
    /// The key is not on this kernel (removed, or unknown).
    SysctlMissing,
    /// time + intvl × probes exceeds the profile's keepalive bound.
    KeepaliveDetection,
    /// A persisted file that cannot be read, or a line the loaders skip.
    PersistedFile,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::SomaxconnCapsBacklog => "somaxconn-caps-backlog",
            Cause::BacklogBelowProfile => "backlog-below-profile",
            Cause::BacklogAboveSomaxconn => "backlog-above-somaxconn",
            Cause::ListenerStale => "listener-stale",
            Cause::ListenerNotListening => "listener-not-listening",
            Cause::ListenerUndeclared => "listener-undeclared",
            Cause::SoKeepaliveOff => "so-keepalive-off",
            Cause::SoKeepaliveSlow => "so-keepalive-slow",
            Cause::NginxConfig => "nginx-config",
            Cause::NginxDiscovery => "nginx-discovery",
            Cause::SysctlValue => "sysctl-value",
            Cause::SysctlNotPersisted => "sysctl-not-persisted",
            Cause::SysctlMissing => "sysctl-missing",
            Cause::KeepaliveDetection => "keepalive-detection",
            Cause::PersistedFile => "persisted-file",
        }
    }

    /// Causes one remedy fixes for every subject they affect: the text report prints
    /// their findings as one block. The others are each their subject's own (one key's
    /// value, one configuration error) and keep one line per finding.
    pub fn shared(self) -> bool {
        matches!(
            self,
            Cause::SomaxconnCapsBacklog
                | Cause::BacklogBelowProfile
                | Cause::BacklogAboveSomaxconn
                | Cause::ListenerStale
                | Cause::ListenerNotListening
                | Cause::ListenerUndeclared
                | Cause::SoKeepaliveOff
                | Cause::SoKeepaliveSlow
        )
    }
}

/// What the text report prints once for a shared cause: its sentence and its remedy.
#[derive(Debug, PartialEq, Eq)]
pub struct Said {
    pub headline: String,
    pub fix: Option<String>,
}

/// The cause of a failure the check families left unnamed, from its kind.
fn default_cause(f: &Finding) -> Cause {
    match f.kind {
        "sysctl" if f.absent.is_some() => Cause::SysctlMissing,
        "sysctl" => Cause::SysctlValue,
        "relation" => Cause::KeepaliveDetection,
        "persisted" => Cause::PersistedFile,
        _ if f.id == "nginx/discovery" => Cause::NginxDiscovery,
        _ => Cause::NginxConfig,
    }
}

/// Names every failure's cause, makes the somaxconn finding the head of the sockets it
/// caps, and gives each shared cause its one sentence and remedy.
pub fn assign(findings: &mut [Finding], t: &Targets) {
    let caps = findings
        .iter()
        .any(|f| f.cause == Some(Cause::SomaxconnCapsBacklog));
    for f in findings.iter_mut() {
        if f.status != Status::Fail {
            f.cause = None;
            continue;
        }
        if caps && f.id == "sysctl/net.core.somaxconn" && f.cause.is_none() {
            f.cause = Some(Cause::SomaxconnCapsBacklog);
        }
        if f.cause.is_none() {
            f.cause = Some(default_cause(f));
        }
    }
    let mut said: Vec<(Cause, Arc<Said>)> = Vec::new();
    for cause in findings.iter().filter_map(|f| f.cause) {
        if !cause.shared() || said.iter().any(|(c, _)| *c == cause) {
            continue;
        }
        let members: Vec<&Finding> = findings.iter().filter(|f| f.cause == Some(cause)).collect();
        said.push((cause, Arc::new(say(cause, &members, t))));
    }
    for f in findings.iter_mut() {
        if let Some((_, s)) = said.iter().find(|(c, _)| Some(*c) == f.cause) {
            f.said = Some(s.clone());
        }
    }
}

fn sockets(members: &[&Finding]) -> usize {
    members.iter().filter(|f| f.nginx.is_some()).count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The sentence and remedy of a shared cause, from the numbers apply will set (`t`).
fn say(cause: Cause, members: &[&Finding], t: &Targets) -> Said {
    let n = sockets(members);
    let socks = plural(n, "nginx socket", "nginx sockets");
    let (headline, fix) = match cause {
        Cause::SomaxconnCapsBacklog => {
            let now = t.somaxconn_now.map_or("unknown".into(), |(v, src)| format!("{v} ({src})"));
            let head = format!(
                "net.core.somaxconn {now} cuts the listen backlog of {socks}: listen() gives each min(backlog, somaxconn)"
            );
            (head, t.somaxconn_fix())
        }
        Cause::BacklogBelowProfile => {
            let head = format!(
                "{socks} ask{} for a backlog below the profile's minimum{}",
                if n == 1 { "s" } else { "" },
                t.backlog_min.map_or(String::new(), |m| format!(" of {m}"))
            );
            (head, t.backlog_fix("each listen above"))
        }
        Cause::BacklogAboveSomaxconn => {
            let head = format!(
                "{socks} ask{} for more than net.core.somaxconn {}, which listen() never exceeds",
                if n == 1 { "s" } else { "" },
                t.somaxconn_will_be()
            );
            (head, t.above_fix("each listen above"))
        }
        Cause::ListenerStale => (
            format!("{socks} listen with an old cap: somaxconn or backlog= changed after nginx called listen()"),
            Some(format!("restart nginx (systemctl restart nginx, or stop and start it): {}", super::nginx::RELISTEN)),
        ),
        Cause::ListenerNotListening => (
            format!("{socks} the configuration declares {} not listening", if n == 1 { "is" } else { "are" }),
            Some("reload or restart nginx, and check its error log: nginx has not loaded this configuration, or failed to bind".into()),
        ),
        Cause::ListenerUndeclared => (
            plural(members.len(), "listener", "listeners")
                + " on ports of the configuration that it does not declare: nginx runs an older configuration, or another program holds them",
            Some("check that nginx runs the configuration you audit (a failed reload keeps the old one), or which program holds the port".into()),
        ),
        Cause::SoKeepaliveOff => (
            format!("{socks} without so_keepalive: the kernel never probes a vanished client"),
            Some("add so_keepalive=on (or idle:intvl:cnt) to each listen above; it is a socket option, so it goes on the listen that owns the socket".into()),
        ),
        Cause::SoKeepaliveSlow => (
            format!("{socks} find a vanished client later than the profile's keepalive bound"),
            Some(format!(
                "shorten so_keepalive=idle:intvl:cnt on each listen above (or the tcp_keepalive_* keys it falls back to) so that idle + intvl × cnt stays under {}",
                t.keepalive_bound.map_or("the profile's bound".into(), |b| format!("{b} s"))
            )),
        ),
        _ => (String::new(), None),
    };
    Said { headline, fix }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::nginx::NginxRef;
    use crate::profile::Severity;

    fn socket(id: &str, addr: &str, cause: Cause) -> Finding {
        let mut f = Finding::new("nginx", &format!("listen {addr}"), Severity::Warning);
        f.id = format!("nginx/{id}/http/{addr}");
        f.cause = Some(cause);
        f.nginx = Some(Box::new(NginxRef {
            socket: addr.into(),
            proto: "http",
            file: "/etc/nginx/nginx.conf".into(),
            line: 3,
            listen: "listen 80".into(),
            backlog: 511,
            backlog_configured: false,
        }));
        f.fail(Severity::Warning, "cut".into())
    }

    #[test]
    fn the_somaxconn_finding_heads_the_sockets_it_caps_and_they_share_one_fix() {
        let mut somaxconn = Finding::new("sysctl", "net.core.somaxconn", Severity::Error);
        somaxconn.id = "sysctl/net.core.somaxconn".into();
        somaxconn.remedy = Some("sysctl -w net.core.somaxconn=4096".into());
        let mut findings = vec![
            somaxconn.fail(Severity::Error, "128".into()),
            socket(
                "within_somaxconn",
                "0.0.0.0:80",
                Cause::SomaxconnCapsBacklog,
            ),
            socket("within_somaxconn", "[::]:80", Cause::SomaxconnCapsBacklog),
            Finding::new("sysctl", "net.ipv4.tcp_syncookies", Severity::Warning).pass("ok".into()),
        ];
        let t = Targets {
            somaxconn_now: Some((128, "live")),
            somaxconn: Some(4096),
            somaxconn_cmd: Some("sysctl -w net.core.somaxconn=4096".into()),
            ..Targets::default()
        };
        assign(&mut findings, &t);
        assert!(findings[..3]
            .iter()
            .all(|f| f.cause == Some(Cause::SomaxconnCapsBacklog)));
        assert_eq!(findings[3].cause, None);
        let said = findings[0].said.as_deref().unwrap();
        assert!(
            said.headline
                .contains("128 (live) cuts the listen backlog of 2 nginx sockets"),
            "{said:?}"
        );
        assert!(said
            .fix
            .as_deref()
            .unwrap()
            .starts_with("sysctl -w net.core.somaxconn=4096, then restart nginx"));
        assert!(findings[1..3]
            .iter()
            .all(|f| f.said.as_deref() == Some(said)));
    }

    #[test]
    fn without_capped_sockets_somaxconn_is_its_own_cause() {
        let mut findings = vec![
            Finding::new("sysctl", "net.core.somaxconn", Severity::Error)
                .fail(Severity::Error, "128".into()),
        ];
        findings[0].id = "sysctl/net.core.somaxconn".into();
        assign(&mut findings, &Targets::default());
        assert_eq!(findings[0].cause, Some(Cause::SysctlValue));
        assert!(findings[0].said.is_none());
    }
}
