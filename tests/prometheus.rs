//! `--format prometheus`, `--output`, contrib/systemd/ and contrib/prometheus/ against the
//! real components from Debian's packages (unpacked by scripts/test): `promtool check
//! metrics` parses every exposition, `promtool check rules`/`test rules` run the alert
//! rules (also on series made from a fresh real audit), `systemd-analyze verify` and
//! `security` judge the units, and the real prometheus-node-exporter serves the file the
//! timer's command writes. The audited namespace holds real nginx; the kernel (`ss`,
//! /proc/net/netstat read in the namespace) is the oracle for the numbers.

mod common;

use common::nginx::{ss_listeners, Prefix};
use common::{bin, run, Netns, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// A program of Debian's prometheus packages: $VAR (set by scripts/test), else the
/// unpacked packages under target/.
fn debian_tool(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let p = Path::new(MANIFEST)
        .join("target/debian-prometheus/usr/bin")
        .join(name);
    assert!(
        p.is_file(),
        "no {name}: run ./scripts/test, which unpacks Debian's prometheus packages into target/debian-prometheus"
    );
    p
}

fn promtool() -> PathBuf {
    debian_tool("TUNEGUARD_TEST_PROMTOOL", "promtool")
}

fn node_exporter() -> PathBuf {
    debian_tool("TUNEGUARD_TEST_NODE_EXPORTER", "prometheus-node-exporter")
}

/// `promtool check metrics` on `text`: (exit code, what it printed). It parses the
/// exposition and lints names (units, `_total` on counters only, HELP present).
fn check_metrics(text: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an exposition (promtool has validated the syntax; this only reads it).
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, mut rest) = match series.find('{') {
            Some(i) => (&series[..i], &series[i + 1..series.len() - 1]),
            None => (series, ""),
        };
        let mut labels = BTreeMap::new();
        while !rest.is_empty() {
            let (k, after) = rest.split_once("=\"").unwrap();
            let mut v = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().unwrap() {
                    (_, '\\') => match chars.next().unwrap().1 {
                        'n' => v.push('\n'),
                        c => v.push(c),
                    },
                    (i, '"') => break i,
                    (_, c) => v.push(c),
                }
            };
            labels.insert(k.to_string(), v);
            rest = after[end + 1..].trim_start_matches(',');
        }
        out.push(Sample {
            name: name.to_string(),
            labels,
            value: value.parse().unwrap(),
        });
    }
    out
}

fn find<'a>(s: &'a [Sample], name: &str, want: &[(&str, &str)]) -> Vec<&'a Sample> {
    s.iter()
        .filter(|x| {
            x.name == name
                && want
                    .iter()
                    .all(|(k, v)| x.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// A TcpExt counter as the kernel shows it in the namespace.
fn netstat(ns: &Netns, field: &str) -> i64 {
    let out = ns.exec(&["cat", "/proc/net/netstat"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == field).unwrap();
    values[i].parse().unwrap()
}

/// SYNs to a listener that never accepts, with backlog 0: the kernel counts
/// ListenOverflows for each one the full accept queue refuses.
fn overflow(ns: &Netns, port: u16) {
    let script = format!(
        "import socket, time\n\
         l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         l.bind(('127.0.0.1', {port})); l.listen(0)\n\
         cs = []\n\
         for _ in range(6):\n\
         \x20   c = socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1', {port})); cs.append(c)\n\
         time.sleep(1.5)\n"
    );
    let out = ns.exec(&["python3", "-c", &script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace whose audit under web-frontend fails the way the alert rules watch:
/// nginx listened (backlog=1024) under somaxconn 128, then somaxconn was raised live to
/// 8192 with no file persisting it: somaxconn below the profile's 16384 (error),
/// live-not-persisted, and a listener whose cap (128) is stale.
struct Scene {
    ns: Netns,
    nginx: Prefix,
    conf: PathBuf,
    root: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let ns = Netns::new();
        ns.set("net.core.somaxconn", "128");
        let nginx = Prefix::new();
        let conf = nginx.write_http(
            "nginx.conf",
            " server { listen 127.0.0.1:8080 backlog=1024; return 200 a; }\n",
        );
        nginx.start(&ns).expect("nginx starts");
        ns.set("net.core.somaxconn", "8192");
        // The audit reads the configuration under its --root (an empty tree: nothing
        // persists somaxconn), so a copy of it lives there.
        let root = tempfile::tempdir().unwrap();
        std::fs::copy(&conf, root.path().join("nginx.conf")).unwrap();
        assert_eq!(
            ss_listeners(&ns),
            [("127.0.0.1:8080".to_string(), 0, 128)],
            "the kernel keeps the cap listen() gave"
        );
        Scene {
            ns,
            nginx,
            conf: PathBuf::from("/nginx.conf"),
            root,
        }
    }

    fn audit(&self, format: &str) -> Run {
        let r = run(&[
            "audit",
            "--netns",
            &self.ns.name,
            "--root",
            self.root.path().to_str().unwrap(),
            "--nginx-conf",
            self.conf.to_str().unwrap(),
            "--profile",
            "web-frontend",
            "--format",
            format,
        ]);
        assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
        r
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.nginx.stop(&self.ns);
    }
}

#[test]
fn audit_metrics_pass_promtool_and_say_what_the_json_says() {
    let s = Scene::new();
    let json = s.audit("json").json();
    let text = s.audit("prometheus").stdout;
    assert_eq!(check_metrics(&text), (0, String::new()), "{text}");
    let got = samples(&text);

    let findings = json["findings"].as_array().unwrap();
    assert_eq!(
        find(&got, "tuneguard_audit_finding", &[]).len(),
        findings.len()
    );
    let netns = s.ns.name.as_str();
    for f in findings {
        let str_of = |k: &str| f[k].as_str().unwrap_or("").to_string();
        let mine = find(&got, "tuneguard_audit_finding", &[("id", &str_of("id"))]);
        assert_eq!(mine.len(), 1, "{f:#}");
        let mut want: BTreeMap<String, String> = [
            ("netns", netns.to_string()),
            ("id", str_of("id")),
            ("kind", str_of("kind")),
            ("subject", str_of("subject")),
            ("status", str_of("status")),
            ("severity", str_of("severity")),
            ("cause", str_of("cause")),
            ("profile", str_of("profile")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // No message, explanation or remedy: an empty label is no label.
        want.retain(|_, v| !v.is_empty());
        assert_eq!(mine[0].labels, want);
        assert_eq!(
            mine[0].value,
            if f["status"] == "fail" { 1.0 } else { 0.0 },
            "{f:#}"
        );
        if let Some(d) = f["drift"].as_str() {
            let drift = find(
                &got,
                "tuneguard_audit_sysctl_drift",
                &[("key", &str_of("subject")), ("drift", d)],
            );
            assert_eq!(drift.len(), 1, "{f:#}");
            assert_eq!(drift[0].value, if d == "in-sync" { 0.0 } else { 1.0 });
        }
    }
    // What the rules watch is there, as the kernel made it.
    let one = |id: &str| find(&got, "tuneguard_audit_finding", &[("id", id)])[0].clone();
    assert_eq!(
        (
            one("sysctl/net.core.somaxconn").value,
            one("sysctl/net.core.somaxconn").labels["severity"].as_str()
        ),
        (1.0, "error")
    );
    assert_eq!(
        one("nginx/live/http/127.0.0.1:8080").labels["cause"],
        "listener-stale"
    );
    assert_eq!(
        find(
            &got,
            "tuneguard_audit_sysctl_drift",
            &[("key", "net.core.somaxconn")]
        )[0]
        .labels["drift"],
        "live-not-persisted"
    );
    let overflows = find(
        &got,
        "tuneguard_tcpext_listen_overflows_total",
        &[("command", "audit")],
    );
    assert_eq!(overflows[0].value, netstat(&s.ns, "ListenOverflows") as f64);
    assert_eq!(
        find(
            &got,
            "tuneguard_audit_failing_findings",
            &[("severity", "error")]
        )[0]
        .value,
        json["summary"]["error"].as_f64().unwrap()
    );
    let build = find(&got, "tuneguard_build_info", &[("command", "audit")]);
    assert_eq!(build[0].labels["version"], env!("CARGO_PKG_VERSION"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ran = find(&got, "tuneguard_last_run_timestamp_seconds", &[])[0].value;
    assert!((now - 120.0..=now).contains(&ran), "{ran} vs {now}");
}

#[test]
fn observe_metrics_pass_promtool_and_match_the_kernel() {
    let s = Scene::new();
    let args = |format: &'static str| {
        vec![
            "observe",
            "--netns",
            &s.ns.name,
            "--interval",
            "0.3",
            "--format",
            format,
        ]
    };
    let json = run(&args("json")).json();
    let r = run(&args("prometheus"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(check_metrics(&r.stdout), (0, String::new()), "{}", r.stdout);
    let got = samples(&r.stdout);
    for sev in ["error", "warning", "info"] {
        assert_eq!(
            find(&got, "tuneguard_observe_diagnoses", &[("severity", sev)])[0].value,
            json["summary"][sev].as_f64().unwrap()
        );
    }
    for d in json["diagnoses"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        assert_eq!(
            find(&got, "tuneguard_observe_diagnosis", &[("id", id)]).len(),
            1,
            "{d:#}"
        );
    }
    let backlog = find(
        &got,
        "tuneguard_observe_listener_backlog",
        &[("local", "127.0.0.1:8080")],
    );
    assert_eq!(backlog[0].value, 128.0, "the cap ss shows");
    assert_eq!(
        find(&got, "tuneguard_observe_sockets", &[("state", "LISTEN")])[0].value,
        ss_listeners(&s.ns).len() as f64
    );
}

/// The rules of contrib/prometheus/ as they ship, and their own unit tests.
#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = Path::new(MANIFEST).join("contrib/prometheus");
    for args in [
        vec!["check", "rules", "tuneguard.rules.yml"],
        vec!["test", "rules", "tuneguard.rules.test.yml"],
    ] {
        let out = Command::new(promtool())
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `promtool test rules` on series made from two real audits, overflows between them:
/// the alerts fire for exactly what the audit found failing, and nothing else.
#[test]
fn alert_rules_fire_on_the_series_of_a_real_audit() {
    let s = Scene::new();
    let first = samples(&s.audit("prometheus").stdout);
    let before = netstat(&s.ns, "ListenOverflows");
    overflow(&s.ns, 9000);
    assert!(
        netstat(&s.ns, "ListenOverflows") > before,
        "the kernel counted overflows"
    );
    let second = samples(&s.audit("prometheus").stdout);

    // Minutes 0-29 hold the first run's values, 30-59 the second's, as node_exporter
    // serves the file between two timer runs, labelled as its scrape labels them.
    let scrape = [("instance", "web-1:9100"), ("job", "node")];
    let key = |x: &Sample| {
        let mut l = x.labels.clone();
        l.extend(scrape.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        (x.name.clone(), l)
    };
    let mut series: BTreeMap<_, (f64, f64)> = BTreeMap::new();
    for x in &first {
        series.insert(key(x), (x.value, x.value));
    }
    for x in &second {
        series.entry(key(x)).or_insert((x.value, x.value)).1 = x.value;
    }
    let rules_file = Path::new(MANIFEST).join("contrib/prometheus/tuneguard.rules.yml");
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&rules_file).unwrap()).unwrap();
    let quote = |v: &str| serde_json::to_string(v).unwrap();
    let mut yml = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
        quote(&rules_file.display().to_string())
    );
    for ((name, labels), (a, b)) in &series {
        let ls: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        let series = format!("{name}{{{}}}", ls.join(","));
        yml += &format!(
            "      - series: {}\n        values: '{a}+0x29 {b}+0x29'\n",
            quote(&series)
        );
    }
    yml += "    alert_rule_test:\n";
    // The expected alerts: the series' labels, and the rule's annotations with them.
    let expect = |alert: &str, at: &str, hits: Vec<BTreeMap<String, String>>| {
        let rule = rules["groups"][0]["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| r["alert"].as_str() == Some(alert))
            .unwrap_or_else(|| panic!("no rule {alert}"));
        let mut y =
            format!("      - eval_time: {at}\n        alertname: {alert}\n        exp_alerts:");
        y += if hits.is_empty() { " []\n" } else { "\n" };
        for l in &hits {
            y += "          - exp_labels:\n";
            for (k, v) in l {
                y += &format!("              {k}: {}\n", quote(v));
            }
            y += "            exp_annotations:\n";
            for (k, v) in rule["annotations"].as_mapping().unwrap() {
                let mut text = v.as_str().unwrap().to_string();
                for (name, value) in l {
                    text = text.replace(&format!("{{{{ $labels.{name} }}}}"), value);
                }
                assert!(!text.contains("{{"), "{text}");
                y += &format!("              {}: {}\n", k.as_str().unwrap(), quote(&text));
            }
        }
        y
    };
    let labels_of = |name: &str, want: &[(&str, &str)]| -> Vec<BTreeMap<String, String>> {
        find(&second, name, want)
            .into_iter()
            .filter(|x| x.value == 1.0)
            .map(|x| key(x).1)
            .collect()
    };
    let errors = labels_of("tuneguard_audit_finding", &[("severity", "error")]);
    let lost = labels_of(
        "tuneguard_audit_sysctl_drift",
        &[("drift", "live-not-persisted")],
    );
    let stale = labels_of("tuneguard_audit_finding", &[("cause", "listener-stale")]);
    assert!(
        !errors.is_empty() && !lost.is_empty() && !stale.is_empty(),
        "{second:#?}"
    );
    // The state alerts, after their `for:` (30 min at most).
    yml += &expect("TuneguardErrorFinding", "59m", errors);
    yml += &expect("TuneguardSysctlLostAtReboot", "59m", lost);
    yml += &expect("TuneguardListenerStale", "59m", stale);
    // Counted once for the namespace, whichever command exported the counter: while
    // the last 15 minutes hold the rise, and not after.
    let mut overflowing: BTreeMap<String, String> = key(&second[0]).1;
    overflowing.retain(|k, _| k == "instance" || k == "job");
    overflowing.insert("netns".into(), s.ns.name.clone());
    yml += &expect("TuneguardAcceptQueueOverflows", "35m", vec![overflowing]);
    yml += &expect("TuneguardAcceptQueueOverflows", "59m", vec![]);
    // The timestamps are real (about 1.8e9 s): from promtool's time 0 they are recent.
    yml += &expect("TuneguardAuditStale", "59m", vec![]);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("real.test.yml");
    std::fs::write(&file, &yml).unwrap();
    let out = Command::new(promtool())
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{yml}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// --output: the file is replaced by a rename (a new inode each run), 0644; a link
/// planted at the temp name in a directory another user owns is removed, never
/// followed; a link on the way to the directory is refused.
#[test]
fn output_is_replaced_atomically_and_follows_no_link() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("node-exporter");
    std::fs::create_dir(&textfile).unwrap();
    // Debian's textfile directory belongs to the prometheus user: here, nobody.
    std::os::unix::fs::chown(&textfile, Some(65534), Some(65534)).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "root's file\n").unwrap();
    let planted = textfile.join(".tuneguard.prom.tuneguard-tmp");
    let status = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "ln",
            "-s",
        ])
        .arg(&victim)
        .arg(&planted)
        .status()
        .unwrap();
    assert!(status.success());
    let out = textfile.join("tuneguard.prom");
    let audit = |to: &Path| {
        run(&[
            "audit",
            "--netns",
            &ns.name,
            "--no-nginx",
            "--format",
            "prometheus",
            "--output",
            to.to_str().unwrap(),
        ])
    };
    let r = audit(&out);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert_eq!(r.stdout, "", "the report goes to the file, not stdout");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file\n");
    assert!(
        std::fs::symlink_metadata(&planted).is_err(),
        "the planted link is gone"
    );
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(check_metrics(&text), (0, String::new()));
    let r = audit(&out);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert_ne!(
        std::fs::metadata(&out).unwrap().ino(),
        meta.ino(),
        "renamed over, not rewritten"
    );

    // A directory on the way that is a link: refused, nothing written through it.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&textfile, &link).unwrap();
    let r = audit(&link.join("other.prom"));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("is a symbolic link"), "{}", r.stderr);
    assert!(!textfile.join("other.prom").exists());
    let left: Vec<_> = std::fs::read_dir(&textfile)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["tuneguard.prom"]);
}

/// The service's own command line, its own capability bounding set: the unit file
/// parsed, the binary and the textfile directory swapped for the test's.
struct Unit {
    argv: Vec<String>,
    caps: Vec<String>,
}

fn unit() -> Unit {
    let text = std::fs::read_to_string(
        Path::new(MANIFEST).join("contrib/systemd/tuneguard-audit.service"),
    )
    .unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in the unit"))
            .to_string()
    };
    Unit {
        argv: value("ExecStart")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        caps: value("CapabilityBoundingSet")
            .split_whitespace()
            .map(|c| c.trim_start_matches("CAP_").to_lowercase())
            .collect(),
    }
}

/// Runs the unit's command in the namespace with the given bounding set (None: all of
/// root's), and no new privileges, as systemd would start it; output to `file`.
fn run_unit(ns: &Netns, caps: Option<&[String]>, format: &str, file: Option<&Path>) -> Run {
    let u = unit();
    let mut args: Vec<String> = vec!["netns".into(), "exec".into(), ns.name.clone()];
    if let Some(caps) = caps {
        let set: String = std::iter::once("-all".to_string())
            .chain(caps.iter().map(|c| format!("+{c}")))
            .collect::<Vec<_>>()
            .join(",");
        args.extend([
            "setpriv".into(),
            format!("--bounding-set={set}"),
            "--inh-caps=-all".into(),
            "--no-new-privs".into(),
            "--".into(),
        ]);
    }
    assert_eq!(u.argv[0], "/usr/local/bin/tuneguard");
    args.push(bin().into());
    let mut rest = u.argv[1..].to_vec();
    let i = rest.iter().position(|a| a == "--format").unwrap();
    rest[i + 1] = format.into();
    let o = rest.iter().position(|a| a == "--output").unwrap();
    assert_eq!(
        rest[o + 1],
        "/var/lib/prometheus/node-exporter/tuneguard.prom"
    );
    match file {
        Some(f) => rest[o + 1] = f.display().to_string(),
        None => {
            rest.drain(o..o + 2);
        }
    }
    args.extend(rest);
    let out = Command::new("ip").args(&args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The capabilities the unit keeps are the ones the audit needs: with them its findings
/// are those of a full root (nginx found through its master, each listener's owners,
/// the worker running as another user among them); without either, they are not.
#[test]
fn the_units_capabilities_give_the_findings_of_full_root() {
    let s = Scene::new();
    let u = unit();
    assert_eq!(u.caps, ["sys_ptrace", "dac_read_search"]);
    let findings = |caps: Option<&[String]>| {
        let r = run_unit(&s.ns, caps, "json", None);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        r.json()["findings"].clone()
    };
    let full = findings(None);
    let nginx_live = full
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "nginx/live/http/127.0.0.1:8080")
        .unwrap_or_else(|| panic!("nginx found by its master: {full:#}"));
    assert_eq!(
        nginx_live["live"]["owners"].as_array().unwrap().len(),
        2,
        "master and worker"
    );
    assert_eq!(findings(Some(&u.caps)), full);
    for dropped in &u.caps {
        let fewer: Vec<String> = u.caps.iter().filter(|c| *c != dropped).cloned().collect();
        assert_ne!(findings(Some(&fewer)), full, "without {dropped}");
    }
}

/// The real node_exporter, in the namespace, serves what the unit's command (and an
/// observe beside it) wrote into its textfile directory.
#[test]
fn node_exporter_serves_what_the_timer_writes() {
    let s = Scene::new();
    let u = unit();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tuneguard.prom");
    let r = run_unit(&s.ns, Some(&u.caps), "prometheus", Some(&file));
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    let mut written = samples(&std::fs::read_to_string(&file).unwrap());
    // observe's file beside it: the families both export (build info, the counters)
    // must not clash in node_exporter.
    let observed = dir.path().join("tuneguard-observe.prom");
    let r = run(&[
        "observe",
        "--netns",
        &s.ns.name,
        "--once",
        "--format",
        "prometheus",
        "--output",
        observed.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    written.extend(samples(&std::fs::read_to_string(&observed).unwrap()));

    let mut exporter = Command::new("ip")
        .args(["netns", "exec", &s.ns.name])
        .arg(node_exporter())
        .args([
            "--web.listen-address=127.0.0.1:9100",
            "--collector.disable-defaults",
            "--collector.textfile",
        ])
        .arg(format!(
            "--collector.textfile.directory={}",
            dir.path().display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut scraped = String::new();
    for _ in 0..100 {
        let out = s.ns.exec(&["curl", "-sf", "http://127.0.0.1:9100/metrics"]);
        if out.status.success() {
            scraped = String::from_utf8_lossy(&out.stdout).into_owned();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert!(!scraped.is_empty(), "node_exporter answered");
    let got = samples(&scraped);
    assert_eq!(
        find(&got, "node_textfile_scrape_error", &[])[0].value,
        0.0,
        "{scraped}"
    );
    let ours: Vec<&Sample> = written.iter().collect();
    assert!(ours.len() > 10);
    assert_eq!(
        find(&got, "tuneguard_build_info", &[]).len(),
        2,
        "audit's and observe's"
    );
    for x in ours {
        let want: Vec<(&str, &str)> = x
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let served = find(&got, &x.name, &want);
        assert_eq!(served.len(), 1, "{x:?} in\n{scraped}");
        assert_eq!(served[0].value, x.value, "{x:?}");
    }
}

/// `systemd-analyze verify` on the units in a root holding the binary where ExecStart
/// names it (it checks that), and `systemd-analyze security`'s exposure score.
#[test]
fn the_units_verify_and_stay_hardened() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let units = r.join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    std::fs::copy(bin(), r.join("usr/local/bin/tuneguard")).unwrap();
    // The targets the units name (network.target, timers.target, sysinit.target).
    let status = Command::new("cp")
        .args(["-r", "/usr/lib/systemd/system"])
        .arg(r.join("usr/lib/systemd/"))
        .status()
        .unwrap();
    assert!(status.success());
    let contrib = Path::new(MANIFEST).join("contrib/systemd");
    for u in ["tuneguard-audit.service", "tuneguard-audit.timer"] {
        std::fs::copy(contrib.join(u), units.join(u)).unwrap();
    }
    let verify = || {
        Command::new("systemd-analyze")
            .arg(format!("--root={}", r.display()))
            .arg("verify")
            .arg(units.join("tuneguard-audit.service"))
            .arg(units.join("tuneguard-audit.timer"))
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "no warning either"
    );
    // The oracle checks what it says it checks: without the binary, verify fails.
    std::fs::remove_file(r.join("usr/local/bin/tuneguard")).unwrap();
    let out = verify();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/usr/local/bin/tuneguard"));

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(contrib.join("tuneguard-audit.service"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for tuneguard-audit.service: ")
                .nth(1)
        })
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in\n{text}"));
    // Measured 2.1 ("OK"): root with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH in the
    // host's network namespace is the floor of what an audit of that host needs.
    assert!(score <= 2.5, "exposure {score}:\n{text}");
}

/// A file name is the one label value another user may choose (a persisted file's
/// problem is labelled with its `file:line`): quotes, backslashes, a newline and a
/// terminal escape in it stay one escaped label value that promtool parses.
#[test]
fn a_hostile_file_name_stays_one_escaped_label() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&dir).unwrap();
    let name = "99-a\"b\\c\n# HELP x\x1b]0;t\x07.conf";
    std::fs::write(dir.join(name), "not a sysctl line\n").unwrap();
    let r = run(&[
        "audit",
        "--root",
        root.path().to_str().unwrap(),
        "--proc",
        "none",
        "--no-nginx",
        "--format",
        "prometheus",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.bytes().any(|b| b == 0x1b || b == 0x07),
        "no raw control byte"
    );
    assert_eq!(check_metrics(&r.stdout), (0, String::new()), "{}", r.stdout);
    let got = samples(&r.stdout);
    let persisted = find(&got, "tuneguard_audit_finding", &[("kind", "persisted")]);
    assert_eq!(persisted.len(), 1, "{}", r.stdout);
    // The value as every tuneguard report shows it: control characters as \xNN.
    assert_eq!(
        persisted[0].labels["subject"],
        "/etc/sysctl.d/99-a\"b\\c\\x0a# HELP x\\x1b]0;t\\x07.conf:1"
    );
    assert_eq!(persisted[0].value, 1.0);
}

/// `audit --all-netns --format prometheus`: one exposition that promtool accepts, each
/// namespace's findings under its own `netns` label, each equal to what the fleet's JSON
/// says of that namespace (others' namespaces come and go meanwhile: only ours are
/// asserted).
#[test]
fn all_netns_metrics_label_each_namespace_with_its_findings() {
    let low = Netns::new();
    low.set("net.core.somaxconn", "128");
    let high = Netns::new();
    high.set("net.core.somaxconn", "8192");
    let args = ["audit", "--all-netns", "--no-nginx", "--format"];
    let text = run(&[&args[..], &["prometheus"]].concat());
    assert!(text.code <= 1, "{}", text.stderr);
    assert_eq!(
        check_metrics(&text.stdout),
        (0, String::new()),
        "{}",
        text.stdout
    );
    let got = samples(&text.stdout);
    let fleet = run(&[&args[..], &["json"]].concat()).json();
    for ns in [&low, &high] {
        let report = &fleet["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["ip_netns"] == serde_json::json!([ns.name]))
            .unwrap()["report"];
        let findings = report["findings"].as_array().unwrap();
        let mine = find(&got, "tuneguard_audit_finding", &[("netns", &ns.name)]);
        assert_eq!(mine.len(), findings.len(), "{}", ns.name);
        for f in findings {
            let s = find(
                &got,
                "tuneguard_audit_finding",
                &[("netns", &ns.name), ("id", f["id"].as_str().unwrap())],
            );
            assert_eq!(s.len(), 1, "{f:#}");
            assert_eq!(s[0].value, if f["status"] == "fail" { 1.0 } else { 0.0 });
        }
    }
    let somaxconn = |ns: &Netns| {
        find(
            &got,
            "tuneguard_audit_finding",
            &[("netns", &ns.name), ("subject", "net.core.somaxconn")],
        )[0]
        .value
    };
    assert_eq!(somaxconn(&low), 1.0);
    assert_eq!(somaxconn(&high), 0.0);
}

/// `observe --all-netns --format prometheus`: one exposition that promtool accepts,
/// each namespace's series under its own `netns` label and read in that namespace: the
/// listener made in one (its backlog as `ss` shows it) appears there alone, and each
/// namespace's Tcp:ActiveOpens is the kernel's count inside it (cat /proc/net/snmp).
#[test]
fn observe_all_netns_metrics_label_each_namespace_with_its_own_readings() {
    use common::incident::{ss, Misbehaving};
    let busy = Netns::new();
    let quiet = Netns::new();
    let _server = Misbehaving::start(
        &busy,
        &["listen", "--addr", "127.0.0.1:4000", "--backlog", "8"],
    );
    let _clients = Misbehaving::start(&busy, &["burst", "--to", "127.0.0.1:4000", "--count", "3"]);
    assert!(common::incident::wait_for(10, || active_opens(&busy) >= 3));
    let text = run(&[
        "observe",
        "--all-netns",
        "--interval",
        "0.5",
        "--format",
        "prometheus",
    ]);
    assert!(text.code <= 1, "{}", text.stderr);
    assert_eq!(
        check_metrics(&text.stdout),
        (0, String::new()),
        "{}",
        text.stdout
    );
    let got = samples(&text.stdout);
    let line = ss(&busy, &["-ltn", "sport = :4000"]);
    let backlog: f64 = line[0].split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(backlog, 8.0, "ss: {line:?}");
    let listener = |ns: &Netns| {
        find(
            &got,
            "tuneguard_observe_listener_backlog",
            &[("netns", &ns.name), ("local", "127.0.0.1:4000")],
        )
    };
    assert_eq!(listener(&busy).len(), 1, "{}", text.stdout);
    assert_eq!(listener(&busy)[0].value, backlog);
    assert!(listener(&quiet).is_empty());
    for ns in [&busy, &quiet] {
        let opens = find(
            &got,
            "tuneguard_tcp_active_opens_total",
            &[("netns", &ns.name), ("command", "observe")],
        );
        assert_eq!(opens.len(), 1, "{}", ns.name);
        assert_eq!(opens[0].value, active_opens(ns) as f64, "{}", ns.name);
        let errors = find(
            &got,
            "tuneguard_observe_diagnoses",
            &[("netns", &ns.name), ("severity", "error")],
        );
        assert_eq!(errors.len(), 1);
    }
    assert_eq!(active_opens(&quiet), 0);
    assert!(active_opens(&busy) >= 3);
}

/// Tcp:ActiveOpens of /proc/net/snmp read inside `ns` by cat(1).
fn active_opens(ns: &Netns) -> i64 {
    let out = ns.exec(&["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Tcp:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == "ActiveOpens").unwrap();
    values[i].parse().unwrap()
}
