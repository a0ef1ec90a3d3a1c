//! The state directory (`--state-dir`, default /var/lib/tuneguard) and what is read from
//! it. Its journals are acted on as root by `recover` and `rollback`: whoever can write
//! there can make root write files, sysctls and run nginx. So:
//!
//! - apply, rollback and recover refuse a caller that is not root, before anything is
//!   read or written (a non-root run could only fail half way);
//! - the directory is root's alone: owned by root, not writable by group or others,
//!   every directory above it under root's control (`owner` rules, a root sticky
//!   directory such as /tmp allowed above). A missing one is created 0700; one that
//!   fails is refused with the exact chown/chmod to run, never repaired (someone else may
//!   already have planted files in it). One that only others can read (0755) is made
//!   0700 before tuneguard writes there: journals hold old file contents;
//! - every directory and file read inside it is checked again (not a link, root's, not
//!   writable by group or others; files must be regular, so a FIFO cannot hang us) and
//!   opened with O_NOFOLLOW.

use super::owner;
use anyhow::{anyhow, bail, Context, Result};
use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Refuses a caller that is not root for a look that reads what only root may: the
/// journals (`rollback --dry-run`, `recover --dry-run`).
pub fn require_root_to_look(what: &str) -> Result<()> {
    let uid = euid();
    if uid != 0 {
        bail!("{what} reads root's journals (they hold files' old contents) and the values of the transaction's namespace: run it as root (you are uid {uid}); nothing was read");
    }
    Ok(())
}

/// The effective uid: what "run it as root (you are uid N)" names.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Refuses a caller that is not root (`what` is apply, rollback or recover).
pub fn require_root(what: &str) -> Result<()> {
    let uid = euid();
    if uid != 0 {
        bail!("{what} changes kernel settings and root-owned files: run it as root (you are uid {uid}); nothing was read or changed");
    }
    Ok(())
}

/// The state directory, checked: its canonical path, or None when it does not exist
/// and `write` is false. With `write` (apply, rollback, recover) a missing one is
/// created 0700 and a readable one made 0700.
pub fn dir(path: &Path, write: bool) -> Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !write {
                return Ok(None);
            }
            make(path)?;
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("examining the state directory {}", path.display()))
        }
        Ok(_) => {}
    }
    owner::links_on_the_way(path).map_err(|u| {
        anyhow!(
            "the state directory {}: {} {}: refused, nothing was read or changed (fix: {})",
            path.display(),
            u.path.display(),
            u.why,
            u.fix
        )
    })?;
    let real = std::fs::canonicalize(path)
        .with_context(|| format!("resolving the state directory {}", path.display()))?;
    let meta = std::fs::symlink_metadata(&real)
        .with_context(|| format!("examining the state directory {}", real.display()))?;
    if !meta.is_dir() {
        bail!(
            "the state directory {} is not a directory: refused; give --state-dir a directory",
            real.display()
        );
    }
    check_dir_itself(&real, &meta)?;
    above(&real, "the state directory")?;
    // `apply --dry-run` and `history` by another user: one line saying why, not the
    // EACCES of the first journal.
    let uid = euid();
    if uid != 0
        && rustix::fs::access(
            &real,
            rustix::fs::Access::READ_OK | rustix::fs::Access::EXEC_OK,
        )
        .is_err()
    {
        bail!(
            "the state directory {} is root's alone (mode {:04o}: its journals hold old file contents), so reading it needs root: run tuneguard as root (you are uid {uid})",
            real.display(),
            meta.mode() & 0o7777
        );
    }
    if write {
        private(&real, &meta)?;
    }
    Ok(Some(real))
}

/// Takes group and other read and search off a directory of root's that passed the
/// checks (nobody else could have written in it), but only one that is empty or holds
/// only tuneguard's `journal` and `lock`: any other directory others may read
/// (`--state-dir /etc` by mistake) is refused with the fix, never changed behind the
/// user's back.
fn private(dir: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if meta.mode() & 0o077 != 0 {
        // Empty, or holding only what tuneguard keeps there.
        let ours = std::fs::read_dir(dir)
            .map(|d| {
                d.into_iter().all(|e| {
                    e.is_ok_and(|e| matches!(e.file_name().to_str(), Some("journal" | "lock")))
                })
            })
            .unwrap_or(false);
        if !ours {
            bail!(
                "the state directory {} has mode {:04o} and holds files: journals keep old file contents, so it must be private; refused, nothing was changed; check it is the directory you meant, then run `chmod 0700 {}`",
                dir.display(),
                meta.mode() & 0o7777,
                dir.display()
            );
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (chmod 0700)", dir.display()))?;
    }
    Ok(())
}

/// Owned by root, not writable by group or others.
fn check_dir_itself(dir: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let mode = meta.mode() & 0o7777;
    let mut fixes = Vec::new();
    let mut why = Vec::new();
    if meta.uid() != 0 {
        why.push(format!("is owned by uid {}, not root", meta.uid()));
        fixes.push(format!("chown root:root {}", dir.display()));
    }
    if mode & 0o022 != 0 {
        why.push(format!("has mode {mode:04o}, writable by other users"));
        fixes.push(format!("chmod 0700 {}", dir.display()));
    }
    if why.is_empty() {
        return Ok(());
    }
    bail!(
        "the state directory {} {}, so others could plant journals root would act on: refused, nothing was read or changed; check what is in it, then run `{}`",
        dir.display(),
        why.join(" and "),
        fixes.join(" && ")
    )
}

/// Every directory above `path` under root's control (a root sticky one allowed).
fn above(path: &Path, what: &str) -> Result<()> {
    match path.parent() {
        Some(p) => chain(p, path, what),
        None => Ok(()),
    }
}

/// `dir` and every directory above it under root's control, as directories that hold
/// `path` (so a root sticky one is allowed).
fn chain(dir: &Path, path: &Path, what: &str) -> Result<()> {
    let mut at = Some(dir);
    while let Some(p) = at {
        let meta =
            std::fs::symlink_metadata(p).with_context(|| format!("examining {}", p.display()))?;
        owner::check_one(p, &meta, true).map_err(|u| {
            anyhow!(
                "{what} {} is inside {} which {}: refused, since another user could replace what is in it; nothing was read or changed; run `{}`",
                path.display(),
                u.path.display(),
                u.why,
                u.fix
            )
        })?;
        at = p.parent();
    }
    Ok(())
}

/// Creates a missing state directory 0700, after checking the directories it goes in
/// (mkdir fails on a name someone made first, and the result is checked after).
fn make(path: &Path) -> Result<()> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut existing = abs.parent();
    while let Some(p) = existing {
        if std::fs::symlink_metadata(p).is_ok() {
            break;
        }
        existing = p.parent();
    }
    if let Some(p) = existing {
        let real =
            std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()))?;
        chain(&real, path, "the state directory (to be created)")?;
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&abs)
        .with_context(|| format!("creating the state directory {}", path.display()))
}

/// A directory inside the state directory (`journal/`, `journal/ID/`, `files/`): a real
/// directory, root's, not writable by group or others.
pub fn check_dir(path: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("examining {}", path.display()))?;
    if !meta.is_dir() {
        bail!(
            "{} is not a directory (a {}): refused; nothing was read or changed; remove it",
            path.display(),
            kind(&meta)
        );
    }
    entry(path, &meta)
}

fn entry(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    owner::check_one(path, meta, false).map_err(|u| {
        anyhow!(
            "{} {}: refused, since tuneguard acts as root on what the state directory holds; nothing was read or changed; check it, then run `{}`",
            path.display(),
            u.why,
            u.fix
        )
    })
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Opens a file inside the state directory to read it: never through a link, never a
/// FIFO or device (O_NONBLOCK, then a regular file is required), root's and not writable
/// by group or others. None when it does not exist.
pub fn open(path: &Path) -> Result<Option<File>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => bail!(
            "{} is a symbolic link: refused (tuneguard never follows links in its state directory); nothing was read or changed; remove it",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    checked(path, file).map(Some)
}

/// A descriptor opened inside the state directory, checked: a regular file, one link,
/// root's, not writable by group or others.
pub fn checked(path: &Path, file: File) -> Result<File> {
    let meta = file
        .metadata()
        .with_context(|| format!("examining {}", path.display()))?;
    if !meta.is_file() {
        bail!(
            "{} is not a regular file (a {}): refused; nothing was read or changed; remove it",
            path.display(),
            kind(&meta)
        );
    }
    if meta.nlink() != 1 {
        bail!(
            "{} has {} hard links: refused (a link to another file would be read or written as root); nothing was read or changed; remove it",
            path.display(),
            meta.nlink()
        );
    }
    entry(path, &meta)?;
    Ok(file)
}

/// Reads a file inside the state directory (see `open`).
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let Some(mut f) = open(path)? else {
        return Ok(None);
    };
    // A journal holds old file bytes (at most a config file's 16 MiB cap each) and a
    // small record: nothing in the state directory is larger.
    let cap = crate::safety::tree::Cap::Config.bytes();
    let mut v = Vec::new();
    (&mut f)
        .take(cap + 1)
        .read_to_end(&mut v)
        .with_context(|| format!("reading {}", path.display()))?;
    if v.len() as u64 > cap {
        bail!(
            "{} is larger than 16 MiB, more than tuneguard ever writes there: refused",
            path.display()
        );
    }
    Ok(Some(v))
}

/// Creates a new file inside the state directory: O_CREAT|O_EXCL|O_NOFOLLOW, 0600.
pub fn create(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Opens an existing file inside the state directory to append to it, checked.
pub fn append(path: &Path) -> Result<File> {
    let f = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    checked(path, f)
}

/// Makes a new directory inside the state directory, 0700; one that exists already is
/// reused only when it passes `check_dir` (then made 0700 if others could read it).
pub fn mkdir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            check_dir(path)?;
            private(path, &std::fs::symlink_metadata(path)?)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_state_dir_open_to_others_is_refused_with_the_fix() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let s = t.path().join("state");
        // Made 0700 when missing, inside a root 0700 temp dir.
        let real = dir(&s, true).unwrap().unwrap();
        assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o7777, 0o700);
        chmod(&s, 0o777);
        let e = format!("{:#}", dir(&s, true).unwrap_err());
        assert!(
            e.contains(&format!("run `chmod 0700 {}`", real.display())),
            "{e}"
        );
        // Readable by others only: made private when written to, not when looked at.
        chmod(&s, 0o755);
        dir(&s, false).unwrap();
        assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o7777, 0o755);
        dir(&s, true).unwrap();
        assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o7777, 0o700);
        std::os::unix::fs::chown(&s, Some(65534), None).unwrap();
        let e = format!("{:#}", dir(&s, true).unwrap_err());
        assert!(
            e.contains(&format!("`chown root:root {}`", real.display())),
            "{e}"
        );
        std::os::unix::fs::chown(&s, Some(0), None).unwrap();
        chmod(t.path(), 0o777);
        let e = format!("{:#}", dir(&s, true).unwrap_err());
        assert!(e.contains("chmod go-w"), "{e}");
        chmod(t.path(), 0o700);
        assert!(dir(&t.path().join("missing"), false).unwrap().is_none());
    }

    #[test]
    fn files_are_opened_without_links_fifos_or_foreign_owners() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("record.json");
        std::fs::write(&f, "{}").unwrap();
        assert_eq!(read(&f).unwrap().unwrap(), b"{}");
        let l = t.path().join("link");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(format!("{:#}", read(&l).unwrap_err()).contains("symbolic link"));
        let fifo = t.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(format!("{:#}", read(&fifo).unwrap_err()).contains("not a regular file"));
        chmod(&f, 0o666);
        assert!(format!("{:#}", read(&f).unwrap_err()).contains("chmod go-w"));
        assert!(create(&f).is_err(), "O_EXCL");
        assert!(read(&t.path().join("absent")).unwrap().is_none());
    }
}
