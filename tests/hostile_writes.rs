//! Writes that must land inside `--root` or nowhere (docs/security.md, "What tuneguard
//! writes"), with an exit code that tells the truth about where they landed. A thread
//! swaps `etc/sysctl.d` with a link out of the root (renameat2 RENAME_EXCHANGE) as fast
//! as it can while apply runs again and again into that tree.

mod common;

use common::{run, Netns};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ITERATIONS: usize = 300;

fn exchange(a: &Path, b: &Path) -> bool {
    let a = std::ffi::CString::new(a.as_os_str().as_encoded_bytes()).unwrap();
    let b = std::ffi::CString::new(b.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: two valid C strings.
    unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        ) == 0
    }
}

/// Swaps the two names until told to stop; pauses (with the real directory back at
/// `etc/sysctl.d`) while `hold` is set.
struct Swapper {
    stop: Arc<AtomicBool>,
    hold: Arc<AtomicBool>,
    held: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Swapper {
    fn start(dir: PathBuf, link: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let hold = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let (s, h, hd) = (stop.clone(), hold.clone(), held.clone());
        let thread = std::thread::spawn(move || {
            let mut swaps = 0;
            while !s.load(Ordering::SeqCst) {
                if h.load(Ordering::SeqCst) {
                    // Park with the real directory under its own name.
                    if dir.symlink_metadata().unwrap().file_type().is_symlink() {
                        exchange(&dir, &link);
                    }
                    hd.store(true, Ordering::SeqCst);
                    std::thread::yield_now();
                    continue;
                }
                hd.store(false, Ordering::SeqCst);
                if exchange(&dir, &link) {
                    swaps += 1;
                }
            }
            if dir.symlink_metadata().unwrap().file_type().is_symlink() {
                exchange(&dir, &link);
            }
            swaps
        });
        Swapper {
            stop,
            hold,
            held,
            thread: Some(thread),
        }
    }

    /// Runs `f` with the swapper parked and the real directory at its own name.
    fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        self.hold.store(true, Ordering::SeqCst);
        while !self.held.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let out = f();
        self.hold.store(false, Ordering::SeqCst);
        out
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_directory_swapped_for_a_link_mid_apply_never_gets_a_write_outside_the_root() {
    let ns = Netns::new();
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let profiles = tempfile::tempdir().unwrap();
    let dir = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&dir).unwrap();
    let link = root.path().join("etc/evil");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let prof: Vec<String> = [5000, 6000]
        .iter()
        .map(|v| {
            common::write_profile(
                profiles.path(),
                &format!("p{v}"),
                &format!("sysctl:\n  net.core.somaxconn: {{equals: {v}}}\n"),
            )
        })
        .collect();
    let state_dir = state.path().join("s");
    let swapper = Swapper::start(dir.clone(), link.clone());
    let mut codes = [0usize; 4];
    for i in 0..ITERATIONS {
        let want = if i % 2 == 0 { 5000 } else { 6000 };
        let r = run(&[
            "apply",
            "--netns",
            &ns.name,
            "--root",
            root.path().to_str().unwrap(),
            "--state-dir",
            state_dir.to_str().unwrap(),
            "--no-nginx",
            "--yes",
            "--profile",
            &prof[i % 2],
        ]);
        let outside_now: Vec<_> = std::fs::read_dir(outside.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            outside_now.is_empty(),
            "iteration {i}: written outside the root: {outside_now:?}\n{}\n{}",
            r.stdout,
            r.stderr
        );
        assert!(
            (0..=3).contains(&r.code),
            "iteration {i}: exit {}: {}",
            r.code,
            r.stderr
        );
        codes[r.code as usize] += 1;
        // An exit 0 is a claim: the live value and the file inside the root hold it.
        if r.code == 0 {
            swapper.paused(|| {
                assert_eq!(
                    ns.get("net.core.somaxconn"),
                    want.to_string(),
                    "iteration {i}"
                );
                let text = std::fs::read_to_string(dir.join("90-tuneguard.conf"))
                    .unwrap_or_else(|e| panic!("iteration {i}: exit 0 but no drop-in: {e}"));
                assert!(
                    text.contains(&format!("net.core.somaxconn = {want}")),
                    "iteration {i}: {text}"
                );
            });
        }
        // Exit 3 leaves a journal open: recover it (the swapper still races) before
        // the next apply, which would refuse.
        if r.code == 3 {
            swapper.paused(|| {
                let rec = run(&[
                    "recover",
                    "--yes",
                    "--state-dir",
                    state_dir.to_str().unwrap(),
                ]);
                assert_eq!(rec.code, 0, "iteration {i}: {}", rec.stderr);
            });
        }
    }
    let swaps = swapper.finish();
    assert!(swaps > ITERATIONS, "the swapper raced: {swaps} swaps");
    assert!(
        codes[0] > 0,
        "some applies went through between swaps: {codes:?}"
    );
    eprintln!("exit codes 0/1/2/3: {codes:?}; {swaps} swaps");
}
