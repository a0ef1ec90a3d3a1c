//! The harness every end-to-end test uses: a throwaway network namespace (unique name,
//! loopback up, deleted on drop, so also when a test panics), temp `--root` and
//! `--state-dir` directories, and the built binary. Tests change net.* keys only inside
//! namespaces made here, and never write global keys (they are not per namespace).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every namespace the tests make; scripts/test deletes leftovers of a
/// killed run by this prefix.
pub const NETNS_PREFIX: &str = "tgtest-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "end-to-end tests need root: they create network namespaces (run ./scripts/test as root)"
    );
}

pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        require_root();
        let name = format!(
            "{NETNS_PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        run_ok(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]));
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `sysctl -w KEY=VALUE` inside the namespace; panics if the kernel refuses.
    pub fn set(&self, key: &str, value: &str) {
        self.try_set(key, value)
            .unwrap_or_else(|e| panic!("sysctl -w {key}={value} in {}: {e}", self.name));
    }

    pub fn try_set(&self, key: &str, value: &str) -> Result<(), String> {
        assert!(
            key.starts_with("net."),
            "tests write only per-namespace net.* keys, not {key}"
        );
        assert!(
            !GLOBAL_NET_KEYS.contains(&key),
            "{key} is global: writing it from a namespace would change the host"
        );
        let out = self.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// The kernel's own answer, read with sysctl(8) in the namespace: the oracle.
    pub fn get(&self, key: &str) -> String {
        let out = self.exec(&["sysctl", "-n", key]);
        assert!(
            out.status.success(),
            "sysctl -n {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("running ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Every process a test started in the namespace (nginx and its workers, a
        // listener) goes with it; deleting the name alone would leave them running.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill has no memory preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Global net.* keys: present only in the initial namespace, shared by the host.
pub const GLOBAL_NET_KEYS: &[&str] = &[
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_max_orphans",
    "net.ipv4.tcp_mem",
];

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("spawning");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temp `--root` and `--state-dir`, removed on drop.
pub struct Dirs {
    pub root: tempfile::TempDir,
    pub state: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Dirs {
        Dirs {
            root: tempfile::tempdir().unwrap(),
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes a file under the root, creating directories.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tuneguard")
}

/// Runs tuneguard with the given arguments; a run that does not end within a minute is
/// killed and fails the test (a hang must not stall the suite).
pub fn tg(args: &[&str]) -> Output {
    tg_with(args, &[])
}

/// `tg` with extra environment variables (the fault hooks of src/txn/fault.rs).
pub fn tg_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    tg_within(args, env, 60)
}

/// `tg_with`, killed and failing the test after `secs` seconds: a hang detector.
pub fn tg_within(args: &[&str], env: &[(&str, &str)], secs: u64) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .envs(env.iter().copied())
        .env_remove("NO_COLOR");
    bounded(cmd, &format!("tuneguard {args:?}"), secs)
}

/// Runs a command to its end with stdin empty and both outputs collected, killed and
/// failing the test after `secs` seconds: a hang (a process stopped by someone else, a
/// lookup that never returns) must not stall the suite.
pub fn bounded(mut cmd: Command, what: &str, secs: u64) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

pub fn run(args: &[&str]) -> Run {
    run_with(args, &[])
}

pub fn run_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let o = tg_with(args, env);
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `tuneguard audit --netns NS --no-nginx --format json` plus `extra`; returns the
/// exit code and the parsed report.
pub fn audit_json(ns: &Netns, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec![
        "audit",
        "--netns",
        &ns.name,
        "--no-nginx",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert!(
        r.code == 0 || r.code == 1,
        "audit failed with {}: {}",
        r.code,
        r.stderr
    );
    let j = r.json();
    (r.code, j)
}

/// The finding with this subject; panics with the report when missing.
pub fn finding<'a>(report: &'a serde_json::Value, subject: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == subject)
        .unwrap_or_else(|| panic!("no finding for {subject} in {report:#}"))
}

pub fn write_profile(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `tuneguard audit --root ROOT --proc none --no-nginx` plus `extra`: what the files
/// under ROOT give at boot, with no live kernel.
pub fn offline(root: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "audit",
        "--root",
        root.to_str().unwrap(),
        "--proc",
        "none",
        "--no-nginx",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// A profile file in `dir` checking each key with a rule no value fails (`min: 0`), so
/// findings carry the live and persisted sides without failing on them.
pub fn keys_profile(dir: &Path, keys: &[&str]) -> String {
    let mut text = String::from("sysctl:\n");
    for k in keys {
        text.push_str(&format!("  {k}: {{min: 0}}\n"));
    }
    write_profile(dir, "keys", &text)
}

/// A JSON value as sysctl(8) prints it: arrays as space-separated fields.
pub fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(a) => a.iter().map(plain).collect::<Vec<_>>().join(" "),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub mod apply;
pub mod corpus;
pub mod impostor;
pub mod incident;
pub mod nginx;
pub mod oracle;
pub mod veth;
