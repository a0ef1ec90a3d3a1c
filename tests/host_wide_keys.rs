//! Host-wide keys from a child namespace: only net.* keys present under the namespace's
//! own /proc/sys/net are its own (the kernel decides, not the catalog); anything else a
//! profile sets (kernel.core_pattern, vm.*, fs.*) is refused without --allow-global.
//! No test here ever writes a host-wide key: the refusals are asserted with --dry-run
//! first, the --yes run carries a fault before its first step as a second guard, and
//! the host's values are read before and after.

mod common;

use common::apply::apply_in;
use common::{Dirs, Netns};

/// The host's value, read in the test's own (initial) namespace.
fn host(key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

const EVIL: &str = "name: evil\nsysctl:\n  kernel.core_pattern: {equals: \"|/tmp/evil %p\"}\n  vm.swappiness: {equals: 7}\n  net.core.netdev_max_backlog: {equals: 4242}\n  net.core.somaxconn: {equals: 1234}\n";

#[test]
fn kernel_vm_and_global_net_keys_are_refused_from_a_child_namespace() {
    let ns = Netns::new();
    let dirs = Dirs::new();
    let profile = dirs.write("evil.yaml", EVIL);
    let watched = [
        "kernel.core_pattern",
        "vm.swappiness",
        "net.core.netdev_max_backlog",
    ];
    let before: Vec<String> = watched.iter().map(|k| host(k)).collect();
    let p = profile.to_str().unwrap();

    // The dry run first: if the refusal were broken, nothing is written here.
    let r = apply_in(&ns, &dirs, &["--dry-run", "--profile", p]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    for key in ["kernel.core_pattern", "vm.swappiness"] {
        assert!(
            r.stderr.contains(&format!(
                "{key} is a global key: it is not under network namespace {}'s own /proc/sys/net",
                ns.name
            )),
            "{}",
            r.stderr
        );
    }
    assert!(r.stderr.contains("pass --allow-global"), "{}", r.stderr);
    // net.core.somaxconn is the namespace's own: planned, not refused.
    assert!(!r.stderr.contains("net.core.somaxconn is a global key"));
    assert!(r.stdout.contains("net.core.somaxconn"), "{}", r.stdout);
    // netdev_max_backlog is absent from the namespace: never planned, never written,
    // and the plan says so.
    assert!(
        !r.stdout.contains("live   net.core.netdev_max_backlog"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("note: net.core.netdev_max_backlog: not under network namespace {}'s own /proc/sys/net (a global key of the host), so not written from here", ns.name)),
        "{}",
        r.stdout
    );

    // The same with --yes; the injected fault at the journal boundary (before any
    // step) keeps the host safe even if the refusal broke between the two runs.
    let r = common::run_with(
        &[
            "apply",
            "--netns",
            &ns.name,
            "--root",
            dirs.root.path().to_str().unwrap(),
            "--state-dir",
            dirs.state.path().to_str().unwrap(),
            "--no-nginx",
            "--yes",
            "--profile",
            p,
        ],
        &[("TUNEGUARD_FAULT", "journal")],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("apply refused before changing anything"));
    assert!(r.stderr.contains("kernel.core_pattern is a global key"));
    assert!(r.stderr.contains("vm.swappiness is a global key"));
    assert_eq!(ns.get("net.core.somaxconn"), "4096", "nothing was written");
    let after: Vec<String> = watched.iter().map(|k| host(k)).collect();
    assert_eq!(before, after, "the host's values are unchanged");
}

#[test]
fn with_allow_global_the_plan_marks_each_host_wide_write() {
    // --dry-run only: a test never writes a host-wide key.
    let ns = Netns::new();
    let dirs = Dirs::new();
    let profile = dirs.write("evil.yaml", EVIL);
    let before = host("kernel.core_pattern");
    let r = apply_in(
        &ns,
        &dirs,
        &[
            "--dry-run",
            "--no-persist",
            "--allow-global",
            "--profile",
            profile.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    let live = v["plan"]["live"].as_array().unwrap();
    let wide = |k: &str| {
        live.iter()
            .find(|c| c["key"] == k)
            .unwrap_or_else(|| panic!("{k} not planned: {v}"))["host_wide"]
            .clone()
    };
    assert_eq!(wide("kernel.core_pattern"), true);
    assert_eq!(wide("net.core.somaxconn"), false);
    assert_eq!(v["plan"]["refusals"].as_array().unwrap().len(), 0);
    let text = apply_in(
        &ns,
        &dirs,
        &[
            "--dry-run",
            "--no-persist",
            "--allow-global",
            "--profile",
            profile.to_str().unwrap(),
        ],
    );
    let line = text
        .stdout
        .lines()
        .find(|l| l.contains("kernel.core_pattern"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(line.contains("(host-wide"), "{line}");
    assert_eq!(host("kernel.core_pattern"), before);
}
