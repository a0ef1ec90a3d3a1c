//! All or nothing, proven by breaking it: a fault injected at every step boundary of a
//! real apply, and `kill -9` at every boundary followed by `recover`. Each time the host
//! (live values read with sysctl(8) in the namespace, every byte and mode under the
//! root) must end exactly as before. Needs the test-only hooks of src/txn/fault.rs.
#![cfg(feature = "fault-injection")]

mod common;

use common::apply::Host;
use common::bin;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The boundaries a successful apply passes, in order (then rolled back).
fn boundaries(h: &Host) -> Vec<String> {
    let trace = h.dirs.state.path().join("trace");
    let out = apply_cmd(h, &[("TUNEGUARD_FAULT_TRACE", trace.to_str().unwrap())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    std::fs::remove_file(&trace).unwrap();
    assert_eq!(h.tool("rollback", &["--yes", "--last"]).code, 0);
    names
}

fn apply_cmd(h: &Host, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin());
    c.args(h.apply_args())
        .arg("--yes")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

#[test]
fn a_fault_at_every_step_boundary_leaves_the_host_as_it_was() {
    let h = Host::new();
    let before = h.capture();
    let names = boundaries(&h);
    assert_eq!(h.capture(), before);
    // journal, four live keys, two files, the final verify.
    for want in [
        "journal",
        "live:net.core.somaxconn",
        "file:/etc/sysctl.d/60-site.conf",
        "file:/etc/sysctl.d/90-tuneguard.conf",
        "verify",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "no boundary {want} in {names:?}"
        );
    }
    let mut survived = 0;
    for name in &names {
        let out = apply_cmd(&h, &[("TUNEGUARD_FAULT", name)])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "fault at {name}: {err}");
        assert!(err.contains(&format!("injected fault at {name}")), "{err}");
        assert!(
            err.contains("everything it had changed was restored"),
            "{err}"
        );
        assert_eq!(h.capture(), before, "fault at {name} left the host changed");
        survived += 1;
    }
    let hist = h.history();
    let failed = hist.iter().filter(|t| t["state"] == "failed").count();
    assert_eq!(failed, survived);
    eprintln!("faults injected and survived: {survived} ({names:?})");
}

/// Starts an apply that pauses at `name`; returns it once paused.
fn paused(h: &Host, name: &str, marker: &Path) -> std::process::Child {
    let child = apply_cmd(
        h,
        &[
            ("TUNEGUARD_PAUSE", name),
            ("TUNEGUARD_PAUSE_FILE", marker.to_str().unwrap()),
        ],
    )
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "apply never reached {name}");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

#[test]
fn kill_9_at_every_boundary_then_recover_restores_everything() {
    let h = Host::new();
    let before = h.capture();
    let names = boundaries(&h);
    let marker = h.dirs.state.path().join("paused");
    let mut killed = 0;
    for name in &names {
        let mut child = paused(&h, name, &marker);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        std::fs::remove_file(&marker).unwrap();

        // An interrupted journal stands: every other apply refuses, changing nothing.
        let during = h.capture();
        let refused = apply_cmd(&h, &[]).output().unwrap();
        let err = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "after kill at {name}: {err}"
        );
        assert!(
            err.contains("was interrupted") && err.contains("tuneguard recover"),
            "{err}"
        );
        assert_eq!(h.capture(), during, "a refused apply changed something");
        assert!(h.history().iter().any(|t| t["state"] == "interrupted"));

        let rec = h.tool("recover", &["--yes"]);
        assert_eq!(rec.code, 0, "recover after kill at {name}: {}", rec.stderr);
        assert!(rec.stdout.contains("recovered"), "{}", rec.stdout);
        assert_eq!(
            h.capture(),
            before,
            "kill at {name}, then recover, left the host changed"
        );
        killed += 1;
    }
    assert_eq!(
        h.tool("recover", &["--yes"]).stdout.trim_end(),
        format!(
            "nothing to recover: no interrupted transaction in {}",
            h.state()
        )
    );
    eprintln!("kill -9 survived: {killed} ({names:?})");
}

#[test]
fn a_second_apply_while_one_runs_exits_2_naming_the_holder() {
    let h = Host::new();
    let marker = h.dirs.state.path().join("paused");
    let first = paused(&h, "live:net.core.somaxconn", &marker);
    let pid = first.id();
    let second = apply_cmd(&h, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("tuneguard pid {pid} is changing this host")),
        "{err}"
    );
    // The first goes on and commits.
    std::fs::remove_file(&marker).unwrap();
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(h.ns.get("net.core.somaxconn"), "4096");
    assert_eq!(h.history().len(), 1);
}
