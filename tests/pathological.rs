//! Pathological input (issue 13): each case runs the real binary on a file generated
//! here, under a temp --root or as a temp profile, and asserts that it ends on its own
//! within a generous bound (a hang detector, not a speed test: the debug build on a
//! shared machine), with an exit code (never a signal: no stack overflow, no abort),
//! and, where the input is refused, a message naming the file and line.

mod common;
use common::*;
use std::path::Path;

/// Seconds before a run counts as hung. Every case here takes well under a second in a
/// release build; the slowest (a million directives) about 4 s in a debug one.
const HANG: u64 = 60;

fn run_bounded(args: &[&str]) -> Run {
    let o = tg_within(args, &[], HANG);
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        matches!(r.code, 0..=2),
        "tuneguard ended by a signal or with code {} (stderr: {})",
        r.code,
        &r.stderr[..r.stderr.len().min(2000)]
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r
}

/// `audit` of the persisted files under `root` (no live kernel), as JSON.
fn persisted(root: &Path) -> (Run, serde_json::Value) {
    let r = run_bounded(&[
        "audit",
        "--root",
        root.to_str().unwrap(),
        "--proc",
        "none",
        "--no-nginx",
        "--format",
        "json",
    ]);
    assert!(r.code <= 1, "{}", r.stderr);
    let j = r.json();
    (r, j)
}

fn after_reboot(report: &serde_json::Value, key: &str, loader: &str) -> serde_json::Value {
    finding(report, key)["persisted"][loader]["value"].clone()
}

#[test]
fn a_glob_key_of_fourteen_stars() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/50-stars.conf",
        "net.ipv4.tcp_**************_time = 333\nnet.ipv4.**************x = 1\n",
    );
    let (_, j) = persisted(d.root.path());
    for loader in ["procps", "systemd"] {
        assert_eq!(after_reboot(&j, "net.ipv4.tcp_keepalive_time", loader), 333);
    }
}

#[test]
fn a_line_of_a_mebibyte_of_stars() {
    let d = Dirs::new();
    let stars = "*".repeat(1 << 20);
    d.write(
        "etc/sysctl.d/50-long.conf",
        &format!("net.ipv4.{stars} = 1\nnet.core.somaxconn = 1234\n"),
    );
    let (_, j) = persisted(d.root.path());
    let f = finding(&j, "/etc/sysctl.d/50-long.conf:1");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("systemd-sysctl stops reading the file here"),
        "{f}"
    );
    // procps reads the line and the next; systemd-sysctl neither.
    assert_eq!(after_reboot(&j, "net.core.somaxconn", "procps"), 1234);
    assert_eq!(after_reboot(&j, "net.ipv4.tcp_syncookies", "procps"), 1);
    assert!(finding(&j, "net.core.somaxconn")["persisted"]["systemd"].is_null());
}

#[test]
fn brace_bombs_in_glob_keys() {
    // systemd-sysctl expands braces: 2^30 globs, and 300,000 groups one after another.
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/50-braces.conf",
        &format!(
            "net.core.*{} = 1\nnet.core.*{} = 2\nnet.core.{{somaxconn,x}}* = 3000\n",
            "{a,b}".repeat(30),
            "{}".repeat(300_000)
        ),
    );
    let (_, j) = persisted(d.root.path());
    for line in [1, 2] {
        let f = finding(&j, &format!("/etc/sysctl.d/50-braces.conf:{line}"));
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("expand to more globs than tuneguard follows"),
            "{f}"
        );
    }
    assert_eq!(after_reboot(&j, "net.core.somaxconn", "systemd"), 3000);
    assert!(finding(&j, "net.core.somaxconn")["persisted"]["procps"].is_null());
}

#[test]
fn a_sysctl_file_of_two_hundred_thousand_lines() {
    let d = Dirs::new();
    let mut text = String::new();
    for i in 0..200_000 {
        if i % 2 == 0 {
            text.push_str(&format!("net.core.s{}maxconn = {i}\n", "*".repeat(i % 5)));
        } else {
            text.push_str(&format!("junk {i}\n"));
        }
    }
    d.write("etc/sysctl.d/50-many.conf", &text);
    let (_, j) = persisted(d.root.path());
    assert_eq!(after_reboot(&j, "net.core.somaxconn", "procps"), 199_998);
    let more = finding(&j, "/etc/sysctl.d/50-many.conf");
    assert!(
        more["message"]
            .as_str()
            .unwrap()
            .contains("99900 more malformed lines skipped by both loaders"),
        "{more}"
    );
}

/// `audit --only nginx` of /etc/nginx/nginx.conf under `root`, in text.
fn nginx(root: &Path) -> Run {
    run_bounded(&[
        "audit",
        "--root",
        root.to_str().unwrap(),
        "--proc",
        "none",
        "--nginx-conf",
        "/etc/nginx/nginx.conf",
        "--only",
        "nginx",
    ])
}

fn expect_nginx(root: &Path, needle: &str) {
    let r = nginx(root);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(needle),
        "expected `{needle}` in: {}",
        r.stdout
    );
}

#[test]
fn twenty_thousand_nested_nginx_blocks() {
    // nginx 1.22 itself dies of SIGSEGV on this (it parses 5,000 levels).
    let d = Dirs::new();
    let n = 20_000;
    d.write(
        "etc/nginx/nginx.conf",
        &format!(
            "events {{}}\nhttp {{\nserver {{\n{}{}}}\n}}\n",
            "location / {\n".repeat(n),
            "}\n".repeat(n)
        ),
    );
    expect_nginx(
        d.root.path(),
        "tuneguard stops reading /etc/nginx/nginx.conf: blocks nested more than 100 deep in /etc/nginx/nginx.conf:102",
    );
    // The same on one line of half a million `a{`.
    d.write(
        "etc/nginx/nginx.conf",
        &format!("events {{}}\n{}\n", "a{".repeat(1 << 19)),
    );
    expect_nginx(
        d.root.path(),
        "blocks nested more than 100 deep in /etc/nginx/nginx.conf:2",
    );
}

#[test]
fn a_chain_of_two_thousand_includes() {
    let d = Dirs::new();
    d.write("etc/nginx/nginx.conf", "events {}\ninclude c/0.conf;\n");
    for i in 0..2000 {
        d.write(
            &format!("etc/nginx/c/{i}.conf"),
            &format!("include c/{}.conf;\n", i + 1),
        );
    }
    d.write("etc/nginx/c/2000.conf", "# end\n");
    expect_nginx(
        d.root.path(),
        "includes nested more than 100 deep in /etc/nginx/c/98.conf:1",
    );
}

#[test]
fn an_include_bomb() {
    // Each file includes the next twice: 2^24 parses of the last one.
    let d = Dirs::new();
    d.write(
        "etc/nginx/nginx.conf",
        "events {}\nhttp {\ninclude b/0.conf;\n}\n",
    );
    for i in 0..24 {
        d.write(
            &format!("etc/nginx/b/{i}.conf"),
            &format!("include b/{0}.conf;\ninclude b/{0}.conf;\n", i + 1),
        );
    }
    d.write("etc/nginx/b/24.conf", "server { listen 80; }\n");
    expect_nginx(
        d.root.path(),
        "more than 1000000 directives, counting a file each time it is included in /etc/nginx/b/",
    );
}

#[test]
fn an_include_glob_through_a_directory_link_loop() {
    let d = Dirs::new();
    let l = d.root.path().join("etc/nginx/l");
    std::fs::create_dir_all(&l).unwrap();
    for name in ["a", "b", "c"] {
        std::os::unix::fs::symlink(".", l.join(name)).unwrap();
    }
    d.write(
        "etc/nginx/nginx.conf",
        &format!(
            "events {{}}\nhttp {{ include l/{}*.conf; }}\n",
            "*/".repeat(40)
        ),
    );
    expect_nginx(
        d.root.path(),
        "matches more than 10000 paths in /etc/nginx/nginx.conf:2",
    );
}

#[test]
fn a_mebibyte_of_braces_quotes_and_stars_in_nginx() {
    let d = Dirs::new();
    let m = 1 << 20;
    for (text, needle) in [
        (
            format!("http {}\n", "{".repeat(m)),
            "unexpected \"{\" in /etc/nginx/nginx.conf:2",
        ),
        (
            format!("{}\n", "}".repeat(m)),
            "unexpected \"}\" in /etc/nginx/nginx.conf:2",
        ),
        (
            format!("{}\n", "\"".repeat(m)),
            "in /etc/nginx/nginx.conf:2",
        ),
        (
            format!("http {{ server_name \"{}\"; }}\n", "x".repeat(m)),
            "too long parameter",
        ),
        (
            format!("http {{ include {}; }}\n", "*".repeat(m)),
            "too long parameter",
        ),
    ] {
        d.write("etc/nginx/nginx.conf", &format!("events {{}}\n{text}"));
        expect_nginx(d.root.path(), needle);
    }
}

fn validate(dir: &Path, name: &str, text: &str) -> Run {
    let p = write_profile(dir, name, text);
    run_bounded(&["profiles", "validate", &p])
}

fn expect_profile_error(text: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let r = validate(dir.path(), "p", text);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(needle),
        "expected `{needle}` in: {}",
        r.stderr
    );
}

#[test]
fn profiles_nested_a_hundred_thousand_deep() {
    let n = 100_000;
    expect_profile_error(
        &format!("sysctl: {}{}\n", "[".repeat(n), "]".repeat(n)),
        "p.yaml:1:41: `[` and `{` nest more than 32 deep",
    );
    expect_profile_error(
        &format!("sysctl: {}1{}\n", "{a: ".repeat(n), "}".repeat(n)),
        "p.yaml:1:",
    );
    // Block nesting: serde_yaml's own limit, quickly.
    expect_profile_error(&format!("{}a\n", "- ".repeat(n)), "p.yaml:1:1:");
}

#[test]
fn profiles_of_many_keys() {
    let rules = |n: usize| {
        let mut t = String::from("sysctl:\n");
        for i in 0..n {
            t.push_str(&format!("  net.core.k{i}: {{min: 1}}\n"));
        }
        t
    };
    expect_profile_error(&rules(200_000), "p.yaml\n  caused by: is larger than 1 MiB");
    // Under the cap, tens of thousands of rules and as many waivers load.
    let n = 15_000;
    let mut text = rules(n);
    text.push_str("waivers:\n");
    for i in 0..n {
        text.push_str(&format!("  net.core.k{i}: known\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let r = validate(dir.path(), "many", &text);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("15000 sysctl rules"), "{}", r.stdout);
}

#[test]
fn extends_chains_and_fans() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..3000 {
        write_profile(
            d,
            &format!("c{i}"),
            &format!("extends: [c{}.yaml]\n", i + 1),
        );
    }
    write_profile(d, "c3000", "sysctl:\n  net.core.somaxconn: {min: 1}\n");
    let r = run_bounded(&["profiles", "validate", d.join("c0.yaml").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("c15.yaml:1:11: `extends` goes more than 16 profiles deep"),
        "{}",
        r.stderr
    );
    for (name, parent) in [("f0", "f1"), ("f1", "f2"), ("f2", "f3")] {
        let list = vec![format!("{parent}.yaml"); 60].join(", ");
        write_profile(d, name, &format!("extends: [{list}]\n"));
    }
    write_profile(d, "f3", "sysctl:\n  net.core.somaxconn: {min: 1}\n");
    let r = run_bounded(&["profiles", "validate", d.join("f0.yaml").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`extends` reaches more than 256 profiles in all"),
        "{}",
        r.stderr
    );
}
