//! The keepalive arithmetic: a silent peer is declared dead after
//! tcp_keepalive_time + tcp_keepalive_intvl × tcp_keepalive_probes seconds, and only on
//! sockets that set SO_KEEPALIVE (FACTS.md §2, INCIDENTS.md #3).

use super::{human_seconds, waived, Finding};
use crate::host::Snapshot;
use crate::profile::{Profile, KEEPALIVE_KEYS};

const SO_KEEPALIVE_NOTE: &str =
    "Keepalive applies only to sockets that set SO_KEEPALIVE: a client \
library that never enables it keeps dead connections (CLOSE_WAIT) forever whatever these keys say.";

pub(super) fn check(snap: &Snapshot, profile: &Profile) -> Vec<Finding> {
    let Some(rule) = &profile.keepalive else {
        return Vec::new();
    };
    let base = |subject: &str| {
        let mut f = Finding::new("relation", subject, rule.severity);
        f.profile = Some(rule.origin.clone());
        f.rationale = rule.rationale.clone();
        f.fact = rule.fact.clone();
        f.incident = rule.incident;
        f
    };
    let mut subjects = Vec::new();
    if rule.max_detection.is_some() {
        subjects.push("keepalive.detection");
    }
    if rule.idle_timeout.is_some() {
        subjects.push("keepalive.idle");
    }
    let values: Option<Vec<i64>> = KEEPALIVE_KEYS
        .iter()
        .map(|k| snap.value(k).and_then(|v| v.trim().parse().ok()))
        .collect();
    subjects
        .into_iter()
        .map(|subject| {
            let mut f = base(subject);
            if let Some(w) = waived(profile, "keepalive", f.clone()) {
                return w;
            }
            let Some(v) = &values else {
                return f.skip(format!("{subject}: the tcp_keepalive_* keys are not all readable here"));
            };
            let (time, intvl, probes) = (v[0], v[1], v[2]);
            let detection = time + intvl * probes;
            f.live = Some(serde_json::json!({ "time": time, "intvl": intvl, "probes": probes, "detection": detection }));
            if subject == "keepalive.detection" {
                let max = rule.max_detection.unwrap_or_default() as i64;
                f.expected = Some(serde_json::json!({ "max": max }));
                f.explanation = format!(
                    "The kernel probes an idle SO_KEEPALIVE connection after tcp_keepalive_time seconds, then every \
tcp_keepalive_intvl seconds, and gives up after tcp_keepalive_probes unanswered probes: a dead peer is found after \
time + intvl × probes seconds. {SO_KEEPALIVE_NOTE}"
                );
                let msg = format!(
                    "dead peers are found after {time} + {intvl} × {probes} = {}; profile {} wants at most {}",
                    human_seconds(detection),
                    rule.origin,
                    human_seconds(max)
                );
                if detection <= max {
                    f.pass(msg)
                } else {
                    f.remedy = Some("lower net.ipv4.tcp_keepalive_time (and _intvl/_probes) so that time + intvl × probes fits".into());
                    f.fail(rule.severity, msg)
                }
            } else {
                let idle = rule.idle_timeout.unwrap_or_default() as i64;
                f.expected = Some(serde_json::json!({ "time_below": idle }));
                f.explanation = format!(
                    "A load balancer, NAT or firewall forgets a connection that stays idle longer than its idle timeout; \
the first keepalive probe must leave before that (tcp_keepalive_time below the timeout), or the connection is gone \
before it is probed and the next message meets a reset. {SO_KEEPALIVE_NOTE}"
                );
                let msg = format!(
                    "the first keepalive probe leaves after {} idle, the path's idle timeout in profile {} is {}",
                    human_seconds(time),
                    rule.origin,
                    human_seconds(idle)
                );
                if time < idle {
                    f.pass(msg)
                } else {
                    f.remedy = Some(format!("set net.ipv4.tcp_keepalive_time below {idle}"));
                    f.fail(rule.severity, format!("{msg}: idle connections are dropped before they are probed"))
                }
            }
        })
        .collect()
}
