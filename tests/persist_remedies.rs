//! A remedy that persists a value names the line that really wins at boot under both
//! loaders (or what `tuneguard apply` writes), never "a file under /etc/sysctl.d/": a new
//! 50-tune.conf changes nothing while 60-site.conf sets the key. Each remedy is followed
//! as written and the audit run again.

mod common;
use common::*;
use serde_json::Value;

fn finding<'a>(j: &'a Value, key: &str) -> &'a Value {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == key)
        .unwrap_or_else(|| panic!("no finding for {key}: {j}"))
}

fn somaxconn(root: &std::path::Path) -> Value {
    let r = offline(root, &["--format", "json"]);
    finding(&r.json(), "net.core.somaxconn").clone()
}

#[test]
fn offline_the_remedy_names_the_file_that_wins_and_following_it_passes() {
    let dirs = Dirs::new();
    let root = dirs.root.path();
    dirs.write(
        "etc/sysctl.d/60-site.conf",
        "# site tuning\nnet.core.somaxconn = 1024\n",
    );
    let f = somaxconn(root);
    assert_eq!(f["status"], "fail", "{f}");
    assert_eq!(
        f["remedy"],
        "edit /etc/sysctl.d/60-site.conf:2, which wins under both loaders: `net.core.somaxconn = 4096`"
    );
    // What the old remedy said would do: a new file that sorts first changes nothing.
    dirs.write("etc/sysctl.d/50-tune.conf", "net.core.somaxconn = 4096\n");
    assert_eq!(somaxconn(root)["status"], "fail");
    // What this one says does.
    dirs.write(
        "etc/sysctl.d/60-site.conf",
        "# site tuning\nnet.core.somaxconn = 4096\n",
    );
    assert_eq!(somaxconn(root)["status"], "pass");
}

#[test]
fn offline_each_loader_s_winner_is_named() {
    let dirs = Dirs::new();
    let root = dirs.root.path();
    dirs.write("etc/sysctl.d/70-b.conf", "net.core.somaxconn = 300\n");
    dirs.write("etc/sysctl.conf", "net.core.somaxconn = 600\n");
    // procps reads /etc/sysctl.conf last; systemd-sysctl never reads it.
    let f = somaxconn(root);
    let remedy = f["remedy"].as_str().unwrap();
    assert!(
        remedy.starts_with("edit /etc/sysctl.d/70-b.conf:1, which wins under systemd-sysctl, and /etc/sysctl.conf:1, which wins under sysctl --system: "),
        "{f}"
    );
    for file in ["etc/sysctl.d/70-b.conf", "etc/sysctl.conf"] {
        dirs.write(file, "net.core.somaxconn = 4096\n");
    }
    assert_eq!(somaxconn(root)["status"], "pass");

    // A package's file wins: not the administrator's to edit.
    let dirs = Dirs::new();
    dirs.write(
        "usr/lib/sysctl.d/50-pkg.conf",
        "net.core.somaxconn = 1024\n",
    );
    let f = somaxconn(dirs.root.path());
    assert_eq!(
        f["remedy"],
        "/usr/lib/sysctl.d/50-pkg.conf:1 (a package's file, replaced on upgrade) wins under both loaders: `tuneguard apply` writes `net.core.somaxconn = 4096` to a file under /etc/sysctl.d named to sort after it"
    );
}

/// Live value right, the file that wins at boot wrong: "persist it" names that file.
#[test]
fn lost_at_reboot_names_the_file_that_wins() {
    let ns = Netns::new();
    let dirs = Dirs::new();
    dirs.write("etc/sysctl.d/60-site.conf", "net.core.somaxconn = 1024\n");
    ns.set("net.core.somaxconn", "8192");
    let (_, j) = audit_json(&ns, &["--root", dirs.root.path().to_str().unwrap()]);
    let f = finding(&j, "net.core.somaxconn");
    assert_eq!(f["drift"], "persisted-below-profile", "{f}");
    assert_eq!(
        f["remedy"],
        "persist it: edit /etc/sysctl.d/60-site.conf:1, which wins under both loaders: `net.core.somaxconn = 8192`"
    );
}
