//! Bad input: each gives exit 2 and a message naming file:line:col or the bad value,
//! and none panics.

mod common;
use common::*;

fn validate(text: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let p = write_profile(dir.path(), "p", text);
    let r = run(&["profiles", "validate", &p]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r
}

fn expect_error(text: &str, needle: &str) {
    let r = validate(text);
    assert_eq!(r.code, 2, "stdout: {} stderr: {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(needle),
        "expected `{needle}` in: {}",
        r.stderr
    );
}

#[test]
fn malformed_yaml() {
    expect_error("sysctl:\n  net.core.somaxconn: {min: 1\n", "p.yaml:3:");
    expect_error("sysctl: [\n", "p.yaml:");
    expect_error("\t- :\n", "p.yaml:1:");
}

#[test]
fn unknown_field() {
    expect_error(
        "sysctl:\n  net.core.somaxconn:\n    minimum: 4096\n",
        "p.yaml:3:5: sysctl.net.core.somaxconn: unknown field `minimum`",
    );
    expect_error(
        "profile_name: x\n",
        "p.yaml:1:1: unknown field `profile_name`",
    );
    expect_error("nginx:\n  listen_backlog:\n    minn: 1\n", "p.yaml:3:5:");
}

#[test]
fn min_greater_than_max() {
    expect_error(
        "sysctl:\n  net.core.somaxconn:\n    min: 8192\n    max: 4096\n",
        "p.yaml:4:5: min 8192 is greater than max 4096",
    );
}

#[test]
fn unknown_severity() {
    expect_error(
        "sysctl:\n  net.core.somaxconn:\n    min: 1\n    severity: fatal\n",
        "p.yaml:4:15: sysctl.net.core.somaxconn.severity: unknown variant `fatal`",
    );
}

#[test]
fn wrong_types_and_values_the_kernel_would_reject() {
    expect_error(
        "sysctl:\n  net.core.somaxconn:\n    min: lots\n",
        "p.yaml:3:5: `lots` is not a number",
    );
    expect_error(
        "sysctl:\n  net.ipv4.tcp_syncookies: {equals: 256}\n",
        "p.yaml:2:29: the kernel rejects `256` for net.ipv4.tcp_syncookies (EINVAL)",
    );
    expect_error(
        "sysctl:\n  net.ipv4.ip_local_port_range: {equals: 1024}\n",
        "takes 2 integers",
    );
    expect_error(
        "sysctl:\n  net.core.somaxconn: {min: 100, apply: 50}\n",
        "p.yaml:2:34: apply 50 does not satisfy",
    );
    expect_error(
        "sysctl:\n  net.core.somaxconn: {equals: 1, min: 1}\n",
        "cannot be combined",
    );
    expect_error(
        "sysctl:\n  net.core.somaxconn: {severity: error}\n",
        "p.yaml:2:3: the rule for net.core.somaxconn says nothing",
    );
    expect_error(
        "sysctl:\n  net.core.somaxconn: {min: 1, kernel: \"5.4\"}\n",
        "p.yaml:2:32: kernel condition `5.4` must start with",
    );
    expect_error(
        "waivers:\n  net.core.somaxconn: \"\"\n",
        "p.yaml:2:3: waiver for `net.core.somaxconn` needs a reason",
    );
    expect_error(
        "nginx:\n  listen_backlog: {min: 0}\n",
        "nginx rejects backlog=0",
    );
}

#[test]
fn extends_cycle() {
    let dir = tempfile::tempdir().unwrap();
    write_profile(
        dir.path(),
        "a",
        "extends: [b.yaml]\nsysctl:\n  net.core.somaxconn: {min: 1}\n",
    );
    write_profile(dir.path(), "b", "extends:\n  - c.yaml\n");
    let c = write_profile(dir.path(), "c", "extends:\n  - a.yaml\n");
    let r = run(&["profiles", "validate", &c]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("b.yaml:2:5: `extends` cycle: c → a → b → c"),
        "{}",
        r.stderr
    );
    // A profile extending itself.
    let s = write_profile(dir.path(), "s", "extends: [s.yaml]\n");
    let r = run(&["profiles", "validate", &s]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("s.yaml:1:11: `extends` cycle: s → s"),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_profile() {
    let r = run(&["audit", "--profile", "no-such-profile", "--no-nginx"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no profile named `no-such-profile`") && r.stderr.contains("baseline"),
        "{}",
        r.stderr
    );
    let r = run(&["audit", "--profile", "/nonexistent/x.yaml", "--no-nginx"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/x.yaml"), "{}", r.stderr);
    expect_error(
        "extends: [nope]\n",
        "p.yaml:1:11: extends `nope`: no profile named `nope`",
    );
}

#[test]
fn key_names_with_dot_dot_or_slash() {
    expect_error(
        "sysctl:\n  net..core.somaxconn: {min: 1}\n",
        "p.yaml:2:3: key name `net..core.somaxconn` has an empty segment",
    );
    expect_error(
        "sysctl:\n  net/core/somaxconn: {min: 1}\n",
        "p.yaml:2:3: key name `net/core/somaxconn` contains `/`",
    );
    expect_error(
        "sysctl:\n  \"../../etc/passwd\": {equals: x}\n",
        "contains `/`",
    );
    expect_error(
        "sysctl:\n  net.core.x: {min: 1, when: {key: \"..\", equals: 0}}\n",
        "empty segment",
    );
    let r = run(&["explain", "../etc/passwd"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("empty segment"), "{}", r.stderr);
}

#[test]
fn broken_site_profile_is_named_by_list_and_use() {
    let dirs = Dirs::new();
    dirs.write(
        "etc/tuneguard/profiles.d/site.yaml",
        "sysctl:\n  net.core.somaxconn: {min: 10, max: 1}\n",
    );
    let root = dirs.root.path().to_str().unwrap();
    let r = run(&["profiles", "list", "--root", root]);
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.contains("site.yaml:2:") && r.stdout.contains("broken"),
        "{}",
        r.stdout
    );
    let r = run(&[
        "audit",
        "--root",
        root,
        "--profile",
        "site",
        "--no-nginx",
        "--proc",
        "/nonexistent",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("site.yaml:2:"), "{}", r.stderr);
}

#[test]
fn bad_flags_and_unreadable_input_exit_2() {
    let r = run(&["audit", "--fail-on", "sometimes"]);
    assert_eq!(r.code, 2);
    let r = run(&["audit", "--netns", "tgtest-does-not-exist", "--no-nginx"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("/run/netns/tgtest-does-not-exist"),
        "{}",
        r.stderr
    );
    let r = run(&["audit", "--proc", "/nonexistent/capture", "--no-nginx"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/capture"), "{}", r.stderr);
    let r = run(&["audit", "--pid", "999999999", "--no-nginx"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("pid 999999999"), "{}", r.stderr);
}

#[test]
fn observe_refuses_what_it_cannot_read_plainly() {
    // No live values at all: observe has nothing to look at.
    let r = run(&["observe", "--proc", "none"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("needs the running kernel or a captured proc tree"),
        "{}",
        r.stderr
    );
    // A tree without counters: the files it looked for, by path.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sys")).unwrap();
    let r = run(&["observe", "--proc", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no counters could be read"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("net/netstat"), "{}", r.stderr);
    // A garbled netstat is named with its section; the rest is still read.
    std::fs::create_dir_all(dir.path().join("net")).unwrap();
    std::fs::write(dir.path().join("net/netstat"), "TcpExt: A B\nTcpExt: 1\n").unwrap();
    std::fs::write(
        dir.path().join("net/sockstat"),
        "TCP: inuse 3 orphan 0 tw 1 alloc 4 mem 2\n",
    )
    .unwrap();
    let r = run(&[
        "observe",
        "--proc",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let unreadable = v["unreadable"].to_string();
    assert!(
        unreadable.contains("net/netstat") && unreadable.contains("TcpExt"),
        "{unreadable}"
    );
    assert_eq!(
        v["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "sockstat:TCP inuse")
            .unwrap()["total"],
        3
    );
    // Bad intervals.
    for bad in ["0", "-1", "soon", "4000"] {
        let r = run(&["observe", &format!("--interval={bad}")]);
        assert_eq!(r.code, 2, "{bad}");
        assert!(
            r.stderr.contains("is not a number of seconds"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn rollback_recover_and_history_refuse_bad_requests_plainly() {
    let state = tempfile::tempdir().unwrap();
    let s = state.path().to_str().unwrap();
    let r = run(&["rollback", "--yes", "--state-dir", s]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("needs a transaction id or --last"),
        "{}",
        r.stderr
    );
    let r = run(&["rollback", "--yes", "20990101-000000", "--state-dir", s]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no transaction 20990101-000000"),
        "{}",
        r.stderr
    );
    let r = run(&["rollback", "--yes", "--last", "--state-dir", s]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no committed apply left"), "{}", r.stderr);
    let r = run(&["history", "--state-dir", s]);
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, format!("no transactions in {s}").as_str())
    );
    // A damaged journal is named, never guessed at.
    let j = state.path().join("journal/20260101-000000");
    std::fs::create_dir_all(&j).unwrap();
    std::fs::write(j.join("record.json"), "{ not json").unwrap();
    let r = run(&["recover", "--yes", "--state-dir", s]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("the journal") && r.stderr.contains("is damaged"),
        "{}",
        r.stderr
    );
    assert!(
        j.join("record.json").exists(),
        "a damaged journal is kept for a person to read"
    );
}

#[test]
fn empty_names_do_not_hang_and_long_multibyte_names_do_not_panic() {
    expect_error(
        "extends: [\"\"]\n",
        "p.yaml:1:1: extends ``: no profile named ``",
    );
    expect_error("sysctl:\n  \"\": {min: 1}\n", "p.yaml:2:3: empty key name");
    expect_error(
        "sysctl:\n  net.core.somaxconn: {min: 1}\nwaivers:\n  \"\": because\n",
        "p.yaml:4:3: empty key name",
    );
    let long = format!("{}é{}", "a".repeat(39), "b".repeat(200));
    expect_error(
        &format!("sysctl:\n  {long}: {{min: 1}}\n"),
        "p.yaml:2:3: key name `",
    );
    let r = run(&["explain", &long]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("too long"), "{}", r.stderr);
}

#[test]
fn errors_point_at_the_offending_line_not_the_block() {
    expect_error(
        "sysctl:\n  net.core.somaxconn:\n    rationale: x\n    min: 1.5\n",
        "p.yaml:4:10: sysctl.net.core.somaxconn.min: 1.5 is not an integer",
    );
    expect_error(
        "waivers:\n  keepalive: because\nkeepalive:\n  max_detection: 0\n",
        "p.yaml:4:3: max_detection must be at least 1 second",
    );
    expect_error(
        "sysctl:\n  net.core.somaxconn: {min: 1}\n  net.core.somaxconn: {min: 2}\n",
        "appears twice",
    );
}

#[test]
fn impossible_rules_are_errors() {
    expect_error(
        "sysctl:\n  net.ipv4.ip_local_port_range: {equals: [60000, 1024]}\n",
        "ascending order",
    );
    expect_error(
        "sysctl:\n  net.ipv4.tcp_orphan_retries: {min: 0, max: 3}\n",
        "p.yaml:2:33: min 0 acts as 8 in the kernel",
    );
    expect_error(
        "sysctl:\n  net.core.somaxconn: {min: 1, kernel: \">=6.0, <5.0\"}\n",
        "matches no kernel version",
    );
    expect_error(
        "sysctl:\n  net.ipv4.tcp_max_syn_backlog: {min: 1, when: {key: net.ipv4.tcp_syncookies, equals: 999}}\n",
        "the kernel rejects `999` for net.ipv4.tcp_syncookies",
    );
    expect_error(
        "extends: [baseline]\nwaivers:\n  net.ipv4.tcp_fin_timeout: no rule checks it\n",
        "p.yaml:3:3: waiver for `net.ipv4.tcp_fin_timeout`, but no rule",
    );
}

/// A CI job with a typo in its deploy path must not go green: a `--root` that does not
/// exist, or is a file, is exit 2 naming it, for every command that takes one, and
/// nothing is audited.
#[test]
fn a_root_that_is_not_a_directory_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nosuch");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (missing, file) = (missing.to_str().unwrap(), file.to_str().unwrap());
    for (root, why) in [(missing, "no such directory"), (file, "not a directory")] {
        let runs: [&[&str]; 5] = [
            &["audit", "--root", root, "--proc", "none"],
            &[
                "audit", "--root", root, "--proc", "none", "--format", "json",
            ],
            &["apply", "--root", root, "--proc", "none", "--dry-run"],
            &["observe", "--root", root, "--once"],
            &["profiles", "list", "--root", root],
        ];
        for args in runs {
            let r = run(args);
            assert_eq!(r.code, 2, "{args:?}: {} {}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains(&format!("--root {root}: {why}")),
                "{args:?}: {}",
                r.stderr
            );
            assert!(!r.stdout.contains("checks:"), "{args:?}: {}", r.stdout);
        }
    }
}
