//! The Debian package, as scripts/release makes it (of the binary this test run built,
//! so no second build), lintian-clean, installed with dpkg into a throwaway root, and run
//! from there: files, modes, the directories postinst makes, and that the installed
//! tuneguard audits a namespace and accepts those directories as its own.

mod common;

use common::{require_root, Netns};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ok(c: &mut Command) -> String {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{c:?}:\n{said}");
    said
}

/// `dpkg --root` with the maintainer scripts run outside a chroot (the root has no
/// shell): they honour DPKG_ROOT, as Debian's own do.
fn dpkg(root: &Path, args: &[&str]) -> String {
    ok(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-script-chrootless", "--force-depends"])
        .args(args))
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn the_deb_installs_into_a_root_and_its_tuneguard_runs_there() {
    require_root();
    if Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        // Visible in the test output; scripts/test installs cargo-deb, so CI runs it.
        eprintln!("SKIPPED the_deb_installs_into_a_root_and_its_tuneguard_runs_there: cargo-deb is not installed (cargo install --locked cargo-deb)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let made = ok(Command::new(repo().join("scripts/release"))
        .args(["--deb-only", "--profile", "dev", "--out"])
        .arg(out.path())
        .current_dir(repo()));
    assert!(!made.contains("\nE: "), "lintian errors:\n{made}");
    let debs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let deb = debs[0].to_str().unwrap();

    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    dpkg(r, &["-i", deb]);
    let status = ok(Command::new("dpkg-query")
        .arg(format!("--root={}", r.display()))
        .args(["-W", "-f", "${Status}", "tuneguard"]));
    assert_eq!(status, "install ok installed");

    // Files where Debian looks for them.
    let bin = r.join("usr/bin/tuneguard");
    assert_eq!(mode(&bin), 0o755);
    let pages = ok(Command::new(&bin).args(["generate", "man"]));
    for page in pages.lines() {
        let gz = r.join(format!("usr/share/man/man1/{page}.1.gz"));
        assert_eq!(mode(&gz), 0o644, "{page}");
        // man(1) reads it: the page's title and its name line.
        let text = ok(Command::new("man")
            .arg("-l")
            .arg(&gz)
            .env("MANWIDTH", "100"));
        assert!(text.contains(page), "{page}: {text}");
    }
    for f in [
        "usr/share/bash-completion/completions/tuneguard",
        "usr/share/zsh/vendor-completions/_tuneguard",
        "usr/share/fish/vendor_completions.d/tuneguard.fish",
        "usr/share/doc/tuneguard/README.md",
        "usr/share/doc/tuneguard/docs/apply.md",
        "usr/share/doc/tuneguard/copyright",
        "usr/share/doc/tuneguard/changelog.Debian.gz",
    ] {
        assert_eq!(mode(&r.join(f)), 0o644, "{f}");
    }
    // The directories postinst makes: site profiles (empty), and the state directory,
    // root's alone.
    let profiles_d = r.join("etc/tuneguard/profiles.d");
    assert_eq!(mode(&profiles_d), 0o755);
    assert_eq!(std::fs::read_dir(&profiles_d).unwrap().count(), 0);
    let state = r.join("var/lib/tuneguard");
    let meta = std::fs::metadata(&state).unwrap();
    assert!(meta.is_dir());
    assert_eq!(mode(&state), 0o700);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));

    // The installed binary, in a namespace of its own, reading the installed tree: a site
    // profile in profiles.d is trusted (root's, as dpkg made the directories) ...
    std::fs::write(
        profiles_d.join("site.yaml"),
        "name: site\ndescription: test site\nextends: [baseline]\nsysctl:\n  net.core.somaxconn: { min: 1024, severity: error }\n",
    )
    .unwrap();
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let rs = r.to_str().unwrap();
    let audit = Command::new(&bin)
        .args(["audit", "--netns", &ns.name, "--root", rs, "--no-nginx"])
        .args(["--profile", "site", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        audit.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["profiles"], serde_json::json!(["site"]));
    let f = common::finding(&report, "net.core.somaxconn");
    assert_eq!(f["status"], "fail", "{f:#}");
    // ... and the state directory postinst made is one apply accepts and journals in.
    let applied = ok(Command::new(&bin)
        .args([
            "apply",
            "--netns",
            &ns.name,
            "--root",
            rs,
            "--no-nginx",
            "--no-persist",
        ])
        .args(["--profile", "site", "--state-dir"])
        .arg(&state)
        .args(["--yes", "--color", "never"]));
    assert!(applied.contains("applied: transaction"), "{applied}");
    assert_eq!(ns.get("net.core.somaxconn"), "1024");
    assert_eq!(mode(&state), 0o700);
    assert!(state.join("journal").is_dir());

    // Purge removes the package's files; a directory still holding a site profile or a
    // journal stays.
    dpkg(r, &["--purge", "tuneguard"]);
    assert!(!bin.exists());
    assert!(!r.join("usr/share/man/man1/tuneguard.1.gz").exists());
    assert!(profiles_d.join("site.yaml").exists());
    assert!(state.join("journal").is_dir());
}
