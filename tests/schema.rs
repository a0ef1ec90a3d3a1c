//! The JSON Schema files of docs/schema/ against real output: audit of a namespace with
//! nginx running and of a configuration offline, apply --dry-run, a real apply, a failed
//! and fully restored apply, history and observe --once, each validated with Python's
//! jsonschema (draft 2020-12). A document with a renamed field must fail validation, so
//! the schemas cannot drift into accepting anything. Also the output details of issue 15
//! item 8 that the schemas alone cannot tell.

mod common;

use common::apply::Host;
use common::nginx::Prefix;
use common::*;
use serde_json::Value;
use std::path::PathBuf;

/// Python with jsonschema: scripts/test sets TUNEGUARD_TEST_PYTHON to its venv's.
fn python() -> PathBuf {
    let p = std::env::var_os("TUNEGUARD_TEST_PYTHON").unwrap_or_else(|| {
        panic!("TUNEGUARD_TEST_PYTHON is unset: point it at a python3 that has jsonschema (scripts/test sets it to target/ansible-venv/bin/python3)")
    });
    PathBuf::from(p)
}

fn schema_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(format!("{name}.schema.json"))
}

const CHECK: &str = r#"
import json, pathlib, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
here = pathlib.Path(sys.argv[1]).parent
schemas = [json.loads(p.read_text()) for p in sorted(here.glob("*.schema.json"))]
for s in schemas:
    Draft202012Validator.check_schema(s)
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
doc = json.load(sys.stdin)
errors = sorted(Draft202012Validator(schema, registry=registry).iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errors[:10]:
    print("/".join(str(p) for p in e.absolute_path) or "(root)", ":", e.message[:300])
sys.exit(1 if errors else 0)
"#;

/// The validator's complaints about DOC against docs/schema/NAME.schema.json; empty
/// when it is valid.
fn complaints(name: &str, doc: &Value) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(python())
        .args(["-c", CHECK])
        .arg(schema_path(name))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running python with jsonschema");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "the validator did not run (is jsonschema installed?): {stderr}"
    );
    if out.status.success() {
        String::new()
    } else {
        format!("{}{stderr}", String::from_utf8_lossy(&out.stdout))
    }
}

fn valid(name: &str, doc: &Value) {
    let c = complaints(name, doc);
    assert!(
        c.is_empty(),
        "{name}: real output fails its schema:\n{c}\n{doc:#}"
    );
}

/// A renamed field (at the top and in a nested object) must fail: the schema is closed.
fn renamed_fails(name: &str, doc: &Value, nested: &[&str]) {
    let mut top = doc.clone();
    let o = top.as_object_mut().unwrap();
    let key = if o.contains_key("schema") {
        "schema"
    } else {
        "msg"
    };
    let v = o.remove(key).unwrap();
    o.insert(format!("{key}_renamed"), v);
    assert!(
        !complaints(name, &top).is_empty(),
        "{name}: a renamed top-level field passes"
    );
    let mut deep = doc.clone();
    let (last, path) = nested.split_last().unwrap();
    let mut at = &mut deep;
    for p in path {
        at = match p.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*p],
        };
    }
    let o = at
        .as_object_mut()
        .unwrap_or_else(|| panic!("{name}: no object at {path:?}"));
    let v = o
        .remove(*last)
        .unwrap_or_else(|| panic!("{name}: no {last} at {path:?}"));
    o.insert(format!("{last}_renamed"), v);
    assert!(
        !complaints(name, &deep).is_empty(),
        "{name}: renaming {nested:?} passes"
    );
}

fn nginx_conf(p: &Prefix) {
    p.write(
        "nginx.conf",
        &format!(
            "{}http {{\n {}\n server {{ listen 127.0.0.1:8080 backlog=1024; return 200 a; }}\n server {{ listen 127.0.0.1:8081; return 200 b; }}\n}}\n",
            p.preamble(),
            p.http_preamble()
        ),
    );
}

fn nginx_findings(r: &Value) -> Vec<&Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("nginx/"))
        .collect()
}

#[test]
fn audit_json_with_nginx_running_and_offline_matches_the_schema() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let p = Prefix::new();
    nginx_conf(&p);
    p.start(&ns).expect("nginx starts");
    let dirs = Dirs::new();
    // A root that gives the finding's every persisted part: a masked file, a shadowed
    // line, a malformed line (a `persisted` finding), a value the kernel acts on as another.
    dirs.write(
        "etc/sysctl.d/60-site.conf",
        "net.core.somaxconn = 128\nnot a sysctl line\nnet.ipv4.tcp_keepalive_time = 600\n",
    );
    dirs.write(
        "usr/lib/sysctl.d/60-site.conf",
        "net.ipv4.tcp_keepalive_time = 300\n",
    );
    dirs.write(
        "etc/sysctl.d/10-early.conf",
        "net.core.somaxconn = 64\nnet.ipv4.tcp_syncookies = 3\n",
    );

    let live = run(&[
        "audit",
        "--netns",
        &ns.name,
        "--profile",
        "web-frontend",
        "--profile",
        "long-lived-clients",
        "--format",
        "json",
    ]);
    assert_eq!(live.code, 1, "{}", live.stderr);
    let live = live.json();
    valid("report", &live);
    let ids: Vec<&str> = nginx_findings(&live)
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter().any(|i| i.starts_with("nginx/live/")),
        "no live nginx finding: {ids:?}"
    );
    assert!(
        ids.iter().any(|i| i.starts_with("nginx/within_somaxconn/")),
        "{ids:?}"
    );
    // Every nginx finding, within_somaxconn too, is of kind nginx (docs/json-schema.md).
    for f in nginx_findings(&live) {
        assert_eq!(f["kind"], "nginx", "{f:#}");
    }
    let first_nginx = live["findings"]
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f["nginx"].is_object())
        .unwrap()
        .to_string();
    renamed_fails("report", &live, &["findings", &first_nginx, "message"]);
    renamed_fails(
        "report",
        &live,
        &["findings", &first_nginx, "nginx", "backlog"],
    );
    renamed_fails("report", &live, &["summary", "checks"]);
    // The defects of issue 15 item 8 fail validation: an nginx finding of another kind,
    // a configured backlog under `live`.
    let i: usize = first_nginx.parse().unwrap();
    let mut wrong = live.clone();
    wrong["findings"][i]["kind"] = "relation".into();
    assert!(
        !complaints("report", &wrong).is_empty(),
        "kind relation passes"
    );
    let mut wrong = live.clone();
    wrong["findings"][i]["live"] = serde_json::json!({ "backlog": 1024 });
    assert!(
        !complaints("report", &wrong).is_empty(),
        "live.backlog passes"
    );

    // Offline: the same configuration under a root, no kernel. The configured backlog
    // is `nginx.backlog`, never `live`.
    dirs.write(
        "etc/nginx/nginx.conf",
        &std::fs::read_to_string(p.conf()).unwrap(),
    );
    let off = run(&[
        "audit",
        "--proc",
        "none",
        "--root",
        dirs.root.path().to_str().unwrap(),
        "--nginx-conf",
        "/etc/nginx/nginx.conf",
        "--profile",
        "web-frontend",
        "--profile",
        "long-lived-clients",
        "--format",
        "json",
    ]);
    assert!(off.code == 0 || off.code == 1, "{}", off.stderr);
    let off = off.json();
    valid("report", &off);
    let nf = nginx_findings(&off);
    assert!(!nf.is_empty(), "{off:#}");
    for f in nf {
        assert_eq!(f["kind"], "nginx", "{f:#}");
        assert!(f["live"].is_null(), "offline, nothing is live: {f:#}");
    }
    let kinds: std::collections::BTreeSet<&str> = [&live, &off]
        .iter()
        .flat_map(|r| r["findings"].as_array().unwrap())
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for k in ["sysctl", "relation", "nginx", "persisted"] {
        assert!(kinds.contains(k), "no {k} finding was validated: {kinds:?}");
    }
    let masked = off["findings"].as_array().unwrap().iter().any(|f| {
        f["persisted"]["masked"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    });
    assert!(masked, "no masked line was validated");
    p.stop(&ns);
}

#[test]
fn apply_dry_run_apply_failure_and_history_json_match_their_schemas() {
    let h = Host::new();
    let dry = h.apply(&["--profile", "baseline", "--dry-run", "--format", "json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let dry = dry.json();
    valid("apply", &dry);
    assert_eq!(dry["changed"], false);
    renamed_fails("apply", &dry, &["plan", "live", "0", "key"]);

    // A failed apply that restored everything changed nothing: `changed: false`, as
    // the Ansible module says.
    let failed = run_with(
        &{
            let mut a = h.apply_args();
            a.extend_from_slice(&["--profile", "baseline", "--yes", "--format", "json"]);
            a
        },
        &[("TUNEGUARD_FAULT", "verify")],
    );
    if cfg!(feature = "fault-injection") {
        assert_eq!(failed.code, 1, "{}", failed.stderr);
        let failed = failed.json();
        valid("apply", &failed);
        assert_eq!(failed["transaction"]["state"], "failed", "{failed:#}");
        assert_eq!(failed["transaction"]["left"], serde_json::json!([]));
        assert_eq!(failed["changed"], false, "{failed:#}");
    }

    let real = h.apply(&["--profile", "baseline", "--yes", "--format", "json"]);
    assert_eq!(real.code, 0, "{}", real.stderr);
    let real = real.json();
    valid("apply", &real);
    assert_eq!(real["changed"], true);
    renamed_fails("apply", &real, &["transaction", "journal"]);

    let hist = h.tool("history", &["--format", "json"]);
    assert_eq!(hist.code, 0, "{}", hist.stderr);
    let hist = hist.json();
    valid("history", &hist);
    assert!(!hist["transactions"].as_array().unwrap().is_empty());
    renamed_fails("history", &hist, &["transactions", "0", "id"]);
}

#[test]
fn observe_once_json_matches_the_schema() {
    let ns = Netns::new();
    let r = run(&["observe", "--netns", &ns.name, "--once", "--format", "json"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let v = r.json();
    valid("observe", &v);
    renamed_fails("observe", &v, &["memory", "tcp_slab_bytes"]);
}

/// Every view filled at once (a full accept queue, CLOSE_WAIT with and without keepalive
/// timers, a stuck pair with its byte counters, a self-connection loop and its
/// TIME_WAIT), so the fields issue 16 added are checked with values, not only empty.
#[test]
fn observe_json_with_every_view_filled_matches_the_schema() {
    use common::incident::{wait_for, Misbehaving};
    let ns = Netns::new();
    let _l = Misbehaving::start(
        &ns,
        &["listen", "--addr", "127.0.0.1:4000", "--backlog", "2"],
    );
    let _b = Misbehaving::start(&ns, &["burst", "--to", "127.0.0.1:4000", "--count", "6"]);
    let _c = Misbehaving::start(&ns, &["closer", "--addr", "127.0.0.2:5000"]);
    let _k = Misbehaving::start(
        &ns,
        &[
            "leaky",
            "--to",
            "127.0.0.2:5000",
            "--per-peer",
            "2",
            "--keepalive",
        ],
    );
    let _s = Misbehaving::start(
        &ns,
        &["sink", "--addr", "127.0.0.1:6000", "--rcvbuf", "65536"],
    );
    let _o = Misbehaving::start(
        &ns,
        &["source", "--to", "127.0.0.1:6000", "--bytes", "16000000"],
    );
    let _p = Misbehaving::start(
        &ns,
        &[
            "selfloop",
            "--addr",
            "127.0.0.1:7000",
            "--rate",
            "40",
            "--max",
            "2000",
        ],
    );
    assert!(wait_for(10, || {
        let out = ns.exec(&["ss", "-Htno", "state", "established"]);
        String::from_utf8_lossy(&out.stdout).contains("persist")
    }));
    let r = run(&[
        "observe",
        "--netns",
        &ns.name,
        "--interval",
        "1",
        "--format",
        "json",
    ]);
    let v = r.json();
    let s = &v["sockets"];
    assert!(!s["stuck"].as_array().unwrap().is_empty(), "{s:#}");
    assert!(!s["to_self"].as_array().unwrap().is_empty(), "{s:#}");
    assert!(
        !s["close_wait"]["by_owner"].as_array().unwrap().is_empty(),
        "{s:#}"
    );
    assert!(s["close_wait"]["keepalive_expires_s"].is_array(), "{s:#}");
    valid("observe", &v);
    renamed_fails("observe", &v, &["sockets", "stuck", "0", "progress"]);
    renamed_fails(
        "observe",
        &v,
        &[
            "sockets",
            "close_wait",
            "by_owner",
            "0",
            "keepalive_expires_s",
        ],
    );
}

/// `audit --all-netns`: the fleet document, and each namespace's report against the
/// report schema it embeds; one namespace made here (others come and go) fails, so a
/// report with findings, a remedy and a summary is among them.
#[test]
fn all_netns_json_matches_the_fleet_schema() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let r = run(&["audit", "--all-netns", "--no-nginx", "--format", "json"]);
    assert!(r.code >= 1, "{}", r.stderr);
    let v = r.json();
    valid("fleet", &v);
    let mine = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .position(|n| n["ip_netns"] == serde_json::json!([ns.name]))
        .unwrap();
    valid("report", &v["namespaces"][mine]["report"]);
    renamed_fails(
        "fleet",
        &v,
        &["namespaces", &mine.to_string(), "report", "host", "netns"],
    );
}

/// `observe --all-netns`: the fleet document, and each namespace's report against the
/// observe schema it embeds; a namespace made here with a listener, so a report with a
/// socket census is among them.
#[test]
fn observe_all_netns_json_matches_its_schema() {
    let ns = Netns::new();
    let _listener = common::incident::Misbehaving::start(
        &ns,
        &["listen", "--addr", "127.0.0.1:4000", "--backlog", "8"],
    );
    let r = run(&[
        "observe",
        "--all-netns",
        "--interval",
        "0.2",
        "--format",
        "json",
    ]);
    assert!(r.code <= 1, "{}", r.stderr);
    let v = r.json();
    valid("observe-fleet", &v);
    let mine = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .position(|n| n["ip_netns"] == serde_json::json!([ns.name]))
        .unwrap();
    assert_eq!(
        v["namespaces"][mine]["report"]["sockets"]["by_state"]["LISTEN"],
        1
    );
    valid("observe", &v["namespaces"][mine]["report"]);
    renamed_fails(
        "observe-fleet",
        &v,
        &["namespaces", &mine.to_string(), "sampled_at", "second"],
    );
    renamed_fails(
        "observe-fleet",
        &v,
        &[
            "namespaces",
            &mine.to_string(),
            "report",
            "sockets",
            "listeners",
            "0",
            "local",
        ],
    );
}

#[test]
fn profiles_show_prints_values_not_rust_debug_text() {
    for name in ["web-frontend", "baseline"] {
        let r = run(&["profiles", "show", name]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            !r.stdout.contains("Some(") && !r.stdout.contains("None"),
            "{name}: {}",
            r.stdout
        );
    }
}

/// The Ansible module alone, as Ansible starts it: `tuneguard ARGS_FILE`.
fn module(args: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("args.json");
    std::fs::write(&file, args.to_string()).unwrap();
    let r = run(&[file.to_str().unwrap()]);
    r.json()
}

#[test]
fn the_ansible_modules_results_match_the_schema() {
    let h = Host::new();
    let args = |mode: &str, extra: Value| {
        let mut a = serde_json::json!({
            "mode": mode, "netns": h.ns.name, "nginx": false, "profile": "baseline",
            "root": h.root(), "state_dir": h.state(),
        });
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        a
    };
    let audit = module(&args("audit", serde_json::json!({})));
    valid("ansible", &audit);
    renamed_fails("ansible", &audit, &["findings", "0", "message"]);
    let hidden = module(&args(
        "audit",
        serde_json::json!({ "_ansible_no_log": true }),
    ));
    valid("ansible", &hidden);
    let bad = module(&serde_json::json!({ "bogus": 1 }));
    assert_eq!(bad["failed"], true);
    valid("ansible", &bad);
    let applied = module(&args("apply", serde_json::json!({ "_ansible_diff": true })));
    assert_eq!(applied["changed"], true, "{applied:#}");
    assert!(applied["diff"].is_array(), "{applied:#}");
    valid("ansible", &applied);

    // A value the kernel refuses: the apply fails and restores, changed is false.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("ecn.yaml");
    std::fs::write(&profile, "sysctl:\n  net.ipv4.tcp_ecn: {equals: 31337}\n").unwrap();
    let failed = module(&args(
        "apply",
        serde_json::json!({ "profile": profile, "persist": false }),
    ));
    assert_eq!(failed["failed"], true, "{failed:#}");
    assert_eq!(failed["changed"], false, "{failed:#}");
    valid("ansible", &failed);
}

/// docs/json-schema.md and docs/schema/report.schema.json name the same fields: every
/// row of the finding table is a property of the schema's finding and back, and every
/// top-level property is named in the page's report section.
#[test]
fn the_json_schema_page_and_the_schema_files_name_the_same_fields() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/json-schema.md")).unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path("report")).unwrap()).unwrap();
    let table = page
        .split("## A finding")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap();
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                documented.insert(part.to_string());
            }
        }
    }
    let props: std::collections::BTreeSet<String> = schema["$defs"]["finding"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(documented, props, "the finding table and the schema differ");

    let report = page.split("\n## A finding").next().unwrap();
    for key in schema["properties"].as_object().unwrap().keys() {
        assert!(
            report.contains(&format!("\"{key}\"")) || report.contains(&format!("`{key}`")),
            "docs/json-schema.md does not name the report's {key}"
        );
    }
    for name in [
        "report",
        "apply",
        "history",
        "observe",
        "ansible",
        "fleet",
        "observe-fleet",
    ] {
        assert!(
            page.contains(&format!("schema/{name}.schema.json")),
            "docs/json-schema.md does not point at schema/{name}.schema.json"
        );
    }
}
