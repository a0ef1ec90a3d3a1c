//! apply end to end: the real binary against a real kernel in a throwaway namespace, with
//! the persisted files under a temp --root and journals under a temp --state-dir. The
//! kernel (sysctl(8) in the namespace) and the bytes on disk are the oracles.

mod common;

use common::apply::{apply_in, Host, SITE};
use common::{run, Dirs, Netns};
use std::os::unix::fs::PermissionsExt;

fn read(h: &Host, rel: &str) -> String {
    std::fs::read_to_string(h.dirs.root.path().join(rel)).unwrap()
}

#[test]
fn apply_changes_only_what_it_must_and_rollback_restores_every_byte_and_value() {
    let h = Host::new();
    let before = h.capture();

    let r = h.apply(&["--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(h.ns.get("net.core.somaxconn"), "4096");
    assert_eq!(h.ns.get("net.ipv4.tcp_syncookies"), "1");
    assert_eq!(h.ns.get("net.ipv4.tcp_keepalive_time"), "7200");
    assert_eq!(
        h.ns.get("net.ipv4.tcp_ecn"),
        before.live["net.ipv4.tcp_ecn"]
    );
    // Only the two values changed: comment, blank line, other key, `-` prefix, CRLF kept.
    assert_eq!(
        read(&h, "etc/sysctl.d/60-site.conf"),
        SITE.replace("somaxconn = 128", "somaxconn = 4096")
            .replace("syncookies=0", "syncookies=1")
    );
    let mode = std::fs::metadata(h.dirs.root.path().join("etc/sysctl.d/60-site.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640, "the file keeps its mode");
    // The glob in /usr/lib gives intvl 7200 at boot; an exact line in a drop-in beats it.
    let dropin = read(&h, "etc/sysctl.d/90-tuneguard.conf");
    assert!(
        dropin.contains("net.ipv4.tcp_keepalive_intvl = 75\n"),
        "{dropin}"
    );
    assert!(
        !dropin.contains("tcp_keepalive_time"),
        "the glob's 7200 already holds: {dropin}"
    );
    // The audit agrees: nothing left to fix, live or after a reboot.
    let audit = run(&[
        "audit",
        "--netns",
        &h.ns.name,
        "--root",
        h.root(),
        "--no-nginx",
        "--format",
        "json",
    ]);
    let report = audit.json();
    for f in report["findings"].as_array().unwrap() {
        assert_ne!(f["status"], "fail", "{f:#}");
        let touched = [
            "net.core.somaxconn",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_keepalive_intvl",
        ];
        if f["kind"] == "sysctl" && touched.contains(&f["subject"].as_str().unwrap()) {
            // Shadowed: the /usr/lib glob still says 7200 for intvl, and loses.
            assert!(f["drift"] == "in-sync" || f["drift"] == "shadowed", "{f:#}");
        }
    }

    // Idempotent: a second apply changes nothing and writes no journal.
    let again = h.apply(&["--yes"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    let hist = h.history();
    assert_eq!(hist.len(), 1, "{hist:#?}");
    assert_eq!(hist[0]["state"], "committed");

    let rb = h.tool("rollback", &["--yes", "--last"]);
    assert_eq!(rb.code, 0, "{}\n{}", rb.stdout, rb.stderr);
    assert_eq!(
        h.capture(),
        before,
        "rollback restores every value and byte"
    );
    let hist = h.history();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0]["rolled_back_by"], hist[1]["id"]);
    assert_eq!(hist[1]["kind"], "rollback");
    // Nothing left to roll back.
    assert_eq!(h.tool("rollback", &["--yes", "--last"]).code, 2);
}

#[test]
fn dry_run_shows_diffs_and_writes_nothing_not_even_the_state_dir() {
    let h = Host::new();
    let before = h.capture();
    let state = h.dirs.state.path().join("never-made");
    let r = run(&[
        "apply",
        "--netns",
        &h.ns.name,
        "--root",
        h.root(),
        "--state-dir",
        state.to_str().unwrap(),
        "--no-nginx",
        "--dry-run",
        "--color",
        "never",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("net.core.somaxconn          128 → 4096")
            || r.stdout.contains("128 → 4096"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("--- /etc/sysctl.d/60-site.conf\n+++ /etc/sysctl.d/60-site.conf\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("-net.core.somaxconn = 128\r\n+net.core.somaxconn = 4096\r\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("--- /dev/null\n+++ /etc/sysctl.d/90-tuneguard.conf\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("dry run: nothing was changed"));
    assert_eq!(h.capture(), before);
    assert!(
        !state.exists(),
        "a dry run does not even make the state dir"
    );

    let j = run(&[
        "apply",
        "--netns",
        &h.ns.name,
        "--root",
        h.root(),
        "--state-dir",
        state.to_str().unwrap(),
        "--no-nginx",
        "--dry-run",
        "--format",
        "json",
    ]);
    let v = j.json();
    assert_eq!(v["schema"], "tuneguard.apply/v1");
    assert_eq!(v["changed"], false);
    let live = v["plan"]["live"].as_array().unwrap();
    assert!(
        live.iter().any(|c| c["key"] == "net.core.somaxconn"
            && c["before"] == "128"
            && c["after"] == "4096"),
        "{v:#}"
    );
    assert_eq!(h.capture(), before);
}

#[test]
fn a_value_the_kernel_refuses_rolls_back_every_step_already_done() {
    let h = Host::new();
    // tcp_ecn is 0..2 in the kernel and not in tuneguard's catalog: only the kernel can
    // say no, with EINVAL, after somaxconn and the file steps' predecessors ran.
    let profile = h.dirs.write(
        "profiles/einval.yaml",
        "name: einval\nsysctl:\n  net.core.somaxconn:\n    min: 1024\n  net.ipv4.tcp_ecn:\n    equals: 5\n  net.ipv4.tcp_syncookies:\n    equals: 1\n",
    );
    let before = h.capture();
    let r = h.apply(&["--yes", "--profile", profile.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("the kernel refused net.ipv4.tcp_ecn = 5 (EINVAL"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("everything it had changed was restored"),
        "{}",
        r.stderr
    );
    assert_eq!(h.capture(), before);
    let hist = h.history();
    assert_eq!(hist[0]["state"], "failed");
    // A failed, restored transaction does not block the next one.
    let ok = h.apply(&["--yes"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn without_a_terminal_apply_needs_yes() {
    let h = Host::new();
    let before = h.capture();
    let r = h.apply(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    assert_eq!(h.capture(), before);
    assert!(h.history().is_empty());
}

#[test]
fn rollback_refuses_when_a_value_changed_since_unless_forced() {
    let h = Host::new();
    let before = h.capture();
    assert_eq!(h.apply(&["--yes"]).code, 0);
    h.ns.set("net.core.somaxconn", "2048");
    let r = h.tool("rollback", &["--yes", "--last"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("net.core.somaxconn is 2048, not the 4096 it wrote"),
        "{}",
        r.stderr
    );
    assert_eq!(
        h.ns.get("net.core.somaxconn"),
        "2048",
        "a refused rollback changes nothing"
    );
    let f = h.tool("rollback", &["--yes", "--last", "--force"]);
    assert_eq!(f.code, 0, "{}", f.stderr);
    assert_eq!(h.capture(), before);
}

#[test]
fn a_global_key_is_not_written_from_a_child_namespace_without_the_flag() {
    // fs.file-max is global: visible from the namespace, but a write would change the
    // host. --dry-run keeps this test harmless even if the refusal broke.
    let ns = Netns::new();
    let dirs = Dirs::new();
    let profile = dirs.write(
        "p.yaml",
        "name: g\nsysctl:\n  fs.file-max:\n    equals: 12345\n",
    );
    let r = apply_in(
        &ns,
        &dirs,
        &["--dry-run", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("fs.file-max is a global key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--allow-global"), "{}", r.stderr);
}

/// Runs apply on a pseudo-terminal (util-linux script(1)), answering `answer`.
fn on_a_terminal(h: &Host, answer: &str) -> (i32, String) {
    use std::io::Write;
    let cmd = format!(
        "{} apply --netns {} --root {} --state-dir {} --no-nginx --color never",
        common::bin(),
        h.ns.name,
        h.root(),
        h.state()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn on_a_terminal_apply_asks_and_only_yes_changes_anything() {
    let h = Host::new();
    let before = h.capture();
    let (code, out) = on_a_terminal(&h, "n\n");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Apply 3 live changes and 2 file edits? [y/N]"),
        "{out}"
    );
    assert!(out.contains("not confirmed: nothing was changed"), "{out}");
    assert_eq!(h.capture(), before);
    let (code, out) = on_a_terminal(&h, "y\n");
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.ns.get("net.core.somaxconn"), "4096");
}

#[test]
fn a_drop_in_whose_directory_is_missing_is_refused_before_anything_changes() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let dirs = Dirs::new();
    // No /etc/sysctl.d under the root; a glob in /usr/lib sets somaxconn, so the fix
    // needs a drop-in.
    dirs.write("usr/lib/sysctl.d/50-x.conf", "net.core.* = 128\n");
    let r = apply_in(&ns, &dirs, &["--yes"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("/etc/sysctl.d/90-tuneguard.conf would be created")
            && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    assert_eq!(ns.get("net.core.somaxconn"), "128");
    assert!(!dirs.root.path().join("etc").exists());
}

#[test]
fn a_plan_that_would_not_win_at_boot_is_refused_naming_the_line_that_wins() {
    // The last file by name is a link in /etc/sysctl.d to a vendor file in /usr/lib:
    // not ours to edit, no drop-in name sorts after its 255-byte name, and a copy
    // would take its own name. Both loaders would still set 900 at boot: exit 2.
    let ns = Netns::new();
    ns.set("net.ipv4.tcp_keepalive_time", "900");
    let dirs = Dirs::new();
    dirs.write(
        "usr/lib/sysctl.d/vendor.conf",
        "net.ipv4.tcp_keepalive_time = 900\n",
    );
    let name = format!("{}.conf", "z".repeat(250));
    std::fs::create_dir_all(dirs.root.path().join("etc/sysctl.d")).unwrap();
    std::os::unix::fs::symlink(
        "/usr/lib/sysctl.d/vendor.conf",
        dirs.root.path().join("etc/sysctl.d").join(&name),
    )
    .unwrap();
    let profile = dirs.write(
        "profiles/keepalive.yaml",
        "sysctl:\n  net.ipv4.tcp_keepalive_time: {max: 240}\n",
    );
    let r = apply_in(
        &ns,
        &dirs,
        &["--yes", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    for loader in ["sysctl --system", "systemd-sysctl"] {
        let why = format!(
            "net.ipv4.tcp_keepalive_time: no edit under /etc makes {loader} set 240 (/etc/sysctl.d/{name}:1 would still set 900 at boot)"
        );
        assert!(r.stderr.contains(&why), "{}", r.stderr);
    }
    assert_eq!(ns.get("net.ipv4.tcp_keepalive_time"), "900");
    let listed: Vec<_> = std::fs::read_dir(dirs.root.path().join("etc/sysctl.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(listed, [std::ffi::OsString::from(&name)], "nothing written");
    assert!(!dirs.state.path().join("journal").exists());
}
