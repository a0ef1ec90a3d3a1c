//! A program that poses as an nginx master, for tests/hostile_exec.rs. Copied as `nginx`
//! and started under a title such as `nginx: master process /x/nginx -c /tmp/x.conf`
//! (`exec -a`), it listens where it is told and stays up, non-dumpable (so its files under
//! /proc/PID show as root's: only /proc/PID/status tells its uid). Run any other way (`-V`, `-t`,
//! a start), it proves it was executed: it writes `executed-by-uid-N` (N its effective
//! uid, the file holding its arguments) next to its own binary, answers like nginx and
//! exits 0. std and libc only.
//!
//! ```text
//! TUNEGUARD_IMPOSTOR_LISTEN=ADDR impostor   listen on ADDR, print `ready pid=P`, hold
//!                                           (TUNEGUARD_IMPOSTOR_HOLD seconds, default 120)
//! impostor ARGS...                          write the marker, exit 0
//! ```

use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    if let Ok(addr) = std::env::var("TUNEGUARD_IMPOSTOR_LISTEN") {
        let hold: u64 = std::env::var("TUNEGUARD_IMPOSTOR_HOLD")
            .ok()
            .and_then(|h| h.parse().ok())
            .unwrap_or(120);
        let listener = match std::net::TcpListener::bind(&addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("impostor: listening on {addr}: {e}");
                std::process::exit(1);
            }
        };
        // SAFETY: prctl(PR_SET_DUMPABLE, 0) has no memory preconditions.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        println!("ready pid={}", std::process::id());
        let _ = std::io::stdout().flush();
        let end = Instant::now() + Duration::from_secs(hold);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(200));
        }
        drop(listener);
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let exe = std::env::current_exe().expect("own path");
    let marker = exe
        .parent()
        .expect("a directory")
        .join(format!("executed-by-uid-{uid}"));
    let args: Vec<String> = std::env::args().collect();
    let _ = std::fs::write(&marker, args.join("\n") + "\n");
    eprintln!("nginx version: nginx/1.99.0\nconfigure arguments: --conf-path=/tmp/impostor-chose-this.conf");
}
