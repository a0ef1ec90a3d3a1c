//! The impostor of tests/hostile_exec.rs: examples/impostor copied as `nginx` into a
//! temp directory of the test's choosing (owner, mode), started in a test namespace under
//! a title of the test's choosing (bash's `exec -a`), as root or as another user
//! (`setpriv`), listening and holding (120 s at most); killed on drop (and with the
//! namespace). Anything that runs its binary leaves `executed-by-uid-N` beside it.
#![allow(dead_code)]

use super::Netns;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// examples/impostor, built by `cargo build --examples` (scripts/test does).
pub fn impostor_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/impostor");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --examples` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// The impostor, copied as DIR/nginx and running in a namespace; killed on drop.
pub struct Impostor {
    child: Child,
    pub dir: tempfile::TempDir,
    pub pid: u32,
}

impl Impostor {
    /// `owner` owns DIR and DIR/nginx; DIR has `dir_mode`; the process runs as `run_as`
    /// under `title` (`{bin}` in it is replaced by DIR/nginx), listening on `addr`.
    pub fn start(
        ns: &Netns,
        owner: u32,
        dir_mode: u32,
        run_as: u32,
        title: &str,
        addr: &str,
    ) -> Impostor {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("nginx");
        std::fs::copy(impostor_bin(), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&bin, Some(owner), Some(owner)).unwrap();
        std::os::unix::fs::chown(dir.path(), Some(owner), Some(owner)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(dir_mode)).unwrap();
        let title = title.replace("{bin}", &bin.display().to_string());
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name]);
        if run_as != 0 {
            cmd.arg("setpriv")
                .arg(format!("--reuid={run_as}"))
                .arg(format!("--regid={run_as}"))
                .arg("--clear-groups");
        }
        let mut child = cmd
            .args(["bash", "-c", "exec -a \"$0\" \"$1\""])
            .arg(&title)
            .arg(&bin)
            .env("TUNEGUARD_IMPOSTOR_LISTEN", addr)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the impostor");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(l)) if l.starts_with("ready pid=") => l,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the impostor did not get ready: {other:?}");
            }
        };
        let pid = ready["ready pid=".len()..].trim().parse().unwrap();
        let me = Impostor { child, dir, pid };
        // What tuneguard will see: comm nginx, the title, the uid.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert_eq!(String::from_utf8_lossy(&cmdline), format!("{title}\0"));
        assert_eq!(
            std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(),
            "nginx\n"
        );
        me
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("nginx")
    }

    /// The markers left by anything that ran the binary.
    pub fn executed(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("executed-by-"))
            .collect()
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
