//! The persisted configuration on trees built like real hosts: which file wins under
//! each loader, the drift class, and every malformed line shape as a finding.

mod common;
use common::*;
use serde_json::Value;

/// An offline JSON audit of the tree with a profile checking `keys`.
fn offline_keys(dirs: &Dirs, keys: &[&str]) -> Value {
    let p = keys_profile(dirs.root.path(), keys);
    let r = offline(dirs.root.path(), &["--format", "json", "--profile", &p]);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    r.json()
}

fn winner(f: &Value, loader: &str) -> (String, u64, Value) {
    let e = &f["persisted"][loader];
    (
        e["file"].as_str().unwrap_or("-").to_string(),
        e["line"].as_u64().unwrap_or(0),
        e["value"].clone(),
    )
}

#[test]
fn debian_like_tree() {
    let d = Dirs::new();
    // Debian: /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf, /lib -> usr/lib.
    d.write(
        "etc/sysctl.conf",
        "# defaults\n#net.core.somaxconn = 1\nnet.ipv4.tcp_keepalive_time = 600\n",
    );
    d.write("etc/sysctl.d/README.sysctl", "see sysctl.d(5)\n");
    std::os::unix::fs::symlink(
        "../sysctl.conf",
        d.root.path().join("etc/sysctl.d/99-sysctl.conf"),
    )
    .unwrap();
    d.write(
        "usr/lib/sysctl.d/50-pid-max.conf",
        "kernel.pid_max = 4194304\n",
    );
    std::os::unix::fs::symlink("usr/lib", d.root.path().join("lib")).unwrap();
    d.write("etc/sysctl.d/60-net.conf", "net.core.somaxconn = 8192\n");
    d.write("lib/systemd/systemd-sysctl", "");
    let j = offline_keys(&d, &["net.core.somaxconn", "net.ipv4.tcp_keepalive_time"]);
    let files = &j["persisted"];
    assert_eq!(files["boot_loader"], "systemd-sysctl");
    assert_eq!(files["boot_loader_assumed"], false);
    assert_eq!(
        files["procps"],
        serde_json::json!([
            "/usr/lib/sysctl.d/50-pid-max.conf",
            "/etc/sysctl.d/60-net.conf",
            "/etc/sysctl.d/99-sysctl.conf",
            "/etc/sysctl.conf"
        ])
    );
    assert_eq!(
        files["masked"],
        serde_json::json!([]),
        "/lib is /usr/lib here: nothing is masked"
    );
    let f = finding(&j, "net.ipv4.tcp_keepalive_time");
    // systemd sees sysctl.conf only through the 99-sysctl.conf link; procps reads both.
    assert_eq!(
        winner(f, "systemd"),
        ("/etc/sysctl.d/99-sysctl.conf".into(), 3, 600.into())
    );
    assert_eq!(
        winner(f, "procps"),
        ("/etc/sysctl.conf".into(), 3, 600.into())
    );
    assert_eq!(f["drift"], "in-sync");
    assert_eq!(f["persisted"]["after_reboot"], 600);
    let f = finding(&j, "net.core.somaxconn");
    assert_eq!(
        winner(f, "systemd"),
        ("/etc/sysctl.d/60-net.conf".into(), 1, 8192.into())
    );
}

#[test]
fn rhel_like_tree_with_masking_and_sysctl_conf_only_for_procps() {
    let d = Dirs::new();
    // RHEL: a real /etc/sysctl.conf that systemd-sysctl never reads, vendor files in
    // /usr/lib, an admin file in /etc masking one of them by name.
    d.write(
        "usr/lib/sysctl.d/50-default.conf",
        "net.ipv4.tcp_fin_timeout = 30\nnet.core.somaxconn = 1024\n",
    );
    d.write(
        "etc/sysctl.d/50-default.conf",
        "net.core.somaxconn = 2048\n",
    );
    d.write("etc/sysctl.conf", "net.ipv4.tcp_keepalive_time = 300\n");
    d.write("usr/lib/systemd/systemd-sysctl", "");
    let j = offline_keys(
        &d,
        &[
            "net.core.somaxconn",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_time",
        ],
    );
    assert_eq!(
        j["persisted"]["masked"],
        serde_json::json!([{"file": "/usr/lib/sysctl.d/50-default.conf", "masked_by": "/etc/sysctl.d/50-default.conf"}])
    );
    // The masked file's fin_timeout never applies: the kernel default stays.
    let f = finding(&j, "net.ipv4.tcp_fin_timeout");
    assert_eq!(f["persisted"]["value"], Value::Null);
    assert_eq!(f["persisted"]["after_reboot"], 60);
    assert_eq!(f["drift"], "shadowed");
    assert!(
        f["message"].as_str().unwrap().contains("masks that file"),
        "{f}"
    );
    let f = finding(&j, "net.core.somaxconn");
    assert_eq!(
        winner(f, "systemd"),
        ("/etc/sysctl.d/50-default.conf".into(), 1, 2048.into())
    );
    // /etc/sysctl.conf: procps sets it, systemd-sysctl (which boots) leaves the default.
    let f = finding(&j, "net.ipv4.tcp_keepalive_time");
    assert_eq!(f["drift"], "loaders-disagree");
    assert_eq!(
        winner(f, "procps"),
        ("/etc/sysctl.conf".into(), 1, 300.into())
    );
    assert_eq!(f["persisted"]["systemd"], Value::Null);
    assert_eq!(f["persisted"]["after_reboot"], 7200);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("sysctl --system would set 300"),
        "{f}"
    );
}

#[test]
fn a_later_file_wins_and_the_earlier_is_shadowed() {
    let d = Dirs::new();
    d.write("etc/sysctl.d/10-tune.conf", "net.core.somaxconn = 16384\n");
    d.write(
        "usr/lib/sysctl.d/99-vendor.conf",
        "net.core.somaxconn = 1024\n",
    );
    let r = offline(
        d.root.path(),
        &["--format", "json", "--profile", "web-frontend"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    let f = finding(&j, "net.core.somaxconn");
    assert_eq!(f["status"], "fail");
    assert_eq!(f["drift"], "persisted-below-profile");
    assert_eq!(
        winner(f, "systemd"),
        ("/usr/lib/sysctl.d/99-vendor.conf".into(), 1, 1024.into())
    );
    assert_eq!(
        f["persisted"]["shadowed"],
        serde_json::json!([{"file": "/etc/sysctl.d/10-tune.conf", "line": 1, "value": 16384}])
    );
    assert!(
        f["message"].as_str().unwrap().contains("will be 1024"),
        "{f}"
    );
    assert_eq!(j["persisted"]["boot_loader_assumed"], true);
    // Text shows it on the key's line.
    let t = offline(d.root.path(), &["--profile", "web-frontend"]);
    let line = t
        .stdout
        .lines()
        .find(|l| l.contains("net.core.somaxconn"))
        .unwrap();
    assert!(
        line.contains("persisted as 1024 in /usr/lib/sysctl.d/99-vendor.conf:1"),
        "{line}"
    );
}

#[test]
fn live_value_not_persisted_is_lost_at_reboot() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "16384");
    let d = Dirs::new();
    d.write("etc/sysctl.d/README", "not a .conf file\n");
    let root = d.root.path().to_str().unwrap();
    let (code, j) = audit_json(&ns, &["--root", root, "--profile", "web-frontend"]);
    let f = finding(&j, "net.core.somaxconn");
    assert_eq!(f["live"], 16384);
    assert_eq!(f["drift"], "live-not-persisted");
    assert_eq!(
        (f["status"].as_str(), f["severity"].as_str()),
        (Some("fail"), Some("warning")),
        "{f}"
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("after a reboot it would be 4096"),
        "{f}"
    );
    assert_eq!(code, 0, "a warning does not reach --fail-on error");
    assert!(
        f["remedy"]
            .as_str()
            .unwrap()
            .starts_with("persist it: put `net.core.somaxconn = 16384`"),
        "the live value is right: the fix is to persist it, not to write it again: {f}"
    );
    // Persisted too: in sync, passes.
    d.write("etc/sysctl.d/90-net.conf", "net.core.somaxconn=16384\n");
    let (_, j) = audit_json(&ns, &["--root", root, "--profile", "web-frontend"]);
    let f = finding(&j, "net.core.somaxconn");
    assert_eq!(
        (f["status"].as_str(), f["drift"].as_str()),
        (Some("pass"), Some("in-sync")),
        "{f}"
    );
    // A child namespace without --root: the host's files are not its files.
    let (_, j) = audit_json(&ns, &["--profile", "web-frontend"]);
    assert_eq!(j["persisted"]["checked"], false);
    assert_eq!(finding(&j, "net.core.somaxconn")["drift"], Value::Null);
}

#[test]
fn every_malformed_line_shape_is_a_finding_and_nothing_is_lost() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/10-mixed.conf",
        "# comment\r\n; comment\r\n  net.core.somaxconn  =  8192  \r\nnet/ipv4/tcp_fin_timeout=30\r\njust words\r\nnet.ipv4.tcp_retries2 =\r\n= 5\r\n\
-net.ipv4.tcp_keepalive_time = 300\r\nnet.ipv4.tcp_keepalive_* = 120\r\n-net.ipv4.tcp_keepalive_probes\r\nnet.core.somaxconn = 9000\r\nnet.ipv4.tcp_keepalive_intvl = 30 # inline\r\nnet.ipv4.tcp_syncookies = lots",
    );
    std::fs::create_dir_all(d.root.path().join("etc/sysctl.d/20-a-directory.conf")).unwrap();
    let keys = [
        "net.core.somaxconn",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_retries2",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_syncookies",
    ];
    let j = offline_keys(&d, &keys);
    let after = |k: &str| finding(&j, k)["persisted"]["after_reboot"].clone();
    assert_eq!(
        after("net.core.somaxconn"),
        9000,
        "duplicate key in one file: the last wins"
    );
    assert_eq!(winner(finding(&j, "net.core.somaxconn"), "systemd").1, 11);
    assert_eq!(finding(&j, "net.core.somaxconn")["drift"], "shadowed");
    assert_eq!(after("net.ipv4.tcp_fin_timeout"), 30, "slash keys");
    assert_eq!(
        after("net.ipv4.tcp_retries2"),
        15,
        "an empty value sets nothing"
    );
    assert_eq!(
        after("net.ipv4.tcp_keepalive_time"),
        300,
        "-key = value still sets; exact beats the glob"
    );
    assert_eq!(
        after("net.ipv4.tcp_keepalive_intvl"),
        30,
        "the kernel ignores text after the value"
    );
    assert_eq!(
        after("net.ipv4.tcp_keepalive_probes"),
        9,
        "excluded from the glob"
    );
    assert_eq!(
        after("net.ipv4.tcp_syncookies"),
        1,
        "a value the kernel rejects leaves the default"
    );
    let cookies = finding(&j, "net.ipv4.tcp_syncookies");
    assert!(
        cookies["message"]
            .as_str()
            .unwrap()
            .contains("sets `lots`, which the kernel rejects"),
        "{cookies}"
    );
    let subjects: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "persisted")
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    for s in [
        "/etc/sysctl.d/10-mixed.conf:5",
        "/etc/sysctl.d/10-mixed.conf:6",
        "/etc/sysctl.d/10-mixed.conf:7",
        "/etc/sysctl.d/20-a-directory.conf",
    ] {
        assert!(subjects.contains(&s), "no finding for {s}: {subjects:?}");
    }
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    let unreadable = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == "/etc/sysctl.d/20-a-directory.conf")
        .unwrap();
    assert_eq!(unreadable["status"], "fail");
    assert!(unreadable["message"]
        .as_str()
        .unwrap()
        .contains("could not be read"));
}

#[test]
fn offline_audit_of_a_deploy_tree_gates_ci() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/90-web.conf",
        "net.core.somaxconn = 16384\nnet.ipv4.tcp_syncookies = 1\n",
    );
    let r = offline(
        d.root.path(),
        &["--profile", "web-frontend", "--kernel", "6.1"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Linux 6.1") && r.stdout.contains("net.core.somaxconn will be 16384"),
        "{}",
        r.stdout
    );
    d.write(
        "etc/sysctl.d/95-override.conf",
        "net.core.somaxconn = 128\n",
    );
    let r = offline(d.root.path(), &["--profile", "web-frontend"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // Not persisted and a default that depends on the machine: said, not guessed.
    let j = offline(
        d.root.path(),
        &["--format", "json", "--profile", "small-proxy"],
    )
    .json();
    let f = finding(&j, "net.ipv4.tcp_max_orphans");
    assert_eq!(f["status"], "skip");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("depends on the machine"),
        "{f}"
    );
}

/// A masked file that sets the same value changes nothing: the key is in sync (found on
/// the real-world corpus: same-named `10-network-security.conf` files in /etc and /run,
/// both with `tcp_syncookies=1`). One that sets something else makes it `shadowed`.
#[test]
fn a_masked_file_with_the_same_value_is_in_sync() {
    let d = Dirs::new();
    d.write("etc/sysctl.d/10-net.conf", "net.ipv4.tcp_syncookies = 1\n");
    d.write("run/sysctl.d/10-net.conf", "net.ipv4.tcp_syncookies=1\n");
    let j = offline_keys(&d, &["net.ipv4.tcp_syncookies"]);
    let f = finding(&j, "net.ipv4.tcp_syncookies");
    assert_eq!(f["drift"], "in-sync", "{f}");
    assert_eq!(
        f["persisted"]["masked"][0]["file"], "/run/sysctl.d/10-net.conf",
        "{f}"
    );
    d.write("run/sysctl.d/10-net.conf", "net.ipv4.tcp_syncookies=0\n");
    let j = offline_keys(&d, &["net.ipv4.tcp_syncookies"]);
    let f = finding(&j, "net.ipv4.tcp_syncookies");
    assert_eq!(f["drift"], "shadowed", "{f}");
}

/// A rule skipped because its `when` does not hold (tcp_max_syn_backlog while syncookies
/// are on) says nothing about the persisted value: the drift is not
/// `persisted-below-profile` (found on the real-world corpus).
#[test]
fn a_skipped_rule_is_not_persisted_below_profile() {
    let d = Dirs::new();
    d.write(
        "etc/sysctl.d/60-net.conf",
        "net.ipv4.tcp_syncookies = 1\nnet.ipv4.tcp_max_syn_backlog = 8192\n",
    );
    let r = offline(
        d.root.path(),
        &["--format", "json", "--profile", "web-frontend"],
    );
    let j = r.json();
    let f = finding(&j, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(f["status"], "skip", "{f}");
    assert_eq!(f["drift"], "in-sync", "{f}");
    // With cookies off the rule applies, and 8192 is below its 16384.
    d.write(
        "etc/sysctl.d/60-net.conf",
        "net.ipv4.tcp_syncookies = 0\nnet.ipv4.tcp_max_syn_backlog = 8192\n",
    );
    let r = offline(
        d.root.path(),
        &["--format", "json", "--profile", "web-frontend"],
    );
    let j = r.json();
    let f = finding(&j, "net.ipv4.tcp_max_syn_backlog");
    assert_eq!(f["status"], "fail", "{f}");
    assert_eq!(f["drift"], "persisted-below-profile", "{f}");
}
