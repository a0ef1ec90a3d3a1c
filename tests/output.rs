//! What people and CI systems read: text (color rules, worst first, -v, -q), JUnit,
//! explain, profiles list/show.

mod common;
use common::*;
use std::process::Command;

fn audit_text(ns: &Netns, extra: &[&str], no_color_env: bool) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(["audit", "--netns", &ns.name, "--no-nginx"])
        .args(extra);
    if no_color_env {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    String::from_utf8(cmd.output().unwrap().stdout).unwrap()
}

#[test]
fn text_is_one_line_per_finding_worst_first_and_colored_only_when_asked() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    ns.set("net.ipv4.tcp_abort_on_overflow", "1");
    let plain = audit_text(&ns, &[], false);
    assert!(!plain.contains('\x1b'), "a pipe gets no color: {plain}");
    let lines: Vec<&str> = plain.lines().collect();
    assert!(lines[0].starts_with("tuneguard audit ·") && lines[0].contains(&ns.name));
    assert!(
        lines[1].starts_with("ERROR") && lines[1].contains("net.core.somaxconn"),
        "{plain}"
    );
    assert!(
        lines[2].starts_with("WARNING") && lines[2].contains("tcp_abort_on_overflow"),
        "{plain}"
    );
    let summary = lines.iter().find(|l| l.contains(" checks: ")).unwrap();
    assert!(
        summary.contains("1 error, 1 warning") && summary.contains("FAIL"),
        "{summary}"
    );

    let colored = audit_text(&ns, &["--color", "always"], false);
    assert!(colored.contains("\x1b["), "--color always colors");
    let colored = audit_text(&ns, &["--color", "auto"], true);
    assert!(!colored.contains('\x1b'), "NO_COLOR is honoured");

    let quiet = audit_text(&ns, &["-q"], false);
    assert!(
        !quiet.contains("pass ") && quiet.lines().count() == 3,
        "{quiet}"
    );

    let verbose = audit_text(&ns, &["-v"], false);
    assert!(verbose.contains("fix: ip netns exec"), "{verbose}");
    assert!(verbose.contains("why (baseline):"), "{verbose}");
    assert!(
        verbose.contains("connection reset by peer"),
        "explanations come from the catalog: {verbose}"
    );
}

#[test]
fn junit_has_one_testcase_per_finding() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    ns.set("net.ipv4.tcp_abort_on_overflow", "1");
    let r = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--no-nginx",
        "--format",
        "junit",
    ]);
    assert_eq!(r.code, 1);
    let j = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--no-nginx",
        "--format",
        "json",
    ])
    .json();
    let n = j["findings"].as_array().unwrap().len();
    assert_eq!(r.stdout.matches("<testcase ").count(), n);
    assert_eq!(
        r.stdout.matches("<failure ").count(),
        1,
        "only the error reaches --fail-on error"
    );
    assert!(
        r.stdout.contains("<testsuites name=\"tuneguard\" tests=\"")
            && r.stdout.trim_end().ends_with("</testsuites>")
    );
    assert!(
        r.stdout.contains("<system-out>warning (below --fail-on)"),
        "{}",
        r.stdout
    );
    let w = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--no-nginx",
        "--format",
        "junit",
        "--fail-on",
        "warning",
    ]);
    assert_eq!(w.stdout.matches("<failure ").count(), 2);
}

/// xmllint (libxml2-utils; scripts/test unpacks Debian's into target/debian-xmllint and
/// sets TUNEGUARD_TEST_XMLLINT) validating `xml` against Jenkins' strict junit-10.xsd
/// (tests/fixtures/junit/, see ORIGIN.md there). Returns xmllint's complaint, if any.
fn junit_schema_errors(xml: &str) -> Option<String> {
    let xmllint = std::env::var_os("TUNEGUARD_TEST_XMLLINT").unwrap_or_else(|| {
        panic!("TUNEGUARD_TEST_XMLLINT is unset: point it at xmllint (scripts/test unpacks Debian's libxml2-utils into target/debian-xmllint)")
    });
    let xsd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/junit/junit-10.xsd"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new(xmllint)
        .args(["--noout", "--schema", xsd])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    (!out.status.success()).then_some(said)
}

/// The JUnit report validates against Jenkins' strict schema in every shape it takes:
/// failures, skips, findings below --fail-on in <system-out>, the properties of a site
/// profile that replaces a built-in, and text full of XML's special characters and
/// terminal escapes. The schema is proven strict on the way: the report of before issue
/// 19 (`skipped` on <testsuites>) fails it.
#[test]
fn junit_validates_against_the_strict_jenkins_schema() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    ns.set("net.ipv4.tcp_abort_on_overflow", "1");
    let mut reports = Vec::new();
    for extra in [&[][..], &["--fail-on", "warning"], &["--fail-on", "info"]] {
        let mut args = vec![
            "audit",
            "--netns",
            &ns.name,
            "--no-nginx",
            "--format",
            "junit",
        ];
        args.extend_from_slice(extra);
        reports.push((format!("namespace {extra:?}"), run(&args)));
    }
    let dirs = Dirs::new();
    dirs.write(
        "etc/tuneguard/profiles.d/baseline.yaml",
        "description: site <baseline> & more\nsysctl:\n  net.core.somaxconn: {min: 4096, severity: error}\n  net.ipv4.tcp_syncookies: {equals: 1}\n",
    );
    // A file name full of XML's special characters and a terminal escape, which every
    // message about the key names.
    dirs.write(
        "etc/sysctl.d/50-a<b>&\"c'\x1b[2J.conf",
        "net.core.somaxconn = 128\nnet.ipv4.tcp_syncookies = 0\n",
    );
    let root = dirs.root.path().to_str().unwrap();
    reports.push((
        "offline with a site baseline".into(),
        offline(dirs.root.path(), &["--format", "junit"]),
    ));
    assert!(
        reports[3]
            .1
            .stdout
            .contains("50-a&lt;b&gt;&amp;&quot;c&apos;\\x1b[2J.conf"),
        "{}",
        reports[3].1.stdout
    );
    let mut wrong = Vec::new();
    let mut seen = [0usize; 4];
    for (what, r) in &reports {
        assert_ne!(r.code, 2, "{what}: {}", r.stderr);
        for (i, tag) in ["<failure ", "<skipped ", "<system-out>", "<property "]
            .iter()
            .enumerate()
        {
            seen[i] += r.stdout.matches(tag).count();
        }
        if let Some(e) = junit_schema_errors(&r.stdout) {
            wrong.push(format!("{what} ({root}): {e}\n{}", r.stdout));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    assert!(
        seen.iter().all(|&n| n > 0),
        "every shape (failure, skipped, system-out, property) was validated: {seen:?}"
    );
    let old = reports[0].1.stdout.replacen(
        "<testsuites name=\"tuneguard\"",
        "<testsuites name=\"tuneguard\" skipped=\"0\"",
        1,
    );
    let e = junit_schema_errors(&old).expect("the strict schema refuses skipped on <testsuites>");
    assert!(e.contains("skipped"), "{e}");
}

#[test]
fn explain_prints_the_catalog_and_refuses_unknown_keys() {
    let r = run(&["explain", "net.ipv4.tcp_max_syn_backlog"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("tcp_syncookies"), "{}", r.stdout);
    let r2 = run(&["explain", "net/ipv4/tcp_max_syn_backlog"]);
    assert_eq!(r.stdout, r2.stdout, "slash form is the same key");
    let all = run(&["explain", "all"]);
    for k in tuneguard::catalog::CATALOG {
        assert!(
            all.stdout.contains(k.name),
            "{} missing from explain all",
            k.name
        );
    }
    let r = run(&["explain", "net.core.no_such_key"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not in the catalog"), "{}", r.stderr);
}

#[test]
fn profiles_list_show_validate() {
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap();
    let r = run(&["profiles", "list", "--root", empty]);
    assert_eq!(r.code, 0);
    for (name, _) in tuneguard::profile::BUILTIN {
        assert!(r.stdout.contains(name), "{}", r.stdout);
    }
    let r = run(&["profiles", "show", "web-frontend", "--root", empty]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("extends: [baseline]"));
    assert!(
        r.stdout.contains("net.ipv4.tcp_abort_on_overflow") && r.stdout.contains("(from baseline)"),
        "{}",
        r.stdout
    );

    // A site profile with a built-in's name wins, and is used by audit.
    let dirs = Dirs::new();
    dirs.write(
        "etc/tuneguard/profiles.d/baseline.yaml",
        "sysctl:\n  net.core.somaxconn: {min: 1000000, severity: error, rationale: site}\n",
    );
    let root = dirs.root.path().to_str().unwrap();
    let r = run(&["profiles", "list", "--root", root]);
    assert!(r.stdout.contains("overrides the built-in"), "{}", r.stdout);
    let ns = Netns::new();
    let (code, j) = audit_json(&ns, &["--root", root]);
    assert_eq!(code, 1);
    assert_eq!(
        finding(&j, "net.core.somaxconn")["expected"]["min"],
        1000000
    );
    assert_eq!(j["findings"].as_array().unwrap().len(), 1);

    let p = write_profile(dirs.root.path(), "mine", "extends: [web-frontend]\n");
    let r = run(&["profiles", "validate", &p]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("ok"));
}

/// One finding is "1 check", and a source inside a message's parentheses has none of
/// its own ("(the kernel default (no file sets it))" was printed before).
#[test]
fn one_check_and_no_nested_parentheses() {
    let dirs = Dirs::new();
    let profile = write_profile(
        dirs.state.path(),
        "one",
        "name: one\nsysctl:\n  net.ipv4.tcp_fin_timeout: {max: 30}\n",
    );
    let r = offline(
        dirs.root.path(),
        &["--profile", &profile, "--kernel", "6.1"],
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("1 check: 0 pass, 0 error, 1 warning")),
        "{}",
        r.stdout
    );

    let ns = Netns::new();
    ns.set("net.ipv4.tcp_fin_timeout", "20");
    let r = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--no-nginx",
        "--root",
        dirs.root.path().to_str().unwrap(),
        "--profile",
        &profile,
    ]);
    assert!(
        r.stdout.contains(
            "not persisted: after a reboot it would be 60 (the kernel default, as a new network namespace shows it; no file sets it)"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("))"), "{}", r.stdout);
}
