//! `observe --all-netns`: every namespace's observation under one summary. Text: the
//! summary (how many namespaces, how many have diagnoses at or above --fail-on, which
//! diagnoses), then each namespace's report under a line naming it. JSON
//! (tuneguard.observe-fleet/v1): the summary and, per namespace, its identity, when its
//! two samples were taken, and its tuneguard.observe/v1 report.

use super::escape::line;
use super::fleet::{
    count, header, identity_json, metric_label, name, summary, tally, worst, Member, Summary, GONE,
};
use super::observe::{self as render, ObserveReport};
use super::style::Style;
use super::text::Verbosity;
use crate::host::namespaces::Found;
use crate::host::Identity;
use crate::observe::Analysis;
use crate::profile::Severity;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::SystemTime;

pub const SCHEMA: &str = "tuneguard.observe-fleet/v1";

pub struct Observed {
    pub identity: Identity,
    pub settings: BTreeMap<String, String>,
    pub analysis: Analysis,
    /// When the first sample was taken, and the second (None with --once).
    pub sampled: (SystemTime, Option<SystemTime>),
}

/// When a namespace was found gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Before its first sample: its processes exited, `ip netns del` ran.
    BeforeFirst,
    /// Between its two samples: the first one is not reported alone.
    BetweenSamples,
}

pub enum Outcome {
    Observed(Box<Observed>),
    Vanished(Gone),
    /// Entered but not observed (exit 2 for a single run): why.
    Failed(String),
}

pub struct Namespace {
    pub found: Found,
    pub outcome: Outcome,
}

pub struct Fleet<'a> {
    pub namespaces: &'a [Namespace],
    pub fail_on: Severity,
    /// Seconds between the two samples asked for; None with --once.
    pub interval_s: Option<f64>,
    pub owners_skipped: bool,
    pub states: u32,
    /// What discovery passed over.
    pub notes: &'a [String],
}

fn unix_seconds(t: SystemTime) -> f64 {
    let s = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    (s * 1000.0).round() / 1000.0
}

impl Namespace {
    fn initial(&self) -> Option<bool> {
        match &self.outcome {
            Outcome::Observed(o) => o.identity.netns.initial,
            _ => None,
        }
    }

    pub fn name(&self) -> String {
        name(&self.found, self.initial())
    }

    pub fn metric_label(&self) -> String {
        metric_label(&self.found, self.initial())
    }

    pub fn report<'a>(&'a self, fleet: &Fleet) -> Option<ObserveReport<'a>> {
        match &self.outcome {
            Outcome::Observed(o) => Some(ObserveReport {
                identity: &o.identity,
                settings: &o.settings,
                analysis: &o.analysis,
                fail_on: fleet.fail_on,
                owners_skipped: fleet.owners_skipped,
                states: fleet.states,
            }),
            _ => None,
        }
    }
}

impl Member for Namespace {
    fn status(&self, fail_on: Severity) -> &'static str {
        match &self.outcome {
            Outcome::Observed(o) if o.analysis.diagnoses.iter().any(|d| d.severity >= fail_on) => {
                "fail"
            }
            Outcome::Observed(_) => "pass",
            Outcome::Vanished(_) => "vanished",
            Outcome::Failed(_) => "error",
        }
    }

    /// The exit code a single `observe` of it would give; a vanished one has nothing
    /// left to fail.
    fn exit_code(&self, fail_on: Severity) -> i32 {
        match self.status(fail_on) {
            "fail" => 1,
            "error" => 2,
            _ => 0,
        }
    }
}

impl Fleet<'_> {
    /// The worst over every namespace (2 when one could not be observed).
    pub fn exit_code(&self) -> i32 {
        worst(self.namespaces, self.fail_on)
    }

    fn count(&self, status: &str) -> usize {
        count(self.namespaces, self.fail_on, status)
    }

    /// Each diagnosis at or above --fail-on, with the number of namespaces it is made in.
    fn failing(&self) -> Vec<(String, usize)> {
        tally(self.namespaces.iter().map(|n| {
            match &n.outcome {
                Outcome::Observed(o) => o
                    .analysis
                    .diagnoses
                    .iter()
                    .filter(|d| d.severity >= self.fail_on)
                    .map(|d| d.id)
                    .collect(),
                _ => Vec::new(),
            }
        }))
    }
}

pub fn text(fleet: &Fleet, style: Style, verbosity: Verbosity) -> String {
    let mut out = String::new();
    let n = fleet.namespaces.len();
    let when = match fleet.interval_s {
        Some(s) => format!("2 samples {s:.1} s apart"),
        None => "1 sample".into(),
    };
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!(
            "tuneguard observe --all-netns · {n} network namespace{} · {when}",
            if n == 1 { "" } else { "s" },
        ))
    );
    summary(
        &mut out,
        style,
        Summary {
            fail: (
                fleet.count("fail"),
                format!("with diagnoses at or above {}", fleet.fail_on.as_str()),
            ),
            pass: (fleet.count("pass"), "quiet"),
            error: (fleet.count("error"), "could not be observed"),
            vanished: fleet.count("vanished"),
            failing: ("diagnoses", fleet.failing()),
            notes: fleet.notes,
        },
    );
    for ns in fleet.namespaces {
        let status = ns.status(fleet.fail_on);
        if verbosity == Verbosity::Quiet && status == "pass" {
            continue;
        }
        header(&mut out, style, status, "DIAGNOSED", &ns.name());
        match (&ns.outcome, ns.report(fleet)) {
            // A quiet namespace is one line unless -v asks for its evidence.
            (_, Some(r)) if status == "pass" && verbosity != Verbosity::Verbose => {
                let below = r.analysis.diagnoses.len();
                let _ = match below {
                    0 => writeln!(out, "no diagnoses"),
                    _ => writeln!(
                        out,
                        "{below} diagnos{} below {}",
                        if below == 1 { "is" } else { "es" },
                        fleet.fail_on.as_str()
                    ),
                };
            }
            (_, Some(r)) => out.push_str(&render::text(&r, style, verbosity)),
            (Outcome::Failed(why), _) => {
                let _ = writeln!(out, "could not observe it: {}", line(why));
            }
            (Outcome::Vanished(Gone::BetweenSamples), _) => {
                let _ = writeln!(
                    out,
                    "it was gone before its second sample (its processes exited, or `ip netns del` ran)"
                );
            }
            _ => {
                let _ = writeln!(out, "{GONE}");
            }
        }
    }
    out
}

pub fn json(fleet: &Fleet) -> String {
    let namespaces: Vec<serde_json::Value> = fleet
        .namespaces
        .iter()
        .map(|ns| {
            let mut v = identity_json(&ns.found, ns.initial());
            let (error, gone, sampled) = match &ns.outcome {
                Outcome::Failed(why) => (Some(why.as_str()), None, None),
                Outcome::Vanished(Gone::BeforeFirst) => (None, Some("before-first-sample"), None),
                Outcome::Vanished(Gone::BetweenSamples) => (None, Some("between-samples"), None),
                Outcome::Observed(o) => (
                    None,
                    None,
                    Some(json!({
                        "first": unix_seconds(o.sampled.0),
                        "second": o.sampled.1.map(unix_seconds),
                    })),
                ),
            };
            v.insert("status".into(), json!(ns.status(fleet.fail_on)));
            v.insert("exit_code".into(), json!(ns.exit_code(fleet.fail_on)));
            v.insert("error".into(), json!(error));
            v.insert("vanished".into(), json!(gone));
            v.insert("sampled_at".into(), json!(sampled));
            v.insert(
                "report".into(),
                json!(ns.report(fleet).map(|r| render::document(&r))),
            );
            serde_json::Value::Object(v)
        })
        .collect();
    let doc = json!({
        "schema": SCHEMA,
        "tool": { "name": "tuneguard", "version": env!("CARGO_PKG_VERSION") },
        "interval_s": fleet.interval_s,
        "fail_on": fleet.fail_on,
        "summary": {
            "namespaces": fleet.namespaces.len(),
            "pass": fleet.count("pass"),
            "fail": fleet.count("fail"),
            "error": fleet.count("error"),
            "vanished": fleet.count("vanished"),
            "failing": fleet.failing().iter().map(|(id, c)| json!({ "id": id, "namespaces": c })).collect::<Vec<_>>(),
        },
        "notes": fleet.notes,
        "namespaces": namespaces,
    });
    super::json::pretty(&doc)
}
