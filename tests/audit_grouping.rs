//! One cause, one verdict: real nginx in a throwaway namespace, the kernel's somaxconn and
//! `ss` as oracles. A somaxconn that cuts every socket's backlog is one block naming every
//! socket `ss` shows, not one or two lines per socket; every number the fixes print is the
//! one `apply --dry-run` plans, and following the fixes makes the kernel give the sockets
//! what the profile wants; two causes are two blocks. The JSON and JUnit keep every finding.

mod common;

use common::nginx::{ss_listeners, Prefix};
use common::{run, Netns};
use serde_json::Value;
use std::collections::BTreeSet;

/// One server per listen: (address, backlog= or none). Listen i is on line 5 + i.
fn write_conf(p: &Prefix, listens: &[(&str, Option<u32>)]) {
    let servers: String = listens
        .iter()
        .enumerate()
        .map(|(i, (addr, backlog))| {
            let b = backlog.map_or(String::new(), |b| format!(" backlog={b}"));
            format!("server {{ listen {addr}{b}; return 200 s{i}; }}\n")
        })
        .collect();
    p.write_http("nginx.conf", &servers);
}

fn audit(ns: &Netns, p: &Prefix, profile: &str, extra: &[&str]) -> common::Run {
    let conf = p.conf();
    let mut args = vec![
        "audit",
        "--netns",
        &ns.name,
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--profile",
        profile,
        "--color",
        "never",
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    r
}

/// The failing blocks of a text report: each head line (ERROR/WARNING/info) and the
/// indented lines under it.
fn blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut open = false;
    for l in text.lines() {
        if ["ERROR", "WARNING", "info "]
            .iter()
            .any(|m| l.starts_with(m))
        {
            out.push((l.to_string(), Vec::new()));
            open = true;
        } else if open && l.starts_with("         ") {
            out.last_mut().unwrap().1.push(l.trim().to_string());
        } else {
            open = false;
        }
    }
    out
}

fn failures(r: &Value) -> Vec<&Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .collect()
}

/// Every number that follows one of `after` in `text`.
fn numbers_after(text: &str, after: &[&str]) -> Vec<u64> {
    let mut out = Vec::new();
    for a in after {
        for (i, _) in text.match_indices(a) {
            let digits: String = text[i + a.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
    }
    out
}

const SOMAXCONN_WORDS: [&str; 4] = [
    "somaxconn=",
    "somaxconn to ",
    "somaxconn raised to ",
    "somaxconn will be ",
];

#[test]
fn somaxconn_128_is_one_block_naming_every_socket() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let p = Prefix::new();
    write_conf(
        &p,
        &[
            ("80", None),
            ("[::]:80", None),
            ("127.0.0.1:8080", Some(1024)),
        ],
    );
    p.start(&ns).expect("nginx starts");
    let ss = ss_listeners(&ns);
    assert_eq!(ss.len(), 3, "{ss:?}");
    // The kernel cut each to somaxconn: the cause the audit must name.
    assert!(ss.iter().all(|(_, _, send_q)| *send_q == 128), "{ss:?}");

    let text = audit(&ns, &p, "baseline", &[]);
    assert_eq!(text.code, 1, "{}", text.stdout);
    let b = blocks(&text.stdout);
    assert_eq!(b.len(), 1, "one cause, one block:\n{}", text.stdout);
    let (head, body) = &b[0];
    assert!(
        head.starts_with("ERROR") && head.contains("somaxconn-caps-backlog"),
        "{}",
        text.stdout
    );
    assert!(head.contains("3 nginx sockets"), "{head}");
    // Every socket ss shows is named once, with the line of its listen.
    let conf = p.conf().display().to_string();
    for (addr, _, _) in &ss {
        let named = text.stdout.matches(&format!("{addr} (line ")).count();
        assert_eq!(named, 1, "{addr} in\n{}", text.stdout);
    }
    assert!(
        body.iter()
            .any(|l| l.starts_with(&format!("nginx {conf}: "))),
        "{body:?}"
    );
    // The old per-socket verdicts are gone, and so is the advice to raise somaxconn to
    // the socket's own backlog.
    assert!(!text.stdout.contains("silently cuts"), "{}", text.stdout);
    assert!(!text.stdout.contains("somaxconn to 511"), "{}", text.stdout);
    assert!(
        !text
            .stdout
            .lines()
            .any(|l| (l.starts_with("ERROR") || l.starts_with("WARNING"))
                && l.split_whitespace().nth(1) == Some("listen")),
        "{}",
        text.stdout
    );
    let fix = body
        .iter()
        .find(|l| l.starts_with("fix: "))
        .expect("one fix");
    assert_eq!(body.iter().filter(|l| l.starts_with("fix: ")).count(), 1);
    assert!(
        fix.starts_with(&format!(
            "fix: ip netns exec {} sysctl -w net.core.somaxconn=4096, then restart nginx",
            ns.name
        )),
        "{fix}"
    );
    assert!(
        text.stdout.contains("(4 failures, 1 cause)"),
        "{}",
        text.stdout
    );

    // JSON keeps every finding, each naming the cause.
    let json = audit(&ns, &p, "baseline", &["--format", "json"]).json();
    let fails = failures(&json);
    assert_eq!(fails.len(), 4, "{json:#}");
    for f in &fails {
        assert_eq!(f["cause"], "somaxconn-caps-backlog", "{f:#}");
    }
    let within: BTreeSet<&str> = fails
        .iter()
        .filter(|f| {
            f["id"]
                .as_str()
                .unwrap()
                .starts_with("nginx/within_somaxconn/")
        })
        .map(|f| f["nginx"]["socket"].as_str().unwrap())
        .collect();
    let live: BTreeSet<&str> = ss.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(within, live);
    for f in json["findings"].as_array().unwrap() {
        if f["status"] != "fail" {
            assert!(f["cause"].is_null(), "{f:#}");
        }
    }
    // JUnit: still one testcase per finding.
    let junit = audit(&ns, &p, "baseline", &["--format", "junit"]);
    assert_eq!(
        junit.stdout.matches("<testcase ").count(),
        json["findings"].as_array().unwrap().len()
    );
    // -v still lists each finding under the block.
    let verbose = audit(&ns, &p, "baseline", &["-v"]);
    for f in &fails {
        let msg = f["message"].as_str().unwrap();
        assert!(verbose.stdout.contains(msg), "{msg}\n{}", verbose.stdout);
    }
    p.stop(&ns);
}

#[test]
fn the_fixes_name_the_numbers_apply_plans_and_following_them_works() {
    let listens = [
        ("80", None),
        ("127.0.0.1:8080", Some(1024)),
        ("8443", Some(32768)),
    ];
    for profile in ["baseline", "web-frontend"] {
        let ns = Netns::new();
        ns.set("net.core.somaxconn", "128");
        let p = Prefix::new();
        write_conf(&p, &listens);
        p.start(&ns).expect("nginx starts");

        let text = audit(&ns, &p, profile, &[]);
        let fixes: String = blocks(&text.stdout)
            .into_iter()
            .flat_map(|(_, body)| body)
            .filter(|l| l.starts_with("fix: "))
            .collect::<Vec<_>>()
            .join("\n");
        let json = audit(&ns, &p, profile, &["--format", "json"]).json();
        let remedies: String = failures(&json)
            .iter()
            .filter_map(|f| f["remedy"].as_str())
            .collect::<Vec<_>>()
            .join("\n");

        let state = tempfile::tempdir().unwrap();
        let conf = p.conf();
        let plan = run(&[
            "apply",
            "--netns",
            &ns.name,
            "--nginx-conf",
            conf.to_str().unwrap(),
            "--profile",
            profile,
            "--state-dir",
            state.path().to_str().unwrap(),
            "--dry-run",
            "--format",
            "json",
        ]);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        let plan = plan.json();
        let planned: u64 = plan["plan"]["live"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == "net.core.somaxconn")
            .and_then(|c| c["after"].as_str()?.parse().ok())
            .unwrap_or_else(|| panic!("{profile}: no somaxconn in the plan: {plan:#}"));

        for (what, said) in [("text", &fixes), ("json", &remedies)] {
            let somaxconn = numbers_after(said, &SOMAXCONN_WORDS);
            assert!(!somaxconn.is_empty(), "{profile} {what}: {said}");
            assert!(
                somaxconn.iter().all(|&n| n == planned),
                "{profile} {what}: somaxconn {somaxconn:?}, the plan sets {planned}:\n{said}"
            );
            let backlogs = numbers_after(said, &["backlog="]);
            assert!(!backlogs.is_empty(), "{profile} {what}: {said}");
            assert!(
                backlogs.iter().all(|&b| b <= planned),
                "{profile} {what}: a backlog above somaxconn {planned}: {backlogs:?}\n{said}"
            );
            // Where apply edits backlog=, it writes the number the fixes name.
            for s in plan["plan"]["sockets"].as_array().unwrap() {
                if s["after"] != s["before"] {
                    let after = s["after"].as_u64().unwrap();
                    assert!(
                        backlogs.iter().all(|&b| b == after),
                        "{profile} {what}: apply writes backlog={after} on {}, the fixes say {backlogs:?}",
                        s["addr"]
                    );
                }
            }
        }

        // Following the fixes: somaxconn as they say, every listen they name at the
        // backlog they name, nginx restarted. The kernel then gives what the profile
        // wants, and the audit has nothing left to say about nginx.
        let backlogs = numbers_after(&fixes, &["backlog="]);
        assert!(backlogs.iter().all(|&b| b == backlogs[0]), "{fixes}");
        let backlog = backlogs[0] as u32;
        let somaxconn = numbers_after(&fixes, &SOMAXCONN_WORDS)[0];
        ns.set("net.core.somaxconn", &somaxconn.to_string());
        let named: Vec<(&str, Option<u32>)> = listens
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                (
                    a,
                    if needs_edit(&json, 5 + i) {
                        Some(backlog)
                    } else {
                        b
                    },
                )
            })
            .collect();
        p.stop(&ns);
        write_conf(&p, &named);
        p.start(&ns).expect("nginx restarts");
        let after = audit(&ns, &p, profile, &["--format", "json"]).json();
        let left: Vec<&Value> = failures(&after)
            .into_iter()
            .filter(|f| f["kind"] == "nginx" || f["subject"] == "net.core.somaxconn")
            .collect();
        assert!(left.is_empty(), "{profile}: {left:#?}");
        for (addr, _, send_q) in ss_listeners(&ns) {
            let asked = named
                .iter()
                .find(|(a, _)| addr.ends_with(&format!(":{}", a.rsplit(':').next().unwrap())))
                .and_then(|(_, b)| *b)
                .unwrap_or(511);
            assert_eq!(
                u64::from(send_q),
                u64::from(asked).min(somaxconn),
                "{profile} {addr}"
            );
        }
        p.stop(&ns);
    }
}

/// Whether a failing backlog finding names the listen on this line (the fixes say
/// "each listen above": the ones their block lists).
fn needs_edit(report: &Value, line: usize) -> bool {
    failures(report).iter().any(|f| {
        f["nginx"]["line"] == line
            && matches!(
                f["cause"].as_str(),
                Some("backlog-below-profile" | "backlog-above-somaxconn")
            )
    })
}

#[test]
fn two_causes_are_two_blocks() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let p = Prefix::new();
    write_conf(&p, &[("80", None), ("8443", Some(8192))]);
    p.start(&ns).expect("nginx starts");
    // somaxconn raised after nginx listened: both sockets keep 128 (stale), and 8443
    // asks for more than the 4096 baseline wants.
    ns.set("net.core.somaxconn", "4096");
    let ss = ss_listeners(&ns);
    assert!(ss.iter().all(|(_, _, q)| *q == 128), "{ss:?}");

    let text = audit(&ns, &p, "baseline", &[]);
    let b = blocks(&text.stdout);
    assert_eq!(b.len(), 2, "{}", text.stdout);
    let stale = b
        .iter()
        .find(|(h, _)| h.contains("listener-stale"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    let above = b
        .iter()
        .find(|(h, _)| h.contains("backlog-above-somaxconn"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    for (addr, _, _) in &ss {
        assert!(
            stale
                .1
                .iter()
                .any(|l| l.contains(&format!("{addr} (line "))),
            "{addr}: {stale:?}"
        );
    }
    let nginx_lines = |body: &[String]| {
        body.iter()
            .filter(|l| l.starts_with("nginx "))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        nginx_lines(&above.1).contains("0.0.0.0:8443 (line 6)"),
        "{above:?}"
    );
    assert!(!nginx_lines(&above.1).contains(":80 "), "{above:?}");
    let fix = above.1.iter().find(|l| l.starts_with("fix: ")).unwrap();
    let kernel: u64 = ns.get("net.core.somaxconn").parse().unwrap();
    assert_eq!(numbers_after(fix, &["backlog="]), vec![kernel], "{fix}");
    assert!(
        stale.1.iter().any(|l| l.starts_with("fix: restart nginx")),
        "{stale:?}"
    );

    let json = audit(&ns, &p, "baseline", &["--format", "json"]).json();
    let causes: BTreeSet<&str> = failures(&json)
        .iter()
        .map(|f| f["cause"].as_str().unwrap())
        .collect();
    assert_eq!(
        causes,
        BTreeSet::from(["listener-stale", "backlog-above-somaxconn"]),
        "{json:#}"
    );
    p.stop(&ns);
}
