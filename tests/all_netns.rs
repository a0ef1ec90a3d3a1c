//! `audit --all-netns` against namespaces made here: one by `ip netns add`, and three held
//! by a sleeping `unshare --net` process each, placed in cgroups made here and named as
//! docker's (systemd driver), containerd's under a Kubernetes burstable pod slice, and
//! none. Other tests make and delete namespaces meanwhile, so every assertion is about
//! the namespaces made here, never about totals. The oracles: the kernel (each
//! namespace's nsfs inode from stat of /proc/PID/ns/net, its values from sysctl(8)
//! inside it) and a single `audit --netns NAME` / `--pid PID` run of the same namespace.

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A container id (64 hex digits) and a pod UID of this test process's own: tests run
/// side by side.
fn container_id(n: u32) -> String {
    format!("{n:02x}{:08x}{}", std::process::id(), "c0ffee".repeat(9))
}

fn pod_uid() -> String {
    format!("1b4e28ba-2fa1-11d2-883f-{:012x}", std::process::id())
}

/// The cgroup v2 hierarchy's mount point (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a
/// hybrid host), from /proc/self/mountinfo.
fn cgroup2() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            (post.split_whitespace().next() == Some("cgroup2"))
                .then(|| PathBuf::from(pre.split_whitespace().nth(4).unwrap()))
        })
        .expect("no cgroup2 hierarchy mounted: these tests place processes in cgroups they make")
}

/// A sleeping process in a network namespace of its own, moved into a cgroup made for
/// it (removed, with the process, on drop).
struct Held {
    child: Child,
    cgroups: Vec<PathBuf>,
}

impl Held {
    /// `rel`: the cgroup path below a directory of this test's own, or "" for none.
    fn new(rel: &str) -> Held {
        require_root();
        let child = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .spawn()
            .expect("running unshare --net");
        let mut held = Held {
            child,
            cgroups: Vec::new(),
        };
        // unshare(1) unshares, then execs sleep in the same process.
        let mine = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        for _ in 0..500 {
            let comm = std::fs::read_to_string(held.proc("comm")).unwrap_or_default();
            if comm.trim() == "sleep" && held.ino() != mine {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            std::fs::read_to_string(held.proc("comm")).unwrap().trim(),
            "sleep"
        );
        if !rel.is_empty() {
            let base = cgroup2().join(format!(
                "{NETNS_PREFIX}{}-{}",
                std::process::id(),
                held.pid()
            ));
            let leaf = base.join(rel);
            std::fs::create_dir_all(&leaf).unwrap();
            let mut at = leaf.as_path();
            while at.starts_with(&base) {
                held.cgroups.push(at.to_path_buf());
                at = at.parent().unwrap();
            }
            std::fs::write(leaf.join("cgroup.procs"), held.pid().to_string()).unwrap();
            let cg = std::fs::read_to_string(held.proc("cgroup")).unwrap();
            assert!(cg.contains(rel), "{cg}");
        }
        held
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn proc(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{rel}", self.pid()))
    }

    /// The kernel's identity of its namespace.
    fn ino(&self) -> u64 {
        std::fs::metadata(self.proc("ns/net")).unwrap().ino()
    }

    /// sysctl(8) inside its namespace (net.* keys only).
    fn sysctl(&self, args: &[&str]) -> String {
        assert!(args
            .iter()
            .all(|a| a.starts_with("net.") || a.starts_with('-')));
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.proc("ns/net").display()))
            .arg("sysctl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn end(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.end();
        // Deepest first: a cgroup goes once its children and processes have.
        for cg in &self.cgroups {
            for _ in 0..100 {
                if std::fs::remove_dir(cg).is_ok() || !cg.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

fn all_netns(env: &[(&str, &str)]) -> Run {
    let o = tg_within(
        &["audit", "--all-netns", "--no-nginx", "--format", "json"],
        env,
        120,
    );
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The entries of `fleet` for the namespace with this nsfs inode.
fn by_ino(fleet: &Value, ino: u64) -> Vec<&Value> {
    fleet["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["nsfs"]["ino"] == ino)
        .collect()
}

/// A report's findings, which a single run must give the same.
fn findings(report: &Value) -> &Value {
    &report["findings"]
}

fn single(args: &[&str]) -> Value {
    let mut all = vec!["audit", "--no-nginx", "--format", "json"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
    r.json()
}

#[test]
fn every_namespace_once_named_as_a_person_knows_it_with_the_findings_of_a_single_run() {
    let named = Netns::new();
    named.set("net.core.somaxconn", "128");
    let (id, pod_id, pod_uid) = (container_id(1), container_id(2), pod_uid());
    let docker = Held::new(&format!("system.slice/docker-{id}.scope"));
    let pod = Held::new(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{pod_id}.scope",
        pod_uid.replace('-', "_")
    ));
    // A cgroup of its own that names nothing: named by its process.
    let plain = Held::new("plain");
    for h in [&docker, &pod, &plain] {
        h.sysctl(&["-q", "-w", "net.core.somaxconn=128"]);
        assert_eq!(h.sysctl(&["-n", "net.core.somaxconn"]), "128");
    }
    let r = all_netns(&[]);
    assert!(
        r.code >= 1,
        "somaxconn 128 fails the baseline: {}",
        r.stderr
    );
    let fleet = r.json();
    assert_eq!(fleet["schema"], "tuneguard.fleet/v1");

    // The ip netns one: found once, by its name, with a single --netns run's findings.
    let ino = std::fs::metadata(named.path()).unwrap().ino();
    let found = by_ino(&fleet, ino);
    assert_eq!(found.len(), 1, "{fleet:#}");
    let ns = found[0];
    assert_eq!(ns["name"], format!("ip netns {}", named.name));
    assert_eq!(ns["ip_netns"], serde_json::json!([named.name]));
    assert_eq!(ns["status"], "fail");
    assert_eq!(ns["exit_code"], 1);
    let alone = single(&["--netns", &named.name]);
    assert_eq!(findings(&ns["report"]), findings(&alone));
    assert_eq!(ns["report"]["host"]["netns"], named.name);
    let f = finding(&ns["report"], "net.core.somaxconn");
    assert_eq!(f["live"], 128);
    assert_eq!(
        f["remedy"],
        format!(
            "ip netns exec {} sysctl -w net.core.somaxconn=4096",
            named.name
        )
    );

    // The processes' namespaces: found once each, named by their cgroups (or their
    // process), audited as `--pid PID` would.
    let cases: [(&Held, String, &str); 3] = [
        (
            &docker,
            format!("docker container {}", &id[..12]),
            "docker run --sysctl net.core.somaxconn=4096",
        ),
        (
            &pod,
            format!("Kubernetes pod {pod_uid} (container {})", &pod_id[..12]),
            "securityContext.sysctls: [{name: net.core.somaxconn, value: 4096}]",
        ),
        (
            &plain,
            format!("processes sleep[{}]", plain.pid()),
            "nsenter --net=",
        ),
    ];
    for (held, name, remedy) in cases {
        let found = by_ino(&fleet, held.ino());
        assert_eq!(found.len(), 1, "{name}: {fleet:#}");
        let ns = found[0];
        assert_eq!(ns["name"], name);
        assert_eq!(ns["ip_netns"], serde_json::json!([]));
        assert_eq!(ns["processes"], 1);
        assert_eq!(ns["named_processes"][0]["pid"], held.pid());
        assert_eq!(ns["status"], "fail");
        let alone = single(&["--pid", &held.pid().to_string()]);
        assert_eq!(findings(&ns["report"]), findings(&alone), "{name}");
        assert_eq!(ns["report"]["host"]["netns"], format!("pid:{}", held.pid()));
        assert_eq!(ns["report"]["host"]["initial_netns"], false);
        let f = finding(&ns["report"], "net.core.somaxconn");
        assert_eq!(f["live"], 128);
        let text = f["remedy"].as_str().unwrap();
        assert!(text.contains(remedy), "{name}: {text}");
        assert!(
            text.contains(&format!(
                "nsenter --net=/proc/{}/ns/net sysctl -w net.core.somaxconn=4096",
                held.pid()
            )),
            "{name}: {text}"
        );
    }
    let pod_ns = by_ino(&fleet, pod.ino())[0];
    assert_eq!(pod_ns["workload"]["kind"], "pod");
    assert_eq!(pod_ns["workload"]["uid"], pod_uid);
    assert_eq!(pod_ns["workload"]["container"]["id"], pod_id);
    assert_eq!(pod_ns["workload"]["container"]["runtime"], "containerd");
    let text = finding(&pod_ns["report"], "net.core.somaxconn")["remedy"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("--allowed-unsafe-sysctls=net.core.somaxconn"),
        "somaxconn is outside the kubelet's safe set: {text}"
    );
    let docker_ns = by_ino(&fleet, docker.ino())[0];
    assert_eq!(docker_ns["workload"]["kind"], "container");
    assert_eq!(docker_ns["workload"]["runtime"], "docker");
    assert_eq!(docker_ns["workload"]["id"], id);

    // The host's namespace: once, as tuneguard's own.
    let own = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let host = by_ino(&fleet, own);
    assert_eq!(host.len(), 1);
    assert_eq!(host[0]["own"], true);
    assert_eq!(host[0]["report"]["host"]["netns"], "self");

    // The summary counts this test's four among the failing ones, somaxconn among the keys.
    let failing = fleet["summary"]["failing"].as_array().unwrap();
    let somaxconn = failing
        .iter()
        .find(|k| k["subject"] == "net.core.somaxconn")
        .unwrap_or_else(|| panic!("{:#}", fleet["summary"]));
    assert!(somaxconn["namespaces"].as_u64().unwrap() >= 4);
    assert!(fleet["summary"]["fail"].as_u64().unwrap() >= 4);
}

#[test]
fn the_text_report_sums_up_first_then_each_namespace_under_its_name() {
    let named = Netns::new();
    named.set("net.ipv4.tcp_keepalive_time", "8000");
    let id = container_id(3);
    let docker = Held::new(&format!("system.slice/docker-{id}.scope"));
    docker.sysctl(&["-q", "-w", "net.core.somaxconn=128"]);
    let o = tg_within(&["audit", "--all-netns", "--no-nginx"], &[], 120);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let first: Vec<&str> = text.lines().take(3).collect();
    assert!(
        first[0].starts_with("tuneguard audit --all-netns · "),
        "{text}"
    );
    assert!(
        first[0].contains(" network namespaces · profile baseline"),
        "{text}"
    );
    assert!(first[1].contains(" fail (at or above error)"), "{text}");
    assert!(
        first[2].starts_with("failing: ") && first[2].contains("net.core.somaxconn ("),
        "{text}"
    );
    let head = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with("=== ") && l.ends_with(name))
            .count()
    };
    // The warning does not fail at --fail-on error: one line, OK.
    assert_eq!(head(&format!("OK ip netns {}", named.name)), 1, "{text}");
    assert_eq!(
        head(&format!("FAIL docker container {}", &id[..12])),
        1,
        "{text}"
    );
    let block = text
        .split("=== ")
        .find(|b| b.starts_with(&format!("FAIL docker container {}", &id[..12])))
        .unwrap();
    assert!(block.contains("net.core.somaxconn is 128"), "{block}");
    // -v shows every namespace's findings, the warning among them.
    let o = tg_within(&["audit", "--all-netns", "--no-nginx", "-v"], &[], 120);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let block = text
        .split("=== ")
        .find(|b| b.starts_with(&format!("OK ip netns {}", named.name)))
        .unwrap();
    assert!(
        block.contains("net.ipv4.tcp_keepalive_time is 8000"),
        "{block}"
    );
}

/// Namespaces that vanish between discovery and their turn (a process exits, `ip netns
/// del` runs) are reported as gone, the rest audited, and the exit code is theirs.
#[cfg(feature = "fault-injection")]
#[test]
fn a_namespace_that_vanishes_mid_run_is_reported_not_a_crash() {
    let stays = Netns::new();
    stays.set("net.core.somaxconn", "128");
    let goes = Netns::new();
    let mut exits = Held::new("");
    let (exits_pid, exits_ino) = (exits.pid(), exits.ino());
    let d = Dirs::new();
    let pause = d.root.path().join("paused");
    let mut child = Command::new(bin())
        .args(["audit", "--all-netns", "--no-nginx", "--format", "json"])
        .env("TUNEGUARD_PAUSE", "all-netns:discovered")
        .env("TUNEGUARD_PAUSE_FILE", &pause)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if pause.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(pause.exists(), "the run did not reach the pause");
    exits.end();
    let out = Command::new("ip")
        .args(["netns", "del", &goes.name])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::remove_file(&pause).unwrap();
    let out = wait_bounded(child.id(), &mut child);
    let fleet: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let gone = |n: &&Value| n["status"] == "vanished";
    let named_gone: Vec<&Value> = fleet["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["ip_netns"] == serde_json::json!([goes.name]))
        .collect();
    assert_eq!(named_gone.len(), 1, "{fleet:#}");
    assert!(gone(&named_gone[0]), "{:#}", named_gone[0]);
    assert_eq!(named_gone[0]["exit_code"], 0);
    assert_eq!(named_gone[0]["report"], Value::Null);
    let proc_gone = by_ino(&fleet, exits_ino);
    assert_eq!(proc_gone.len(), 1, "{fleet:#}");
    assert!(gone(&proc_gone[0]));
    assert_eq!(
        proc_gone[0]["name"],
        format!("processes sleep[{exits_pid}]")
    );
    // The one that stayed is audited, and fails as it should.
    let ino = std::fs::metadata(stays.path()).unwrap().ino();
    assert_eq!(by_ino(&fleet, ino)[0]["status"], "fail");
    assert!(fleet["summary"]["vanished"].as_u64().unwrap() >= 2);
    assert!(out.status.code().unwrap() >= 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn wait_bounded(pid: u32, child: &mut Child) -> std::process::Output {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("audit --all-netns (pid {pid}) did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut err = Vec::new();
    let _ = stderr.read_to_end(&mut err);
    std::process::Output {
        status,
        stdout: t.join().unwrap(),
        stderr: err,
    }
}

#[test]
fn needs_root_and_refuses_what_it_cannot_do() {
    require_root();
    let nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .args(["audit", "--all-netns", "--no-nginx"])
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(2));
    let err = String::from_utf8_lossy(&nobody.stderr);
    assert!(
        err.contains("--all-netns enters every network namespace, which needs CAP_SYS_ADMIN"),
        "{err}"
    );
    assert!(nobody.stdout.is_empty());
    let nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .args(["observe", "--all-netns", "--once"])
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(2));
    let err = String::from_utf8_lossy(&nobody.stderr);
    assert!(
        err.contains("--all-netns enters every network namespace, which needs CAP_SYS_ADMIN"),
        "{err}"
    );
    assert!(nobody.stdout.is_empty());
    for (args, says) in [
        (
            vec!["apply", "--all-netns", "--dry-run"],
            "--all-netns is for audit",
        ),
        (
            vec!["audit", "--all-netns", "--format", "junit"],
            "--all-netns prints text, JSON",
        ),
        (
            vec!["audit", "--all-netns", "--format", "junit"],
            "--all-netns prints text, JSON",
        ),
        (
            vec!["audit", "--all-netns", "--pid", "1"],
            "cannot be used with",
        ),
        (
            vec!["observe", "--all-netns", "--proc", "/proc"],
            "cannot be used with",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}

/// Entries planted in /run/netns (as root: a non-root user cannot write there, and
/// tuneguard ignores the names while the directory is not root's alone): a FIFO, a link
/// to the host's namespace and a plain file are passed over with a note, never opened
/// as a namespace, and nothing hangs.
#[test]
fn planted_run_netns_entries_are_passed_over() {
    require_root();
    struct Planted(Vec<PathBuf>);
    impl Drop for Planted {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let at = |what: &str| {
        PathBuf::from(format!(
            "/run/netns/{NETNS_PREFIX}{}-{what}",
            std::process::id()
        ))
    };
    let planted = Planted(vec![at("fifo"), at("link"), at("file")]);
    let ns = Netns::new(); // makes sure /run/netns exists
    let status = Command::new("mkfifo").arg(&planted.0[0]).status().unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("/proc/1/ns/net", &planted.0[1]).unwrap();
    std::fs::write(&planted.0[2], "").unwrap();
    let r = all_netns(&[]);
    let fleet = r.json();
    let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    for p in &planted.0 {
        let n = name(p);
        assert!(
            !fleet["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ns| ns["ip_netns"].as_array().unwrap().iter().any(|x| x == &n)),
            "{n} was taken for a namespace: {fleet:#}"
        );
        assert!(
            fleet["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|note| note.as_str().unwrap().contains(&format!("/run/netns/{n} "))),
            "no note about {n}: {:#}",
            fleet["notes"]
        );
    }
    // The real one beside them is audited.
    let ino = std::fs::metadata(ns.path()).unwrap().ino();
    assert_eq!(by_ino(&fleet, ino)[0]["status"], "pass");
}

/// Debian's systemd-nspawn and busybox-static, unpacked by scripts/test into
/// target/debian-nspawn (named in TUNEGUARD_TEST_NSPAWN).
fn nspawn_dir() -> PathBuf {
    let dir = std::env::var_os("TUNEGUARD_TEST_NSPAWN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debian-nspawn"));
    assert!(
        dir.join("usr/bin/systemd-nspawn").exists() && dir.join("bin/busybox").exists(),
        "no systemd-nspawn and busybox under {}: run ./scripts/test once (it unpacks Debian's systemd-container and busybox-static there)",
        dir.display()
    );
    dir
}

/// A real container: systemd-nspawn with --private-network runs `sleep` in a busybox tree.
/// This host runs no systemd to register it, so the test puts nspawn in the cgroup
/// systemd-machined would make (machine.slice/machine-NAME.scope) before it starts.
#[test]
fn a_systemd_nspawn_container_is_found_named_and_audited() {
    require_root();
    let nspawn = nspawn_dir();
    let name = format!("{NETNS_PREFIX}{}-nspawn", std::process::id());
    let tree = tempfile::tempdir().unwrap();
    for d in ["bin", "usr/lib", "etc", "proc", "sys", "dev", "tmp", "run"] {
        std::fs::create_dir_all(tree.path().join(d)).unwrap();
    }
    std::fs::copy(nspawn.join("bin/busybox"), tree.path().join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", tree.path().join("bin/sleep")).unwrap();
    std::fs::write(tree.path().join("usr/lib/os-release"), "ID=tgtest\n").unwrap();
    std::fs::write(tree.path().join("etc/machine-id"), "").unwrap();
    let run_dir = Path::new("/run/systemd/nspawn");
    let existed: Vec<bool> = [
        run_dir.join("propagate"),
        run_dir.join("locks"),
        run_dir.to_path_buf(),
    ]
    .iter()
    .map(|p| p.exists())
    .collect();
    let base = cgroup2().join(format!("{name}-cg"));
    let scope = base
        .join("machine.slice")
        .join(format!("machine-{}.scope", name.replace('-', "\\x2d")));
    std::fs::create_dir_all(&scope).unwrap();
    struct Running {
        child: Child,
        cgroups: Vec<PathBuf>,
        run: Vec<(PathBuf, bool)>,
    }
    impl Drop for Running {
        fn drop(&mut self) {
            // The container's processes (its sleep is its PID 1, which ignores SIGTERM):
            // nspawn sees its container end, reaps it and leaves by itself.
            if let Ok(procs) = std::fs::read_to_string(self.cgroups[0].join("cgroup.procs")) {
                for p in procs
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    // SAFETY: kill has no memory preconditions.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while self.child.try_wait().ok().flatten().is_none()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            for cg in &self.cgroups {
                for _ in 0..1000 {
                    if std::fs::remove_dir(cg).is_ok() || !cg.exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            for (p, existed) in &self.run {
                if !existed {
                    let _ = std::fs::remove_dir_all(p);
                }
            }
        }
    }
    let child = Command::new("sh")
        .args([
            "-c",
            r#"echo $$ > "$0/cgroup.procs" && exec "$1" --keep-unit --register=no --private-network -q -D "$2" -M "$3" /bin/sleep 600"#,
        ])
        .arg(&scope)
        .arg(nspawn.join("usr/bin/systemd-nspawn"))
        .arg(tree.path())
        .arg(&name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tree.path().join("tmp/nspawn.err")).unwrap())
        .spawn()
        .unwrap();
    let _running = Running {
        child,
        // nspawn puts itself in `supervisor` and the container in `payload` below it.
        cgroups: vec![
            scope.join("payload"),
            scope.join("supervisor"),
            scope.clone(),
            scope.parent().unwrap().to_path_buf(),
            base.clone(),
        ],
        run: vec![
            (run_dir.join("propagate").join(&name), false),
            (run_dir.join("propagate"), existed[0]),
            (run_dir.join("locks"), existed[1]),
            (run_dir.to_path_buf(), existed[2]),
        ],
    };
    // The container's sleep: in the scope, in a namespace of its own.
    let mine = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let mut pid = None;
    for _ in 0..1000 {
        let procs = std::fs::read_to_string(scope.join("payload/cgroup.procs")).unwrap_or_default();
        pid = procs
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
                    && std::fs::metadata(format!("/proc/{p}/ns/net")).is_ok_and(|m| m.ino() != mine)
            });
        if pid.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = pid.unwrap_or_else(|| {
        panic!(
            "systemd-nspawn did not start its container: {}",
            std::fs::read_to_string(tree.path().join("tmp/nspawn.err")).unwrap_or_default()
        )
    });
    let netns = format!("--net=/proc/{pid}/ns/net");
    let set = Command::new("nsenter")
        .args([
            netns.as_str(),
            "sysctl",
            "-q",
            "-w",
            "net.core.somaxconn=128",
        ])
        .status()
        .unwrap();
    assert!(set.success());
    let ino = std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .ino();
    let fleet = all_netns(&[]).json();
    let found = by_ino(&fleet, ino);
    assert_eq!(found.len(), 1, "{fleet:#}");
    let ns = found[0];
    assert_eq!(ns["name"], format!("systemd-nspawn machine {name}"));
    assert_eq!(
        ns["workload"],
        serde_json::json!({"kind": "machine", "name": name})
    );
    assert_eq!(ns["status"], "fail");
    // nspawn's own process stays in the host's namespace: its pids are the container's.
    let alone = single(&["--pid", &ns["named_processes"][0]["pid"].to_string()]);
    assert_eq!(findings(&ns["report"]), findings(&alone));
    let f = finding(&ns["report"], "net.core.somaxconn");
    assert_eq!(f["live"], 128);
    let remedy = f["remedy"].as_str().unwrap();
    assert!(
        remedy.contains(&format!(
            "net.core.somaxconn=4096 in /etc/sysctl.d/ of machine {name}"
        )),
        "{remedy}"
    );
}

/// `observe --all-netns` over the namespaces of this host.
fn observe_all(extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["observe", "--all-netns", "--format", "json"];
    args.extend_from_slice(extra);
    let o = tg_within(&args, &[], 120);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "observe --all-netns gave no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert_eq!(v["schema"], "tuneguard.observe-fleet/v1");
    (o.status.code().unwrap_or(-1), v)
}

/// The entry of `fleet` for the `ip netns` namespace `ns`.
fn named<'a>(fleet: &'a Value, ns: &Netns) -> &'a Value {
    let mine: Vec<&Value> = fleet["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["ip_netns"] == serde_json::json!([ns.name]))
        .collect();
    assert_eq!(mine.len(), 1, "{fleet:#}");
    mine[0]
}

/// A counter's total in an observe report.
fn counter_total(report: &Value, name: &str) -> i64 {
    report["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {}", report["counters"]))["total"]
        .as_i64()
        .unwrap()
}

/// Tcp:ActiveOpens of /proc/net/snmp read inside `ns` by cat(1): the kernel's count.
fn active_opens(ns: &Netns) -> i64 {
    let out = ns.exec(&["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Tcp:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == "ActiveOpens").unwrap();
    values[i].parse().unwrap()
}

/// A CLOSE_WAIT leak (examples/misbehave.rs) in one namespace, nothing in another: one
/// `observe --all-netns` run diagnoses the leak in the first only, named as a single
/// `observe --netns` names it (its owner's pid, found by the owner scan of that
/// namespace); each namespace's counters and sockets are its own (cat and ss inside it
/// are the oracles); and the recorded sample times show one interval for all.
#[test]
fn observe_finds_a_leak_in_its_namespace_only_with_every_sample_in_one_interval() {
    use common::incident::{ss, wait_for, Misbehaving};
    let sick = Netns::new();
    let quiet = Netns::new();
    let _peer = Misbehaving::start(&sick, &["closer", "--addr", "127.0.0.2:5000"]);
    let leaky = Misbehaving::start(
        &sick,
        &["leaky", "--to", "127.0.0.2:5000", "--per-peer", "12"],
    );
    assert!(
        wait_for(10, || ss(&sick, &["-tn", "state", "close-wait"]).len()
            == 12),
        "expected 12 CLOSE_WAIT sockets: {:?}",
        ss(&sick, &["-tn", "state", "close-wait"])
    );

    let (code, fleet) = observe_all(&["--interval", "1", "--fail-on", "warning"]);
    let s = named(&fleet, &sick);
    let q = named(&fleet, &quiet);
    assert_eq!(s["status"], "fail", "{s:#}");
    assert_eq!(s["exit_code"], 1);
    assert!(code >= 1, "the worst over the namespaces: {code}");
    let leaks: Vec<&Value> = s["report"]["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == "close-wait-leak")
        .collect();
    assert_eq!(leaks.len(), 1, "{}", s["report"]["diagnoses"]);
    assert_eq!(
        leaks[0]["subject"],
        format!("misbehave (pid {})", leaky.pid)
    );
    assert_eq!(leaks[0]["evidence"]["close_wait"], 12);
    assert!(fleet["summary"]["failing"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "close-wait-leak" && f["namespaces"].as_u64() >= Some(1)));
    // The same diagnosis as a single run of that namespace.
    let one = run(&[
        "observe", "--netns", &sick.name, "--once", "--format", "json",
    ])
    .json();
    let single: Vec<&Value> = one["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == "close-wait-leak")
        .collect();
    assert_eq!(single.len(), 1);
    assert_eq!(
        (&single[0]["subject"], &single[0]["evidence"]["close_wait"]),
        (&leaks[0]["subject"], &leaks[0]["evidence"]["close_wait"])
    );
    // The quiet one: nothing to say, no socket, no connection ever opened.
    assert_eq!(q["status"], "pass", "{q:#}");
    assert_eq!(q["report"]["diagnoses"], serde_json::json!([]));
    assert_eq!(q["report"]["sockets"]["total"], 0);
    assert_eq!(counter_total(&q["report"], "Tcp:ActiveOpens"), 0);
    assert_eq!(active_opens(&quiet), 0);
    // The sick one's counters are its own (/proc/net of the worker's namespace, not of
    // the process's main thread): its 12 connections and the kernel's count there.
    assert_eq!(
        counter_total(&s["report"], "Tcp:ActiveOpens"),
        active_opens(&sick)
    );
    assert!(active_opens(&sick) >= 12);
    assert_eq!(s["report"]["sockets"]["by_state"]["CLOSE-WAIT"], 12);
    assert_eq!(s["report"]["host"]["netns"], sick.name.as_str());

    // One interval for all: every first sample before any second one, and each second
    // one `--interval` after its own first.
    let times: Vec<(f64, f64)> = fleet["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "pass" || n["status"] == "fail")
        .map(|n| {
            (
                n["sampled_at"]["first"].as_f64().unwrap(),
                n["sampled_at"]["second"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(times.len() >= 3, "{fleet:#}");
    let last_first = times.iter().map(|t| t.0).fold(f64::MIN, f64::max);
    let first_second = times.iter().map(|t| t.1).fold(f64::MAX, f64::min);
    assert!(
        last_first < first_second,
        "a second sample came before another namespace's first: {times:?}"
    );
    for (a, b) in &times {
        assert!(b - a >= 0.99, "{times:?}");
    }
    assert_eq!(fleet["interval_s"], 1.0);

    // The text: the summary first, the leak under its namespace's name, the quiet one
    // a line (none with -q).
    let text = |extra: &[&str]| {
        let mut args = vec!["observe", "--all-netns", "--once", "--fail-on", "warning"];
        args.extend_from_slice(extra);
        let r = run(&args);
        assert!(r.code >= 1, "{}", r.stderr);
        r.stdout
    };
    let out = text(&[]);
    let summary = out.split("\n===").next().unwrap();
    assert!(
        summary.starts_with("tuneguard observe --all-netns · ") && summary.contains(" · 1 sample"),
        "{out}"
    );
    assert!(
        summary.contains(" with diagnoses at or above warning, "),
        "{out}"
    );
    assert!(
        summary.contains("diagnoses: ") && summary.contains("close-wait-leak ("),
        "{out}"
    );
    let block = |name: &str| {
        out.split("\n=== ")
            .find(|b| {
                b.lines()
                    .next()
                    .unwrap()
                    .ends_with(&format!(" ip netns {name}"))
            })
            .unwrap_or_else(|| panic!("no block for {name}: {out}"))
            .to_string()
    };
    let sick_block = block(&sick.name);
    assert!(sick_block.starts_with("DIAGNOSED "), "{sick_block}");
    assert!(
        sick_block.contains(&format!("close-wait-leak  misbehave (pid {})", leaky.pid)),
        "{sick_block}"
    );
    assert_eq!(
        block(&quiet.name),
        format!("OK ip netns {}\nno diagnoses\n", quiet.name)
    );
    let q = text(&["-q"]);
    assert!(q.contains(&format!("ip netns {}", sick.name)), "{q}");
    assert!(!q.contains(&format!("ip netns {}\n", quiet.name)), "{q}");
}

/// Namespaces that vanish between their two samples (a process exits, `ip netns del`
/// runs) are reported as gone between samples, never half-reported; the rest are
/// observed, and the run does not crash.
#[cfg(feature = "fault-injection")]
#[test]
fn observe_reports_a_namespace_gone_between_its_samples() {
    let stays = Netns::new();
    let goes = Netns::new();
    let mut exits = Held::new("");
    let exits_ino = exits.ino();
    let d = Dirs::new();
    let pause = d.root.path().join("paused");
    let mut child = Command::new(bin())
        .args([
            "observe",
            "--all-netns",
            "--interval",
            "0.2",
            "--format",
            "json",
        ])
        .env("TUNEGUARD_PAUSE", "observe-all-netns:first-samples")
        .env("TUNEGUARD_PAUSE_FILE", &pause)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if pause.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(pause.exists(), "the run did not reach the pause");
    exits.end();
    let out = Command::new("ip")
        .args(["netns", "del", &goes.name])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::remove_file(&pause).unwrap();
    let out = wait_bounded(child.id(), &mut child);
    let fleet: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(fleet["schema"], "tuneguard.observe-fleet/v1");
    let proc_gone = by_ino(&fleet, exits_ino);
    assert_eq!(proc_gone.len(), 1, "{fleet:#}");
    for gone in [named(&fleet, &goes), proc_gone[0]] {
        assert_eq!(gone["status"], "vanished", "{gone:#}");
        assert_eq!(gone["vanished"], "between-samples");
        assert_eq!(gone["exit_code"], 0);
        assert_eq!(gone["report"], Value::Null);
        assert_eq!(gone["sampled_at"], Value::Null);
    }
    let kept = named(&fleet, &stays);
    assert_eq!(kept["status"], "pass", "{kept:#}");
    assert!(kept["sampled_at"]["second"].is_f64());
    assert!(fleet["summary"]["vanished"].as_u64().unwrap() >= 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.code().unwrap() <= 1, "{stderr}");
}
