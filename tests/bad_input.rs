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

/// PyYAML reads each file as the oracle of the marks: a syntax error names where the
/// problem was found and, where the parser knows it, what it was reading and where that
/// began ("while parsing a flow sequence at 4:10"): the same lines and columns PyYAML
/// gives, and no context where PyYAML gives none.
#[test]
fn yaml_errors_name_where_the_construct_began() {
    let broken = [
        "name: x\nsysctl:\n  net.core.somaxconn:\n    min: [1024\n",
        "sysctl:\n  net.core.somaxconn: {min: 1\n",
        "description: \"abc\n",
        "description: 'abc\n\n",
        "[a\n",
        "sysctl:\n  a: [1, {b: 2]\n",
        "sysctl:\n  x: 1\n y: 2\n",
        "a: b: c\n",
        "\t- :\n",
        "sysctl:\n  - a\n  b: 1\n",
        "key: [a, b\nother: c\n",
        "sysctl: {a: 1, b\n",
        "a:\n  - b\n  -c: [\n",
        "description: !<tag\n",
        "x: *\n",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, text) in broken.iter().enumerate() {
        paths.push(write_profile(dir.path(), &format!("b{i}"), text));
    }
    let python = std::env::var_os("TUNEGUARD_TEST_PYTHON").unwrap_or_else(|| {
        panic!("TUNEGUARD_TEST_PYTHON is unset: point it at a python3 that has PyYAML (scripts/test sets it to target/ansible-venv/bin/python3)")
    });
    let script = r#"
import json, sys, yaml
for path in sys.argv[1:]:
    try:
        yaml.load(open(path, encoding="utf-8"), Loader=yaml.SafeLoader)
        print(json.dumps(None))
    except yaml.MarkedYAMLError as e:
        p = e.problem_mark
        c = e.context_mark if e.context else None
        # The words differ between libyaml and PyYAML ("scanning" or "parsing" a
        # tag); the marks are the same.
        print(json.dumps([p.line + 1, p.column + 1, e.context is not None,
                          c and c.line + 1, c and c.column + 1]))
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oracle: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut wrong = Vec::new();
    let mut with_context = 0;
    for ((text, path), want) in broken.iter().zip(&paths).zip(&oracle) {
        let r = run(&["profiles", "validate", path]);
        assert_eq!(r.code, 2, "{text:?}: {}", r.stderr);
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(path.as_str()))
            .unwrap_or_else(|| panic!("{text:?}: no line names {path}: {}", r.stderr));
        let at = &line[line.find(path.as_str()).unwrap() + path.len() + 1..];
        let mut parts = at.splitn(3, ':');
        let (l, c) = (parts.next().unwrap(), parts.next().unwrap());
        let message = parts.next().unwrap();
        // ", while parsing a flow sequence at 4:10" at the end of the message; no " at"
        // when the construct began where the problem is.
        let context = message.rsplit_once(", while ").map(|(_, ctx)| {
            match ctx.rsplit_once(" at ").and_then(|(_, m)| m.split_once(':')) {
                Some((cl, cc)) => (cl.parse::<u64>().ok(), cc.trim().parse::<u64>().ok()),
                None => (None, None),
            }
        });
        let ours = serde_json::json!([
            l.parse::<u64>().unwrap(),
            c.parse::<u64>().unwrap(),
            context.is_some(),
            context.and_then(|c| c.0),
            context.and_then(|c| c.1)
        ]);
        with_context += usize::from(context.is_some());
        if &ours != want {
            wrong.push(format!("{text:?}: ours {ours} ({line}), PyYAML {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "marks differ from PyYAML's:\n{}",
        wrong.join("\n")
    );
    assert!(
        with_context >= 8,
        "only {with_context} errors carried a context"
    );
    let r = run(&["profiles", "validate", &paths[0]]);
    assert!(
        r.stderr.contains(&format!(
            "{}:5:1: did not find expected ',' or ']', while parsing a flow sequence at 4:10",
            paths[0]
        )),
        "{}",
        r.stderr
    );
}

/// A missing nginx configuration is named as one, with the two ways out, and no key is
/// blamed for it.
#[test]
fn a_missing_nginx_configuration_is_named_as_such() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    let conf = conf.to_str().unwrap();
    let r = run(&["audit", "--netns", &ns.name, "--nginx-conf", conf]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "cannot audit without reading the nginx configuration {conf}: "
        )) && r.stderr.contains("No such file or directory")
            && r.stderr.contains("--no-nginx"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("key"), "{}", r.stderr);
}

/// A key a file sets with a value the kernel refuses is not "not persisted" as if no file
/// named it: the line, the value and the kernel's refusal are said (the kernel, asked to
/// take the same text, refuses it too).
#[test]
fn a_persisted_value_the_kernel_refuses_is_named_with_its_line() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    assert!(ns.try_set("net.core.somaxconn", "abc").is_err());
    let dirs = Dirs::new();
    dirs.write("etc/sysctl.d/60-site.conf", "net.core.somaxconn = abc\n");
    let root = dirs.root.path().to_str().unwrap();
    let r = run(&["audit", "--netns", &ns.name, "--root", root, "--no-nginx"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "not persisted: /etc/sysctl.d/60-site.conf:1 sets `abc`, which the kernel rejects (EINVAL: "
        ) && r.stdout.contains("after a reboot it would be 4096 (the kernel default"),
        "{}",
        r.stdout
    );
}
