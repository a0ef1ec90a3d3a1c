//! `tuneguard apply` with a profile that sets no nginx backlog (issue 15, item 6): the
//! nginx files are never edited, but what the audit finds still stands. Sockets that
//! listened under an older somaxconn keep that cap until nginx listens again, so the plan
//! lists them under `restart_needed` and `--nginx-restart` gives them the new cap; a
//! backlog above somaxconn is reported. Real nginx in a throwaway namespace; the kernel
//! (`ss`) is the oracle. Only net.core.somaxconn of that namespace is written
//! (`--no-persist`: no persisted file anywhere is touched).

mod common;

use common::nginx::{caps, listeners, Prefix};
use common::{run, write_profile, Netns, Run};
use std::path::Path;

/// baseline's somaxconn rule, and no nginx rule.
const NO_NGINX_RULE: &str = "sysctl:\n  net.core.somaxconn: {min: 4096}\n";
/// baseline's nginx rule: within somaxconn, no minimum backlog.
const BASELINE_NGINX: &str =
    "sysctl:\n  net.core.somaxconn: {min: 4096}\nnginx:\n  listen_backlog: {within_somaxconn: true}\n";

fn apply(ns: &Netns, conf: &Path, state: &Path, prof: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "apply",
        "--netns",
        &ns.name,
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--profile",
        prof,
        "--no-persist",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Two sockets: the default backlog (511) and backlog=2048, both cut to 128.
const TWO: &str = " server { listen 127.0.0.1:8080; return 200 a; }
 server { listen 127.0.0.1:8090 backlog=2048; return 200 b; }
";

fn stale_listeners_are_planned_and_restarted(profile_text: &str) {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let p = Prefix::new();
    let conf = p.write_http("nginx.conf", TWO);
    p.start(&ns).expect("nginx starts");
    let stale = caps(&[("127.0.0.1:8080", 128), ("127.0.0.1:8090", 128)]);
    assert_eq!(listeners(&ns), stale);
    let tmp = tempfile::tempdir().unwrap();
    let prof = write_profile(tmp.path(), "no-backlog", profile_text);
    let state = tmp.path().join("state");
    let before = std::fs::read(&conf).unwrap();

    // The dry run names both stale sockets, what they get after a restart, and why.
    let r = apply(&ns, &conf, &state, &prof, &["--dry-run"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    for (addr, cap) in [
        ("127.0.0.1:8080", "live 128 → 511"),
        ("127.0.0.1:8090", "live 128 → 2048"),
    ] {
        let row = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("socket") && l.contains(addr))
            .unwrap_or_else(|| panic!("no row for {addr}:\n{}", r.stdout));
        assert!(
            row.contains(cap) && row.contains("only a restart re-listens"),
            "{row}"
        );
    }
    let note = "nginx keeps its sockets' current caps until it listens again: 127.0.0.1:8080, 127.0.0.1:8090";
    assert!(r.stdout.contains(note), "{note:?} missing:\n{}", r.stdout);
    assert!(!r.stdout.contains("already matches"), "{}", r.stdout);
    let r = apply(
        &ns,
        &conf,
        &state,
        &prof,
        &["--dry-run", "--format", "json"],
    );
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let plan = &r.json()["plan"];
    assert_eq!(
        plan["restart_needed"],
        serde_json::json!(["127.0.0.1:8080", "127.0.0.1:8090"])
    );
    assert_eq!(plan["files"], serde_json::json!([]));
    assert_eq!(ns.get("net.core.somaxconn"), "128", "a dry run wrote");
    assert_eq!(listeners(&ns), stale);

    // The restart gives each socket min(backlog, the new somaxconn); no file changed.
    let r = apply(&ns, &conf, &state, &prof, &["--yes", "--nginx-restart"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied: transaction"), "{}", r.stdout);
    assert_eq!(ns.get("net.core.somaxconn"), "4096");
    let fresh = caps(&[("127.0.0.1:8080", 511), ("127.0.0.1:8090", 2048)]);
    assert_eq!(listeners(&ns), fresh);
    assert_eq!(std::fs::read(&conf).unwrap(), before);

    // Again: nothing to do.
    let r = apply(&ns, &conf, &state, &prof, &["--yes", "--nginx-restart"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
    assert_eq!(listeners(&ns), fresh);
    p.stop(&ns);
}

#[test]
fn stale_caps_without_an_nginx_rule_are_planned_and_restarted() {
    stale_listeners_are_planned_and_restarted(NO_NGINX_RULE);
}

#[test]
fn stale_caps_under_baselines_nginx_rule_are_planned_and_restarted() {
    stale_listeners_are_planned_and_restarted(BASELINE_NGINX);
}

/// backlog=8192 above somaxconn 4096: reported (file, line, what listen() gets), not
/// edited; the socket already has its cap, so no restart is asked for.
#[test]
fn a_backlog_above_somaxconn_is_reported_not_edited() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "4096");
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        " server { listen 127.0.0.1:8080 backlog=8192; return 200 a; }\n",
    );
    p.start(&ns).expect("nginx starts");
    assert_eq!(listeners(&ns), caps(&[("127.0.0.1:8080", 4096)]));
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    for text in [NO_NGINX_RULE, BASELINE_NGINX] {
        let prof = write_profile(tmp.path(), "no-backlog", text);
        let r = apply(
            &ns,
            &conf,
            &state,
            &prof,
            &["--dry-run", "--format", "json"],
        );
        assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
        let plan = &r.json()["plan"];
        assert_eq!(plan["files"], serde_json::json!([]));
        assert_eq!(plan["restart_needed"], serde_json::json!([]));
        let want = format!("nginx: {}:", conf.display());
        let notes: Vec<&str> = plan["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_str())
            .filter(|n| n.starts_with(&want))
            .collect();
        assert_eq!(notes.len(), 1, "{plan:#}");
        assert!(
            notes[0].contains(
                "listen 127.0.0.1:8080 asks for backlog 8192 and somaxconn will be 4096, so listen() gets 4096"
            ),
            "{}",
            notes[0]
        );
    }
    p.stop(&ns);
}

/// nginx runs, but its configuration was since changed into one `nginx -t` refuses
/// (duplicate listen options). A reload or restart without an edit runs no `nginx -t`,
/// and a restart would leave nginx stopped (the undo cannot start it either): the plan
/// asks for no restart, and `--nginx-restart` is refused before anything changes.
#[test]
fn no_restart_on_a_configuration_nginx_would_refuse() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let p = Prefix::new();
    let conf = p.write_http("nginx.conf", TWO);
    p.start(&ns).expect("nginx starts");
    let stale = caps(&[("127.0.0.1:8080", 128), ("127.0.0.1:8090", 128)]);
    let master = std::fs::read_to_string(p.path().join("nginx.pid")).unwrap();
    p.write_http(
        "nginx.conf",
        &format!("{TWO} server {{ listen 127.0.0.1:8090 backlog=64; return 200 c; }}\n"),
    );
    assert!(!p.test().0, "nginx -t accepts the broken configuration");
    let before = std::fs::read(&conf).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let prof = write_profile(tmp.path(), "no-backlog", NO_NGINX_RULE);
    let state = tmp.path().join("state");

    let r = apply(
        &ns,
        &conf,
        &state,
        &prof,
        &["--dry-run", "--format", "json"],
    );
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let plan = &r.json()["plan"];
    assert_eq!(plan["restart_needed"], serde_json::json!([]), "{plan:#}");
    assert!(
        plan["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("nginx cannot be restarted to heal stale caps until it is fixed")),
        "{plan:#}"
    );

    let r = apply(&ns, &conf, &state, &prof, &["--yes", "--nginx-restart"]);
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("--nginx-restart: nginx -t would refuse the configuration as it is")
            && r.stderr.contains("duplicate listen options")
            && r.stderr.contains("a restart would leave nginx stopped"),
        "{}",
        r.stderr
    );
    // Nothing changed: somaxconn, the file, the master and its sockets.
    assert_eq!(ns.get("net.core.somaxconn"), "128");
    assert_eq!(std::fs::read(&conf).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(p.path().join("nginx.pid")).unwrap(),
        master
    );
    assert_eq!(listeners(&ns), stale);
    assert!(
        !state.join("journal").exists()
            || std::fs::read_dir(state.join("journal")).unwrap().count() == 0
    );
    p.stop(&ns);
}
