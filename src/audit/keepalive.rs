//! The keepalive arithmetic: a silent peer is declared dead after
//! tcp_keepalive_time + tcp_keepalive_intvl × tcp_keepalive_probes seconds, and only on
//! sockets that set SO_KEEPALIVE (docs/kernel.md §4, incident 3 of docs/incidents.md). The audit compares that
//! sum with the profile's bounds: `max_detection` (what the application needs) and
//! `idle_timeout` (the idle timeout of what sits in the path: load balancer, NAT, the
//! peer's keepalive_timeout).

use super::{human_seconds, waived, Finding};
use crate::host::Snapshot;
use crate::profile::{Keepalive, Profile, KEEPALIVE_KEYS};

const SO_KEEPALIVE_NOTE: &str =
    "Keepalive applies only to sockets that set SO_KEEPALIVE: a client \
library that never enables it keeps dead connections (CLOSE_WAIT) forever whatever these keys say.";

const ARITHMETIC: &str = "The kernel probes an idle SO_KEEPALIVE connection after tcp_keepalive_time \
seconds, then every tcp_keepalive_intvl seconds, and gives up after tcp_keepalive_probes unanswered \
probes: a dead peer is found after time + intvl × probes seconds.";

pub(super) fn check(snap: &Snapshot, profile: &Profile) -> Vec<Finding> {
    let Some(rule) = &profile.keepalive else {
        return Vec::new();
    };
    let values: Option<Vec<i64>> = KEEPALIVE_KEYS
        .iter()
        .map(|k| {
            snap.value(k)
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .collect();
    let checks = [
        (
            "keepalive.detection",
            rule.max_detection,
            "the application's bound on detecting a dead peer",
        ),
        (
            "keepalive.idle",
            rule.idle_timeout,
            "the idle timeout of what sits in the path",
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(subject, bound, what)| {
            bound.map(|b| one(profile, rule, subject, b, what, values.as_deref()))
        })
        .collect()
}

fn one(
    profile: &Profile,
    rule: &Keepalive,
    subject: &str,
    bound: u64,
    what: &str,
    values: Option<&[i64]>,
) -> Finding {
    let mut f = Finding::for_rule("relation", subject, &rule.why);
    f.expected = Some(serde_json::json!({ "max": bound }));
    f.explanation = format!(
        "{ARITHMETIC} Profile {} bounds it by {what}. {SO_KEEPALIVE_NOTE}",
        rule.why.origin
    )
    .into();
    if let Some(w) = waived(profile, "keepalive", f.clone()) {
        return w;
    }
    let Some(&[time, intvl, probes]) = values else {
        return f.skip(format!(
            "{subject}: the tcp_keepalive_* keys are not all readable here"
        ));
    };
    // The kernel accepts 0 and negative times; saturate rather than wrap, so absurd
    // values can never pass by overflowing.
    let detection = time.saturating_add(intvl.saturating_mul(probes));
    f.live = Some(
        serde_json::json!({ "time": time, "intvl": intvl, "probes": probes, "detection": detection }),
    );
    if time <= 0 || intvl <= 0 || probes <= 0 {
        return f.fail(
            rule.why.severity,
            format!(
                "keepalive time {time}, intvl {intvl}, probes {probes}: zero or negative values make keepalive probe \
constantly or declare peers dead at once"
            ),
        );
    }
    let bound = i64::try_from(bound).unwrap_or(i64::MAX);
    let msg = format!(
        "dead peers are found after {time} + {intvl} × {probes} = {}; profile {} allows at most {} ({what})",
        human_seconds(detection),
        rule.why.origin,
        human_seconds(bound)
    );
    if detection <= bound {
        f.pass(msg)
    } else {
        f.remedy = Some(
            "lower net.ipv4.tcp_keepalive_time, _intvl or _probes until time + intvl × probes fits (the profile's per-key rules give values that do)"
                .into(),
        );
        f.fail(rule.why.severity, msg)
    }
}
