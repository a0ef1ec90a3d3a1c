//! What a key no file sets returns to at boot: the kernel default, learned from this
//! kernel (a throwaway network namespace tuneguard makes in a thread of its own), never
//! "unknown". The oracle is a brand-new namespace made with `ip netns add`, read with
//! `sysctl -n`.

mod common;
use common::*;
use serde_json::Value;

/// A profile naming the copied keys too, whose boot default no running kernel shows.
const BUFFERS: &str = "name: buffers\nsysctl:\n  net.ipv4.tcp_rmem: {min: [4096, 4096, 4096]}\n  \
net.ipv4.tcp_wmem: {min: [4096, 4096, 4096]}\n  net.ipv4.tcp_max_syn_backlog: {min: 128}\n  \
net.core.somaxconn: {min: 128}\n";

fn persisted_findings(j: &Value) -> Vec<&Value> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["persisted"].is_object())
        .collect()
}

fn finding<'a>(j: &'a Value, key: &str) -> &'a Value {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == key)
        .unwrap_or_else(|| panic!("no finding for {key}: {j}"))
}

#[test]
fn a_fresh_namespace_with_no_files_is_in_sync_and_never_unknown() {
    let ns = Netns::new();
    let oracle = Netns::new();
    let dirs = Dirs::new();
    let root = dirs.root.path().to_str().unwrap();
    let buffers = write_profile(dirs.state.path(), "buffers", BUFFERS);
    let want_backlog: i64 = oracle.get("net.ipv4.tcp_max_syn_backlog").parse().unwrap();
    let mut profiles: Vec<String> = tuneguard::profile::BUILTIN
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    profiles.push(buffers);
    for profile in &profiles {
        let (_, j) = audit_json(&ns, &["--root", root, "--profile", profile]);
        let found = persisted_findings(&j);
        assert!(!found.is_empty(), "{profile}: {j}");
        for f in found {
            assert_eq!(f["drift"], "in-sync", "{profile}: {f}");
            let text = f.to_string();
            assert!(!text.contains("unknown"), "{profile}: {text}");
            assert!(
                !text.contains("((") && !text.contains("))"),
                "{profile}: {text}"
            );
        }
        let text = run(&[
            "audit",
            "--netns",
            &ns.name,
            "--no-nginx",
            "--root",
            root,
            "--profile",
            profile,
        ]);
        assert!(
            !text.stdout.contains("unknown"),
            "{profile}: {}",
            text.stdout
        );
    }
    let (_, j) = audit_json(&ns, &["--root", root]);
    let f = finding(&j, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(f["persisted"]["after_reboot"], want_backlog, "{f}");
    // Read from the hash size this kernel shows, with no namespace made: the live value
    // is that default.
    assert!(
        f["persisted"]["after_reboot_source"]
            .as_str()
            .unwrap()
            .contains("TCP hash this kernel shows; no file sets it"),
        "{f}"
    );
    // The copied keys: said for what they are, and in-sync since the live value can be it.
    let (_, j) = audit_json(
        &ns,
        &["--root", root, "--profile", &profiles[profiles.len() - 1]],
    );
    let f = finding(&j, "net.ipv4.tcp_rmem");
    assert_eq!(f["persisted"]["after_reboot"], Value::Null, "{f}");
    assert!(
        f["persisted"]["after_reboot_source"]
            .as_str()
            .unwrap()
            .starts_with(
                "the kernel default from boot, which a running kernel does not show again"
            ),
        "{f}"
    );
}

#[test]
fn a_live_value_no_file_sets_is_lost_at_reboot_naming_the_default_it_returns_to() {
    let ns = Netns::new();
    let oracle = Netns::new();
    let dirs = Dirs::new();
    let root = dirs.root.path().to_str().unwrap();
    let buffers = write_profile(dirs.state.path(), "buffers", BUFFERS);
    let default_backlog = oracle.get("net.ipv4.tcp_max_syn_backlog");
    let raised = (default_backlog.parse::<i64>().unwrap() * 2).to_string();
    ns.set("net.ipv4.tcp_max_syn_backlog", &raised);
    ns.set("net.core.somaxconn", "8192");
    // Below the boot default's fixed middle field: provably not what a reboot gives.
    ns.set("net.ipv4.tcp_rmem", "4096 87380 6291456");
    let (_, j) = audit_json(&ns, &["--root", root, "--profile", &buffers]);
    let f = finding(&j, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(f["drift"], "live-not-persisted", "{f}");
    assert_eq!(
        f["persisted"]["after_reboot"],
        default_backlog.parse::<i64>().unwrap()
    );
    assert!(
        f["message"].as_str().unwrap().contains(&format!(
            "not persisted: after a reboot it would be {default_backlog} (the kernel default, as a new network namespace shows it; no file sets it)"
        )),
        "{f}"
    );
    let f = finding(&j, "net.core.somaxconn");
    assert_eq!(f["drift"], "live-not-persisted", "{f}");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("after a reboot it would be 4096 (the kernel default"),
        "{f}"
    );
    let f = finding(&j, "net.ipv4.tcp_rmem");
    assert_eq!(f["drift"], "live-not-persisted", "{f}");
    assert!(
        f["message"].as_str().unwrap().contains(
            "after a reboot it would be the kernel default from boot, which a running kernel does not show again: 4096 131072"
        ),
        "{f}"
    );
    // tcp_wmem kept its value: in sync.
    assert_eq!(finding(&j, "net.ipv4.tcp_wmem")["drift"], "in-sync");

    // A file that sets the live value makes it persisted.
    dirs.write(
        "etc/sysctl.d/60-site.conf",
        &format!("net.ipv4.tcp_max_syn_backlog = {raised}\n"),
    );
    let (_, j) = audit_json(&ns, &["--root", root, "--profile", &buffers]);
    assert_eq!(
        finding(&j, "net.ipv4.tcp_max_syn_backlog")["drift"],
        "in-sync"
    );
}

/// Without root no namespace can be made: the default is said as what it is, with what
/// learning it takes, and the key is not called lost at reboot on a guess.
#[test]
fn without_root_the_default_is_said_not_guessed() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::copy(bin(), bin_dir.path().join("tuneguard")).unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A key the catalog has no default for: only a new namespace would tell it.
    let profile = write_profile(
        bin_dir.path(),
        "p",
        "name: p\nsysctl:\n  net.ipv4.tcp_fastopen: {min: 0}\n  net.ipv4.tcp_max_syn_backlog: {min: 128}\n",
    );
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin_dir.path().join("tuneguard"))
        .args(["audit", "--no-nginx", "--format", "json", "--root"])
        .arg(bin_dir.path())
        .args(["--profile"])
        .arg(&profile)
        .output()
        .expect("setpriv (util-linux)");
    let j: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let f = finding(&j, "net.ipv4.tcp_fastopen");
    assert!(!f.to_string().contains("unknown"), "{f}");
    // The root is empty: no file sets it.
    assert_eq!(f["persisted"]["after_reboot"], Value::Null, "{f}");
    assert_eq!(f["drift"], "in-sync", "{f}");
    assert_eq!(
        f["persisted"]["after_reboot_source"],
        "the kernel default, not learned here: learning it takes a new network namespace, which needs root; no file sets it"
    );
    // tcp_max_syn_backlog needs no namespace: the kernel shows its hash size to anyone.
    let f = finding(&j, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(f["drift"], "in-sync", "{f}");
    assert_eq!(f["persisted"]["after_reboot"], f["live"], "{f}");
}
