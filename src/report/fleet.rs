//! `audit --all-netns`: every namespace's report under one summary. Text: the summary
//! (how many namespaces, how many fail, which keys), then each namespace's grouped report
//! under a line naming it. JSON (tuneguard.fleet/v1): the summary and, per namespace,
//! its identity and its tuneguard.report/v1 report.

use super::escape::line;
use super::style::Style;
use super::text::Verbosity;
use super::AuditReport;
use crate::audit::{self, Finding};
use crate::host::namespaces::Found;
use crate::host::Snapshot;
use crate::profile::load::Override;
use crate::profile::Severity;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;

pub const SCHEMA: &str = "tuneguard.fleet/v1";

/// How many processes a namespace's name lists when nothing else names it.
const SHOWN_PROCESSES: usize = 3;

pub struct Audited {
    pub snapshot: Snapshot,
    pub findings: Vec<Finding>,
}

pub enum Outcome {
    Audited(Box<Audited>),
    /// Gone before it could be entered: its processes exited, `ip netns del` ran.
    Vanished,
    /// Entered but not audited (exit 2 for a single run): why.
    Failed(String),
}

pub struct Namespace {
    pub found: Found,
    pub outcome: Outcome,
}

pub struct Fleet<'a> {
    pub namespaces: &'a [Namespace],
    pub profiles: &'a [String],
    pub overrides: &'a [Override],
    pub fail_on: Severity,
    /// What discovery passed over.
    pub notes: &'a [String],
}

/// What a person calls a namespace: "the host (initial network namespace)", "ip netns
/// blue", "docker container 0123456789ab", "processes sleep[812], nginx[813]";
/// display-only text. `initial`: whether it was read to be the host's initial one.
pub fn name(f: &Found, initial: Option<bool>) -> String {
    if f.own && initial == Some(true) {
        return "the host (initial network namespace)".into();
    }
    if f.own {
        return "tuneguard's own network namespace".into();
    }
    if !f.names.is_empty() {
        return format!("ip netns {}", f.names.join(" = "));
    }
    if let Some(w) = &f.workload {
        return w.describe();
    }
    let mut shown: Vec<String> = f
        .processes
        .iter()
        .take(SHOWN_PROCESSES)
        .map(|p| format!("{}[{}]", p.name, p.pid))
        .collect();
    if f.pids.len() > shown.len() {
        shown.push(format!("{} more", f.pids.len() - shown.len()));
    }
    match shown.is_empty() {
        true => format!("network namespace {}", f.id.ino),
        false => format!("processes {}", shown.join(", ")),
    }
}

/// A namespace's `netns` label in metrics: stable while it lives and bounded (no pids):
/// `host`, the `ip netns` name, the container or pod, else `netns-INODE`.
pub fn metric_label(f: &Found, initial: Option<bool>) -> String {
    match (f.own, initial, f.names.first(), &f.workload) {
        (true, Some(true), _, _) => "host".into(),
        (_, _, Some(n), _) => n.clone(),
        (_, _, None, Some(w)) => w.describe(),
        _ => format!("netns-{}", f.id.ino),
    }
}

/// The JSON fields every fleet document gives a namespace: who it is.
pub fn identity_json(
    f: &Found,
    initial: Option<bool>,
) -> serde_json::Map<String, serde_json::Value> {
    let v = json!({
        "name": name(f, initial),
        "nsfs": (f.id.ino != 0).then_some(f.id),
        "own": f.own,
        "ip_netns": f.names,
        "workload": f.workload,
        "processes": f.pids.len(),
        "named_processes": f.processes,
    });
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

impl Namespace {
    fn initial(&self) -> Option<bool> {
        match &self.outcome {
            Outcome::Audited(a) => a.snapshot.netns.initial,
            _ => None,
        }
    }

    /// What a person calls it (see [`name`]).
    pub fn name(&self) -> String {
        name(&self.found, self.initial())
    }

    /// Its `netns` label in metrics (see [`metric_label`]).
    pub fn metric_label(&self) -> String {
        metric_label(&self.found, self.initial())
    }

    pub fn report<'a>(&'a self, fleet: &'a Fleet) -> Option<AuditReport<'a>> {
        match &self.outcome {
            Outcome::Audited(a) => Some(AuditReport {
                snapshot: &a.snapshot,
                profiles: fleet.profiles,
                findings: &a.findings,
                fail_on: fleet.fail_on,
                overrides: fleet.overrides,
            }),
            _ => None,
        }
    }
}

/// A namespace of either fleet report: its status (`pass`, `fail`, `error`,
/// `vanished`) and the exit code a single run of the command on it would give.
pub trait Member {
    fn status(&self, fail_on: Severity) -> &'static str;
    fn exit_code(&self, fail_on: Severity) -> i32;
}

/// The worst exit code over every namespace (2 when one could not be read).
pub fn worst<M: Member>(members: &[M], fail_on: Severity) -> i32 {
    members
        .iter()
        .map(|n| n.exit_code(fail_on))
        .max()
        .unwrap_or(0)
}

/// How many namespaces have this status.
pub fn count<M: Member>(members: &[M], fail_on: Severity, status: &str) -> usize {
    members
        .iter()
        .filter(|n| n.status(fail_on) == status)
        .count()
}

impl Member for Namespace {
    fn status(&self, fail_on: Severity) -> &'static str {
        match &self.outcome {
            Outcome::Audited(a) if a.findings.iter().any(|f| f.fails_at(fail_on)) => "fail",
            Outcome::Audited(_) => "pass",
            Outcome::Vanished => "vanished",
            Outcome::Failed(_) => "error",
        }
    }

    /// The exit code a single `audit` of it would give; a vanished one has nothing left
    /// to fail.
    fn exit_code(&self, fail_on: Severity) -> i32 {
        match &self.outcome {
            Outcome::Audited(a) => audit::exit_code(&a.findings, fail_on),
            Outcome::Vanished => 0,
            Outcome::Failed(_) => 2,
        }
    }
}

impl Fleet<'_> {
    /// The worst over every namespace (2 when one could not be audited).
    pub fn exit_code(&self) -> i32 {
        worst(self.namespaces, self.fail_on)
    }

    fn count(&self, status: &str) -> usize {
        count(self.namespaces, self.fail_on, status)
    }

    /// Each subject failing at --fail-on, with the number of namespaces it fails in.
    fn failing_keys(&self) -> Vec<(String, usize)> {
        tally(self.namespaces.iter().map(|n| {
            match &n.outcome {
                Outcome::Audited(a) => a
                    .findings
                    .iter()
                    .filter(|f| f.fails_at(self.fail_on))
                    .map(|f| f.subject.as_str())
                    .collect(),
                _ => Vec::new(),
            }
        }))
    }
}

/// What both fleet reports (audit's, observe's) print alike, after their title: the
/// counts (`fail` and `pass` in the command's words, then what could not be read), what
/// fails and in how many namespaces, the notes.
pub struct Summary<'a> {
    /// (count, words) for the failing and the passing namespaces.
    pub fail: (usize, String),
    pub pass: (usize, &'a str),
    pub error: (usize, &'a str),
    pub vanished: usize,
    /// (label, each failing id with the number of namespaces it fails in).
    pub failing: (&'a str, Vec<(String, usize)>),
    pub notes: &'a [String],
}

pub fn summary(out: &mut String, style: Style, s: Summary) {
    let mut parts = vec![
        format!("{} {}", s.fail.0, s.fail.1),
        format!("{} {}", s.pass.0, s.pass.1),
    ];
    if s.error.0 > 0 {
        parts.push(format!("{} {}", s.error.0, s.error.1));
    }
    if s.vanished > 0 {
        parts.push(format!("{} vanished before they could be read", s.vanished));
    }
    let _ = writeln!(out, "{}", parts.join(", "));
    let (label, failing) = s.failing;
    if !failing.is_empty() {
        let listed: Vec<String> = failing
            .iter()
            .map(|(k, c)| format!("{} ({c})", line(k)))
            .collect();
        let _ = writeln!(out, "{label}: {}", listed.join(", "));
    }
    for note in s.notes {
        let _ = writeln!(out, "{} {}", style.yellow("note:"), line(note));
    }
}

/// Each id with the number of namespaces it fails in, from every namespace's failing
/// ids (each namespace counts an id once).
pub fn tally<'a>(each: impl Iterator<Item = Vec<&'a str>>) -> Vec<(String, usize)> {
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for mut mine in each {
        mine.sort_unstable();
        mine.dedup();
        for id in mine {
            *ids.entry(id).or_default() += 1;
        }
    }
    ids.into_iter().map(|(k, c)| (k.to_string(), c)).collect()
}

/// A namespace's `=== MARK NAME` line; `fail` is the command's mark for a failing one.
pub fn header(out: &mut String, style: Style, status: &str, fail: &str, name: &str) {
    let mark = match status {
        "fail" => style.red(fail),
        "error" => style.red("ERROR"),
        "vanished" => style.yellow("GONE"),
        _ => style.green("OK"),
    };
    let _ = writeln!(out, "\n{} {mark} {}", style.bold("==="), line(name));
}

/// The line for a namespace gone before it could be entered.
pub const GONE: &str =
    "it was gone before it could be entered (its processes exited, or `ip netns del` ran)";

pub fn text(fleet: &Fleet, style: Style, verbosity: Verbosity) -> String {
    let mut out = String::new();
    let n = fleet.namespaces.len();
    let (fail, error, vanished) = (
        fleet.count("fail"),
        fleet.count("error"),
        fleet.count("vanished"),
    );
    let _ = writeln!(
        out,
        "{}",
        style.bold(&line(&format!(
            "tuneguard audit --all-netns · {n} network namespace{} · profile {}",
            if n == 1 { "" } else { "s" },
            fleet.profiles.join(" + ")
        )))
    );
    summary(
        &mut out,
        style,
        Summary {
            fail: (
                fail,
                format!("fail (at or above {})", fleet.fail_on.as_str()),
            ),
            pass: (fleet.count("pass"), "pass"),
            error: (error, "could not be audited"),
            vanished,
            failing: ("failing", fleet.failing_keys()),
            notes: fleet.notes,
        },
    );
    for ns in fleet.namespaces {
        let status = ns.status(fleet.fail_on);
        if verbosity == Verbosity::Quiet && status == "pass" {
            continue;
        }
        header(&mut out, style, status, "FAIL", &ns.name());
        match (&ns.outcome, ns.report(fleet)) {
            // A namespace that passes is one line unless -v asks for each finding.
            (_, Some(r)) if status == "pass" && verbosity != Verbosity::Verbose => {
                let _ = writeln!(out, "{}: OK", audit::Summary::of(r.findings).counts());
            }
            (_, Some(r)) => out.push_str(&super::text::render(&r, style, verbosity)),
            (Outcome::Failed(why), _) => {
                let _ = writeln!(out, "could not audit it: {}", line(why));
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
            v.insert("status".into(), json!(ns.status(fleet.fail_on)));
            v.insert("exit_code".into(), json!(ns.exit_code(fleet.fail_on)));
            v.insert(
                "error".into(),
                json!(match &ns.outcome {
                    Outcome::Failed(why) => Some(why),
                    _ => None,
                }),
            );
            v.insert(
                "report".into(),
                json!(ns.report(fleet).map(|r| super::json::document(&r))),
            );
            serde_json::Value::Object(v)
        })
        .collect();
    let doc = json!({
        "schema": SCHEMA,
        "tool": { "name": "tuneguard", "version": env!("CARGO_PKG_VERSION") },
        "profiles": fleet.profiles,
        "fail_on": fleet.fail_on,
        "summary": {
            "namespaces": fleet.namespaces.len(),
            "pass": fleet.count("pass"),
            "fail": fleet.count("fail"),
            "error": fleet.count("error"),
            "vanished": fleet.count("vanished"),
            "failing": fleet.failing_keys().iter().map(|(k, c)| json!({ "subject": k, "namespaces": c })).collect::<Vec<_>>(),
        },
        "notes": fleet.notes,
        "namespaces": namespaces,
    });
    super::json::pretty(&doc)
}
