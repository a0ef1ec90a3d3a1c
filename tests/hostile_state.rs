//! The state directory on a hostile host (issue 13): each attack performed for real
//! against the built binary, asserting the refusal (exit 2, the message, the fix) and
//! that nothing changed: the namespace's values, every byte and mode under the root, the
//! files the attack aimed at, and no journal written.

mod common;

use common::apply::Host;
use common::{bin, Netns};
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` (the binary or setpriv) with ARGS in `cwd`, killed after a minute.
fn run_cmd(mut cmd: Command, what: &str) -> Out {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn tg_at(cwd: &Path, args: &[&str]) -> Out {
    let mut c = Command::new(bin());
    c.args(args).current_dir(cwd);
    run_cmd(c, &format!("tuneguard {args:?}"))
}

fn tg(args: &[&str]) -> Out {
    tg_at(Path::new("/"), args)
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn apply(h: &Host, state: &Path) -> Out {
    tg(&[
        "apply",
        "--netns",
        &h.ns.name,
        "--root",
        h.root(),
        "--state-dir",
        state.to_str().unwrap(),
        "--no-nginx",
        "--yes",
    ])
}

fn refused(o: &Out, what: &str, want: &str) {
    assert_eq!(o.code, 2, "{what}: {}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains(want),
        "{what}: wanted `{want}` in: {}",
        o.stderr
    );
}

#[test]
fn a_state_dir_another_user_could_write_is_refused_with_the_exact_fix() {
    let h = Host::new();
    let before = h.capture();
    let state = h.dirs.state.path();
    let s = state.to_str().unwrap();

    // Owned by nobody: whoever it is could plant a journal root would act on.
    std::os::unix::fs::chown(state, Some(65534), Some(65534)).unwrap();
    for cmd in ["apply", "rollback", "recover"] {
        let o = match cmd {
            "apply" => apply(&h, state),
            "rollback" => tg(&["rollback", "--yes", "--last", "--state-dir", s]),
            _ => tg(&["recover", "--yes", "--state-dir", s]),
        };
        refused(&o, cmd, "is owned by uid 65534, not root");
        refused(&o, cmd, &format!("run `chown root:root {s}`"));
    }
    std::os::unix::fs::chown(state, Some(0), Some(0)).unwrap();

    // Mode 0777 (and 0770): anyone (its group) may write there.
    for mode in [0o777, 0o770] {
        chmod(state, mode);
        let o = apply(&h, state);
        refused(
            &o,
            "0777",
            &format!("has mode {mode:04o}, writable by other users"),
        );
        refused(&o, "0777", &format!("run `chmod 0700 {s}`"));
        assert_eq!(
            std::fs::metadata(state).unwrap().mode() & 0o7777,
            mode,
            "not repaired"
        );
    }
    chmod(state, 0o700);

    // A parent others may write: they could swap the state directory itself.
    let parent = h.dirs.state.path().join("open");
    std::fs::create_dir(&parent).unwrap();
    chmod(&parent, 0o777);
    let inner = parent.join("state");
    for dir in [&inner, &parent.join("made")] {
        if dir == &inner {
            std::fs::create_dir(&inner).unwrap();
            chmod(&inner, 0o700);
        }
        let o = apply(&h, dir);
        refused(
            &o,
            "open parent",
            &format!("run `chmod go-w {}`", parent.display()),
        );
    }
    assert!(
        !parent.join("made").exists(),
        "a state dir was created in an open parent"
    );
    assert!(
        std::fs::read_dir(&inner).unwrap().next().is_none(),
        "something was written"
    );

    assert!(!state.join("journal").exists(), "a journal was written");
    assert_eq!(h.capture(), before, "a refused run changed the host");
}

/// A journal planted as `STATE/journal/ID`, open (no `state` file): what recover acts on.
fn plant(state: &Path, id: &str, rec: &serde_json::Value, files: &[(&str, &str)]) -> PathBuf {
    let dir = state.join("journal").join(id);
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(
        dir.join("record.json"),
        serde_json::to_vec_pretty(rec).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("progress"), "file 0\nnginx-control\n").unwrap();
    for (name, text) in files {
        std::fs::write(dir.join("files").join(name), text).unwrap();
    }
    dir
}

fn record(id: &str, root: &str, ns: &Netns) -> serde_json::Value {
    json!({
        "id": id, "kind": "apply", "started": 0, "pid": 1, "hostname": "h",
        "netns": ns.name, "netns_path": ns.path(), "root": root,
        "profiles": ["baseline"], "live": [], "files": [], "nginx": null
    })
}

fn file_step(path: &str, real: &Path, mode: u32) -> serde_json::Value {
    json!({
        "kind": "sysctl", "path": path, "real": real,
        "before": {"mode": mode, "uid": 0, "gid": 0},
        "after": {"mode": 0o644, "uid": 0, "gid": 0}
    })
}

#[test]
fn a_planted_journal_is_refused_whole_and_nothing_is_done() {
    let h = Host::new();
    let state = h.dirs.state.path();
    let s = state.to_str().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    let marker = outside.path().join("marker");
    // Both hold the journal's "after" bytes: an undo would put its "before" back.
    let site = h.dirs.write("etc/sysctl.d/70-planted.conf", "after\n");
    std::fs::write(&victim, "after\n").unwrap();
    let before = h.capture();
    let id = "20260101-000000";

    let mut cases: Vec<(&str, serde_json::Value, &str)> = Vec::new();
    // Undoing would write "pwned" to a file outside the recorded root.
    let mut r = record(id, h.root(), &h.ns);
    r["files"] = json!([file_step("/victim", &victim, 0o644)]);
    cases.push(("outside the root", r, "files[0].real"));
    // Through `..`, lexically inside.
    let mut r = record(id, h.root(), &h.ns);
    let dotdot = h
        .dirs
        .root
        .path()
        .join("..")
        .join(victim.strip_prefix("/").unwrap());
    r["files"] = json!([file_step("/victim", &dotdot, 0o644)]);
    cases.push(("dot-dot", r, "contains `.` or `..`"));
    // Undoing would give a file of root's the setuid bit.
    let mut r = record(id, h.root(), &h.ns);
    r["files"] = json!([file_step("/etc/sysctl.d/70-planted.conf", &site, 0o4755)]);
    cases.push(("setuid", r, "files[0].before.mode"));
    // A relative root: resolved against whatever directory recover runs in.
    let mut r = record(id, "relative/root", &h.ns);
    r["files"] = json!([file_step(
        "/victim",
        Path::new("relative/root/victim"),
        0o644
    )]);
    cases.push((
        "relative root",
        r,
        "root `relative/root` is not an absolute path",
    ));
    // The nginx step's command, as the old journal held it (one string for `sh -c`) and
    // as argv through a shell: reloading nginx in the undo would run it.
    let touch = format!("touch {}", marker.display());
    let nginx = |command: serde_json::Value| {
        json!({
            "main": "/etc/nginx/nginx.conf", "binary": "/bin/true", "args": [],
            "control": "reload", "command": command, "unit": null, "master": null,
            "sockets": [], "listeners_before": []
        })
    };
    let mut r = record(id, h.root(), &h.ns);
    r["nginx"] = nginx(json!(touch));
    cases.push(("shell string", r, "is damaged"));
    let mut r = record(id, h.root(), &h.ns);
    r["nginx"] = nginx(json!(["/bin/sh", "-c", touch]));
    cases.push(("shell argv", r, "nginx.command[0] `/bin/sh` is a shell"));
    let mut r = record(id, h.root(), &h.ns);
    r["nginx"] = nginx(json!(null));
    r["nginx"]["unit"] = json!(format!("nginx.service; {touch}"));
    cases.push(("unit", r, "nginx.unit"));
    // A program another user may replace.
    let fake = outside.path().join("reload");
    std::fs::write(&fake, format!("#!/bin/sh\n{touch}\n")).unwrap();
    chmod(&fake, 0o755);
    chmod(outside.path(), 0o777);
    let mut r = record(id, h.root(), &h.ns);
    r["nginx"] = nginx(json!([fake]));
    cases.push(("untrusted program", r, "chmod go-w"));

    for (what, rec, want) in &cases {
        let dir = plant(
            state,
            id,
            rec,
            &[("0.before", "pwned\n"), ("0.after", "after\n")],
        );
        refused(&tg(&["recover", "--yes", "--state-dir", s]), what, want);
        assert!(
            tg(&["recover", "--yes", "--state-dir", s])
                .stderr
                .contains(&format!(
                    "the journal {} is refused",
                    dir.join("record.json").display()
                ))
                || *what == "shell string",
        );
        // Committed: what rollback acts on.
        std::fs::write(dir.join("state"), "committed").unwrap();
        refused(
            &tg(&["rollback", "--yes", id, "--state-dir", s]),
            what,
            want,
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "after\n",
            "{what}"
        );
        assert!(!marker.exists(), "{what}: the planted command ran");
        assert_eq!(std::fs::read_to_string(&site).unwrap(), "after\n", "{what}");
        assert_eq!(
            std::fs::metadata(&site).unwrap().mode() & 0o7000,
            0,
            "{what}"
        );
        assert_eq!(h.capture(), before, "{what}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    chmod(outside.path(), 0o700);
}

#[test]
fn a_planted_lock_link_is_refused_and_its_target_not_truncated() {
    let h = Host::new();
    let before = h.capture();
    let state = h.dirs.state.path();
    let s = state.to_str().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, state.join("lock")).unwrap();
    for (cmd, o) in [
        ("apply", apply(&h, state)),
        (
            "rollback",
            tg(&["rollback", "--yes", "--last", "--state-dir", s]),
        ),
        ("recover", tg(&["recover", "--yes", "--state-dir", s])),
    ] {
        refused(&o, cmd, "lock is a symbolic link: refused");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "keep me\n",
            "{cmd}"
        );
    }
    // A hard link is as good as the file: refused too.
    std::fs::remove_file(state.join("lock")).unwrap();
    std::fs::hard_link(&target, state.join("lock")).unwrap();
    refused(&apply(&h, state), "hard link", "has 2 hard links: refused");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(!state.join("journal").exists());
    assert_eq!(h.capture(), before);
}

#[test]
fn a_relative_root_is_journaled_absolute_so_rollback_from_elsewhere_restores_it() {
    let h = Host::new();
    let before = h.capture();
    let root = h.dirs.root.path();
    let (cwd, rel) = (
        root.parent().unwrap(),
        root.file_name().unwrap().to_str().unwrap(),
    );
    let s = h.state();
    let o = tg_at(
        cwd,
        &[
            "apply",
            "--netns",
            &h.ns.name,
            "--root",
            rel,
            "--state-dir",
            s,
            "--no-nginx",
            "--yes",
        ],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_ne!(h.capture(), before);
    let journals: Vec<PathBuf> = std::fs::read_dir(h.dirs.state.path().join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(journals[0].join("record.json")).unwrap()).unwrap();
    assert_eq!(rec["root"], json!(std::fs::canonicalize(root).unwrap()));
    // From another directory, where `rel` means nothing (or another tree).
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(elsewhere.path().join(rel).join("etc/sysctl.d")).unwrap();
    let o = tg_at(
        elsewhere.path(),
        &["rollback", "--yes", "--last", "--state-dir", s],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(h.capture(), before, "rollback restored another tree");
    assert!(
        std::fs::read_dir(elsewhere.path().join(rel).join("etc/sysctl.d"))
            .unwrap()
            .next()
            .is_none(),
        "rollback wrote into the tree under its own cwd"
    );
}

#[cfg(feature = "fault-injection")]
#[test]
fn two_applies_with_different_state_dirs_on_one_target_refuse_the_second() {
    let h = Host::new();
    let marker = h.dirs.state.path().join("paused");
    let mut first = Command::new(bin());
    first
        .args(h.apply_args())
        .arg("--yes")
        .env("TUNEGUARD_PAUSE", "live:net.core.somaxconn")
        .env("TUNEGUARD_PAUSE_FILE", &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Killed on drop: a failed assertion must not leave it waiting on its pause.
    struct Reaped(Option<std::process::Child>);
    impl Drop for Reaped {
        fn drop(&mut self) {
            if let Some(c) = &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut first = Reaped(Some(first.spawn().unwrap()));
    let pid = first.0.as_ref().unwrap().id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the first apply never paused");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Same root and namespace, another state directory: its own lock is free.
    let other = tempfile::tempdir().unwrap();
    let o = apply(&h, other.path());
    refused(
        &o,
        "same netns",
        &format!("tuneguard pid {pid} is changing this host"),
    );
    refused(
        &o,
        "same netns",
        &format!("network namespace {}", h.ns.name),
    );
    assert!(
        !other.path().join("journal").exists(),
        "the second wrote a journal"
    );
    // Another namespace, same root: the files it would write are the first's.
    let ns2 = Netns::new();
    ns2.set("net.core.somaxconn", "128");
    let o = tg(&[
        "apply",
        "--netns",
        &ns2.name,
        "--root",
        h.root(),
        "--state-dir",
        other.path().to_str().unwrap(),
        "--no-nginx",
        "--yes",
    ]);
    let dir = std::fs::canonicalize(h.dirs.root.path().join("etc/sysctl.d")).unwrap();
    refused(
        &o,
        "same root",
        &format!(
            "tuneguard pid {pid} is changing this host (it holds {})",
            dir.display()
        ),
    );
    assert_eq!(ns2.get("net.core.somaxconn"), "128");
    std::fs::remove_file(&marker).unwrap();
    let out = first.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(h.ns.get("net.core.somaxconn"), "4096");
}

#[test]
fn a_non_root_caller_is_refused_before_anything_is_read_or_written() {
    let h = Host::new();
    let before = h.capture();
    let state = h.dirs.state.path().join("new");
    let s = state.to_str().unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
            .args(args)
            .current_dir("/");
        run_cmd(c, &format!("setpriv tuneguard {args:?}"))
    };
    let o = as_nobody(&[
        "apply",
        "--netns",
        &h.ns.name,
        "--root",
        h.root(),
        "--state-dir",
        s,
        "--no-nginx",
        "--yes",
    ]);
    refused(
        &o,
        "apply",
        "apply changes kernel settings and root-owned files: run it as root (you are uid 65534)",
    );
    for cmd in ["rollback", "recover"] {
        let mut args = vec![cmd, "--yes", "--state-dir", s];
        if cmd == "rollback" {
            args.push("--last");
        }
        refused(
            &as_nobody(&args),
            cmd,
            &format!("{cmd} changes kernel settings"),
        );
    }
    assert!(!state.exists(), "a state directory was made");
    assert_eq!(h.capture(), before);
}

#[test]
fn fifos_links_and_open_directories_in_the_state_dir_are_refused_without_hanging() {
    let h = Host::new();
    let before = h.capture();
    let state = h.dirs.state.path();
    let s = state.to_str().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let dir = state.join("journal/20260101-000000");
    let fifo = |p: &Path| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    };
    // record.json a FIFO: opening it to read would block for ever.
    std::fs::create_dir_all(&dir).unwrap();
    fifo(&dir.join("record.json"));
    for cmd in ["recover", "history"] {
        refused(
            &tg(&[cmd, "--state-dir", s]),
            cmd,
            "record.json is not a regular file",
        );
    }
    std::fs::remove_file(dir.join("record.json")).unwrap();
    // A link to a record elsewhere (which another user may write).
    let elsewhere = outside.path().join("record.json");
    std::fs::write(&elsewhere, "{}").unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("record.json")).unwrap();
    refused(
        &tg(&["recover", "--yes", "--state-dir", s]),
        "link",
        "record.json is a symbolic link",
    );
    std::fs::remove_file(dir.join("record.json")).unwrap();
    // The journal directory itself a link, or writable by others.
    std::fs::remove_dir(&dir).unwrap();
    std::os::unix::fs::symlink(outside.path(), &dir).unwrap();
    refused(
        &tg(&["recover", "--yes", "--state-dir", s]),
        "dir link",
        "is not a directory (a symbolic link)",
    );
    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    refused(
        &tg(&["history", "--state-dir", s]),
        "open dir",
        &format!("run `chmod go-w {}`", dir.display()),
    );
    std::fs::remove_dir(&dir).unwrap();
    assert_eq!(h.capture(), before);
}

#[test]
fn nginx_cmd_is_argv_and_shell_syntax_is_refused_before_anything() {
    let h = Host::new();
    let before = h.capture();
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("marker");
    for cmd in [
        format!("nginx -s reload; touch {}", marker.display()),
        format!("sh -c 'touch {}'", marker.display()),
        format!("nginx -s reload $(touch {})", marker.display()),
    ] {
        let mut args = h.apply_args();
        args.extend_from_slice(&["--yes", "--nginx-reload", "--nginx-cmd", &cmd]);
        let o = tg(&args);
        assert_eq!(o.code, 2, "{cmd}: {}", o.stderr);
        assert!(o.stderr.contains("--nginx-cmd"), "{cmd}: {}", o.stderr);
        assert!(!marker.exists(), "{cmd} ran");
    }
    assert!(!h.dirs.state.path().join("journal").exists());
    assert_eq!(h.capture(), before);
}

/// Another user's link chooses where the state directory is: refused, and the directory
/// it led to (root's, with contents) keeps its mode and gets no lock. A root-owned
/// `--state-dir` with contents others may read is refused with the fix, not chmodded.
#[test]
fn a_state_dir_behind_another_users_link_or_with_readable_contents_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let victim = t.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), "x").unwrap();
    chmod(&victim, 0o755);
    let user = t.path().join("user");
    std::fs::create_dir(&user).unwrap();
    let link = user.join("state");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let l = link.to_str().unwrap();
    for args in [
        vec!["recover", "--yes", "--state-dir", l],
        vec!["rollback", "--yes", "--last", "--state-dir", l],
    ] {
        let o = tg(&args);
        refused(
            &o,
            &format!("{args:?}"),
            "is a symbolic link owned by uid 65534",
        );
    }
    assert_eq!(
        std::fs::metadata(&victim).unwrap().mode() & 0o7777,
        0o755,
        "the victim was chmodded"
    );
    assert!(
        !victim.join("lock").exists(),
        "a lock was made in the victim"
    );
    // Named directly: root's, 0755, with files in it: refused with the fix.
    let v = victim.to_str().unwrap();
    let o = tg(&["recover", "--yes", "--state-dir", v]);
    refused(
        &o,
        "a readable state dir with files",
        &format!("chmod 0700 {v}"),
    );
    assert_eq!(std::fs::metadata(&victim).unwrap().mode() & 0o7777, 0o755);
    // A root link in root's directory is the admin's choice and works.
    let admin = t.path().join("admin-state");
    std::os::unix::fs::symlink(t.path().join("real-state"), &admin).unwrap();
    std::fs::create_dir(t.path().join("real-state")).unwrap();
    chmod(&t.path().join("real-state"), 0o700);
    let o = tg(&["recover", "--yes", "--state-dir", admin.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
}

/// Another user holding a flock on the namespace's nsfs file or on a directory apply
/// writes in blocks nothing: tuneguard's target locks are its own files, in a directory
/// only root can enter.
#[test]
fn another_users_flock_on_the_target_does_not_block_apply() {
    let h = Host::new();
    let ns = h.ns.name.clone();
    let dir = h.dirs.root.path().join("etc/sysctl.d");
    // Reachable by the other user (root's, not writable: still trusted).
    chmod(h.dirs.root.path(), 0o755);
    let hold = |args: Vec<String>| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
            ])
            .arg("--clear-groups")
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    };
    struct Killed(Vec<std::process::Child>);
    impl Drop for Killed {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let _held = Killed(vec![
        hold(vec![
            "flock".into(),
            "/proc/self/ns/net".into(),
            "sleep".into(),
            "30".into(),
        ]),
        hold(vec![
            "flock".into(),
            dir.display().to_string(),
            "sleep".into(),
            "30".into(),
        ]),
    ]);
    let mut held = _held;
    std::thread::sleep(Duration::from_millis(300));
    for c in &mut held.0 {
        assert!(
            c.try_wait().unwrap().is_none(),
            "a flock holder did not hold"
        );
    }
    let mut args = h.apply_args();
    args.push("--yes");
    let o = tg(&args);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
}

/// Every read in the state directory is bounded: a journal file larger than anything
/// tuneguard writes there (sparse, 17 MiB) is refused, not read.
#[test]
fn an_oversized_journal_file_is_refused_not_read() {
    let h = Host::new();
    let state = h.dirs.state.path();
    let id = "20260101-000000";
    let dir = plant(state, id, &record(id, h.root(), &h.ns), &[]);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("record.json"))
        .unwrap();
    f.set_len(17 << 20).unwrap();
    let o = tg(&["recover", "--yes", "--state-dir", state.to_str().unwrap()]);
    refused(&o, "a 17 MiB record", "larger than 16 MiB");
}
