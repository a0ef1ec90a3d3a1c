//! What tuneguard, running as root, may execute, and which process it may believe.
//!
//! tuneguard finds nginx through the sockets a process holds, and a process's name and
//! title are whatever its owner chose (`exec -a 'nginx: master process ...'`). So:
//!
//! - A process is believed (its command line read for `-c`/`-p`/`-g`, its binary
//!   considered at all) only when it runs as root: every uid in /proc/PID/status is 0.
//!   Not the owner of files under /proc/PID: any user's process that makes itself
//!   non-dumpable (prctl PR_SET_DUMPABLE 0) has them shown as root's.
//!   The process's files are read through one pinned /proc/PID directory, so a pid that
//!   dies and is reused meanwhile cannot mix two processes, and every read is bounded.
//! - A program is executed only when it is under root's sole control
//!   (`safety::owner::trusted`: owned by root, not writable by group or others, every
//!   directory above the same) and is an executable regular file. This applies to a
//!   binary found through a process (/proc/PID/exe), to nginx in PATH (entries that fail
//!   are skipped and named) and to `--nginx-bin`. The checked path is what is run, never
//!   /proc/PID/exe itself, and the caller is told when that is not the very file the
//!   process runs (a binary replaced or deleted since it started, or another mount
//!   namespace's).

use super::owner::{self, Untrusted};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// At most this much of /proc/PID/cmdline is read (argv can be as long as ARG_MAX).
pub const CMDLINE_MAX: u64 = 64 * 1024;
/// At most this much of /proc/PID/status and /proc/PID/cgroup (a few KiB in practice).
const SMALL_MAX: u64 = 16 * 1024;

/// Which file a path or a process's executable is: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A program that may be executed: its resolved path and the file it was when checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub path: PathBuf,
    pub file: FileId,
}

/// May `path` be executed as root? Symlinks are resolved; the real path is what runs.
pub fn check(path: &Path) -> Result<Program, Untrusted> {
    let real = owner::trusted(path)?;
    let meta = std::fs::metadata(&real).map_err(|e| Untrusted {
        path: real.clone(),
        why: format!("cannot be examined: {e}"),
        fix: "check the path".into(),
    })?;
    if !meta.is_file() || meta.mode() & 0o111 == 0 {
        return Err(Untrusted {
            path: real,
            why: "is not an executable file".into(),
            fix: "name the nginx binary itself".into(),
        });
    }
    Ok(Program {
        file: FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        },
        path: real,
    })
}

/// What a PATH search found: the first `name` that may be run, and the ones passed over.
#[derive(Debug, Default)]
pub struct Searched {
    pub found: Option<Program>,
    pub skipped: Vec<Untrusted>,
}

impl Searched {
    /// One sentence per program passed over, for the report and the plan's notes.
    pub fn notes(&self, name: &str) -> Vec<String> {
        self.skipped
            .iter()
            .map(|u| format!("{name} in PATH at {u}: skipped, it is not run"))
            .collect()
    }
}

/// The first `name` in `path_var` (PATH's value) that may be run. A relative entry
/// (`.`, empty) names whatever directory tuneguard was started from: never searched.
pub fn search(name: &str, path_var: &str) -> Searched {
    let mut out = Searched::default();
    for dir in path_var.split(':') {
        let candidate = Path::new(dir).join(name);
        if !candidate.is_file() {
            continue;
        }
        if !Path::new(dir).is_absolute() {
            out.skipped.push(Untrusted {
                path: candidate,
                why: "is in a relative PATH entry".into(),
                fix: "use absolute directories in PATH".into(),
            });
            continue;
        }
        match check(&candidate) {
            Ok(p) => {
                out.found = Some(p);
                break;
            }
            Err(u) => out.skipped.push(u),
        }
    }
    out
}

/// `search` in this process's PATH.
pub fn in_path(name: &str) -> Searched {
    let path = std::env::var_os("PATH").unwrap_or_default();
    search(name, &path.to_string_lossy())
}

/// A process as read from one pinned /proc/PID directory.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    /// Real, effective, saved and filesystem uid.
    pub uids: [u32; 4],
    /// The command line with NULs as spaces, at most CMDLINE_MAX bytes of it.
    pub title: String,
    /// The path /proc/PID/exe names, without a " (deleted)" suffix.
    pub exe_path: Option<PathBuf>,
    /// The file the process really runs (stat through /proc/PID/exe).
    pub exe_file: Option<FileId>,
    /// /proc/PID/cgroup (at most 16 KiB), for the systemd unit it runs in.
    pub cgroup: String,
}

fn read_bounded(dir: &OwnedFd, name: &str, max: u64) -> std::io::Result<Vec<u8>> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut out = Vec::new();
    std::fs::File::from(fd).take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// The four uids of a /proc/PID/status text.
pub fn status_uids(status: &str) -> Option<[u32; 4]> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let v: Vec<u32> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    v.try_into().ok()
}

/// Reads a process: uids, a bounded command line, and its executable.
pub fn read_process(pid: u32) -> std::io::Result<Process> {
    let dir = rustix::fs::open(
        format!("/proc/{pid}"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let status = read_bounded(&dir, "status", SMALL_MAX)?;
    let uids = status_uids(&String::from_utf8_lossy(&status)).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "no Uid line in status")
    })?;
    // The command line is read from the process's own memory, and its binary is
    // stat'ed: a process can back either with a file another user's FUSE daemon serves
    // and never answers. Read in a thread of its own, bounded in time: a process that
    // does not answer is not believed, and the audit goes on.
    let (title, exe_path, exe_file, cgroup) =
        within(PROCESS_READ_TIMEOUT, move || read_memory_side(&dir)).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("/proc/{pid} did not answer within 2 s"),
            )
        })??;
    Ok(Process {
        pid,
        uids,
        title,
        exe_path,
        exe_file,
        cgroup,
    })
}

/// `f`'s result, or None when it takes longer than `limit` (its thread is left to
/// finish or to die with the process).
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// How long a process's command line and binary may take to read.
const PROCESS_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

type MemorySide = (String, Option<PathBuf>, Option<FileId>, String);

/// The parts of /proc/PID that reach into the process's memory or its binary's file.
fn read_memory_side(dir: &OwnedFd) -> std::io::Result<MemorySide> {
    let raw = read_bounded(dir, "cmdline", CMDLINE_MAX)?;
    let title = String::from_utf8_lossy(&raw)
        .replace('\0', " ")
        .trim()
        .to_string();
    let exe_path = rustix::fs::readlinkat(dir, "exe", Vec::new())
        .ok()
        .map(|c| {
            let s = c.to_string_lossy();
            PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s))
        });
    let exe_file = rustix::fs::statat(dir, "exe", AtFlags::empty())
        .ok()
        .map(|st| FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        });
    let cgroup = read_bounded(dir, "cgroup", SMALL_MAX).unwrap_or_default();
    Ok((
        title,
        exe_path,
        exe_file,
        String::from_utf8_lossy(&cgroup).into_owned(),
    ))
}

/// May this process's command line and binary be believed? Only when it runs as root:
/// anyone else's title is text they chose.
pub fn believed(p: &Process, what: &str) -> Result<(), String> {
    match p.uids.iter().find(|u| **u != 0) {
        None => Ok(()),
        Some(uid) => Err(format!(
            "{what} pid {} was ignored: it runs as uid {uid}, not root, so its command line and binary are not trusted",
            p.pid
        )),
    }
}

/// The program a believed process runs, if it may be executed, or why not.
pub fn program_of(p: &Process, what: &str) -> Result<Program, String> {
    let path = p.exe_path.as_ref().ok_or_else(|| {
        format!(
            "the binary of {what} pid {} was not run: /proc/{}/exe cannot be read",
            p.pid, p.pid
        )
    })?;
    check(path).map_err(|u| format!("the binary of {what} pid {} was not run: {u}", p.pid))
}

/// Whether nginx may be run as root on a configuration made of these files (their
/// paths on disk): each must be root's alone, as must every directory above it. nginx
/// does what its configuration says with root's rights before it drops them
/// (`load_module` runs a library's code, `*_temp_path` directories are created and
/// handed to the worker user), so `nginx -t` on a file another user can change is that
/// user's code run as root.
pub fn config_may_be_run(files: &[&Path]) -> Result<(), Untrusted> {
    for f in files {
        super::owner::trusted(f)?;
    }
    Ok(())
}

/// A note when `prog` is not the file the process runs.
pub fn differs(prog: &Program, p: &Process, what: &str) -> Option<String> {
    (p.exe_file != Some(prog.file)).then(|| {
        format!(
            "{} is not the file {what} pid {} runs (/proc/{}/exe: replaced or deleted since it started, or another mount namespace's)",
            prog.path.display(),
            p.pid,
            p.pid
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn exe(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_read_that_never_answers_is_given_up() {
        let never = within(std::time::Duration::from_millis(50), || {
            std::thread::sleep(std::time::Duration::from_secs(30));
            1
        });
        assert_eq!(never, None);
        assert_eq!(within(std::time::Duration::from_secs(5), || 2), Some(2));
    }

    #[test]
    fn uids_come_from_status() {
        let s = "Name:\tnginx\nUid:\t65534\t65534\t65534\t65534\nGid:\t0\t0\t0\t0\n";
        assert_eq!(status_uids(s), Some([65534; 4]));
        assert_eq!(status_uids("Name:\tx\n"), None);
        let p = |uids| Process {
            pid: 7,
            uids,
            title: "nginx: master process nginx".into(),
            exe_path: None,
            exe_file: None,
            cgroup: String::new(),
        };
        assert!(believed(&p([0; 4]), "nginx master").is_ok());
        // A set-uid root program run by a user: real uid 1000, effective 0.
        let e = believed(&p([1000, 0, 0, 0]), "nginx master").unwrap_err();
        assert!(e.contains("pid 7 was ignored: it runs as uid 1000"), "{e}");
        let e = program_of(&p([0; 4]), "nginx master").unwrap_err();
        assert!(e.contains("/proc/7/exe cannot be read"), "{e}");
    }

    #[test]
    fn this_process_is_read_and_its_exe_is_itself() {
        let p = read_process(std::process::id()).unwrap();
        let me = std::env::current_exe().unwrap();
        assert_eq!(p.exe_path.as_deref(), Some(me.as_path()));
        let meta = std::fs::metadata(&me).unwrap();
        assert_eq!(
            p.exe_file,
            Some(FileId {
                dev: meta.dev(),
                ino: meta.ino()
            })
        );
        assert!(p.title.len() as u64 <= CMDLINE_MAX);
    }

    #[test]
    fn a_long_command_line_is_read_up_to_the_cap() {
        // One argument may hold at most 128 KiB (MAX_ARG_STRLEN): three of 40 KiB.
        let big = "x".repeat(40 * 1024);
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read _", "sh", &big, &big, &big])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Until the child has exec'd sh (at most 10 s).
        let mut p = read_process(child.id());
        for _ in 0..500 {
            if p.as_ref().is_ok_and(|p| p.title.starts_with("sh -c")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            p = read_process(child.id());
        }
        let _ = child.kill();
        let _ = child.wait();
        let p = p.unwrap();
        assert_eq!(p.title.len() as u64, CMDLINE_MAX);
        assert!(
            p.title.starts_with("sh -c read _ sh xxx"),
            "{}",
            &p.title[..40]
        );
    }

    #[test]
    fn only_executable_files_under_roots_control_may_run() {
        if !root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let good = exe(d.path(), "nginx", 0o755);
        let prog = check(&good).unwrap();
        assert_eq!(prog.path, std::fs::canonicalize(&good).unwrap());
        let e = check(&exe(d.path(), "plain", 0o644)).unwrap_err();
        assert!(e.why.contains("not an executable file"), "{e}");
        let e = check(d.path()).unwrap_err();
        assert!(e.why.contains("not an executable file"), "{e}");
        let theirs = exe(d.path(), "theirs", 0o755);
        std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
        assert!(check(&theirs).unwrap_err().why.contains("uid 65534"));
        // Root's file in a directory others may write: they could swap it.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check(&good).unwrap_err();
        assert_eq!(e.path, std::fs::canonicalize(d.path()).unwrap());
        assert!(e.why.contains("writable by group and others"), "{e}");
    }

    #[test]
    fn path_search_skips_what_may_not_run() {
        if !root() {
            return;
        }
        let bad = tempfile::tempdir().unwrap();
        let good = tempfile::tempdir().unwrap();
        exe(bad.path(), "nginx", 0o755);
        std::fs::set_permissions(bad.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let mine = exe(good.path(), "nginx", 0o755);
        let rel = tempfile::tempdir().unwrap();
        exe(rel.path(), "nginx", 0o755);
        // A relative entry that leads to the same kind of directory, from here.
        let up = "../".repeat(std::env::current_dir().unwrap().components().count() - 1);
        let path = format!(
            "/nonexistent:{}:{up}{}:{}",
            bad.path().display(),
            rel.path().strip_prefix("/").unwrap().display(),
            good.path().display()
        );
        let s = search("nginx", &path);
        assert_eq!(
            s.found.as_ref().unwrap().path,
            std::fs::canonicalize(mine).unwrap()
        );
        assert_eq!(s.skipped.len(), 2, "{:?}", s.skipped);
        assert!(s.skipped[0].why.contains("writable by"), "{:?}", s.skipped);
        assert!(s.skipped[1].why.contains("relative PATH entry"));
        let notes = s.notes("nginx");
        assert!(notes[0].starts_with("nginx in PATH at "), "{notes:?}");
        assert!(notes[0].contains("skipped, it is not run"), "{notes:?}");
        assert!(search("nginx", "/nonexistent").found.is_none());
    }
}
