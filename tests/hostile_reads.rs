//! Reads that must neither escape their tree nor run forever (docs/security.md, "What
//! tuneguard reads"): captured proc trees with links out and FIFOs, nginx includes of
//! devices, profiles that extend files outside their directory, link chains past 40
//! hops, files past their cap. Each input is planted for real; the assertions are the
//! refusal, the exit code, and that no byte of the outside file reaches the output.
//! Every run is bounded by the harness (60 s): a hang fails the test instead of the suite.

mod common;

use common::{run, write_profile};
use std::os::unix::fs::symlink;
use std::path::Path;

const SECRET: &str = "net.core.somaxconn = 31337 # the secret outside";

/// A directory outside every tree a test hands tuneguard, holding a file it must never
/// print.
fn outside() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("secret.conf"), format!("{SECRET}\n")).unwrap();
    d
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo has no other preconditions.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {p:?}"
    );
}

fn capture(dir: &Path) {
    std::fs::create_dir_all(dir.join("sys/net/core")).unwrap();
    std::fs::create_dir_all(dir.join("sys/net/ipv4")).unwrap();
    std::fs::create_dir_all(dir.join("net")).unwrap();
    std::fs::write(dir.join("sys/net/ipv4/tcp_syncookies"), "1\n").unwrap();
}

fn never_printed(r: &common::Run) {
    assert!(
        !r.stdout.contains("31337") && !r.stderr.contains("31337"),
        "the outside file reached the output:\n{}\n{}",
        r.stdout,
        r.stderr
    );
}

/// Kernels before 5.6 have no openat2: tuneguard then walks one component at a time
/// from descriptors; `TUNEGUARD_NO_OPENAT2` makes it do so here, for the same attacks.
const WALK: &[(&str, &str)] = &[("TUNEGUARD_NO_OPENAT2", "1")];

#[test]
fn a_captured_tree_cannot_link_out_of_itself() {
    captured_link_out(&[]);
    captured_link_out(WALK);
}

fn captured_link_out(env: &[(&str, &str)]) {
    let out = outside();
    let cap = tempfile::tempdir().unwrap();
    capture(cap.path());
    symlink(
        out.path().join("secret.conf"),
        cap.path().join("sys/net/core/somaxconn"),
    )
    .unwrap();
    let r = common::run_with(
        &[
            "audit",
            "--proc",
            cap.path().to_str().unwrap(),
            "--no-nginx",
            "--format",
            "json",
        ],
        env,
    );
    never_printed(&r);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("leads out of the tree") && r.stderr.contains("refused"),
        "{}",
        r.stderr
    );
}

#[test]
fn fifos_and_devices_in_a_capture_are_refused_not_waited_on() {
    let cap = tempfile::tempdir().unwrap();
    capture(cap.path());
    mkfifo(&cap.path().join("sys/net/core/somaxconn"));
    // The evidence counters: a FIFO and a link to /dev/zero.
    mkfifo(&cap.path().join("net/netstat"));
    symlink("/dev/zero", cap.path().join("net/snmp")).unwrap();
    let r = run(&[
        "audit",
        "--proc",
        cap.path().to_str().unwrap(),
        "--no-nginx",
    ]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("is a FIFO, not a regular file: refused"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_link_chain_past_40_hops_does_not_leave_the_root() {
    link_chain(&[]);
    link_chain(WALK);
}

fn link_chain(env: &[(&str, &str)]) {
    let out = outside();
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&d).unwrap();
    // Relative links: the 41st and later, once a reader stops counting, would be
    // followed by the host's own resolution from inside the root, out to the secret.
    symlink("../../l0", d.join("50-chain.conf")).unwrap();
    for i in 0..45 {
        symlink(format!("l{}", i + 1), root.path().join(format!("l{i}"))).unwrap();
    }
    symlink(out.path().join("secret.conf"), root.path().join("l45")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prof = common::keys_profile(dir.path(), &["net.core.somaxconn"]);
    let r = common::run_with(
        &[
            "audit",
            "--root",
            root.path().to_str().unwrap(),
            "--proc",
            "none",
            "--no-nginx",
            "--profile",
            &prof,
            "--format",
            "json",
        ],
        env,
    );
    never_printed(&r);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("/etc/sysctl.d/50-chain.conf") && r.stderr.contains("symbolic link"),
        "the refused file is named: {}",
        r.stderr
    );
}

#[test]
fn nginx_includes_of_devices_and_fifos_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.conf");
    mkfifo(&fifo);
    for (include, says) in [
        (
            "/dev/zero".to_string(),
            "is a character device, not a regular file",
        ),
        (fifo.display().to_string(), "is a FIFO, not a regular file"),
    ] {
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!("events {{}}\nhttp {{ include {include}; server {{ listen 8080; }} }}\n"),
        )
        .unwrap();
        let r = run(&[
            "audit",
            "--proc",
            "none",
            "--only",
            "nginx",
            "--nginx-conf",
            conf.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(says) && r.stderr.contains("nginx.conf: line 2"),
            "{include}: {}",
            r.stderr
        );
    }
}

#[test]
fn extends_stays_in_the_profiles_directory() {
    let out = outside();
    std::fs::write(out.path().join("evil.yaml"), format!("{SECRET}\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    symlink(out.path().join("evil.yaml"), dir.path().join("link.yaml")).unwrap();
    let outside_path = out.path().join("evil.yaml").display().to_string();
    for (extends, says) in [
        ("/dev/zero", "not by an absolute path"),
        (outside_path.as_str(), "not by an absolute path"),
        ("../x/../../evil.yaml", "leads out of the tree"),
        ("link.yaml", "leads out of the tree"),
        ("sub/", "ends in .yaml or .yml"),
    ] {
        let p = write_profile(dir.path(), "p", &format!("extends: [\"{extends}\"]\n"));
        let r = run(&["profiles", "validate", &p]);
        never_printed(&r);
        assert_eq!(r.code, 2, "{extends}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{extends}: {}", r.stderr);
        assert!(r.stderr.contains("p.yaml:1:"), "{extends}: {}", r.stderr);
    }
    // What stays inside still works.
    write_profile(
        dir.path(),
        "base",
        "sysctl:\n  net.core.somaxconn: {min: 1}\n",
    );
    let p = write_profile(dir.path(), "p", "extends: [base.yaml]\n");
    let r = run(&["profiles", "validate", &p]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn files_named_on_the_command_line_must_be_regular_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p.yaml");
    mkfifo(&fifo);
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
    for (args, says) in [
        (
            vec!["profiles", "validate", "/dev/zero"],
            "is a character device, not a regular file",
        ),
        (
            vec!["profiles", "validate", fifo.to_str().unwrap()],
            "is a FIFO",
        ),
        (
            vec!["profiles", "validate", big.to_str().unwrap()],
            "larger than 1 MiB",
        ),
        (
            vec![
                "audit",
                "--proc",
                "none",
                "--nginx-dump",
                fifo.to_str().unwrap(),
            ],
            "is a FIFO",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(says) || r.stdout.contains(says),
            "{args:?}: {}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn a_sysctl_file_past_its_cap_is_a_problem_not_a_read() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&d).unwrap();
    let f = std::fs::File::create(d.join("10-huge.conf")).unwrap();
    f.set_len((16 << 20) + 1).unwrap();
    mkfifo(&d.join("20-fifo.conf"));
    let dir = tempfile::tempdir().unwrap();
    let prof = common::keys_profile(dir.path(), &["net.core.somaxconn"]);
    let r = common::offline(root.path(), &["--profile", &prof]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("10-huge.conf") && r.stderr.contains("larger than 16 MiB"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("20-fifo.conf") && r.stderr.contains("is a FIFO"),
        "{}",
        r.stderr
    );
}

#[test]
fn many_files_at_their_cap_are_refused_in_all_not_read() {
    // Sparse: 20 files of 16 MiB take no disk, but 320 MiB to read.
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..20 {
        let f = std::fs::File::create(d.join(format!("{i:02}-big.conf"))).unwrap();
        f.set_len(16 << 20).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let prof = common::keys_profile(dir.path(), &["net.core.somaxconn"]);
    let r = common::offline(root.path(), &["--profile", &prof]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("past the most tuneguard reads of them in all"),
        "{}",
        r.stderr
    );
}
