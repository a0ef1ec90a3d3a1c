//! The harness keeps its promises: namespaces vanish even when a test panics, and a
//! permission problem is named with what to run.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn netns_exists(name: &str) -> bool {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .any(|w| w == name)
}

#[test]
fn namespace_is_deleted_when_the_test_panics() {
    let mut name = String::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ns = Netns::new();
        name = ns.name.clone();
        assert!(netns_exists(&ns.name));
        panic!("a failing test");
    }));
    assert!(result.is_err());
    assert!(
        !name.is_empty() && !netns_exists(&name),
        "{name} survived the panic"
    );
}

#[test]
#[should_panic(expected = "global")]
fn harness_refuses_to_write_global_keys() {
    let ns = Netns::new();
    ns.set("net.core.netdev_max_backlog", "2000");
}

/// Runs a copy of tuneguard (in a directory anyone can search) as `nobody` (uid
/// 65534), as an unprivileged user would.
fn as_nobody(bin_dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin_dir.join("tuneguard"))
        .args(args)
        .output()
        .expect("setpriv (util-linux)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn permission_problems_name_the_key_and_what_to_run() {
    require_root();
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::copy(bin(), bin_dir.path().join("tuneguard")).unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dirs = Dirs::new();
    let f = dirs.write("sys/net/core/somaxconn", "4096\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    for sub in ["", "sys", "sys/net", "sys/net/core"] {
        std::fs::set_permissions(
            dirs.root.path().join(sub),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    let root = dirs.root.path().to_str().unwrap();
    // A readable directory with no configuration in it (a --root must exist).
    let empty_root = bin_dir.path().to_str().unwrap();
    let (code, err) = as_nobody(
        bin_dir.path(),
        &["audit", "--proc", root, "--no-nginx", "--root", empty_root],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("net.core.somaxconn") && err.contains("run tuneguard as root"),
        "{err}"
    );

    let ns = Netns::new();
    let (code, err) = as_nobody(
        bin_dir.path(),
        &[
            "audit",
            "--netns",
            &ns.name,
            "--no-nginx",
            "--root",
            empty_root,
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CAP_SYS_ADMIN") && err.contains("root"),
        "{err}"
    );
}
