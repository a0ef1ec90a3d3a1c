//! Ansible binary-module mode (docs/ansible/README.md): started with
//! one argument, the path of a JSON file holding the task's arguments and Ansible's
//! `_ansible_*` keys, tuneguard prints exactly one JSON object on stdout, whatever
//! happens. Ansible validates nothing for a binary module, so every argument is checked
//! here: an unknown or mistyped one is a failed result that names it.

use crate::cli::{ApplyFlags, Select};
use crate::commands::apply;
use crate::profile::Severity;
use crate::words::count;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The arguments a task may give, with their types (ansible-doc: docs/ansible/library/tuneguard.yml).
const ARGS: [(&str, &str); 13] = [
    ("mode", "str"),
    ("profile", "list"),
    ("netns", "str"),
    ("root", "path"),
    ("state_dir", "path"),
    ("nginx", "bool"),
    ("nginx_conf", "path"),
    ("nginx_version", "str"),
    ("fail_on", "str"),
    ("persist", "bool"),
    ("nginx_reload", "bool"),
    ("nginx_restart", "bool"),
    ("nginx_bin", "path"),
];

/// Whether this process was started as a module: exactly one argument that is not a
/// subcommand or a flag, naming a file.
pub fn invoked(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let [_, arg] = args else { return None };
    let s = arg.to_str()?;
    if s.starts_with('-') || !s.contains(['/', '.']) {
        return None;
    }
    let p = PathBuf::from(arg);
    p.is_file().then_some(p)
}

/// Runs the module; returns the process exit code (Ansible reads only the JSON).
pub fn run(args_file: &Path) -> i32 {
    let result = match parse(args_file) {
        Ok(task) => task.run(),
        Err(msg) => failed(msg),
    };
    let failed = result["failed"].as_bool().unwrap_or(false);
    use std::io::Write;
    // Nothing else ever goes to stdout: Ansible parses it as one JSON object.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{result}").and_then(|()| out.flush());
    i32::from(failed)
}

fn failed(msg: String) -> Value {
    json!({ "failed": true, "changed": false, "msg": msg })
}

struct Task {
    apply: bool,
    select: Select,
    flags: ApplyFlags,
    fail_on: Severity,
    check: bool,
    diff: bool,
    no_log: bool,
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" => Some(true),
            "no" | "false" | "off" | "0" | "n" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// Parses and checks an arguments file without running anything: the fuzz harness's
/// entry (tests/fuzz.rs), which must never run an audit or an apply.
pub fn check_args(path: &Path) -> Result<(), String> {
    parse(path).map(|_| ())
}

fn parse(path: &Path) -> Result<Task, String> {
    let text = crate::safety::tree::read_file(path, crate::safety::tree::Cap::Small)
        .map_err(|e| e.to_string())
        .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()))
        .map_err(|e| {
            format!(
                "could not read the module arguments file {}: {e}",
                path.display()
            )
        })?;
    let map: Map<String, Value> = match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(format!(
                "the module arguments file {} is not a JSON object",
                path.display()
            ))
        }
        Err(e) => {
            return Err(format!(
                "the module arguments file {} is not valid JSON: {e}",
                path.display()
            ))
        }
    };
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with("_ansible_") && !ARGS.iter().any(|(a, _)| a == k))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = ARGS.iter().map(|(a, _)| *a).collect();
        return Err(format!(
            "Unsupported parameters for (tuneguard) module: {}. Supported parameters include: {}.",
            unknown.join(", "),
            known.join(", ")
        ));
    }
    let flag = |k: &str| map.get(k).and_then(truthy).unwrap_or(false);
    // Under no_log a bad argument is named, its value is not.
    let no_log = flag("_ansible_no_log");
    let shown = |v: &dyn std::fmt::Display| {
        if no_log {
            "the value given (withheld: no_log)".to_string()
        } else {
            v.to_string()
        }
    };
    let mut bad = Vec::new();
    let mut text_arg = |k: &str| -> Option<String> {
        match map.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                bad.push(format!("{k} must be a string, not {}", shown(other)));
                None
            }
        }
    };
    let mode = text_arg("mode").unwrap_or_else(|| "audit".into());
    let netns = text_arg("netns");
    let root = text_arg("root");
    let state_dir = text_arg("state_dir");
    let nginx_conf = text_arg("nginx_conf");
    let nginx_version = text_arg("nginx_version");
    let nginx_bin = text_arg("nginx_bin");
    let fail_on = text_arg("fail_on");
    let profiles: Vec<String> = match map.get("profile") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(other) => {
            bad.push(format!(
                "profile must be a string or a list of strings, not {}",
                shown(other)
            ));
            Vec::new()
        }
    };
    for (k, ty) in ARGS {
        if ty == "bool" {
            if let Some(v) = map.get(k) {
                if truthy(v).is_none() {
                    bad.push(format!("{k} must be a boolean, not {}", shown(v)));
                }
            }
        }
    }
    let apply = match mode.as_str() {
        "audit" => false,
        "apply" => true,
        other => {
            bad.push(format!(
                "mode must be audit or apply, not {}",
                shown(&other)
            ));
            false
        }
    };
    let fail_on = match fail_on.as_deref() {
        None | Some("error") => Severity::Error,
        Some("warning") => Severity::Warning,
        Some("info") => Severity::Info,
        Some(other) => {
            bad.push(format!(
                "fail_on must be info, warning or error, not {}",
                shown(&other)
            ));
            Severity::Error
        }
    };
    if !bad.is_empty() {
        return Err(format!("bad module arguments: {}", bad.join("; ")));
    }
    let nginx = map.get("nginx").and_then(truthy).unwrap_or(true);
    let select = Select {
        profiles,
        nginx_conf: nginx_conf.map(PathBuf::from),
        nginx_dump: None,
        no_nginx: !nginx,
        nginx_version,
        only: None,
        netns,
        pid: None,
        all_netns: false,
        root: root.map_or_else(|| PathBuf::from("/"), PathBuf::from),
        proc: None,
        kernel: None,
        capture: None,
        state_dir: state_dir.map(PathBuf::from),
    };
    let check = flag("_ansible_check_mode");
    let flags = ApplyFlags {
        dry_run: check,
        yes: true,
        no_persist: !map.get("persist").and_then(truthy).unwrap_or(true),
        nginx_reload: flag("nginx_reload"),
        nginx_restart: flag("nginx_restart"),
        nginx_cmd: None,
        nginx_bin: nginx_bin.map(PathBuf::from),
        allow_global: false,
    };
    if flags.nginx_reload && flags.nginx_restart {
        return Err("nginx_reload and nginx_restart are mutually exclusive".into());
    }
    Ok(Task {
        apply,
        select,
        flags,
        fail_on,
        check,
        diff: flag("_ansible_diff"),
        no_log: flag("_ansible_no_log"),
    })
}

/// What no_log leaves of a finding: what was checked and how it ended, no values.
fn hidden(f: &crate::audit::Finding) -> Value {
    json!({ "id": f.id, "kind": f.kind, "subject": f.subject, "status": f.status, "severity": f.severity })
}

impl Task {
    fn run(self) -> Value {
        let fail_on = self.fail_on;
        if !self.apply {
            // audit: a dry run's reading and audit, without the plan's effects.
            let mut f = self.flags.clone();
            f.dry_run = true;
            return match apply::prepare(&self.select, &f) {
                Ok(p) => self.result(&p, None, fail_on),
                Err(e) => failed(self.say(format!("{e:#}"), "the audit could not run")),
            };
        }
        let mut p = match apply::prepare(&self.select, &self.flags) {
            Ok(p) => p,
            Err(e) => {
                return failed(self.say(format!("{e:#}"), "apply stopped before changing anything"))
            }
        };
        if !p.plan.refusals.is_empty() {
            let mut v = self.result(&p, None, fail_on);
            v["failed"] = json!(true);
            v["changed"] = json!(false);
            v["msg"] = json!(self.say(
                format!(
                    "apply refused before changing anything: {}",
                    p.plan.refusals.join("; ")
                ),
                "apply refused before changing anything",
            ));
            return v;
        }
        if self.check || !p.work {
            return self.result(&p, None, fail_on);
        }
        match apply::execute(&mut p) {
            Ok(o) => self.result(&p, Some(&o), fail_on),
            Err(e) => failed(self.say(
                format!("apply could not start: {e:#}"),
                "apply could not start",
            )),
        }
    }

    /// `full`, or under no_log only what happened (`bare`): errors and refusals quote keys
    /// with their values and lines of files, which stay on the host (its journal,
    /// `tuneguard history`, a dry run there).
    fn say(&self, full: String, bare: &str) -> String {
        if self.no_log {
            format!("{bare} (details withheld: no_log; run tuneguard on the host to see them)")
        } else {
            full
        }
    }

    fn result(
        &self,
        p: &apply::Prepared,
        outcome: Option<&crate::txn::Outcome>,
        fail_on: Severity,
    ) -> Value {
        let summary = crate::audit::Summary::of(&p.findings);
        let findings: Vec<Value> = p
            .findings
            .iter()
            .map(|f| {
                if self.no_log {
                    hidden(f)
                } else {
                    serde_json::to_value(f).unwrap_or(Value::Null)
                }
            })
            .collect();
        let restart: Vec<&str> = p
            .plan
            .restart_needed()
            .iter()
            .map(|s| s.addr.as_str())
            .collect();
        let mut warnings: Vec<String> = p.plan.notes.clone();
        if p.snap.persisted.is_none() && self.apply {
            if let Some(why) = &p.snap.persisted_skipped {
                warnings.push(why.clone());
            }
        }
        if self.no_log && !warnings.is_empty() {
            // Notes quote values (backlogs, file lines) as errors do.
            warnings = vec![format!(
                "{} withheld: no_log (`tuneguard apply --dry-run` on the host shows them)",
                count(warnings.len(), "note")
            )];
        }
        let (changed, failed, msg) = if !self.apply {
            let bad = p.findings.iter().filter(|f| f.fails_at(fail_on)).count();
            let msg = summary.counts();
            (false, bad > 0, msg)
        } else {
            match outcome {
                None if !p.work => (false, false, "nothing to change: the host matches the profile".to_string()),
                None => (true, false, format!("check mode: would make {} and {}", count(p.plan.live.len(), "live change"), count(p.plan.files.len(), "file edit"))),
                Some(o) => match &o.error {
                    None => (true, false, format!("applied: transaction {}", o.id)),
                    Some(e) if o.left.is_empty() => (false, true, self.say(format!("apply failed and restored everything: {e}"), &format!("apply failed and restored everything (transaction {})", o.id))),
                    Some(e) => (true, true, self.say(format!("apply failed and could NOT restore everything (journal {}): {e}; left: {}", o.journal.display(), o.left.join("; ")), &format!("apply failed and could NOT restore everything (journal {})", o.journal.display()))),
                },
            }
        };
        let mut v = json!({
            "changed": changed,
            "failed": failed,
            "msg": msg,
            "netns": p.snap.netns.label,
            "profiles": p.profile_names,
            "findings": findings,
            "summary": summary,
            "transaction": outcome.map(apply::outcome_json),
            "warnings": warnings,
            "restart_needed": restart,
        });
        if self.apply && self.diff && changed && !self.no_log {
            v["diff"] = Value::Array(diffs(&p.plan, &p.snap.netns.label));
        }
        if self.no_log {
            v["transaction"] = outcome.map_or(
                Value::Null,
                |o| json!({ "id": o.id, "state": apply::outcome_json(o)["state"] }),
            );
        }
        v
    }
}

/// Ansible's diff entries: one per file, and one for the live values.
fn diffs(plan: &crate::plan::Plan, netns: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if !plan.live.is_empty() {
        let side = |after: bool| -> String {
            plan.live
                .iter()
                .map(|c| format!("{} = {}\n", c.key, if after { &c.after } else { &c.before }))
                .collect()
        };
        out.push(json!({
            "before_header": format!("live sysctl (netns {netns})"),
            "after_header": format!("live sysctl (netns {netns})"),
            "before": side(false),
            "after": side(true),
        }));
    }
    for f in &plan.files {
        out.push(json!({
            "before_header": if f.before.is_some() { f.path.display().to_string() } else { "/dev/null".into() },
            "after_header": f.path.display().to_string(),
            "before": String::from_utf8_lossy(f.before.as_deref().unwrap_or_default()),
            "after": String::from_utf8_lossy(&f.after),
        }));
    }
    out
}
