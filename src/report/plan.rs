//! Showing a plan: a table of changes (live values, files, nginx sockets), a unified
//! diff per file (`similar`), colored on a tty, and the notes; the same as JSON
//! (`tuneguard.apply/v1`) for scripts and the Ansible module.

use super::escape::{block, line};
use super::style::Style;
use crate::plan::{FileChange, FileKind, Plan};
use serde_json::json;
use std::fmt::Write;

/// The unified diff of one file, as `diff -u` would print it.
pub fn diff(c: &FileChange) -> String {
    let before = String::from_utf8_lossy(c.before.as_deref().unwrap_or_default());
    let after = String::from_utf8_lossy(&c.after);
    let path = c.path.display().to_string();
    let side = |there: bool| if there { path.as_str() } else { "/dev/null" };
    similar::TextDiff::from_lines(before.as_ref(), after.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(side(c.before.is_some()), side(!c.removed))
        .to_string()
}

fn paint_diff(d: &str, style: Style) -> String {
    // Line by line with their own endings: a CRLF file's diff keeps its CRs.
    d.split_inclusive('\n')
        .map(|l| {
            let (text, end) = l.split_at(l.trim_end_matches(['\r', '\n']).len());
            let painted = if text.starts_with("+++") || text.starts_with("---") {
                style.bold(text)
            } else if text.starts_with('+') {
                style.green(text)
            } else if text.starts_with('-') {
                style.red(text)
            } else if text.starts_with("@@") {
                style.cyan(text)
            } else {
                text.to_string()
            };
            painted + end
        })
        .collect()
}

/// The plan for a person: what changes, where, and why.
pub fn text(plan: &Plan, header: &str, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.bold(&line(header)));
    let mut rows: Vec<[String; 4]> = Vec::new();
    for c in &plan.live {
        let wide = if c.host_wide {
            " (host-wide: changes it for the whole host)"
        } else {
            ""
        };
        rows.push([
            "live".into(),
            c.key.clone(),
            format!("{} → {}", c.before, c.after),
            format!("{}{wide}", c.why),
        ]);
    }
    for f in &plan.files {
        let what = match (f.kind, f.before.is_some()) {
            (FileKind::Sysctl, true) => "sysctl.d",
            (FileKind::Sysctl, false) => "sysctl.d (new)",
            (FileKind::Nginx, _) => "nginx",
        };
        rows.push([
            "file".into(),
            f.path.display().to_string(),
            what.into(),
            f.why.join("; "),
        ]);
    }
    for s in &plan.sockets {
        let live = if s.live.is_empty() {
            "not listening".to_string()
        } else {
            format!(
                "live {}",
                s.live
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            )
        };
        let how = if s.relisten {
            "a reload or restart re-listens"
        } else {
            "only a restart re-listens (the backlog number is unchanged)"
        };
        rows.push([
            "socket".into(),
            s.addr.clone(),
            format!("{live} → {}", s.expected),
            format!("backlog {} → {}; {how}", s.before, s.after),
        ]);
    }
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "  nothing to change: the host already matches the profile"
        );
    }
    for r in &mut rows {
        for cell in r.iter_mut() {
            *cell = line(cell).into_owned();
        }
    }
    let w1 = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r[2].chars().count()).max().unwrap_or(0);
    for r in &rows {
        let _ = writeln!(
            out,
            "  {:<6} {:<w1$}  {:<w2$}  {}",
            r[0],
            r[1],
            r[2],
            style.dim(&r[3])
        );
    }
    for f in &plan.files {
        let _ = write!(out, "\n{}", paint_diff(&block(&diff(f)), style));
    }
    if !plan.notes.is_empty() || !plan.refusals.is_empty() {
        out.push('\n');
    }
    for n in &plan.refusals {
        let _ = writeln!(out, "{} {}", style.red("refused:"), line(n));
    }
    for n in &plan.notes {
        let _ = writeln!(out, "{} {}", style.yellow("note:"), line(n));
    }
    out
}

/// The plan as JSON: every change with before and after, each file's diff.
pub fn json(plan: &Plan) -> serde_json::Value {
    json!({
        "live": plan.live,
        "files": plan.files.iter().map(|f| json!({
            "path": f.path,
            "kind": f.kind,
            "created": f.before.is_none(),
            "removed": f.removed,
            "why": f.why,
            "before": f.before.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
            "after": String::from_utf8_lossy(&f.after),
            "diff": diff(f),
        })).collect::<Vec<_>>(),
        "sockets": plan.sockets,
        "restart_needed": plan.restart_needed().iter().map(|s| &s.addr).collect::<Vec<_>>(),
        "notes": plan.notes,
        "refusals": plan.refusals,
    })
}
