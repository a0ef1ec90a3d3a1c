//! tuneguard as an Ansible module, proven with real ansible-playbook (ansible-core 2.19
//! in target/ansible-venv, installed by scripts/test) on a small fleet: each inventory
//! host is `ansible_connection: local` bound to its own network namespace with its own
//! settings. The namespaces, read with sysctl(8), are the oracle.

mod common;

use common::Netns;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ansible(tool: &str) -> PathBuf {
    let dir = std::env::var_os("TUNEGUARD_TEST_ANSIBLE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ansible-venv/bin"),
        PathBuf::from,
    );
    let p = dir.join(tool);
    assert!(
        p.exists(),
        "{} missing: run ./scripts/test (it installs ansible-core)",
        p.display()
    );
    p
}

/// A playbook directory: library/tuneguard (the built binary), an inventory of hosts
/// with their namespaces, per-host state dirs, and an output dir.
struct Fleet {
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new(hosts: &[(&str, &str)]) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("library")).unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        std::fs::copy(common::bin(), dir.path().join("library/tuneguard")).unwrap();
        let python = ansible("python");
        let mut inv = String::from("[fleet]\n");
        for (host, ns) in hosts {
            inv.push_str(&format!("{host} tg_netns={ns}\n"));
        }
        inv.push_str(&format!(
            "[fleet:vars]\nansible_connection=local\nansible_python_interpreter={}\ntg_state={}/state/{{{{ inventory_hostname }}}}\nout={}/out\n",
            python.display(),
            dir.path().display(),
            dir.path().display()
        ));
        std::fs::write(dir.path().join("inventory"), inv).unwrap();
        Fleet { dir }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    fn play(&self, book: &str, extra: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new(ansible("ansible-playbook"))
            .args(["-i", "inventory", book])
            .args(extra)
            .current_dir(d)
            .env("ANSIBLE_HOME", d.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", d.join("tmp"))
            .env("ANSIBLE_REMOTE_TMP", d.join("rtmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_PYTHON_INTERPRETER", ansible("python"))
            .output()
            .expect("running ansible-playbook")
    }

    fn out(&self, host: &str) -> serde_json::Value {
        let p = self.dir.path().join(format!("out/{host}.json"));
        serde_json::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap()
    }
}

/// PLAY RECAP counts per host: (ok, changed, failed).
fn recap(out: &Output) -> Vec<(String, u32, u32, u32)> {
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("PLAY RECAP").expect("a play recap");
    text[start..]
        .lines()
        .skip(1)
        .filter(|l| l.contains(" : "))
        .map(|l| {
            let (host, rest) = l.split_once(" : ").unwrap();
            let n = |k: &str| -> u32 {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            (host.trim().to_string(), n("ok"), n("changed"), n("failed"))
        })
        .collect()
}

const AUDIT: &str = r#"- hosts: fleet
  gather_facts: false
  tasks:
    - name: audit with tuneguard
      tuneguard:
        mode: audit
        netns: "{{ tg_netns }}"
        nginx: false
      register: r
      ignore_errors: true
    - copy:
        content: "{{ r | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}.json"
"#;

const APPLY: &str = r#"- hosts: fleet
  gather_facts: false
  tasks:
    - name: apply with tuneguard
      tuneguard:
        mode: apply
        netns: "{{ tg_netns }}"
        nginx: false
        state_dir: "{{ tg_state }}"
"#;

#[test]
fn a_fleet_of_namespaces_audits_dry_runs_applies_and_settles() {
    let (a, b, c) = (Netns::new(), Netns::new(), Netns::new());
    a.set("net.core.somaxconn", "128"); // an error
    b.set("net.ipv4.tcp_syncookies", "0"); // warnings only
    b.set("net.ipv4.tcp_keepalive_time", "9000");
    // c: a fresh namespace, which passes the baseline.
    let missing = format!("{}missing-{}", common::NETNS_PREFIX, std::process::id());
    let fleet = Fleet::new(&[
        ("h1", &a.name),
        ("h2", &b.name),
        ("h3", &c.name),
        ("h4", &missing),
    ]);
    fleet.write("audit.yml", AUDIT);
    fleet.write("apply.yml", APPLY);

    fleet.play("audit.yml", &[]);
    let r1 = fleet.out("h1");
    assert_eq!(r1["failed"], true, "{r1:#}");
    assert_eq!(r1["changed"], false);
    assert_eq!(r1["summary"]["error"], 1, "{r1:#}");
    let f = r1["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "sysctl/net.core.somaxconn")
        .unwrap();
    assert_eq!(
        (f["status"].as_str(), f["live"].as_i64()),
        (Some("fail"), Some(128))
    );
    let r2 = fleet.out("h2");
    assert_eq!(
        r2["failed"], false,
        "warnings do not reach fail_on error: {r2:#}"
    );
    assert!(r2["summary"]["warning"].as_u64().unwrap() >= 2, "{r2:#}");
    let r3 = fleet.out("h3");
    assert_eq!(
        (
            r3["failed"].as_bool(),
            r3["summary"]["error"].as_u64(),
            r3["summary"]["warning"].as_u64()
        ),
        (Some(false), Some(0), Some(0)),
        "{r3:#}"
    );
    let r4 = fleet.out("h4");
    assert_eq!(r4["failed"], true);
    assert!(r4["msg"].as_str().unwrap().contains(&missing), "{r4:#}");
    assert!(r1["findings"].is_array() && r4.get("findings").is_none());

    // --check --diff: the diffs, and nothing changes.
    let check = fleet.play("apply.yml", &["--check", "--diff"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("-net.core.somaxconn = 128") && text.contains("+net.core.somaxconn = 4096"),
        "{text}"
    );
    assert!(
        text.contains("-net.ipv4.tcp_syncookies = 0")
            && text.contains("+net.ipv4.tcp_syncookies = 1"),
        "{text}"
    );
    assert_eq!(a.get("net.core.somaxconn"), "128");
    assert_eq!(b.get("net.ipv4.tcp_syncookies"), "0");
    let rc = recap(&check);
    assert!(
        rc.contains(&("h1".into(), 1, 1, 0)) && rc.contains(&("h3".into(), 1, 0, 0)),
        "{rc:?}\n{text}"
    );

    // Apply: changed where needed; the missing namespace fails only its own host.
    let run = fleet.play("apply.yml", &[]);
    let rc = recap(&run);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(rc.contains(&("h1".into(), 1, 1, 0)), "{rc:?}\n{text}");
    assert!(rc.contains(&("h2".into(), 1, 1, 0)), "{rc:?}\n{text}");
    assert!(rc.contains(&("h3".into(), 1, 0, 0)), "{rc:?}\n{text}");
    assert!(rc.contains(&("h4".into(), 0, 0, 1)), "{rc:?}\n{text}");
    assert_eq!(a.get("net.core.somaxconn"), "4096");
    assert_eq!(b.get("net.ipv4.tcp_syncookies"), "1");
    assert_eq!(b.get("net.ipv4.tcp_keepalive_time"), "7200");

    // A second apply changes nothing.
    let again = fleet.play("apply.yml", &[]);
    let rc = recap(&again);
    for h in ["h1", "h2", "h3"] {
        assert!(rc.contains(&(h.into(), 1, 0, 0)), "{h}: {rc:?}");
    }
}

/// The module alone, as Ansible starts it: `tuneguard ARGS_FILE`. Stdout must be exactly
/// one JSON object whatever the input.
fn module(args: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("args.json");
    std::fs::write(&file, args).unwrap();
    let out = Command::new(common::bin()).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn bad_arguments_fail_with_a_json_result_naming_them() {
    let r = module(r#"{"bogus": 1, "mode": "audit", "_ansible_check_mode": false}"#);
    assert_eq!(r["failed"], true);
    assert!(
        r["msg"]
            .as_str()
            .unwrap()
            .contains("Unsupported parameters for (tuneguard) module: bogus"),
        "{r}"
    );
    let r =
        module(r#"{"profile": "no-such-profile", "nginx": false, "_ansible_check_mode": false}"#);
    assert_eq!(r["failed"], true);
    assert!(
        r["msg"].as_str().unwrap().contains("no-such-profile"),
        "{r}"
    );
    let r = module(r#"{"mode": "fix", "nginx": "maybe", "_ansible_diff": true}"#);
    assert_eq!(r["failed"], true);
    let msg = r["msg"].as_str().unwrap();
    assert!(
        msg.contains("mode must be audit or apply, not fix")
            && msg.contains("nginx must be a boolean"),
        "{r}"
    );
    let r = module("{\"mode\": \"audit\", \"_ansible_check_mode\": ");
    assert_eq!(r["failed"], true);
    assert!(
        r["msg"].as_str().unwrap().contains("is not valid JSON"),
        "{r}"
    );
}

#[test]
fn an_unknown_argument_fails_the_task_in_a_real_play() {
    let ns = Netns::new();
    let fleet = Fleet::new(&[("h1", &ns.name)]);
    fleet.write(
        "bad.yml",
        "- hosts: fleet\n  gather_facts: false\n  tasks:\n    - tuneguard:\n        netns: \"{{ tg_netns }}\"\n        fail_onn: warning\n",
    );
    let out = fleet.play("bad.yml", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("Unsupported parameters for (tuneguard) module: fail_onn"),
        "{text}"
    );
    assert!(
        !text.contains("MODULE FAILURE") && !text.contains("Traceback"),
        "{text}"
    );
    assert_eq!(recap(&out), vec![("h1".to_string(), 0, 0, 1)]);
}

#[test]
fn no_log_hides_values() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let r = module(&format!(
        r#"{{"netns": "{}", "nginx": false, "_ansible_no_log": true}}"#,
        ns.name
    ));
    let text = r.to_string();
    assert!(r["findings"].as_array().is_some_and(|f| !f.is_empty()));
    assert!(!text.contains("128") && !text.contains("4096"), "{text}");
}

#[test]
fn no_log_keeps_values_out_of_a_failed_applys_msg() {
    // The kernel refuses tcp_ecn=31337 (EINVAL): apply fails and restores. Without
    // no_log the msg names key and value; with it, neither the value nor the error.
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("ecn.yaml");
    std::fs::write(&profile, "sysctl:\n  net.ipv4.tcp_ecn: {equals: 31337}\n").unwrap();
    let args = |no_log: bool| {
        serde_json::json!({
            "mode": "apply", "netns": ns.name, "nginx": false, "persist": false,
            "profile": profile, "root": dir.path(), "state_dir": dir.path().join("state"),
            "_ansible_no_log": no_log,
        })
        .to_string()
    };
    let before = ns.get("net.ipv4.tcp_ecn");
    let r = module(&args(false));
    assert_eq!(r["failed"], true, "{r}");
    let msg = r["msg"].as_str().unwrap();
    assert!(msg.contains("net.ipv4.tcp_ecn = 31337"), "{r}");
    let r = module(&args(true));
    assert_eq!(r["failed"], true, "{r}");
    let msg = r["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("apply failed and restored everything (transaction "),
        "{r}"
    );
    assert!(msg.contains("withheld: no_log"), "{r}");
    let text = r.to_string();
    assert!(
        !text.contains("31337") && !text.contains("tcp_ecn ="),
        "{text}"
    );
    assert_eq!(ns.get("net.ipv4.tcp_ecn"), before, "restored");
    // A bad argument is named, its value withheld.
    let r = module(r#"{"mode": "s3cr3t", "_ansible_no_log": true}"#);
    assert_eq!(r["failed"], true);
    assert!(
        r["msg"]
            .as_str()
            .unwrap()
            .contains("mode must be audit or apply"),
        "{r}"
    );
    assert!(!r.to_string().contains("s3cr3t"), "{r}");
}

#[test]
fn ansible_doc_renders_the_module_page_and_the_examples_parse() {
    let fleet = Fleet::new(&[("h1", "unused")]);
    let lib = fleet.dir.path().join("library");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ansible/library/tuneguard.yml"),
        lib.join("tuneguard.yml"),
    )
    .unwrap();
    let out = Command::new(ansible("ansible-doc"))
        .arg("tuneguard")
        .env("ANSIBLE_LIBRARY", &lib)
        .env("ANSIBLE_HOME", fleet.dir.path().join("home"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for option in [
        "mode",
        "profile",
        "netns",
        "fail_on",
        "nginx_reload",
        "restart_needed",
    ] {
        assert!(
            text.contains(option),
            "ansible-doc shows no {option}:\n{text}"
        );
    }
    for book in ["audit.yml", "apply.yml", "command-style.yml"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/ansible")
            .join(book);
        std::fs::copy(&src, fleet.dir.path().join(book)).unwrap();
        let out = fleet.play(book, &["--syntax-check"]);
        assert!(
            out.status.success(),
            "{book}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
