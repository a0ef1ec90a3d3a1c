//! Every finding of every built-in profile can pass and can fail on a real kernel: the
//! tool's own remedies bring a fresh namespace to the profile, and for each rule a value
//! the kernel accepts makes it fail again. Keys the audit cannot see in a namespace
//! (global keys, rules for other kernels, nginx) are checked to be skips with a reason.

mod common;
use common::*;
use serde_json::Value;
use tuneguard::profile::BUILTIN;

/// Runs the remedy of every failing sysctl finding (they target this namespace).
fn apply_remedies(ns: &Netns, report: &Value) -> usize {
    let mut n = 0;
    for f in report["findings"].as_array().unwrap() {
        if f["status"] != "fail" || f["kind"] != "sysctl" {
            continue;
        }
        let remedy = f["remedy"]
            .as_str()
            .unwrap_or_else(|| panic!("no remedy: {f}"));
        let prefix = format!("ip netns exec {} sysctl -w ", ns.name);
        let assignment = remedy
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("remedy `{remedy}` does not target {}", ns.name));
        let (key, value) = assignment.split_once('=').unwrap();
        ns.set(key, value.trim_matches('"'));
        n += 1;
    }
    n
}

/// Values to try that should break a rule, from its `expected` object.
fn breaking_candidates(expected: &Value, live: &Value) -> Vec<String> {
    let fields = |v: &Value| -> Vec<i64> {
        match v {
            Value::Number(n) => vec![n.as_i64().unwrap()],
            Value::Array(a) => a.iter().map(|x| x.as_i64().unwrap()).collect(),
            _ => vec![],
        }
    };
    let current = fields(live);
    let mut out = Vec::new();
    let mut push = |mut v: Vec<i64>, i: usize, delta: i64| {
        if i < v.len() {
            v[i] += delta;
            out.push(v.iter().map(i64::to_string).collect::<Vec<_>>().join(" "));
        }
    };
    for i in 0..current.len() {
        if let Some(m) = expected.get("min") {
            push(fields(m), i, -1);
        }
        if let Some(m) = expected.get("max") {
            push(fields(m), i, 1);
        }
        if let Some(m) = expected.get("equals") {
            push(fields(m), i, 1);
            push(fields(m), i, -1);
        }
    }
    out
}

#[test]
fn every_builtin_rule_can_pass_and_can_fail() {
    for (name, _) in BUILTIN {
        let ns = Netns::new();
        let (_, before) = audit_json(&ns, &["--profile", name]);
        apply_remedies(&ns, &before);
        let (code, fixed) = audit_json(&ns, &["--profile", name, "--fail-on", "info"]);
        let failing: Vec<&Value> = fixed["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "fail")
            .collect();
        assert!(
            failing.is_empty(),
            "{name}: still failing after its own remedies: {failing:#?}"
        );
        assert_eq!(code, 0, "{name}");

        for f in fixed["findings"].as_array().unwrap() {
            let subject = f["subject"].as_str().unwrap();
            if f["status"] == "skip" {
                // Only what a namespace cannot show, with the reason.
                let why = f["message"].as_str().unwrap();
                let expected_skip = f["absent"] == "global-hidden"
                    || why.contains("applies to kernels")
                    || why.contains("applies only while")
                    || f["kind"] == "nginx";
                assert!(expected_skip, "{name}: unexpected skip {f:#}");
                continue;
            }
            assert_eq!(f["status"], "pass", "{name}: {f:#}");
            assert!(
                f["remedy"].is_null(),
                "{name}: a passing finding offers no fix: {f:#}"
            );
            if f["kind"] == "relation" {
                // Break the keepalive arithmetic with the kernel default idle time.
                let old = ns.get("net.ipv4.tcp_keepalive_time");
                ns.set("net.ipv4.tcp_keepalive_time", "7200");
                let (_, r) = audit_json(&ns, &["--profile", name]);
                assert_eq!(
                    finding(&r, subject)["status"],
                    "fail",
                    "{name}: {subject} cannot fail"
                );
                ns.set("net.ipv4.tcp_keepalive_time", &old);
                continue;
            }
            let old = ns.get(subject);
            let mut failed = false;
            for candidate in breaking_candidates(&f["expected"], &f["live"]) {
                if ns.try_set(subject, &candidate).is_err() {
                    continue; // the kernel refuses it: try the next
                }
                let (_, r) = audit_json(&ns, &["--profile", name]);
                let g = finding(&r, subject);
                assert_eq!(plain(&g["live"]), candidate, "tool and kernel disagree");
                if g["status"] == "fail" {
                    failed = true;
                    break;
                }
            }
            ns.set(subject, &old);
            assert!(
                failed,
                "{name}: no value the kernel accepts makes {subject} fail ({f:#})"
            );
        }
    }
}

/// Global keys cannot be written in a test namespace: a captured proc tree shows both
/// outcomes of small-proxy's tcp_max_orphans rule.
#[test]
fn global_key_rule_passes_and_fails_on_a_captured_tree() {
    for (value, status) in [("65536", "pass"), ("262144", "fail")] {
        let dirs = Dirs::new();
        dirs.write("sys/net/ipv4/tcp_max_orphans", &format!("{value}\n"));
        dirs.write("sys/kernel/osrelease", "6.1.0-18-amd64\n");
        dirs.write("sys/net/core/netdev_max_backlog", "1000\n");
        let proc_dir = dirs.root.path().to_str().unwrap();
        let r = run(&[
            "audit",
            "--proc",
            proc_dir,
            "--profile",
            "small-proxy",
            "--no-nginx",
            "--format",
            "json",
        ]);
        let j = r.json();
        let f = finding(&j, "net.ipv4.tcp_max_orphans");
        assert_eq!(f["status"], status, "{f:#}");
        assert_eq!(f["live"], value.parse::<i64>().unwrap());
        assert_eq!(j["host"]["kernel"], "6.1.0-18-amd64");
        // Keys missing from the capture are absent, not errors.
        assert_eq!(finding(&j, "net.core.somaxconn")["status"], "skip");
    }
}
