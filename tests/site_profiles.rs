//! Site profiles are read only from under root's sole control (src/safety/profiles.rs):
//! `<root>/etc/tuneguard/profiles.d`, each profile in it and every directory up to the
//! root owned by root and not group/other-writable; anything else is an error naming
//! the path and the fix, never silently skipped. A trusted site profile that replaces a
//! built-in is said in every report.

mod common;

use common::apply::apply_in;
use common::{run, Dirs, Netns};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const EVIL_BASELINE: &str = "sysctl:\n  net.core.somaxconn: {equals: 17, apply: 17}\n";

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn audit(root: &str, format: &str) -> common::Run {
    run(&[
        "audit",
        "--proc",
        "none",
        "--root",
        root,
        "--no-nginx",
        "--format",
        format,
    ])
}

#[test]
fn a_site_directory_others_control_is_refused_with_the_fix() {
    let dirs = Dirs::new();
    let root = dirs.root.path().to_str().unwrap().to_string();
    let d = dirs.root.path().join("etc/tuneguard/profiles.d");
    std::fs::create_dir_all(&d).unwrap();

    // World-writable: an unprivileged user plants a baseline for real.
    chmod(&d, 0o777);
    let planted = d.join("baseline.yaml");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(format!(
            "printf '{}' > '{}'",
            EVIL_BASELINE.replace('\n', "\\n"),
            planted.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = audit(&root, "text");
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "site profiles in {} are not under root's sole control",
            d.display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("is writable by group and others (mode 0777)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("chmod go-w {}", d.display())),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.is_empty(),
        "nothing is audited with it: {}",
        r.stdout
    );

    // Root's directory again, but the planted file is still nobody's.
    chmod(&d, 0o755);
    let r = audit(&root, "text");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{} is owned by uid 65534, not root",
            planted.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r
        .stderr
        .contains(&format!("chown root: {}", planted.display())));

    // The directory itself owned by nobody; apply refuses before it reads the host.
    std::fs::remove_file(&planted).unwrap();
    std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
    let r = run(&["profiles", "list", "--root", &root]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is owned by uid 65534"), "{}", r.stderr);
    let ns = Netns::new();
    let r = apply_in(&ns, &dirs, &["--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("chown root: {}", d.display())),
        "{}",
        r.stderr
    );
    assert_eq!(ns.get("net.core.somaxconn"), "4096", "nothing was written");

    // A link in the trusted directory, even to a root-owned file of the host.
    std::os::unix::fs::chown(&d, Some(0), Some(0)).unwrap();
    let link = d.join("baseline.yaml");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let r = audit(&root, "text");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains(&format!("{} is a symbolic link", link.display())),
        "{}",
        r.stderr
    );
    std::fs::remove_file(&link).unwrap();

    // A directory between profiles.d and the root counts too.
    std::os::unix::fs::chown(&d, Some(0), Some(0)).unwrap();
    let etc = dirs.root.path().join("etc");
    chmod(&etc, 0o775);
    let r = audit(&root, "text");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(&format!("chmod go-w {}", etc.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn a_trusted_site_profile_replacing_a_builtin_is_said_in_every_report() {
    let dirs = Dirs::new();
    let root = dirs.root.path().to_str().unwrap();
    let path = dirs.write("etc/tuneguard/profiles.d/baseline.yaml", EVIL_BASELINE);
    let note = format!(
        "site profile {} replaces the built-in baseline",
        path.display()
    );

    let r = audit(root, "text");
    assert_ne!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("note: {note}")), "{}", r.stdout);
    let r = audit(root, "json");
    let v = r.json();
    assert_eq!(v["profiles_overridden"][0]["name"], "baseline", "{v}");
    assert_eq!(v["profiles_overridden"][0]["path"], path.to_str().unwrap());
    let r = audit(root, "junit");
    assert!(
        r.stdout.contains(&format!(
            "<property name=\"profile_override.baseline\" value=\"{note}\"/>"
        )),
        "{}",
        r.stdout
    );
    let r = run(&["profiles", "list", "--root", root]);
    assert!(r.stdout.contains("overrides the built-in"), "{}", r.stdout);
    // Without a site profile, no such field content.
    let empty = tempfile::tempdir().unwrap();
    let r = audit(empty.path().to_str().unwrap(), "json");
    assert_eq!(r.json()["profiles_overridden"], serde_json::json!([]));
}

/// Whoever may rename what is above `--root` can swap the whole checked tree for theirs
/// between the check and the read: a root whose parent another user owns is refused
/// (a red-team review won this race in 1,375 runs before).
#[test]
fn a_root_inside_another_users_directory_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let parent = t.path().join("par");
    let root = parent.join("root");
    let d = root.join("etc/tuneguard/profiles.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("site.yaml"), "extends: [baseline]\n").unwrap();
    for p in [&root, &root.join("etc"), &root.join("etc/tuneguard"), &d] {
        chmod(p, 0o755);
    }
    chmod(&parent, 0o755);
    let r = run(&["profiles", "list", "--root", root.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::os::unix::fs::chown(&parent, Some(65534), Some(65534)).unwrap();
    let r = run(&["profiles", "list", "--root", root.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("{} is owned by uid 65534", parent.display())),
        "{}",
        r.stderr
    );
}
