//! End to end: the built binary audits a real kernel inside a throwaway network
//! namespace, with values set by sysctl(8) in that namespace. The kernel is the oracle.

mod common;
use common::*;
use serde_json::json;

#[test]
fn fresh_namespace_passes_baseline_and_live_values_match_the_kernel() {
    let ns = Netns::new();
    let (code, r) = audit_json(&ns, &[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["schema"], "tuneguard.report/v1");
    assert_eq!(r["host"]["netns"], ns.name.as_str());
    assert_eq!(r["host"]["initial_netns"], false);
    assert_eq!(r["profiles"], json!(["baseline"]));
    assert_eq!(r["summary"]["error"], 0);
    for f in r["findings"].as_array().unwrap() {
        if f["kind"] == "sysctl" && f["status"] == "pass" {
            let key = f["subject"].as_str().unwrap();
            assert_eq!(
                plain(&f["live"]),
                ns.get(key),
                "{key}: tool and kernel disagree"
            );
        }
    }
    let s = &r["summary"];
    let total: u64 = ["pass", "info", "warning", "error", "skip"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum();
    assert_eq!(s["checks"].as_u64().unwrap(), total);
    assert_eq!(
        s["checks"].as_u64().unwrap() as usize,
        r["findings"].as_array().unwrap().len()
    );
}

#[test]
fn somaxconn_128_fails_with_error_and_a_remedy_for_that_namespace() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let (code, r) = audit_json(&ns, &[]);
    assert_eq!(code, 1);
    let f = finding(&r, "net.core.somaxconn");
    assert_eq!(f["id"], "sysctl/net.core.somaxconn");
    assert_eq!(f["status"], "fail");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["live"], 128);
    assert_eq!(f["expected"], json!({"min": 4096}));
    assert_eq!(f["scope"], "per-netns");
    assert!(f["message"].as_str().unwrap().contains("is 128"), "{f}");
    assert_eq!(
        f["remedy"],
        format!(
            "ip netns exec {} sysctl -w net.core.somaxconn=4096",
            ns.name
        )
    );
    // Worst first.
    assert_eq!(r["findings"][0]["subject"], "net.core.somaxconn");
}

#[test]
fn fail_on_decides_the_exit_code() {
    let ns = Netns::new();
    ns.set("net.ipv4.tcp_abort_on_overflow", "1");
    let (code, r) = audit_json(&ns, &[]);
    assert_eq!(
        code, 0,
        "a warning does not fail the default --fail-on error"
    );
    let f = finding(&r, "net.ipv4.tcp_abort_on_overflow");
    assert_eq!(
        (f["status"].as_str(), f["severity"].as_str()),
        (Some("fail"), Some("warning"))
    );
    let (code, _) = audit_json(&ns, &["--fail-on", "warning"]);
    assert_eq!(code, 1);
}

#[test]
fn syncookies_3_acts_as_1_but_is_reported_as_non_standard() {
    let ns = Netns::new();
    ns.set("net.ipv4.tcp_syncookies", "3");
    let (code, r) = audit_json(&ns, &["--fail-on", "warning"]);
    assert_eq!(code, 0, "acts as wanted: only an info finding");
    let f = finding(&r, "net.ipv4.tcp_syncookies");
    assert_eq!(f["status"], "fail");
    assert_eq!(f["severity"], "info");
    assert_eq!(f["live"], 3);
    assert_eq!(f["effective"], 1);
    assert!(
        f["message"].as_str().unwrap().contains("treats as 1"),
        "{f}"
    );
    // tcp_syncookies=3 still counts as cookies on for tcp_max_syn_backlog.
    let syn = finding(&r, "net.ipv4.tcp_max_syn_backlog");
    assert!(
        syn["explanation"]
            .as_str()
            .unwrap()
            .contains("no effect while net.ipv4.tcp_syncookies is 3"),
        "{syn}"
    );
}

#[test]
fn tcp_max_syn_backlog_matters_only_without_syncookies() {
    let ns = Netns::new();
    ns.set("net.ipv4.tcp_max_syn_backlog", "128");
    // Cookies on (the default): below the baseline's 1024, but inert: info.
    let (_, r) = audit_json(&ns, &[]);
    let f = finding(&r, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(
        (f["status"].as_str(), f["severity"].as_str()),
        (Some("fail"), Some("info")),
        "{f}"
    );
    assert!(
        f["message"].as_str().unwrap().contains("has no effect"),
        "{f}"
    );
    // web-frontend's rule has `when: syncookies = 0`: skipped while cookies are on.
    let (_, r) = audit_json(&ns, &["--profile", "web-frontend"]);
    let f = finding(&r, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(f["status"], "skip", "{f}");
    assert_eq!(f["profile"], "web-frontend");

    // Cookies off: the key is the SYN queue's hard limit, full severity.
    ns.set("net.ipv4.tcp_syncookies", "0");
    let (code, r) = audit_json(&ns, &[]);
    let f = finding(&r, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(
        (f["status"].as_str(), f["severity"].as_str()),
        (Some("fail"), Some("warning")),
        "{f}"
    );
    assert!(f["message"].as_str().unwrap().contains("hard limit"), "{f}");
    assert_eq!(code, 0);
    let (code, r) = audit_json(&ns, &["--profile", "web-frontend"]);
    assert_eq!(code, 1);
    let f = finding(&r, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(
        (f["status"].as_str(), f["severity"].as_str()),
        (Some("fail"), Some("error")),
        "{f}"
    );
    assert_eq!(
        f["remedy"],
        format!(
            "ip netns exec {} sysctl -w net.ipv4.tcp_max_syn_backlog=16384",
            ns.name
        )
    );
    ns.set("net.ipv4.tcp_max_syn_backlog", "16384");
    let (_, r) = audit_json(&ns, &["--profile", "web-frontend"]);
    let f = finding(&r, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(f["status"], "pass", "{f}");
    assert!(
        f["remedy"].is_null(),
        "a passing finding offers no fix: {f}"
    );
}

#[test]
fn keepalive_arithmetic_against_the_profile() {
    let ns = Netns::new();
    let (_, r) = audit_json(&ns, &["--profile", "long-lived-clients"]);
    let d = finding(&r, "keepalive.detection");
    assert_eq!(d["status"], "fail");
    assert_eq!(d["live"]["detection"], 7200 + 75 * 9);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("7200 + 75 × 9 = 7875 s"),
        "{d}"
    );
    assert_eq!(finding(&r, "keepalive.idle")["status"], "fail");

    ns.set("net.ipv4.tcp_keepalive_time", "120");
    ns.set("net.ipv4.tcp_keepalive_intvl", "20");
    ns.set("net.ipv4.tcp_keepalive_probes", "4");
    let (_, r) = audit_json(&ns, &["--profile", "long-lived-clients"]);
    let d = finding(&r, "keepalive.detection");
    assert_eq!(d["status"], "pass", "{d}");
    assert_eq!(d["live"]["detection"], 200);
    assert_eq!(finding(&r, "keepalive.idle")["status"], "pass");
}

#[test]
fn removed_hidden_global_and_unknown_keys_are_findings_not_errors() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(
        dir.path(),
        "odd",
        "sysctl:\n  net.ipv4.tcp_tw_recycle: {equals: 0}\n  net.ipv4.tcp_max_orphans: {max: 65536}\n  \
net.core.somaxcon: {min: 1}\n  net.ipv4.tcp_thin_dupack: {equals: 1, severity: error}\n",
    );
    let (code, r) = audit_json(&ns, &["--profile", &p]);
    let f = finding(&r, "net.ipv4.tcp_tw_recycle");
    assert_eq!(
        (f["status"].as_str(), f["absent"].as_str()),
        (Some("skip"), Some("removed")),
        "{f}"
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("removed in Linux 4.12"),
        "{f}"
    );
    // Asking a removed feature to be on is a real problem, but capped at warning.
    let f = finding(&r, "net.ipv4.tcp_thin_dupack");
    assert_eq!(
        (
            f["status"].as_str(),
            f["severity"].as_str(),
            f["absent"].as_str()
        ),
        (Some("fail"), Some("warning"), Some("removed")),
        "{f}"
    );
    let f = finding(&r, "net.ipv4.tcp_max_orphans");
    assert_eq!(
        (f["status"].as_str(), f["absent"].as_str()),
        (Some("skip"), Some("global-hidden")),
        "{f}"
    );
    let f = finding(&r, "net.core.somaxcon");
    assert_eq!(
        (f["status"].as_str(), f["absent"].as_str()),
        (Some("fail"), Some("unknown")),
        "{f}"
    );
    assert_eq!(
        code, 0,
        "the unknown key is a warning (the rule's default severity)"
    );
}

#[test]
fn pid_and_path_select_the_same_namespace() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "777");
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "sleep", "30"])
        .spawn()
        .unwrap();
    // `ip netns exec` execs sleep in place: the child's pid is sleep's once it has
    // entered the namespace.
    let pid = child.id().to_string();
    let target = format!("/proc/{pid}/ns/net");
    for _ in 0..100 {
        if std::fs::read_link(&target).ok()
            == std::fs::read_link(ns.path())
                .ok()
                .or_else(|| netns_link(&ns))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let by_pid = run(&["audit", "--pid", &pid, "--no-nginx", "--format", "json"]);
    let by_path = run(&[
        "audit",
        "--netns",
        ns.path().to_str().unwrap(),
        "--no-nginx",
        "--format",
        "json",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    for r in [by_pid, by_path] {
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(finding(&r.json(), "net.core.somaxconn")["live"], 777);
    }
}

fn netns_link(ns: &Netns) -> Option<std::path::PathBuf> {
    let out = ns.exec(&["readlink", "/proc/self/ns/net"]);
    Some(String::from_utf8_lossy(&out.stdout).trim().into())
}

#[test]
fn global_keys_read_inside_a_namespace_are_marked_host_wide() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(dir.path(), "fs", "sysctl:\n  fs.nr_open: {min: 1024}\n");
    let (_, r) = audit_json(&ns, &["--profile", &p]);
    let f = finding(&r, "fs.nr_open");
    assert_eq!(f["status"], "pass", "{f}");
    assert_eq!(f["scope"], "global");
    assert_eq!(f["host_wide"], true);
    assert!(f["message"].as_str().unwrap().contains("host-wide"));
}

#[test]
fn waivers_skip_with_their_reason() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(
        dir.path(),
        "waived",
        "extends: [baseline]\nwaivers:\n  net.core.somaxconn: the only listener sets its own small backlog on purpose\n",
    );
    let (code, r) = audit_json(&ns, &["--profile", &p]);
    assert_eq!(code, 0);
    let f = finding(&r, "net.core.somaxconn");
    assert_eq!(f["status"], "skip");
    assert!(f["message"].as_str().unwrap().contains("on purpose"), "{f}");
}

#[test]
fn nginx_rules_say_why_they_were_not_checked() {
    let ns = Netns::new();
    let dirs = Dirs::new();
    let root = dirs.root.path().to_str().unwrap();
    let r = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--root",
        root,
        "--format",
        "json",
        "--profile",
        "web-frontend",
    ]);
    let j = r.json();
    let f = finding(&j, "nginx.listen_backlog");
    assert_eq!(f["status"], "skip");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("no nginx configuration found") && msg.contains("/etc/nginx/nginx.conf"),
        "{f}"
    );

    let r = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--format",
        "json",
        "--no-nginx",
        "--profile",
        "web-frontend",
    ]);
    assert!(finding(&r.json(), "nginx.listen_backlog")["message"]
        .as_str()
        .unwrap()
        .contains("--no-nginx"));

    // A configuration named on the command line that is not there is an input error.
    let r = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--nginx-conf",
        "/nonexistent/nginx.conf",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent/nginx.conf"), "{}", r.stderr);
}
