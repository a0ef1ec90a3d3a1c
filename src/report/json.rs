//! `--format json`: schema tuneguard.report/v1 (docs/json-schema.md).

use super::AuditReport;
use crate::audit::Summary;
use serde_json::json;

pub const SCHEMA: &str = "tuneguard.report/v1";

/// The files each loader reads, in order: what the per-key `persisted` objects rest on.
fn persisted(snap: &crate::host::Snapshot) -> serde_json::Value {
    let Some(p) = &snap.persisted else {
        return json!({ "checked": false, "reason": snap.persisted_skipped });
    };
    let paths = |order: &[usize]| {
        order
            .iter()
            .map(|&i| p.files[i].path.clone())
            .collect::<Vec<_>>()
    };
    json!({
        "checked": true,
        "root": p.root,
        "boot_loader": p.boot.name(),
        "boot_loader_assumed": !p.boot_known,
        "procps": paths(&p.procps),
        "systemd": paths(&p.systemd),
        "masked": p.masked.iter().map(|(i, by)| json!({ "file": p.files[*i].path, "masked_by": by })).collect::<Vec<_>>(),
        "unreadable": p.problems.iter().map(|x| json!({ "path": x.path, "error": x.error })).collect::<Vec<_>>(),
    })
}

/// Which nginx configuration was read, how it was found, and its files in nginx's order.
fn nginx(snap: &crate::host::Snapshot) -> serde_json::Value {
    use crate::host::NginxState;
    match &snap.nginx {
        NginxState::Off => json!({ "checked": false, "reason": "off" }),
        NginxState::NotFound(why) => json!({ "checked": false, "reason": why }),
        NginxState::Unreadable { path, error } => {
            json!({ "checked": false, "conf": path, "reason": error })
        }
        NginxState::Read(r) => json!({
            "checked": true,
            "conf": r.main,
            "found_by": r.how,
            "files": r.conf.as_ref().map(|c| c.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>()).unwrap_or_default(),
            "error": r.conf.as_ref().err().map(ToString::to_string),
            "sockets": r.model.sockets.len(),
            "version": {
                "version": r.version.version.to_string(),
                "source": r.version.source.kind(),
                "binary": match &r.version.source {
                    crate::host::nginx::binary::Source::Binary(p) => Some(p),
                    _ => None,
                },
                "passed_over": r.version.passed_over,
                "text": r.version.describe(),
            },
        }),
    }
}

pub fn render(r: &AuditReport) -> String {
    pretty(&document(r))
}

/// The report as a JSON value (one of `--all-netns`'s reports).
pub fn document(r: &AuditReport) -> serde_json::Value {
    let snap = r.snapshot;
    json!({
        "schema": SCHEMA,
        "tool": { "name": "tuneguard", "version": env!("CARGO_PKG_VERSION") },
        "host": {
            "hostname": snap.hostname,
            "kernel": snap.kernel_release,
            "netns": snap.netns.label,
            "initial_netns": snap.netns.initial,
            "workload": snap.netns.workload,
        },
        "profiles": r.profiles,
        "profiles_overridden": r.overrides,
        "persisted": persisted(snap),
        "nginx": nginx(snap),
        "fail_on": r.fail_on,
        "summary": Summary::of(r.findings),
        "findings": r.findings,
    })
}

/// Pretty-printed, with a final newline.
pub fn pretty(doc: &serde_json::Value) -> String {
    let mut s =
        serde_json::to_string_pretty(doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
