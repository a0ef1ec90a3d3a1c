//! The text view: a header, one line per finding worst first, a summary line. Findings
//! that share a cause (audit/cause.rs) are one block: the cause, what it affects, one
//! fix. `-v` adds the explanation, rationale and remedy under each finding (and lists
//! each finding of a block); `-q` prints only what fails.

use super::escape::line;
use super::style::Style;
use super::AuditReport;
use crate::audit::{Cause, Finding, Status, Summary};
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
    let kernel = match &snap.kernel_release {
        Some(k) => format!("Linux {k}"),
        None => "kernel unknown (--kernel)".into(),
    };
    let ns = match snap.netns.initial {
        Some(false) => format!("netns {} (child)", snap.netns.label),
        // `--proc none`: no namespace is read, only the files under --root.
        _ if snap.netns.label == "none" => "persisted files only".into(),
        _ => match snap.netns.label.strip_prefix("proc:") {
            Some(dir) => format!("captured tree {dir}"),
            None => format!("netns {}", snap.netns.label),
        },
    };
    if verbosity != Verbosity::Quiet {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&line(&format!(
                "tuneguard audit · {} · {kernel} · {ns} · profile {}",
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
        .map(|f| match f.cause.filter(|c| c.shared()) {
            Some(c) => c.as_str().len(),
            None => line(&f.subject).chars().count(),
        })
        .max()
        .unwrap_or(0)
        .min(36);
    // A shared cause is printed once, where its worst finding sorts; among blocks and
    // lines of one severity, a root cause (somaxconn) before what follows from it.
    let mut items: Vec<(Option<Cause>, Vec<&Finding>)> = Vec::new();
    for f in r.findings {
        match f.cause.filter(|c| c.shared()) {
            Some(c) => match items.iter_mut().find(|(k, _)| *k == Some(c)) {
                Some((_, members)) => members.push(f),
                None => items.push((Some(c), vec![f])),
            },
            None => items.push((None, vec![f])),
        }
    }
    items.sort_by_key(|(c, members)| (members[0].rank(), c.map_or(u8::MAX, |c| c as u8)));
    let causes = items
        .iter()
        .filter(|(_, m)| m[0].status == Status::Fail)
        .count();
    for (c, members) in &items {
        if verbosity == Verbosity::Quiet && members[0].status != Status::Fail {
            continue;
        }
        match c {
            Some(c) => block(&mut out, *c, members, style, verbosity, width),
            None => finding(&mut out, members[0], style, verbosity, width, ""),
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
    let failures = s.info + s.warning + s.error;
    let grouped = if causes < failures {
        format!(
            " ({failures} failures, {causes} {})",
            if causes == 1 { "cause" } else { "causes" }
        )
    } else {
        String::new()
    };
    let _ = writeln!(out, "{}{grouped}: {verdict}", s.counts());
    if verbosity == Verbosity::Normal && r.findings.iter().any(|f| f.status == Status::Fail) {
        let _ = writeln!(
            out,
            "{}",
            style.dim("(-v explains each finding; `tuneguard explain KEY` tells what a key does)")
        );
    }
    out
}

const INDENT: &str = "         ";

/// One finding: its line, the counters that moved, and with -v what it means and the
/// fix. `pad` indents it under a cause's block.
fn finding(
    out: &mut String,
    f: &Finding,
    style: Style,
    verbosity: Verbosity,
    width: usize,
    pad: &str,
) {
    let _ = writeln!(
        out,
        "{pad}{} {:width$}  {}",
        mark(f.status, f.severity, style),
        line(&f.subject),
        line(&f.message)
    );
    evidence(out, f, style, pad);
    if verbosity == Verbosity::Verbose {
        let indent = format!("{pad}{INDENT}");
        if !f.explanation.is_empty() {
            let _ = writeln!(
                out,
                "{indent}{}",
                style.dim(&wrap(&line(&f.explanation), 88, &indent))
            );
        }
        if let Some(rat) = &f.rationale {
            let who = f.profile.as_deref().unwrap_or("profile");
            let _ = writeln!(
                out,
                "{indent}{}",
                wrap(&line(&format!("why ({who}): {rat}")), 88, &indent)
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

/// The counters that moved, under a failure; false when none did.
fn evidence(out: &mut String, f: &Finding, style: Style, pad: &str) -> bool {
    let (Status::Fail, Some(serde_json::Value::Object(ev))) = (f.status, &f.evidence) else {
        return false;
    };
    let moved: Vec<String> = ev
        .iter()
        .filter_map(|(k, v)| Some((k, v.as_i64()?)))
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| format!("{k} {}", crate::observe::diagnose::thousands(v)))
        .collect();
    if moved.is_empty() {
        return false;
    }
    let _ = writeln!(
        out,
        "{pad}{INDENT}{} {} {}",
        style.cyan("evidence:"),
        moved.join(" · "),
        style.dim("(since the namespace started; rates: tuneguard observe)")
    );
    true
}

/// A shared cause: one line with the worst severity, what it affects (other findings'
/// sentences, then the nginx sockets by file, each once), the counters once, one fix.
/// -v lists every finding under it.
fn block(
    out: &mut String,
    cause: Cause,
    members: &[&Finding],
    style: Style,
    verbosity: Verbosity,
    width: usize,
) {
    let worst = members
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Info);
    let said = members.iter().find_map(|f| f.said.as_deref());
    let headline = said.map_or(members[0].message.as_str(), |s| s.headline.as_str());
    let _ = writeln!(
        out,
        "{} {:width$}  {}",
        mark(Status::Fail, worst, style),
        cause.as_str(),
        line(headline)
    );
    for f in members.iter().filter(|f| f.nginx.is_none()) {
        let _ = writeln!(out, "{INDENT}{}", line(&f.message));
    }
    // Per file, each socket once (a socket's two backlog checks can share the cause).
    let mut files: Vec<(&str, Vec<String>)> = Vec::new();
    for n in members.iter().filter_map(|f| f.nginx.as_deref()) {
        let item = format!("{} (line {})", n.socket, n.line);
        match files.iter_mut().find(|(file, _)| *file == n.file) {
            Some((_, items)) if items.contains(&item) => {}
            Some((_, items)) => items.push(item),
            None => files.push((&n.file, vec![item])),
        }
    }
    for (file, items) in files {
        let _ = writeln!(
            out,
            "{INDENT}nginx {}: {}",
            line(file),
            line(&items.join(", "))
        );
    }
    let _ = members.iter().any(|f| evidence(out, f, style, ""));
    if let Some(fix) = said.and_then(|s| s.fix.as_deref()) {
        let _ = writeln!(out, "{INDENT}{} {}", style.cyan("fix:"), line(fix));
    }
    if verbosity == Verbosity::Verbose {
        for f in members {
            finding(out, f, style, verbosity, width, INDENT);
        }
    }
}

fn mark(status: Status, severity: Severity, style: Style) -> String {
    match (status, severity) {
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
