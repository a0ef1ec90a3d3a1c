//! Which program file's bytes tuneguard believes. The nginx version decides which
//! `listen` parameters and directives are valid, and it is read from the nginx binary
//! itself (NGINX_VER, "nginx/1.22.1", is compiled in), never by running it. A file
//! another user can change would choose the version, and with it the verdict, so it is
//! read only when root alone controls it: owned by root, not writable by group or
//! others, every directory above it the same, no other user's link on the way
//! (`owner::trusted`), and a regular file by `fstat` on the descriptor that is read.
//! Under `--root` the file must resolve inside the root. The read itself is bounded
//! (`tree::Cap::Program`).

use super::exec::FileId;
use super::owner::{self, Untrusted};
use super::tree::{self, Cap};
use rustix::fs::{FileType, Mode, OFlags};
use std::path::Path;

/// The bytes of the program at `path` (inside `within` when given), if root alone
/// controls it, and which file they are (to compare with what a process runs);
/// otherwise why not, with the fix.
pub fn read_believed(path: &Path, within: Option<&Path>) -> Result<(Vec<u8>, FileId), Untrusted> {
    let real = owner::trusted(path)?;
    let refuse = |why: String, fix: &str| Untrusted {
        path: real.clone(),
        why,
        fix: fix.into(),
    };
    if let Some(top) = within {
        let top = std::fs::canonicalize(top).unwrap_or_else(|_| top.to_path_buf());
        if !real.starts_with(&top) {
            return Err(refuse(
                format!("leads out of the root {}", top.display()),
                "give the nginx version with --nginx-version",
            ));
        }
    }
    let fd = rustix::fs::open(
        &real,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| refuse(format!("cannot be opened: {e}"), "check the path"))?;
    // What was opened is what is judged: the checks above went by path.
    let st = rustix::fs::fstat(&fd)
        .map_err(|e| refuse(format!("cannot be examined: {e}"), "check the path"))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(refuse(
            "is not a regular file".into(),
            "name the nginx binary itself",
        ));
    }
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
        return Err(refuse(
            "changed owner or mode while it was checked".into(),
            "check who can write it",
        ));
    }
    let file = FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    };
    let bytes =
        tree::read_fd(fd, Cap::Program).map_err(|e| refuse(e.to_string(), "check the file"))?;
    Ok((bytes, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_roots_own_files_inside_the_root_are_read() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("nginx");
        std::fs::write(&f, b"x\0nginx/1.22.1\0").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(read_believed(&f, Some(d.path())).unwrap().0.len(), 15);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o775)).unwrap();
        let e = read_believed(&f, None).unwrap_err();
        assert!(e.why.contains("writable by its group"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        let other = tempfile::tempdir().unwrap();
        let e = read_believed(&f, Some(other.path())).unwrap_err();
        assert!(e.why.contains("leads out of the root"), "{e}");
        let fifo = d.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = read_believed(&fifo, None).unwrap_err();
        assert!(e.why.contains("not a regular file"), "{e}");
    }
}
