//! The numbers `apply` brings the host to, computed once so that every remedy the audit
//! prints and the plan `apply --dry-run` shows agree: the somaxconn apply writes (the
//! profile's value when the one now breaks its rule), and the backlog= it writes on the
//! listens it edits (the profile's, kept within that somaxconn). `plan` decides with the
//! same two functions, `changes` and `backlog_target`.

use super::nginx::{somaxconn, RELISTEN};
use super::{Finding, Status};
use crate::catalog::{self, Meaning};
use crate::host::Snapshot;
use crate::profile::{KeyRule, ListenBacklog, Profile, Value};

const SOMAXCONN: &str = "net.core.somaxconn";

/// Whether apply writes a new value for `rule`: its finding failed and the value now
/// breaks the rule. (A finding can fail only for what a reboot would do while the value
/// now is right: then only the files change.)
pub fn changes(rule: &KeyRule, finding: Option<&Finding>, now: Option<&Value>) -> bool {
    let meaning = catalog::lookup(&rule.key).map_or(Meaning::Plain, |i| i.meaning);
    let holds = now.is_some_and(|v| rule.constraint.holds(v, &|x| meaning.effective(x)));
    finding.is_some_and(|f| f.status == Status::Fail) && !holds
}

/// The backlog= apply writes on the listens it edits, given somaxconn as apply leaves
/// it; None when the profile names no backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogTarget {
    pub value: u64,
    /// The profile wants backlogs of at least `min` within somaxconn, and its own
    /// somaxconn is below that: only the profile can be fixed.
    pub short_of: Option<u64>,
}

pub fn backlog_target(rule: &ListenBacklog, cap_after: Option<u32>) -> Option<BacklogTarget> {
    let min = rule.min.or(rule.apply)?;
    let mut value = rule.apply.unwrap_or(min).max(min);
    let mut short_of = None;
    if let Some(cap) = cap_after.map(u64::from) {
        if rule.within_somaxconn && value > cap {
            if cap < min {
                short_of = Some(min);
            } else {
                value = cap;
            }
        }
    }
    Some(BacklogTarget { value, short_of })
}

/// What the audit's remedies rest on.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// somaxconn now: live, else what the files give at boot.
    pub somaxconn_now: Option<(u32, &'static str)>,
    /// somaxconn after apply.
    pub somaxconn: Option<u32>,
    /// The command that sets it, when apply changes it (the somaxconn finding's remedy).
    pub somaxconn_cmd: Option<String>,
    /// The profile's minimum backlog.
    pub backlog_min: Option<u64>,
    pub backlog: Option<BacklogTarget>,
    /// The profile's bound on so_keepalive's detection time, in seconds.
    pub keepalive_bound: Option<u64>,
}

impl Targets {
    /// From the sysctl findings already made; the somaxconn rule is checked here when
    /// they were not (`--only nginx`), so the advice is the profile's either way.
    pub fn of(snap: &Snapshot, profile: &Profile, findings: &[Finding]) -> Targets {
        let now = somaxconn(snap);
        let mut t = Targets {
            somaxconn_now: now,
            somaxconn: now.map(|n| n.0),
            backlog_min: profile.listen_backlog.as_ref().and_then(|r| r.min),
            keepalive_bound: profile.keepalive.as_ref().and_then(|k| {
                match (k.max_detection, k.idle_timeout) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }),
            ..Targets::default()
        };
        if let Some(rule) = profile.rules.iter().find(|r| r.key == SOMAXCONN) {
            let made;
            let f = match findings
                .iter()
                .find(|f| f.id == "sysctl/net.core.somaxconn")
            {
                Some(f) => f,
                None => {
                    made = super::sysctl::check(snap, profile, rule);
                    &made
                }
            };
            let value = super::sysctl::current(snap, SOMAXCONN);
            if changes(rule, Some(f), value.as_ref()) {
                if let Some(after) = rule
                    .fix_for(value.as_ref())
                    .and_then(|v| v.to_sysctl_string().trim().parse().ok())
                {
                    t.somaxconn = Some(after);
                    t.somaxconn_cmd = f.remedy.clone();
                }
            }
        }
        t.backlog = profile
            .listen_backlog
            .as_ref()
            .and_then(|r| backlog_target(r, t.somaxconn));
        t
    }

    /// "16384 (apply sets it; now 128)" or "4096".
    pub fn somaxconn_will_be(&self) -> String {
        match (self.somaxconn, self.somaxconn_now) {
            (Some(s), Some((n, _))) if s != n => format!("{s} (what apply sets; {n} now)"),
            (Some(s), _) => s.to_string(),
            (None, _) => "(unknown)".into(),
        }
    }

    /// The one remedy of somaxconn-caps-backlog.
    pub fn somaxconn_fix(&self) -> Option<String> {
        if let Some(BacklogTarget {
            short_of: Some(min),
            ..
        }) = self.backlog
        {
            return Some(self.short_fix(min));
        }
        let s = self.somaxconn?;
        let set = self
            .somaxconn_cmd
            .clone()
            .unwrap_or_else(|| format!("raise {SOMAXCONN} to {s}"));
        Some(format!("{set}, then restart nginx: {RELISTEN}"))
    }

    fn short_fix(&self, min: u64) -> String {
        format!(
            "raise {SOMAXCONN} to at least {min} in the profile: it wants listen backlogs of at least {min} within somaxconn, and its own {SOMAXCONN} rule stops at {}",
            self.somaxconn_will_be()
        )
    }

    /// The remedy of backlog-below-profile, for the listens named by `which`.
    pub fn backlog_fix(&self, which: &str) -> Option<String> {
        let b = self.backlog?;
        if let Some(min) = b.short_of {
            return Some(self.short_fix(min));
        }
        let with = match (self.somaxconn_now, self.somaxconn) {
            (Some((now, _)), Some(s)) if u64::from(now) < b.value => {
                format!(", with {SOMAXCONN} raised to {s} (somaxconn-caps-backlog)")
            }
            _ => String::new(),
        };
        Some(format!(
            "set backlog={} on {which}{with}; changing the number makes a reload call listen() again",
            b.value
        ))
    }

    /// The remedy of backlog-above-somaxconn: the backlog apply writes, or without one in
    /// the profile what somaxconn will give.
    pub fn above_fix(&self, which: &str) -> Option<String> {
        let value = match self.backlog {
            Some(BacklogTarget {
                short_of: Some(min),
                ..
            }) => return Some(self.short_fix(min)),
            Some(b) => b.value,
            None => u64::from(self.somaxconn?),
        };
        Some(format!(
            "set backlog={value} on {which}: {SOMAXCONN} will be {}, and listen() gives no more; changing the number makes a reload call listen() again",
            self.somaxconn?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Reasons, Severity};

    fn rule(min: Option<u64>, apply: Option<u64>, within: bool) -> ListenBacklog {
        ListenBacklog {
            min,
            within_somaxconn: within,
            apply,
            why: Reasons {
                severity: Severity::Error,
                rationale: None,
                fact: None,
                incident: None,
                origin: "test".into(),
            },
        }
    }

    #[test]
    fn the_backlog_stays_within_the_somaxconn_apply_sets() {
        let t = |r: &ListenBacklog, cap| backlog_target(r, cap).map(|b| (b.value, b.short_of));
        assert_eq!(
            t(&rule(Some(16384), None, true), Some(16384)),
            Some((16384, None))
        );
        assert_eq!(
            t(&rule(Some(1024), Some(65535), true), Some(16384)),
            Some((16384, None))
        );
        assert_eq!(
            t(&rule(Some(1024), Some(65535), false), Some(16384)),
            Some((65535, None))
        );
        // The profile contradicts itself: it is what must change.
        assert_eq!(
            t(&rule(Some(16384), None, true), Some(4096)),
            Some((16384, Some(16384)))
        );
        assert_eq!(t(&rule(None, None, true), Some(4096)), None);
    }
}
