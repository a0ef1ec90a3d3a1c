//! The misbehaving programs of the incident tests: examples/misbehave.rs, started in a
//! test namespace, bounded in time (`--hold`), killed on drop (and with the namespace).

use super::Netns;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// examples/misbehave, built next to this test binary by `cargo build --examples`
/// (scripts/test does; `cargo test` alone builds examples only as test harnesses).
pub fn misbehave_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("misbehave");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --examples` first (scripts/test does)",
        bin.display()
    );
    bin
}

pub struct Misbehaving {
    pub child: Child,
    /// The `ready ...` line's key=value facts.
    pub ready: String,
    pub pid: u32,
}

impl Misbehaving {
    /// Starts `misbehave MODE ARGS --hold 60` in the namespace and waits (at most 60 s)
    /// for its ready line.
    pub fn start(ns: &Netns, args: &[&str]) -> Misbehaving {
        Misbehaving::run(ns, &[misbehave_bin()], args)
    }

    /// tests/fixtures/netload.py MODE ARGS --hold 60 in the namespace, with
    /// $TUNEGUARD_TEST_PYTHON or python3.
    pub fn python(ns: &Netns, args: &[&str]) -> Misbehaving {
        let python = std::env::var_os("TUNEGUARD_TEST_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3"));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/netload.py");
        Misbehaving::run(ns, &[python, script], args)
    }

    fn run(ns: &Netns, program: &[PathBuf], args: &[&str]) -> Misbehaving {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(program)
            .args(args)
            .args(["--hold", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting misbehave");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            // Keep draining so the program never blocks on a full pipe.
            for _ in lines {}
        });
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(l)) if l.starts_with("ready") => l,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("misbehave {args:?} did not get ready: {other:?}");
            }
        };
        let pid = fact(&ready, "pid")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| child.id());
        Misbehaving { child, ready, pid }
    }
}

impl Drop for Misbehaving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `key=value` from a ready line.
pub fn fact<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Polls `check` every 50 ms for up to `secs` seconds.
pub fn wait_for(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `ss -Htan ARGS` in the namespace, one line per socket: the oracle.
pub fn ss(ns: &Netns, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ss", "-H"];
    a.extend_from_slice(args);
    let out = ns.exec(&a);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
