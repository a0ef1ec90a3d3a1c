//! Issue 13, "root executes a user's binary": a process that poses as the nginx master
//! (comm `nginx`, title `nginx: master process ...` through `exec -a`) is started for
//! real in a test namespace, as nobody or as root with a binary others may replace; its
//! binary is examples/impostor, which leaves `executed-by-uid-N` beside itself whenever
//! anything runs it. tuneguard audit, apply and the Ansible module must never run it,
//! must not believe a non-root process's title, and must say why (safety::exec).

mod common;

use common::impostor::Impostor;
use common::nginx::{binary as real_nginx, Prefix};
use common::{run_with, write_profile, Netns};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NOBODY: u32 = 65534;
const ADDR: &str = "127.0.0.1:8080";

/// The impostor can run at all: run directly, it leaves its marker (so an absent marker
/// means it was not run).
fn assert_marker_works(imp: &Impostor) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(imp.bin())
        .arg("-V")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(imp.executed(), ["executed-by-uid-65534"]);
    std::fs::remove_file(imp.dir.path().join("executed-by-uid-65534")).unwrap();
}

fn audit_json(ns: &Netns, env: &[(&str, &str)]) -> Value {
    let r = run_with(&["audit", "--netns", &ns.name, "--format", "json"], env);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    r.json()
}

/// The pid of nginx's master once it has daemonized and set its title (until then the
/// sockets are held by a process whose title does not say `master process` yet).
fn master_ready(p: &Prefix) -> u32 {
    for _ in 0..500 {
        let pid = std::fs::read_to_string(p.path().join("nginx.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            let title = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&title).contains("master process") {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nginx in {} did not become a master", p.path().display());
}

/// What the report or plan says of a root master whose binary is in a 0777 directory.
/// `apply --dry-run --only nginx` in the namespace, with a profile wanting backlog 1024.
fn nginx_dry_run(ns: &Netns) -> common::Run {
    let tmp = tempfile::tempdir().unwrap();
    let prof = write_profile(
        tmp.path(),
        "nginx-1024",
        "nginx:\n  listen_backlog: {min: 1024}\n",
    );
    let state = tmp.path().join("state");
    run_with(
        &[
            "apply",
            "--dry-run",
            "--netns",
            &ns.name,
            "--state-dir",
            state.to_str().unwrap(),
            "--profile",
            &prof,
            "--only",
            "nginx",
        ],
        &[],
    )
}

fn refused(imp: &Impostor) -> String {
    let dir = std::fs::canonicalize(imp.dir.path()).unwrap();
    format!(
        "the binary of nginx master pid {} was not run: {} is writable by group and others (mode 0777) (fix: chmod go-w {})",
        imp.pid,
        dir.display(),
        dir.display()
    )
}

/// A conf the impostor's title points at: if tuneguard believed the title, it would read
/// this file (and find a backlog to raise).
fn bait(dir: &Path) -> PathBuf {
    let conf = dir.join("bait.conf");
    std::fs::write(
        &conf,
        format!("events {{}}\nhttp {{ server {{ listen {ADDR} backlog=16; }} }}\n"),
    )
    .unwrap();
    conf
}

#[test]
fn a_nobody_nginx_master_is_neither_run_nor_believed() {
    let ns = Netns::new();
    let tmp = tempfile::tempdir().unwrap();
    let conf = bait(tmp.path());
    let imp = Impostor::start(
        &ns,
        NOBODY,
        0o755,
        NOBODY,
        &format!("nginx: master process {{bin}} -c {}", conf.display()),
        ADDR,
    );
    assert_marker_works(&imp);
    // Non-dumpable: its /proc files show as root's, though it runs as nobody.
    let meta = std::fs::metadata(format!("/proc/{}/cmdline", imp.pid)).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0);
    // Its directory first in PATH, too: nginx there is nobody's.
    let path = format!(
        "{}:{}",
        imp.dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let env = [("PATH", path.as_str())];
    let r = audit_json(&ns, &env);
    let reason = r["nginx"]["reason"].as_str().unwrap_or_default();
    assert_eq!(r["nginx"]["checked"], false, "{:#}", r["nginx"]);
    assert!(
        reason.contains(&format!(
            "nginx master pid {} was ignored: it runs as uid 65534, not root, so its command line and binary are not trusted",
            imp.pid
        )),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "nginx in PATH at {} is owned by uid 65534, not root (fix: chown root: {}): skipped, it is not run",
            imp.bin().display(),
            imp.bin().display()
        )),
        "{reason}"
    );
    // The text report says it too (the nginx rules are skipped with the reason).
    let text = run_with(
        &["audit", "--netns", &ns.name, "--profile", "web-frontend"],
        &env,
    );
    assert!(text.code == 0 || text.code == 1, "{}", text.stderr);
    assert!(
        text.stdout.contains("was ignored: it runs as uid 65534"),
        "{}",
        text.stdout
    );

    let state = tmp.path().join("state");
    let r = run_with(
        &[
            "apply",
            "--dry-run",
            "--netns",
            &ns.name,
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("bait.conf"), "{}", r.stdout);

    // The Ansible module, audit and check-mode apply.
    for (mode, check) in [("audit", false), ("apply", true)] {
        let args = tmp.path().join(format!("args-{mode}.json"));
        let task = serde_json::json!({
            "mode": mode, "netns": ns.name, "state_dir": state,
            "_ansible_check_mode": check,
        });
        std::fs::write(&args, task.to_string()).unwrap();
        let m = run_with(&[args.to_str().unwrap()], &env);
        let v: Value =
            serde_json::from_str(&m.stdout).unwrap_or_else(|e| panic!("{e}: {}", m.stdout));
        assert_ne!(v["failed"], true, "{v:#}");
    }

    // An apply naming it with --nginx-bin is refused before anything is read or run.
    let r = run_with(
        &[
            "apply",
            "--dry-run",
            "--netns",
            &ns.name,
            "--nginx-conf",
            conf.to_str().unwrap(),
            "--nginx-bin",
            imp.bin().to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "--nginx-bin {}: refused, tuneguard runs it as root and {} is owned by uid 65534, not root (fix: chown root: {})",
            imp.bin().display(),
            imp.bin().display(),
            imp.bin().display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(imp.executed(), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        std::fs::read_to_string(bait(tmp.path())).unwrap()
    );
}

#[test]
fn a_root_owned_binary_run_by_nobody_is_still_not_believed() {
    // Only the uid rule stands between the title and tuneguard here: the binary itself
    // is root's, in a root directory, and would pass the file checks.
    let ns = Netns::new();
    let tmp = tempfile::tempdir().unwrap();
    let conf = bait(tmp.path());
    let imp = Impostor::start(
        &ns,
        0,
        0o755,
        NOBODY,
        &format!("nginx: master process {{bin}} -c {}", conf.display()),
        ADDR,
    );
    let r = audit_json(&ns, &[]);
    assert_eq!(r["nginx"]["checked"], false, "{:#}", r["nginx"]);
    let reason = r["nginx"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "nginx master pid {} was ignored: it runs as uid 65534",
            imp.pid
        )),
        "{reason}"
    );
    assert!(!reason.contains("bait.conf"), "{reason}");
    assert_eq!(imp.executed(), Vec::<String>::new());
}

#[test]
fn a_root_master_whose_binary_others_may_replace_is_not_run() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "4096");
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        &format!(" server {{ listen {ADDR} backlog=128; return 200 a; }}\n"),
    );
    let before = std::fs::read_to_string(&conf).unwrap();
    // Root's binary and root's process, but in a directory anyone may write.
    let imp = Impostor::start(
        &ns,
        0,
        0o777,
        0,
        &format!(
            "nginx: master process {{bin}} -p {} -c {} -e stderr",
            p.path().display(),
            conf.display()
        ),
        ADDR,
    );
    // A root master's title is believed; its -c is absolute, so no -V is needed.
    let r = audit_json(&ns, &[]);
    assert_eq!(
        r["nginx"]["conf"],
        conf.display().to_string(),
        "{:#}",
        r["nginx"]
    );
    assert_eq!(
        r["nginx"]["found_by"],
        format!("the running nginx master (pid {}) uses it", imp.pid)
    );

    // Without -c, `-V` would be asked of the master's binary: refused, and said.
    drop(imp);
    let bare = Impostor::start(&ns, 0, 0o777, 0, "nginx: master process {bin}", ADDR);
    let r = audit_json(&ns, &[("PATH", "/usr/bin:/bin")]);
    let reason = r["nginx"]["reason"].as_str().unwrap();
    assert!(reason.contains(&refused(&bare)), "{reason}");
    assert_eq!(bare.executed(), Vec::<String>::new());
    drop(bare);

    let imp = Impostor::start(
        &ns,
        0,
        0o777,
        0,
        &format!(
            "nginx: master process {{bin}} -p {} -c {} -e stderr",
            p.path().display(),
            conf.display()
        ),
        ADDR,
    );
    let tmp = tempfile::tempdir().unwrap();
    let prof = write_profile(
        tmp.path(),
        "nginx-1024",
        "nginx:\n  listen_backlog: {min: 1024}\n",
    );
    let state = tmp.path().join("state");
    let apply = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "apply",
            "--netns",
            &ns.name,
            "--state-dir",
            state.to_str().unwrap(),
            "--profile",
            &prof,
            "--only",
            "nginx",
        ];
        args.extend_from_slice(extra);
        run_with(&args, env)
    };

    // No other nginx may be run (none in this PATH): refused, naming the fix.
    let r = apply(&["--dry-run"], &[("PATH", "/usr/bin:/bin")]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("no nginx binary that may be run as root"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("give --nginx-bin FILE"), "{}", r.stderr);
    assert!(r.stderr.contains(&refused(&imp)), "{}", r.stderr);

    // --nginx-bin naming the master's own binary: refused the same way.
    let r = apply(
        &["--dry-run", "--nginx-bin", imp.bin().to_str().unwrap()],
        &[],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("(fix: chmod go-w"), "{}", r.stderr);

    // With a trusted --nginx-bin: the plan says what is used instead and why, and that
    // it is not the file the master runs; then `nginx -t` runs with it.
    let good = real_nginx();
    let good_s = good.to_str().unwrap();
    let r = apply(&["--dry-run", "--nginx-bin", good_s], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let real = std::fs::canonicalize(&good).unwrap();
    for note in [
        refused(&imp),
        format!(
            "nginx will be tested and started with {} instead",
            real.display()
        ),
        format!(
            "{} is not the file nginx master pid {} runs",
            real.display(),
            imp.pid
        ),
    ] {
        assert!(
            r.stdout.contains(&note),
            "missing {note:?} in:\n{}",
            r.stdout
        );
    }
    let r = apply(&["--yes", "--nginx-bin", good_s], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied: transaction"), "{}", r.stdout);
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        before.replace("backlog=128", "backlog=1024")
    );
    assert_eq!(imp.executed(), Vec::<String>::new());
}

#[test]
fn roots_own_nginx_is_found_and_used_as_before_and_an_impostor_beside_it_is_named() {
    let ns = Netns::new();
    let p = Prefix::new();
    p.write_http(
        "nginx.conf",
        " server { listen 127.0.0.1:8081; return 200 a; }\n",
    );
    p.start(&ns).expect("nginx starts");
    let pid = master_ready(&p);
    let r = audit_json(&ns, &[]);
    assert_eq!(r["nginx"]["conf"], p.conf().display().to_string());
    assert_eq!(
        r["nginx"]["found_by"],
        format!("the running nginx master (pid {pid}) uses it")
    );
    let ids: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"nginx/discovery"), "{ids:?}");

    // A nobody "master" beside it: the real one is still used, the other one named.
    let imp = Impostor::start(
        &ns,
        NOBODY,
        0o755,
        NOBODY,
        "nginx: master process {bin}",
        ADDR,
    );
    let r = audit_json(&ns, &[]);
    assert_eq!(r["nginx"]["conf"], p.conf().display().to_string());
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "nginx/discovery")
        .unwrap_or_else(|| panic!("no nginx/discovery finding: {r:#}"));
    assert_eq!(f["status"], "fail");
    assert_eq!(f["severity"], "warning");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "nginx master pid {} was ignored: it runs as uid 65534",
            imp.pid
        )),
        "{msg}"
    );

    // apply plans with the real master and says what it passed over.
    let r = nginx_dry_run(&ns);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("nginx master pid {} was ignored", imp.pid)),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("is not the file"), "{}", r.stdout);
    assert_eq!(imp.executed(), Vec::<String>::new());
    p.stop(&ns);
}

#[test]
fn a_master_whose_binary_was_replaced_is_tested_with_the_new_file_and_the_plan_says_so() {
    // As after a package upgrade: the master runs a file that is no longer at its path
    // (/proc/PID/exe reads "PATH (deleted)"); the path now holds another file.
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "4096");
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        &format!(" server {{ listen {ADDR} backlog=128; return 200 a; }}\n"),
    );
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("nginx");
    std::fs::copy(real_nginx(), &bin).unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&bin)
        .arg("-p")
        .arg(p.path())
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = master_ready(&p);
    let next = bin_dir.path().join("nginx.new");
    std::fs::copy(real_nginx(), &next).unwrap();
    std::fs::rename(&next, &bin).unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.to_string_lossy().ends_with(" (deleted)"), "{exe:?}");

    let r = nginx_dry_run(&ns);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let real = std::fs::canonicalize(&bin).unwrap();
    let note = format!(
        "{} is not the file nginx master pid {pid} runs",
        real.display()
    );
    assert!(
        r.stdout.contains(&note),
        "missing {note:?} in:\n{}",
        r.stdout
    );
    assert!(!r.stdout.contains("was not run"), "{}", r.stdout);
    p.stop(&ns);
}
