//! The text view: a header, one line per finding worst first, a summary line. `-v` adds
//! the explanation, rationale and remedy under each finding; `-q` prints only what
//! fails.

use super::escape::line;
use super::style::Style;
use super::AuditReport;
use crate::audit::{Finding, Status, Summary};
use crate::profile::Severity;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub fn render(r: &AuditReport, style: Style, verbosity: Verbosity) -> String {
    let mut out = String::new();
    let snap = r.snapshot;
    let kernel = snap.kernel_release.as_deref().unwrap_or("unknown kernel");
    let ns = match snap.netns.initial {
        Some(false) => format!("netns {} (child)", snap.netns.label),
        _ => format!("netns {}", snap.netns.label),
    };
    if verbosity != Verbosity::Quiet {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&line(&format!(
                "tuneguard audit · {} · Linux {kernel} · {ns} · profile {}",
                snap.hostname,
                r.profiles.join(" + ")
            )))
        );
    }
    if let (crate::host::NginxState::Read(n), false) = (&snap.nginx, verbosity == Verbosity::Quiet)
    {
        let _ = writeln!(
            out,
            "{} {}",
            style.dim("nginx:"),
            line(&n.version.describe())
        );
    }
    for n in r.override_notes() {
        let _ = writeln!(out, "{} {}", style.yellow("note:"), line(&n));
    }
    let width = r
        .findings
        .iter()
        .map(|f| line(&f.subject).chars().count())
        .max()
        .unwrap_or(0)
        .min(36);
    for f in r.findings {
        if verbosity == Verbosity::Quiet && f.status != Status::Fail {
            continue;
        }
        let _ = writeln!(
            out,
            "{} {:width$}  {}",
            mark(f, style),
            line(&f.subject),
            line(&f.message)
        );
        if let (Status::Fail, Some(serde_json::Value::Object(ev))) = (f.status, &f.evidence) {
            let moved: Vec<String> = ev
                .iter()
                .filter_map(|(k, v)| Some((k, v.as_i64()?)))
                .filter(|(_, v)| *v != 0)
                .map(|(k, v)| format!("{k} {}", crate::observe::diagnose::thousands(v)))
                .collect();
            if !moved.is_empty() {
                let _ = writeln!(
                    out,
                    "         {} {} {}",
                    style.cyan("evidence:"),
                    moved.join(" · "),
                    style.dim("(since the namespace started; rates: tuneguard observe)")
                );
            }
        }
        if verbosity == Verbosity::Verbose {
            let indent = "         ";
            if !f.explanation.is_empty() {
                let _ = writeln!(
                    out,
                    "{indent}{}",
                    style.dim(&wrap(&line(&f.explanation), 88, indent))
                );
            }
            if let Some(rat) = &f.rationale {
                let who = f.profile.as_deref().unwrap_or("profile");
                let _ = writeln!(
                    out,
                    "{indent}{}",
                    wrap(&line(&format!("why ({who}): {rat}")), 88, indent)
                );
            }
            if let Some(fact) = &f.fact {
                let _ = writeln!(
                    out,
                    "{indent}{}",
                    style.dim(&line(&format!("fact: {fact}")))
                );
            }
            if let (Some(rem), Status::Fail) = (&f.remedy, f.status) {
                let _ = writeln!(out, "{indent}{} {}", style.cyan("fix:"), line(rem));
            }
        }
    }
    let s = Summary::of(r.findings);
    let verdict = if r.findings.iter().any(|f| f.fails_at(r.fail_on)) {
        style.red(&format!(
            "FAIL (findings at or above {})",
            r.fail_on.as_str()
        ))
    } else {
        style.green("OK")
    };
    let _ = writeln!(out, "{}: {verdict}", s.counts());
    if verbosity == Verbosity::Normal && r.findings.iter().any(|f| f.status == Status::Fail) {
        let _ = writeln!(
            out,
            "{}",
            style.dim("(-v explains each finding; `tuneguard explain KEY` tells what a key does)")
        );
    }
    out
}

fn mark(f: &Finding, style: Style) -> String {
    match (f.status, f.severity) {
        (Status::Pass, _) => style.green("pass   "),
        (Status::Skip, _) => style.dim("skip   "),
        (Status::Fail, Severity::Error) => style.red("ERROR  "),
        (Status::Fail, Severity::Warning) => style.yellow("WARNING"),
        (Status::Fail, Severity::Info) => style.cyan("info   "),
    }
}

/// Wraps words at `width`, continuing lines with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        if line_len > 0 && line_len + 1 + word.len() > width {
            out.push('\n');
            out.push_str(indent);
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}
