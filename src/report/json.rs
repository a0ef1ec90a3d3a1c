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

pub fn render(r: &AuditReport) -> String {
    let snap = r.snapshot;
    let doc = json!({
        "schema": SCHEMA,
        "tool": { "name": "tuneguard", "version": env!("CARGO_PKG_VERSION") },
        "host": {
            "hostname": snap.hostname,
            "kernel": snap.kernel_release,
            "netns": snap.netns.label,
            "initial_netns": snap.netns.initial,
        },
        "profiles": r.profiles,
        "persisted": persisted(snap),
        "fail_on": r.fail_on,
        "summary": Summary::of(r.findings),
        "findings": r.findings,
    });
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
