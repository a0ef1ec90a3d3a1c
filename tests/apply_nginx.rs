//! `tuneguard apply` against real nginx in a throwaway namespace: the edit lands on the
//! listen that owns the socket and nowhere else, `nginx -t` guards it, a reload or
//! restart makes it live, and every failure (nginx -t refusing, a restart dying half
//! way, a check after the reload, a rollback nginx does not take up) leaves the files
//! byte for byte as they were and nginx listening as it did. The kernel (`ss`) and nginx
//! itself are the oracles. docs/apply.md, "The transaction"; docs/kernel.md §7.
//!
//! Every apply is `--only nginx` with a profile holding only an nginx rule, and the
//! configurations live in temp prefixes: nothing on the host outside them is written.

mod common;

use common::nginx::{binary, caps, listeners, stream_module, Prefix};
use common::{run, write_profile, Netns, Run};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A profile with one rule: every nginx listen backlog at least 1024.
fn profile(dir: &Path) -> String {
    write_profile(dir, "nginx-1024", "nginx:\n  listen_backlog: {min: 1024}\n")
}

/// A temp directory holding the nginx-1024 profile and, inside it, the state directory.
fn workdir() -> (tempfile::TempDir, String, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let prof = profile(tmp.path());
    let state = tmp.path().join("state");
    (tmp, prof, state)
}

fn apply_args<'a>(ns: &'a Netns, conf: &'a Path, state: &'a Path, prof: &'a str) -> Vec<&'a str> {
    vec![
        "apply",
        "--netns",
        &ns.name,
        "--nginx-conf",
        conf.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--profile",
        prof,
        "--only",
        "nginx",
        "--yes",
    ]
}

fn apply(ns: &Netns, conf: &Path, state: &Path, prof: &str, extra: &[&str]) -> Run {
    let mut args = apply_args(ns, conf, state, prof);
    args.extend_from_slice(extra);
    run(&args)
}

/// `tuneguard history --format json`: the transactions, oldest first.
fn history(state: &Path) -> Vec<Value> {
    let r = run(&[
        "history",
        "--format",
        "json",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "history: {}", r.stderr);
    r.json()["transactions"].as_array().unwrap().clone()
}

/// Each file's bytes and mode, to compare before and after.
fn snapshot(files: &[&PathBuf]) -> Vec<(PathBuf, Vec<u8>, u32)> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).unwrap();
            (
                f.to_path_buf(),
                std::fs::read(f).unwrap(),
                meta.permissions().mode() & 0o7777,
            )
        })
        .collect()
}

/// No temp file of an atomic write is left anywhere under `dir`.
fn assert_no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            !name.contains("tuneguard-tmp"),
            "left behind: {}",
            e.path().display()
        );
        if e.file_type().unwrap().is_dir() {
            assert_no_temp_files(&e.path());
        }
    }
}

fn master_pid(p: &Prefix) -> i32 {
    std::fs::read_to_string(p.path().join("nginx.pid"))
        .expect("nginx.pid")
        .trim()
        .parse()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Three sockets: one with a small backlog (replaced in place), one with none (gets
/// ` backlog=N` after its address), one already above the minimum (left alone).
const THREE: &str = " server { listen 127.0.0.1:8080 backlog=128; return 200 a; }
 server { listen 127.0.0.1:8090; return 200 b; }
 server { listen 127.0.0.1:8091 backlog=2048; return 200 c; }
";

const BEFORE: [(&str, u32); 3] = [
    ("127.0.0.1:8080", 128),
    ("127.0.0.1:8090", 511),
    ("127.0.0.1:8091", 2048),
];

const AFTER: [(&str, u32); 3] = [
    ("127.0.0.1:8080", 1024),
    ("127.0.0.1:8090", 1024),
    ("127.0.0.1:8091", 2048),
];

/// The THREE configuration as the apply must leave it: the two edits, no other byte.
fn three_after(before: &str) -> String {
    let after = before
        .replacen(
            "listen 127.0.0.1:8080 backlog=128;",
            "listen 127.0.0.1:8080 backlog=1024;",
            1,
        )
        .replacen(
            "listen 127.0.0.1:8090;",
            "listen 127.0.0.1:8090 backlog=1024;",
            1,
        );
    assert_ne!(after, before);
    after
}

/// nginx running THREE in a namespace with somaxconn 4096 (above every backlog).
fn running_three() -> (Netns, Prefix, PathBuf) {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "4096");
    let p = Prefix::new();
    let conf = p.write_http("nginx.conf", THREE);
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640)).unwrap();
    p.start(&ns).expect("nginx starts");
    assert_eq!(listeners(&ns), caps(&BEFORE));
    (ns, p, conf)
}

#[test]
fn reload_apply_edits_in_place_and_the_kernel_shows_the_new_backlog() {
    let (ns, p, conf) = running_three();
    let (_tmp, prof, state) = workdir();
    let before = std::fs::read_to_string(&conf).unwrap();
    let master = master_pid(&p);

    let r = apply(&ns, &conf, &state, &prof, &["--nginx-reload"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied: transaction"), "{}", r.stdout);

    // Only the two listens changed, each at its own place; mode kept.
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        three_after(&before)
    );
    let mode = std::fs::metadata(&conf).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_no_temp_files(p.path());
    let (ok, err) = p.test();
    assert!(ok, "nginx -t of the edited file: {err}");

    // A reload (same master), and the kernel gives the re-listened sockets the new
    // backlog; the untouched one keeps its own.
    assert_eq!(master_pid(&p), master, "a reload keeps the master");
    assert!(alive(master));
    assert_eq!(listeners(&ns), caps(&AFTER));

    let h = history(&state);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0]["kind"], "apply");
    assert_eq!(h[0]["state"], "committed");
    assert_eq!(h[0]["files"][0], conf.display().to_string());

    // Again: nothing to do, no new transaction, nothing touched.
    let r = apply(&ns, &conf, &state, &prof, &["--nginx-reload"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
    assert_eq!(history(&state).len(), 1);
    assert_eq!(
        std::fs::read_dir(state.join("journal")).unwrap().count(),
        1,
        "a second journal"
    );
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        three_after(&before)
    );
    assert_eq!(listeners(&ns), caps(&AFTER));
    p.stop(&ns);
}

/// Debian's layout: the server lives in sites-available and is enabled by a link in
/// sites-enabled. The edit lands in the file the link names, and the link stays a link
/// (tuneguard writes files, never through links: docs/security.md).
#[test]
fn a_site_enabled_by_a_link_is_edited_in_the_file_it_names() {
    let ns = Netns::new();
    let p = Prefix::new();
    let site = p.write(
        "sites-available/site",
        "server { listen 127.0.0.1:8080 backlog=128; }\n",
    );
    std::fs::create_dir_all(p.path().join("sites-enabled")).unwrap();
    let link = p.path().join("sites-enabled/site");
    std::os::unix::fs::symlink("../sites-available/site", &link).unwrap();
    let conf = p.write_http("nginx.conf", "include sites-enabled/*;\n");
    let (_tmp, prof, state) = workdir();
    let bin = binary();
    let r = apply(
        &ns,
        &conf,
        &state,
        &prof,
        &["--nginx-bin", bin.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(
        std::fs::read_to_string(&site).unwrap(),
        "server { listen 127.0.0.1:8080 backlog=1024; }\n"
    );
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../sites-available/site")
    );
    let (ok, err) = p.test();
    assert!(ok, "nginx -t of the edited files: {err}");
}

/// nginx -t runs as root and does what the configuration says before it drops its
/// rights (load_module, creating and chowning the temp paths): apply runs it only when
/// every file of the configuration is root's alone. The temp path nginx -t creates is
/// the witness that it ran.
#[test]
fn nginx_is_not_run_on_a_configuration_another_user_can_change() {
    let ns = Netns::new();
    let p = Prefix::new();
    let site = p.write(
        "conf.d/app.conf",
        "server { listen 127.0.0.1:8080 backlog=128; }\n",
    );
    let conf = p.write_http("nginx.conf", "include conf.d/*.conf;\n");
    std::os::unix::fs::chown(&site, Some(65534), Some(65534)).unwrap();
    let witness = p.path().join("cb");
    let (_tmp, prof, state) = workdir();
    let bin = binary();
    let bin = bin.to_str().unwrap();
    let before = std::fs::read(&site).unwrap();
    let r = apply(&ns, &conf, &state, &prof, &["--nginx-bin", bin]);
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("only on a configuration no other user can change")
            && r.stderr.contains("app.conf is owned by uid 65534"),
        "{}",
        r.stderr
    );
    assert!(!witness.exists(), "nginx -t ran on the user's file");
    assert_eq!(std::fs::read(&site).unwrap(), before);
    // The same tree, root's again: nginx -t runs (the witness appears) and the edit lands.
    std::os::unix::fs::chown(&site, Some(0), Some(0)).unwrap();
    let r = apply(&ns, &conf, &state, &prof, &["--nginx-bin", bin]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(witness.exists(), "nginx -t makes its temp paths");
}

#[test]
fn nginx_t_refusing_the_edit_restores_every_file() {
    let ns = Netns::new();
    let p = Prefix::new();
    let main = p.write_http("nginx.conf", " include conf.d/*.conf;\n");
    // The edit lands in site.conf; nginx refuses another file's directive, which
    // tuneguard's parser has no reason to know.
    let site = p.write(
        "conf.d/site.conf",
        "server {\n    listen 127.0.0.1:8080 backlog=128;   # small\n    include snippets/extra.conf;\n    return 200 a;\n}\n",
    );
    let extra = p.write("snippets/extra.conf", "frobnicate_unknown on;\n");
    let (ok, err) = p.test();
    assert!(!ok && err.contains("unknown directive"), "{err}");
    let files = [&main, &site, &extra];
    let before = snapshot(&files);
    let (_tmp, prof, state) = workdir();
    let bin = binary();

    // The plan edits site.conf (nginx is not running: --nginx-bin tests it).
    let r = apply(
        &ns,
        &main,
        &state,
        &prof,
        &[
            "--dry-run",
            "--format",
            "json",
            "--nginx-bin",
            bin.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = r.json();
    assert_eq!(plan["plan"]["files"][0]["path"], site.display().to_string());
    assert!(
        plan["plan"]["files"][0]["after"]
            .as_str()
            .unwrap()
            .contains("listen 127.0.0.1:8080 backlog=1024;   # small"),
        "{plan:#}"
    );

    let r = apply(
        &ns,
        &main,
        &state,
        &prof,
        &["--format", "json", "--nginx-bin", bin.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let out = r.json();
    assert_eq!(out["transaction"]["state"], "failed", "{out:#}");
    let error = out["transaction"]["error"].as_str().unwrap();
    assert!(
        error.contains("nginx -t") && error.contains("frobnicate_unknown"),
        "{error}"
    );
    assert_eq!(out["transaction"]["left"], serde_json::json!([]));

    assert_eq!(
        snapshot(&files),
        before,
        "files are byte for byte as before"
    );
    assert_no_temp_files(p.path());
    let h = history(&state);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert_eq!(h[0]["state"], "failed");
    assert_eq!(h[0]["files"][0], site.display().to_string());
    // Nothing was started.
    assert!(listeners(&ns).is_empty(), "{:?}", listeners(&ns));
}

#[test]
fn the_wildcard_trap_moves_backlog_to_the_wildcard_listen_and_nginx_starts() {
    let ns = Netns::new();
    // Below the planned backlog: the kernel caps the socket at somaxconn.
    ns.set("net.core.somaxconn", "512");
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        " server { listen 8081; return 200 a; }\n server { listen 127.0.0.1:8081 backlog=64; return 200 b; }\n",
    );
    let before = std::fs::read_to_string(&conf).unwrap();
    let (ok, err) = p.test();
    assert!(ok, "nginx -t passes the trap: {err}");
    let err = p.start(&ns).expect_err("the trap does not start");
    assert!(err.contains("Address already in use"), "{err}");
    assert!(listeners(&ns).is_empty());

    let (_tmp, prof, state) = workdir();
    let bin = binary();
    let r = apply(
        &ns,
        &conf,
        &state,
        &prof,
        &["--format", "json", "--nginx-bin", bin.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let out = r.json();
    assert_eq!(out["transaction"]["state"], "committed", "{out:#}");
    let sockets = out["plan"]["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 1, "{out:#}");
    assert_eq!(sockets[0]["addr"], "0.0.0.0:8081");
    assert_eq!(sockets[0]["after"], 1024);
    assert_eq!(sockets[0]["expected"], 512);

    // backlog= left the 127.0.0.1 listen and is on the wildcard's, with the planned
    // number; not another byte moved.
    let want = before
        .replacen("listen 8081;", "listen 8081 backlog=1024;", 1)
        .replacen(
            "listen 127.0.0.1:8081 backlog=64;",
            "listen 127.0.0.1:8081;",
            1,
        );
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), want);
    assert_no_temp_files(p.path());

    // Now nginx starts: one socket on the port, the wildcard, capped at somaxconn.
    p.start(&ns).expect("the edited configuration starts");
    let on_port: Vec<(String, u32)> = listeners(&ns)
        .into_iter()
        .filter(|(a, _)| a.ends_with(":8081"))
        .collect();
    assert_eq!(on_port, vec![("0.0.0.0:8081".to_string(), 512)]);
    assert_eq!(history(&state)[0]["state"], "committed");
    p.stop(&ns);
}

#[test]
fn rollback_after_a_reload_apply_restores_files_and_backlogs() {
    let (ns, p, conf) = running_three();
    let (_tmp, prof, state) = workdir();
    let before = snapshot(&[&conf]);

    let r = apply(&ns, &conf, &state, &prof, &["--nginx-reload"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(listeners(&ns), caps(&AFTER));

    // On a terminal (util-linux script's pseudo-terminal): a status line on stderr while
    // nginx reloads, erased once its sockets show the old backlogs.
    let id = history(&state)[0]["id"].as_str().unwrap().to_string();
    let o = std::process::Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} rollback --yes --last --state-dir {}",
                common::bin(),
                state.display()
            ),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux)");
    let tty = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{tty}");
    assert!(tty.contains("rolled back"), "{tty}");
    assert!(
        tty.contains(&format!(
            "rollback {id}: reloading nginx and waiting for its sockets…\r\x1b[2K"
        )),
        "{tty:?}"
    );
    assert_eq!(
        snapshot(&[&conf]),
        before,
        "the file is byte for byte as before"
    );
    assert_no_temp_files(p.path());
    // The rollback's reload re-listened the two sockets with their old numbers; it
    // returned only once the kernel showed them (no waiting here).
    assert_eq!(listeners(&ns), caps(&BEFORE));

    let h = history(&state);
    assert_eq!(h.len(), 2, "{h:#?}");
    assert_eq!(h[1]["kind"], "rollback");
    assert_eq!(h[1]["state"], "committed");
    assert_eq!(h[1]["of"], h[0]["id"]);
    assert_eq!(h[0]["rolled_back_by"], h[1]["id"]);
    p.stop(&ns);
}

/// A rollback whose reload nginx never acts on (its master is stopped) must not claim
/// success: it is undone, the apply stays in force, and nginx still listens as the
/// apply left it.
#[test]
fn a_rollback_nginx_does_not_take_up_is_undone() {
    let (ns, p, conf) = running_three();
    let (_tmp, prof, state) = workdir();
    let original = std::fs::read_to_string(&conf).unwrap();

    let r = apply(&ns, &conf, &state, &prof, &["--nginx-reload"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let applied = snapshot(&[&conf]);
    assert_eq!(listeners(&ns), caps(&AFTER));

    let master = master_pid(&p);
    // SAFETY: kill has no memory preconditions; the pid is this test's nginx.
    assert_eq!(unsafe { libc::kill(master, libc::SIGSTOP) }, 0);
    let r = run(&[
        "rollback",
        "--yes",
        "--last",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(master, libc::SIGCONT) }, 0);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    // Not a terminal: no status line.
    assert!(
        !r.stderr.contains("waiting for its sockets"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("127.0.0.1:8080"), "{}", r.stderr);

    // The rollback's own undo put the applied file back.
    assert_eq!(snapshot(&[&conf]), applied);
    assert_ne!(std::fs::read_to_string(&conf).unwrap(), original);
    let h = history(&state);
    assert_eq!(h.len(), 2, "{h:#?}");
    assert_eq!(h[0]["state"], "committed");
    assert_eq!(h[0]["rolled_back_by"], Value::Null);
    assert_eq!(h[1]["kind"], "rollback");
    assert_eq!(h[1]["state"], "failed");
    // nginx, running again, handles the pending reload with the applied file.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(listeners(&ns), caps(&AFTER));
    p.stop(&ns);
}

/// Failures injected at the transaction's step boundaries (src/txn/fault.rs).
#[cfg(feature = "fault-injection")]
mod faults {
    use super::*;

    /// `--nginx-cmd` is a program root runs: a link another user owns (or in their
    /// directory) is refused before anything; and the program is checked again right
    /// before it runs, so one that became writable by others while the apply ran (held
    /// at its first step) is not run, and the transaction is undone.
    #[test]
    fn a_nginx_cmd_others_control_is_never_run() {
        let (ns, p, conf) = running_three();
        let (tmp, prof, state) = workdir();
        let good = tmp.path().join("good");
        std::fs::create_dir(&good).unwrap();
        let ran = tmp.path().join("ran");
        let reload = good.join("reload");
        std::fs::write(
            &reload,
            format!(
                "#!/bin/sh\ntouch {}\nexec {} -p {} -c {} -e stderr -s reload\n",
                ran.display(),
                binary().display(),
                p.path().display(),
                conf.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&reload, std::fs::Permissions::from_mode(0o755)).unwrap();
        let before = snapshot(&[&conf]);
        // A link of another user's to the good script: refused, nothing run.
        let user = tmp.path().join("user");
        std::fs::create_dir(&user).unwrap();
        let link = user.join("reload");
        std::os::unix::fs::symlink(&reload, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        let r = apply(
            &ns,
            &conf,
            &state,
            &prof,
            &["--nginx-reload", "--nginx-cmd", link.to_str().unwrap()],
        );
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("symbolic link owned by uid 65534"),
            "{}",
            r.stderr
        );
        assert!(!ran.exists());
        // The script itself, made writable by others while the apply is held.
        let pause = tmp.path().join("paused");
        let mut args = apply_args(&ns, &conf, &state, &prof);
        args.extend_from_slice(&["--nginx-reload", "--nginx-cmd", reload.to_str().unwrap()]);
        let mut child = std::process::Command::new(common::bin())
            .args(&args)
            .env("TUNEGUARD_PAUSE", "journal")
            .env("TUNEGUARD_PAUSE_FILE", &pause)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !pause.exists() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the apply never paused");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::set_permissions(&reload, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::remove_file(&pause).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!ran.exists(), "a program others could change ran as root");
        assert!(
            matches!(out.status.code(), Some(1 | 3)),
            "{:?}: {stderr}",
            out.status.code()
        );
        assert!(stderr.contains("was not run"), "{stderr}");
        assert_eq!(snapshot(&[&conf]), before, "the edit was undone");
        assert_eq!(listeners(&ns), caps(&BEFORE));
        p.stop(&ns);
    }

    /// The restart stops nginx, then fails before starting it: the undo restores the
    /// file and starts nginx again with it, listening exactly as before.
    #[test]
    fn a_restart_failing_after_the_stop_restores_files_and_starts_the_old_nginx() {
        let (ns, p, conf) = running_three();
        let (tmp, prof, state) = workdir();
        let trace = tmp.path().join("trace");
        let before = snapshot(&[&conf]);
        let old_master = master_pid(&p);

        let mut args = apply_args(&ns, &conf, &state, &prof);
        args.push("--nginx-restart");
        let r = common::run_with(
            &args,
            &[
                ("TUNEGUARD_FAULT", "nginx-stopped"),
                ("TUNEGUARD_FAULT_TRACE", trace.to_str().unwrap()),
            ],
        );
        assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("injected fault at nginx-stopped"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("was restored"), "{}", r.stderr);

        // The fault hit the step once; the undo's restart passed its own boundary.
        let passed = std::fs::read_to_string(&trace).unwrap();
        let passed: Vec<&str> = passed.lines().collect();
        assert_eq!(
            passed.iter().filter(|b| **b == "nginx-stopped").count(),
            1,
            "{passed:?}"
        );
        assert!(passed.contains(&"nginx-test"), "{passed:?}");

        assert_eq!(
            snapshot(&[&conf]),
            before,
            "the file is byte for byte as before"
        );
        assert_no_temp_files(p.path());
        // A new master (the old one was stopped), the old configuration's listeners.
        assert!(!alive(old_master), "the restart stopped the old master");
        let new_master = master_pid(&p);
        assert_ne!(new_master, old_master);
        assert!(alive(new_master), "nginx runs again");
        assert_eq!(listeners(&ns), caps(&BEFORE));
        let h = history(&state);
        assert_eq!(h.len(), 1, "{h:#?}");
        assert_eq!(h[0]["state"], "failed");
        p.stop(&ns);
    }

    /// A failure after the reload took effect: the undo reloads nginx again with the
    /// old file, and the kernel shows the old backlogs once more.
    #[test]
    fn a_failure_after_the_reload_re_listens_with_the_old_backlogs() {
        for fault in ["nginx-control", "nginx-verify", "verify"] {
            let (ns, p, conf) = running_three();
            let (_tmp, prof, state) = workdir();
            let before = snapshot(&[&conf]);
            let master = master_pid(&p);

            let mut args = apply_args(&ns, &conf, &state, &prof);
            args.push("--nginx-reload");
            let r = common::run_with(&args, &[("TUNEGUARD_FAULT", fault)]);
            assert_eq!(
                r.code, 1,
                "{fault}: stdout: {}\nstderr: {}",
                r.stdout, r.stderr
            );
            assert_eq!(snapshot(&[&conf]), before, "{fault}");
            assert_eq!(master_pid(&p), master, "{fault}: reloads keep the master");
            assert_eq!(listeners(&ns), caps(&BEFORE), "{fault}");
            assert_eq!(history(&state)[0]["state"], "failed", "{fault}");
            p.stop(&ns);
        }
    }
}

#[test]
fn a_port_range_gets_one_backlog_and_every_port_listens_with_it() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "4096");
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        " server { listen 8186-8187; listen 127.0.0.1:8190-8191 backlog=64; return 200 a; }\n",
    );
    let before = std::fs::read_to_string(&conf).unwrap();
    let (_tmp, prof, state) = workdir();
    let bin = binary();
    let r = apply(
        &ns,
        &conf,
        &state,
        &prof,
        &["--format", "json", "--nginx-bin", bin.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    // One backlog= per directive, however many ports it stands for.
    let want = before
        .replacen("listen 8186-8187;", "listen 8186-8187 backlog=1024;", 1)
        .replacen("backlog=64;", "backlog=1024;", 1);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), want);
    let out = r.json();
    let mut planned: Vec<&str> = out["plan"]["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["addr"].as_str().unwrap())
        .collect();
    planned.sort();
    assert_eq!(
        planned,
        [
            "0.0.0.0:8186",
            "0.0.0.0:8187",
            "127.0.0.1:8190",
            "127.0.0.1:8191"
        ]
    );
    p.start(&ns).expect("the edited configuration starts");
    assert_eq!(
        listeners(&ns),
        [
            ("0.0.0.0:8186".to_string(), 1024),
            ("0.0.0.0:8187".to_string(), 1024),
            ("127.0.0.1:8190".to_string(), 1024),
            ("127.0.0.1:8191".to_string(), 1024)
        ]
    );
    p.stop(&ns);
}

#[test]
fn the_dual_stack_trap_is_not_moved_around_but_named() {
    let ns = Netns::new();
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        " server { listen 8081 backlog=64; return 200 a; }\n server { listen [::]:8081 ipv6only=off; return 200 b; }\n",
    );
    let before = snapshot(&[&conf]);
    let err = p.start(&ns).expect_err("the trap does not start");
    assert!(err.contains("bind() to [::]:8081 failed"), "{err}");
    let (_tmp, prof, state) = workdir();
    let r = apply(&ns, &conf, &state, &prof, &["--format", "json"]);
    let out = r.json();
    // Moving backlog= cannot fix it: no edit, and the note names the ipv6only=off listen.
    assert_eq!(out["plan"]["files"].as_array().unwrap().len(), 0, "{out:#}");
    let notes = out["plan"]["notes"].to_string();
    assert!(
        notes.contains(&format!(
            "{}:6: [::]:8081 with ipv6only=off",
            conf.display()
        )),
        "{out:#}"
    );
    assert_eq!(snapshot(&[&conf]), before);
}

#[test]
fn http_and_stream_on_one_port_is_not_moved_across_blocks_but_named() {
    let ns = Netns::new();
    let p = Prefix::new();
    let conf = p.write(
        "nginx.conf",
        &format!(
            "load_module {};\n{}http {{ {} server {{ listen 8443; return 200 a; }} }}\nstream {{ server {{ listen 127.0.0.1:8443 backlog=64; return x; }} }}\n",
            stream_module().display(),
            p.preamble(),
            p.http_preamble()
        ),
    );
    let err = p.start(&ns).expect_err("the shared port does not start");
    assert!(err.contains("bind() to 127.0.0.1:8443 failed"), "{err}");
    let (_tmp, prof, state) = workdir();
    let before = snapshot(&[&conf]);
    let r = apply(
        &ns,
        &conf,
        &state,
        &prof,
        &["--dry-run", "--format", "json"],
    );
    let out = r.json();
    // The stream listen's backlog= stays in stream{}: no edit touches line 6.
    for f in out["plan"]["files"].as_array().unwrap() {
        let after = f["after"].as_str().unwrap();
        assert!(
            after.contains("listen 127.0.0.1:8443 backlog=64;"),
            "{out:#}"
        );
    }
    let notes = out["plan"]["notes"].to_string();
    assert!(
        notes.contains(&format!(
            "{}:6: the stream{{}} listen 127.0.0.1:8443 cannot bind the port that the http{{}} listen 0.0.0.0:8443 at {}:5 holds",
            conf.display(),
            conf.display()
        )),
        "{out:#}"
    );
    assert_eq!(snapshot(&[&conf]), before);
}
