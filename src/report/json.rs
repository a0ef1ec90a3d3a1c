//! `--format json`: schema tuneguard.report/v1 (docs/json-schema.md).

use super::AuditReport;
use crate::audit::Summary;
use serde_json::json;

pub const SCHEMA: &str = "tuneguard.report/v1";

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
        "fail_on": r.fail_on,
        "summary": Summary::of(r.findings),
        "findings": r.findings,
    });
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
