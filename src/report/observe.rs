//! `observe` as text (diagnoses worst first, then the evidence they rest on) and as
//! JSON, schema tuneguard.observe/v1 (docs/json-schema.md).

use super::escape::line;
use super::style::Style;
use super::text::{wrap, Verbosity};
use crate::host::Identity;
use crate::observe::diagnose::thousands;
use crate::observe::views::TOP;
use crate::observe::{Analysis, Diagnosis};
use crate::profile::Severity;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;

pub const SCHEMA: &str = "tuneguard.observe/v1";

pub struct ObserveReport<'a> {
    pub identity: &'a Identity,
    pub settings: &'a BTreeMap<String, String>,
    pub analysis: &'a Analysis,
    pub fail_on: Severity,
    /// --no-owners was given.
    pub owners_skipped: bool,
    /// The socket states looked at (1 << state).
    pub states: u32,
}

/// The states looked at, as `ss` names them; None for all.
fn states(mask: u32) -> Option<Vec<&'static str>> {
    use crate::host::sockets::TCP_ALL_STATES;
    if mask & TCP_ALL_STATES == TCP_ALL_STATES {
        return None;
    }
    let mut names: Vec<&str> = (1..=11u8)
        .filter(|s| mask & (1 << s) != 0)
        .map(crate::observe::views::state_name)
        .collect();
    names.dedup();
    Some(names)
}

fn count(ds: &[Diagnosis], s: Severity) -> usize {
    ds.iter().filter(|d| d.severity == s).count()
}

pub fn json(r: &ObserveReport) -> String {
    let mut s = serde_json::to_string_pretty(&document(r))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The report as a JSON value (one of `observe --all-netns`'s reports).
pub fn document(r: &ObserveReport) -> serde_json::Value {
    let a = r.analysis;
    let v = &a.views;
    json!({
        "schema": SCHEMA,
        "tool": { "name": "tuneguard", "version": env!("CARGO_PKG_VERSION") },
        "host": {
            "hostname": r.identity.hostname,
            "kernel": r.identity.kernel_release,
            "netns": r.identity.netns.label,
            "initial_netns": r.identity.netns.initial,
        },
        "samples": v.samples,
        "states": states(r.states).map_or(serde_json::Value::from("all"), serde_json::Value::from),
        "interval_s": v.interval_s,
        "fail_on": r.fail_on,
        "summary": {
            "diagnoses": a.diagnoses.len(),
            "error": count(&a.diagnoses, Severity::Error),
            "warning": count(&a.diagnoses, Severity::Warning),
            "info": count(&a.diagnoses, Severity::Info),
        },
        "diagnoses": a.diagnoses,
        "settings": r.settings,
        "counters": v.counters,
        "memory": v.memory,
        "sockets": v.sockets,
        "sockets_error": v.sockets_error,
        "owners": {
            "looked_up": v.owners.looked_up,
            "skipped_by_flag": r.owners_skipped,
            "unreadable_processes": v.owners.unreadable_processes,
        },
        "unreadable": v.unreadable,
    })
}

fn mark(s: Severity, style: Style) -> String {
    match s {
        Severity::Error => style.red("ERROR  "),
        Severity::Warning => style.yellow("WARNING"),
        Severity::Info => style.cyan("info   "),
    }
}

fn owners_text(o: &[crate::host::sockets::Owner]) -> String {
    o.iter()
        .map(|o| format!("{}[{}]", line(&o.name), o.pid))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn text(r: &ObserveReport, style: Style, verbosity: Verbosity) -> String {
    let mut out = String::new();
    let a = r.analysis;
    let v = &a.views;
    let indent = "         ";
    if verbosity != Verbosity::Quiet {
        let kernel = r
            .identity
            .kernel_release
            .as_deref()
            .unwrap_or("unknown kernel");
        let mut when = match v.interval_s {
            Some(s) => format!("2 samples {s:.1} s apart"),
            None => "1 sample".into(),
        };
        if let Some(names) = states(r.states) {
            when.push_str(&format!(" · only {}", names.join(", ")));
        }
        let _ = writeln!(
            out,
            "{}",
            style.bold(&format!(
                "tuneguard observe · {} · Linux {kernel} · {} · {when}",
                r.identity.hostname,
                match r.identity.netns.label.strip_prefix("proc:") {
                    Some(dir) => format!("captured tree {dir}"),
                    None => format!("netns {}", r.identity.netns.label),
                }
            ))
        );
    }
    for d in &a.diagnoses {
        let _ = writeln!(
            out,
            "{} {}  {}",
            mark(d.severity, style),
            d.id,
            line(&d.subject)
        );
        let _ = writeln!(out, "{indent}{}", wrap(&line(&d.summary), 92, indent));
        if verbosity != Verbosity::Quiet {
            let _ = writeln!(
                out,
                "{indent}{}",
                style.dim(&wrap(
                    &format!("{} ({})", d.explanation, d.cause),
                    92,
                    indent
                ))
            );
            let read: Vec<String> = d
                .settings
                .iter()
                .map(|k| format!("tuneguard explain {k}"))
                .collect();
            let incident = d
                .incident
                .map(|n| format!(" · like incident {n}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{indent}{} {}{incident}",
                style.cyan("read:"),
                read.join(" · ")
            );
        }
    }
    if a.diagnoses.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.green(&match v.interval_s {
                Some(s) => format!(
                    "no diagnosis: nothing the kernel showed in {s:.1} s points at a problem"
                ),
                None =>
                    "no diagnosis from one sample (rates and stuck queues need two: drop --once)"
                        .into(),
            })
        );
    }
    if verbosity == Verbosity::Quiet {
        return out;
    }
    evidence(&mut out, r, style, verbosity);
    out
}

fn evidence(out: &mut String, r: &ObserveReport, style: Style, verbosity: Verbosity) {
    let v = &r.analysis.views;
    let _ = writeln!(out);
    if let Some(s) = &v.sockets {
        let states: Vec<String> = s
            .by_state
            .iter()
            .map(|(k, n)| format!("{k} {}", thousands(*n as i64)))
            .collect();
        if s.total == 0 {
            let _ = writeln!(out, "{} none", style.bold("Sockets:"));
        } else {
            let _ = writeln!(
                out,
                "{} {} ({})",
                style.bold("Sockets:"),
                thousands(s.total as i64),
                states.join(" · ")
            );
        }
        if !s.listeners.is_empty() {
            let _ = writeln!(out, "{}", style.bold("Listeners (accept queue / backlog):"));
            let shown = if verbosity == Verbosity::Verbose {
                usize::MAX
            } else {
                TOP
            };
            for l in s.listeners.iter().take(shown) {
                let drops = match (l.drops, l.drops_delta) {
                    (Some(d), Some(x)) if x != 0 => {
                        format!("drops {} (+{})", thousands(d.into()), thousands(x))
                    }
                    (Some(d), _) if d > 0 => format!("drops {}", thousands(d.into())),
                    _ => String::new(),
                };
                let full = if l.full {
                    style.red("FULL")
                } else if l.full_in_any_sample {
                    style.yellow("was full")
                } else {
                    String::new()
                };
                let mut extra = String::new();
                if l.syn_recv > 0 {
                    extra.push_str(&format!(" half-open {}", l.syn_recv));
                }
                if l.unaccepted_with_data > 0 {
                    extra.push_str(&format!(
                        " unaccepted with data {} ({} B)",
                        l.unaccepted_with_data,
                        thousands(l.unaccepted_bytes as i64)
                    ));
                }
                let _ = writeln!(
                    out,
                    "  {:<28} {:>6}/{:<6} {full} {drops}{extra} {}",
                    l.local.to_string(),
                    l.queue,
                    l.max,
                    owners_text(&l.owners)
                );
            }
            if s.listeners.len() > shown {
                let _ = writeln!(out, "  ... {} more (-v)", s.listeners.len() - shown);
            }
        }
        let cw = &s.close_wait;
        if cw.total > 0 {
            let _ = writeln!(
                out,
                "{} {} to {}, {} with a keepalive timer, {} bytes unread{}",
                style.bold("CLOSE_WAIT:"),
                thousands(cw.total as i64),
                crate::words::count(cw.peers, "peer"),
                cw.keepalive_armed,
                thousands(cw.unread_bytes as i64),
                cw.oldest_idle_s
                    .map(|s| format!(", oldest peer silent {s:.0} s"))
                    .unwrap_or_default()
            );
            for p in &cw.by_peer {
                let peer = match p.local_port {
                    Some(port) => format!("{} → :{port}", p.peer),
                    None => p.peer.clone(),
                };
                let _ = writeln!(
                    out,
                    "  peer {:<28} {:>6}  keepalive {}",
                    peer, p.count, p.keepalive_armed
                );
            }
            for o in &cw.by_owner {
                let timers = o
                    .keepalive_expires_s
                    .map(|[lo, hi]| format!(" (timers {lo:.0}–{hi:.0} s)"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  owner {}[{}] {:>6}  keepalive {}{timers}",
                    line(&o.name),
                    o.pid,
                    o.count,
                    o.keepalive_armed
                );
            }
            if cw.owner_unknown > 0 && v.owners.looked_up {
                let _ = writeln!(out, "  owner unknown: {}", cw.owner_unknown);
            }
        }
        if !s.stuck.is_empty() {
            let _ = writeln!(
                out,
                "{}",
                style.bold("Queues where no byte moved between the samples:")
            );
            for x in &s.stuck {
                let _ = writeln!(
                    out,
                    "  {:<10} {} ↔ {}  Recv-Q {}→{}  Send-Q {}→{}{} {}",
                    x.state,
                    x.local,
                    x.remote,
                    x.recv_q[0],
                    x.recv_q[1],
                    x.send_q[0],
                    x.send_q[1],
                    if x.zero_window_probe {
                        "  zero-window probe"
                    } else {
                        ""
                    },
                    owners_text(&x.owners)
                );
            }
        }
        // Local hops to our own listeners are normal (an upstream on 127.0.0.1); they are
        // listed when they come fast, or with -v.
        for g in s.to_self.iter().take(TOP).filter(|g| {
            verbosity == Verbosity::Verbose
                || g.per_second
                    .is_some_and(|r| r >= crate::observe::views::LOOP_RATE)
        }) {
            let _ = writeln!(
                out,
                "{} {} to own listener {}{}{}",
                style.bold("Self-connections:"),
                thousands(g.now as i64),
                g.target,
                g.per_second
                    .map(|r| format!(", {r:.0} new/s"))
                    .unwrap_or_default(),
                if g.client_owners.is_empty() {
                    String::new()
                } else {
                    format!(", from {}", owners_text(&g.client_owners))
                }
            );
        }
        if s.time_wait.total > 0 {
            let mut most = Vec::new();
            if let Some(top) = s.time_wait.by_peer.first() {
                most.push(format!(
                    "most dialled {}: {}",
                    top.peer,
                    thousands(top.count.into())
                ));
            }
            if let Some(top) = s.time_wait.by_listener.first() {
                most.push(format!(
                    "most accepted on {}: {}",
                    top.listener,
                    thousands(top.count.into())
                ));
            }
            let _ = writeln!(
                out,
                "{} {} ({})",
                style.bold("TIME_WAIT:"),
                thousands(s.time_wait.total as i64),
                most.join("; ")
            );
        }
    } else if let Some(e) = &v.sockets_error {
        let _ = writeln!(out, "sockets: {}", line(e));
    } else {
        let _ = writeln!(
            out,
            "{}",
            style.dim("sockets: a captured proc tree holds none; counters only")
        );
    }
    let m = &v.memory;
    if let Some(b) = m.tcp_slab_bytes {
        let _ = writeln!(
            out,
            "{} TCP slab {} KiB{} (host-wide)",
            style.bold("Memory:"),
            thousands((b >> 10) as i64),
            m.tcp_slab_share
                .map(|s| format!(" ({:.2}% of memory)", s * 100.0))
                .unwrap_or_default()
        );
    }
    // The watched counters that are not zero; with -v every counter that moved too.
    let moving = v.counters.iter().filter(|c| {
        verbosity == Verbosity::Verbose
            || (crate::observe::views::WATCHED.contains(&c.name.as_str()) && c.total != 0)
    });
    let lines: Vec<String> = moving
        .map(|c| {
            let d = match (c.delta, c.per_second) {
                (Some(d), Some(r)) if d != 0 => format!("  {:+} ({r:.1}/s)", d),
                _ => String::new(),
            };
            let scope = if c.scope == "host" {
                "  (host-wide)"
            } else {
                ""
            };
            format!("  {:<30} {:>14}{d}{scope}", c.name, thousands(c.total))
        })
        .collect();
    if !lines.is_empty() {
        let since = match v.interval_s {
            Some(s) => format!(" (since the namespace started; change in {s:.1} s)"),
            None => " (since the namespace started)".into(),
        };
        let _ = writeln!(out, "{}{}", style.bold("Counters"), style.dim(&since));
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    for u in &v.unreadable {
        let _ = writeln!(out, "{}", style.dim(&format!("not read: {u}")));
    }
    if let Some(why) = &m.slab_unreadable {
        if verbosity == Verbosity::Verbose {
            let _ = writeln!(out, "{}", style.dim(&format!("not read: {why}")));
        }
    }
    if r.owners_skipped {
        let _ = writeln!(out, "{}", style.dim("owners not looked up (--no-owners)"));
    } else if v.owners.unreadable_processes > 0 {
        let _ = writeln!(
            out,
            "{}",
            style.dim(&format!(
                "owners: {} process(es) refused us their file table (run as root to name them)",
                v.owners.unreadable_processes
            ))
        );
    }
    let s = &r.analysis.diagnoses;
    let verdict = if s.iter().any(|d| d.severity >= r.fail_on) {
        style.red(&format!(
            "FAIL (diagnoses at or above {})",
            r.fail_on.as_str()
        ))
    } else {
        style.green("OK")
    };
    let _ = writeln!(
        out,
        "{} {}: {} error, {} warning, {} info: {verdict}",
        s.len(),
        if s.len() == 1 {
            "diagnosis"
        } else {
            "diagnoses"
        },
        count(s, Severity::Error),
        count(s, Severity::Warning),
        count(s, Severity::Info)
    );
}
