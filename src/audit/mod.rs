//! Deciding: a pure function of a Snapshot and a Profile. One module per check family,
//! each with its messages beside it.

mod boot_default;
mod cause;
mod evidence;
mod finding;
mod keepalive;
mod listeners;
mod nginx;
mod persist_remedy;
mod persisted;
mod sysctl;
mod targets;
mod workload_remedy;

pub use cause::{Cause, Said};
pub use finding::{Absence, Finding, Status};
pub use nginx::NginxRef;
pub(crate) use persisted::after_loader;
pub use targets::{backlog_target, changes, BacklogTarget, Targets};

use crate::host::Snapshot;
use crate::profile::{Profile, Severity};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub checks: usize,
    pub pass: usize,
    pub info: usize,
    pub warning: usize,
    pub error: usize,
    pub skip: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Self {
        let mut s = Summary {
            checks: findings.len(),
            ..Summary::default()
        };
        for f in findings {
            match (f.status, f.severity) {
                (Status::Pass, _) => s.pass += 1,
                (Status::Skip, _) => s.skip += 1,
                (Status::Fail, Severity::Info) => s.info += 1,
                (Status::Fail, Severity::Warning) => s.warning += 1,
                (Status::Fail, Severity::Error) => s.error += 1,
            }
        }
        s
    }

    /// "9 checks: 6 pass, 1 error, 0 warning, 0 info, 2 skip" ("1 check: ..."), the one
    /// wording of the text report and the Ansible module's message.
    pub fn counts(&self) -> String {
        format!(
            "{} {}: {} pass, {} error, {} warning, {} info, {} skip",
            self.checks,
            if self.checks == 1 { "check" } else { "checks" },
            self.pass,
            self.error,
            self.warning,
            self.info,
            self.skip
        )
    }
}

/// Which check families run (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub sysctl: bool,
}

/// Every sysctl rule of the profile becomes exactly one finding; nginx rules one per
/// socket; live listeners one per address. Worst first, each failure naming its cause.
pub fn audit(snap: &Snapshot, profile: &Profile, scope: Scope) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    if scope.sysctl {
        findings.extend(
            profile
                .rules
                .iter()
                .map(|r| sysctl::check(snap, profile, r)),
        );
        findings.extend(keepalive::check(snap, profile));
        if let Some(p) = &snap.persisted {
            findings.extend(persisted::file_findings(p));
        }
    }
    let targets = Targets::of(snap, profile, &findings);
    findings.extend(nginx::check(snap, profile, &targets));
    findings.extend(listeners::check(snap));
    if let Some(c) = &snap.counters {
        evidence::attach(&mut findings, c);
    }
    // Stable: equal ranks keep the profile's order. Sorted by index: a Finding is a
    // large struct, and moving thousands of them (one per nginx socket) through a merge
    // sort cost more than building them; the order is then applied in place, one swap
    // per finding, so that no second copy of them all is held (peak memory).
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by_key(|&i| findings[i].rank());
    permute(&mut findings, &order);
    cause::assign(&mut findings, &targets);
    findings
}

/// Reorders `v` so that `v[k]` becomes the old `v[order[k]]`, following each cycle of
/// the permutation.
fn permute<T>(v: &mut [T], order: &[usize]) {
    let mut done = vec![false; v.len()];
    for start in 0..v.len() {
        if done[start] {
            continue;
        }
        done[start] = true;
        let mut k = start;
        loop {
            let j = order[k];
            if j == start {
                break;
            }
            v.swap(k, j);
            k = j;
            done[k] = true;
        }
    }
}

/// An audit that cannot read its input exits 2 (README, "Exit codes") rather than guess. Returns the
/// message naming each key and what to do, or None when everything was read.
pub fn unreadable(snap: &Snapshot) -> Option<String> {
    let root = crate::host::is_root();
    let problems: Vec<String> = snap
        .sysctl
        .iter()
        .filter_map(|(k, r)| match r {
            crate::host::Reading::Unreadable { path, error, permission } => {
                let hint = match (permission, root) {
                    (true, false) => "; run tuneguard as root (sudo tuneguard audit ...)",
                    (true, true) => "; even root may not read this key (a write-only sysctl): drop it from the profile",
                    _ => "",
                };
                Some(format!("{k} ({}): {error}{hint}", path.display()))
            }
            _ => None,
        })
        .collect();
    let mut problems = problems;
    if let crate::host::NginxState::Unreadable { path, error } = &snap.nginx {
        let hint = if error.contains("No such file") {
            "; point --nginx-conf (or --nginx-dump) at what nginx runs with (`nginx -V` names its file), or pass --no-nginx"
        } else if !root {
            "; run tuneguard as root"
        } else {
            ""
        };
        problems.push(format!(
            "the nginx configuration {}: {error}{hint}",
            path.display()
        ));
    }
    // Files tuneguard refused to read (docs/security.md): what a reboot would do cannot
    // be told while they stand, and they are hostile or broken input, not a finding.
    if let Some(p) = &snap.persisted {
        for prob in p.problems.iter().filter(|p| p.refused) {
            problems.push(format!("{}: {}", prob.path.display(), prob.error));
        }
    }
    match problems.len() {
        0 => None,
        1 => Some(format!("cannot audit without reading {}", problems[0])),
        n => Some(format!(
            "cannot audit without reading these {n} inputs:\n  {}",
            problems.join("\n  ")
        )),
    }
}

/// The audit's exit code (README): 1 when a finding reaches the threshold.
pub fn exit_code(findings: &[Finding], fail_on: Severity) -> i32 {
    i32::from(findings.iter().any(|f| f.fails_at(fail_on)))
}

/// A waiver turns any check into a skip that says who waived it and why.
fn waived(profile: &Profile, subject: &str, f: Finding) -> Option<Finding> {
    profile.waivers.get(subject).map(|w| {
        f.skip(format!(
            "{subject}: waived by profile {}: {}",
            w.origin, w.reason
        ))
    })
}

/// "7875 s (2 h 11 min)".
fn human_seconds(s: i64) -> String {
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m, sec) {
        (0, 0, _) => format!("{s} s"),
        (0, m, 0) => format!("{s} s ({m} min)"),
        (0, m, sec) => format!("{s} s ({m} min {sec} s)"),
        (h, 0, _) => format!("{s} s ({h} h)"),
        (h, m, _) => format!("{s} s ({h} h {m} min)"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_seconds() {
        assert_eq!(super::human_seconds(7875), "7875 s (2 h 11 min)");
        assert_eq!(super::human_seconds(600), "600 s (10 min)");
        assert_eq!(super::human_seconds(45), "45 s");
    }

    /// The in-place reordering gives what indexing the old order would, on every
    /// permutation of five and on a long mixed one.
    #[test]
    fn permute_applies_the_order() {
        fn check(order: &[usize]) {
            let mut v: Vec<usize> = (100..100 + order.len()).collect();
            let want: Vec<usize> = order.iter().map(|&i| v[i]).collect();
            super::permute(&mut v, order);
            assert_eq!(v, want, "order {order:?}");
        }
        fn all(prefix: &mut Vec<usize>, n: usize) {
            if prefix.len() == n {
                return check(prefix);
            }
            for i in 0..n {
                if !prefix.contains(&i) {
                    prefix.push(i);
                    all(prefix, n);
                    prefix.pop();
                }
            }
        }
        for n in 0..=5 {
            all(&mut Vec::new(), n);
        }
        let long: Vec<usize> = (0..1000).map(|i| (i * 7919) % 1000).collect();
        check(&long);
    }
}
