//! Reading inside a tree without leaving it, and without being fed what never ends.
//!
//! A [`Tree`] is a directory held open (the `--root`, a `--proc` capture, a profile's
//! directory); every path is resolved from that descriptor by the kernel:
//! - [`Confine::InRoot`]: a copied host (`--root`): symlinks are followed as a chroot
//!   would, absolute targets and `..` re-rooted at the tree's top, never above it
//!   (openat2 `RESOLVE_IN_ROOT`);
//! - [`Confine::Beneath`]: a capture or a profile directory: nothing may lead out, an
//!   absolute link or a `..` past the top is refused (`RESOLVE_BENEATH`).
//!
//! Magic links (`/proc/PID/fd/N`) are never followed, nor more than 40 links in a row.
//! Where the kernel has no openat2 (before 5.6) the same rules are kept by a walk, one
//! component at a time with `O_NOFOLLOW`, from descriptors (systemd's chase).
//!
//! Every file is opened `O_NONBLOCK` (a FIFO cannot hang the open), must be a regular
//! file by `fstat` on the descriptor (not a FIFO, a device or a directory), and is read
//! up to a cap per kind of input ([`Cap`]); more is an error naming the file.

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// How much of one file tuneguard reads, by kind of input. Documented in
/// docs/security.md; a file beyond its cap is an error, never truncated silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// An nginx or sysctl.d file, a captured proc file: 16 MiB.
    Config,
    /// An `nginx -T` dump (every file of a configuration at once): 64 MiB.
    Dump,
    /// A profile, an Ansible arguments file, a journal record: 1 MiB.
    Small,
    /// A program read for the version it names (the nginx binary): 64 MiB.
    Program,
}

impl Cap {
    pub fn bytes(self) -> u64 {
        match self {
            Cap::Config => 16 << 20,
            Cap::Dump => 64 << 20,
            Cap::Small => 1 << 20,
            Cap::Program => 64 << 20,
        }
    }

    fn human(self) -> &'static str {
        match self {
            Cap::Config => "16 MiB",
            Cap::Dump => "64 MiB",
            Cap::Small => "1 MiB",
            Cap::Program => "64 MiB",
        }
    }
}

/// What resolution may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confine {
    /// Follow links, re-rooted at the top (a host's tree under `--root`).
    InRoot,
    /// Follow links that stay below the top; refuse the rest.
    Beneath,
    /// Follow no link at all (a path that was resolved already, now being written).
    NoLinks,
}

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    NotFound,
    /// A FIFO, a device, a socket or a directory.
    NotRegular(FileType),
    TooLarge {
        cap: Cap,
    },
    /// The path leads out of the tree, or through a link where none may be.
    Escapes(String),
    /// The files of one kind of input hold more than tuneguard reads of them in all.
    OverBudget(&'static str),
    Io(std::io::Error),
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound)
    }

    /// tuneguard's own refusal (a FIFO, a device, too large, a way out of the tree), as
    /// opposed to the file being absent or the system failing to read it: the input
    /// itself is hostile or broken, and an audit of it cannot be trusted (exit 2). A
    /// directory where a file was expected is a plain mistake, and no attack.
    pub fn is_refusal(&self) -> bool {
        match self {
            ReadError::NotRegular(t) => *t != FileType::Directory,
            ReadError::TooLarge { .. } | ReadError::Escapes(_) | ReadError::OverBudget(_) => true,
            ReadError::NotFound | ReadError::Io(_) => false,
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotFound => write!(f, "No such file or directory"),
            ReadError::NotRegular(t) => {
                write!(f, "is {}, not a regular file: refused", type_name(*t))
            }
            ReadError::TooLarge { cap } => write!(
                f,
                "is larger than {}, the most tuneguard reads of such a file: refused",
                cap.human()
            ),
            ReadError::Escapes(why) => write!(f, "{why}: refused"),
            ReadError::OverBudget(what) => write!(
                f,
                "would bring {what} past the most tuneguard reads of them in all: refused"
            ),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<Errno> for ReadError {
    fn from(e: Errno) -> Self {
        match e {
            Errno::NOENT => ReadError::NotFound,
            Errno::XDEV => {
                ReadError::Escapes("the path leads out of the tree it must stay in".into())
            }
            Errno::LOOP => ReadError::Escapes(
                "the path goes through a symbolic link where none may be, or more than 40 of them"
                    .into(),
            ),
            e => ReadError::Io(e.into()),
        }
    }
}

impl From<ReadError> for std::io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(io) => io,
            ReadError::NotFound => std::io::Error::from_raw_os_error(libc::ENOENT),
            other => std::io::Error::other(other.to_string()),
        }
    }
}

/// A directory held open, and the rule for resolving paths below it.
#[derive(Debug)]
pub struct Tree {
    dir: OwnedFd,
    top: PathBuf,
    confine: Confine,
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: OsString,
    pub file_type: FileType,
}

const MAX_LINKS: usize = 40;

/// Whether this kernel has openat2; tests force the walk with `TUNEGUARD_NO_OPENAT2`.
fn have_openat2() -> bool {
    use std::sync::OnceLock;
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        if std::env::var_os("TUNEGUARD_NO_OPENAT2").is_some() {
            return false;
        }
        !matches!(
            rustix::fs::openat2(
                rustix::fs::CWD,
                ".",
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::empty()
            ),
            Err(Errno::NOSYS)
        )
    })
}

/// The path's components below the top: a host path (`/etc/sysctl.d`) and a relative one
/// mean the same.
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .collect()
}

fn type_name(t: FileType) -> &'static str {
    match t {
        FileType::Fifo => "a FIFO",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        _ => "not a regular file",
    }
}

impl Tree {
    /// Opens `top` (a path the caller chose: followed as given).
    pub fn open(top: &Path, confine: Confine) -> std::io::Result<Tree> {
        let dir = rustix::fs::open(
            top,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Tree {
            dir,
            top: top.to_path_buf(),
            confine,
        })
    }

    pub fn top(&self) -> &Path {
        &self.top
    }

    /// Opens `path` below the top with `flags`, resolved by the tree's rule.
    pub fn open_at(&self, path: &Path, flags: OFlags) -> Result<OwnedFd, ReadError> {
        let rel = relative(path);
        // openat2 refuses O_PATH with anything but CLOEXEC, DIRECTORY and NOFOLLOW.
        let flags = if flags.contains(OFlags::PATH) {
            flags | OFlags::CLOEXEC
        } else {
            flags | OFlags::CLOEXEC | OFlags::NOCTTY
        };
        if rel.as_os_str().is_empty() {
            return Ok(rustix::fs::openat(&self.dir, ".", flags, Mode::empty())?);
        }
        if have_openat2() {
            let resolve = ResolveFlags::NO_MAGICLINKS
                | match self.confine {
                    Confine::InRoot => ResolveFlags::IN_ROOT,
                    Confine::Beneath => ResolveFlags::BENEATH,
                    Confine::NoLinks => ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
                };
            loop {
                match rustix::fs::openat2(&self.dir, &rel, flags, Mode::empty(), resolve) {
                    // The kernel asks to retry when a rename raced the lookup.
                    Err(Errno::AGAIN) => continue,
                    r => return Ok(r?),
                }
            }
        }
        self.walk(&rel, flags)
    }

    /// The resolution openat2 does, one component at a time from descriptors: a link is
    /// read with readlinkat and its target walked in turn (re-rooted or refused by the
    /// rule), every step opened `O_NOFOLLOW`, so a link swapped in after the look fails
    /// instead of being followed.
    fn walk(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd, ReadError> {
        let mut stack: Vec<OwnedFd> = vec![rustix::fs::openat(
            &self.dir,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?];
        let mut pending: Vec<OsString> = rel
            .components()
            .rev()
            .map(|c| c.as_os_str().to_os_string())
            .collect();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == "." || name.is_empty() {
                continue;
            }
            if name == ".." {
                if stack.len() > 1 {
                    stack.pop();
                } else if self.confine != Confine::InRoot {
                    return Err(Errno::XDEV.into());
                }
                continue;
            }
            let cur = stack.last().expect("the top stays");
            let st = rustix::fs::statat(cur, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                if self.confine == Confine::NoLinks {
                    return Err(Errno::LOOP.into());
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::LOOP.into());
                }
                let target = rustix::fs::readlinkat(cur, name.as_os_str(), Vec::new())?;
                let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                if target.is_absolute() {
                    if self.confine != Confine::InRoot {
                        return Err(Errno::XDEV.into());
                    }
                    stack.truncate(1);
                }
                pending.extend(
                    target
                        .components()
                        .rev()
                        .filter(|c| !matches!(c, Component::RootDir))
                        .map(|c| c.as_os_str().to_os_string()),
                );
                continue;
            }
            if pending.is_empty() {
                return Ok(rustix::fs::openat(
                    cur,
                    name.as_os_str(),
                    flags | OFlags::NOFOLLOW,
                    Mode::empty(),
                )?);
            }
            let next = rustix::fs::openat(
                cur,
                name.as_os_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            stack.push(next);
        }
        // Only `.`/`..` components: the directory reached.
        Ok(rustix::fs::openat(
            stack.last().expect("the top stays"),
            ".",
            flags,
            Mode::empty(),
        )?)
    }

    /// The bytes of a regular file below the top, at most `cap` of them.
    pub fn read(&self, path: &Path, cap: Cap) -> Result<Vec<u8>, ReadError> {
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        read_fd(fd, cap)
    }

    /// `read`, also counting the bytes against `budget` (what is left of a total for
    /// many files of one kind: `what` names them in the refusal).
    pub fn read_within(
        &self,
        path: &Path,
        cap: Cap,
        budget: &mut u64,
        what: &'static str,
    ) -> Result<Vec<u8>, ReadError> {
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let size = rustix::fs::fstat(&fd)?.st_size.max(0) as u64;
        if size > *budget {
            return Err(ReadError::OverBudget(what));
        }
        let bytes = read_fd(fd, cap)?;
        let n = bytes.len() as u64;
        if n > *budget {
            return Err(ReadError::OverBudget(what));
        }
        *budget -= n;
        Ok(bytes)
    }

    /// The entries of a directory below the top (without `.` and `..`).
    pub fn read_dir(&self, path: &Path) -> Result<Vec<Entry>, ReadError> {
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let dir = rustix::fs::Dir::new(fd)?;
        let mut out = Vec::new();
        for e in dir {
            let e = e?;
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            out.push(Entry {
                name: std::ffi::OsStr::from_bytes(name).to_os_string(),
                file_type: e.file_type(),
            });
        }
        Ok(out)
    }

    /// The type of what `path` leads to (links followed by the tree's rule), or None
    /// when nothing is there or it cannot be reached.
    pub fn file_type(&self, path: &Path) -> Option<FileType> {
        let fd = self.open_at(path, OFlags::PATH).ok()?;
        Some(FileType::from_raw_mode(
            rustix::fs::fstat(&fd).ok()?.st_mode,
        ))
    }

    /// Whether `path` is a directory (links followed by the tree's rule).
    pub fn is_dir(&self, path: &Path) -> bool {
        self.file_type(path) == Some(FileType::Directory)
    }

    /// Whether something is at `path` itself (a dangling link counts).
    pub fn exists_nofollow(&self, path: &Path) -> bool {
        let rel = relative(path);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return true;
        };
        self.open_at(parent, OFlags::PATH | OFlags::DIRECTORY)
            .and_then(|d| Ok(rustix::fs::statat(&d, name, AtFlags::SYMLINK_NOFOLLOW)?))
            .is_ok()
    }
}

/// Reads an open file: a regular one, at most `cap` bytes.
pub fn read_fd(fd: OwnedFd, cap: Cap) -> Result<Vec<u8>, ReadError> {
    let st = rustix::fs::fstat(&fd)?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(ReadError::NotRegular(t));
    }
    if st.st_size as u64 > cap.bytes() {
        return Err(ReadError::TooLarge { cap });
    }
    // Files of /proc say 0 and a file may grow while read: the cap bounds the read too.
    let mut buf = Vec::with_capacity(st.st_size.max(0) as usize);
    std::fs::File::from(fd)
        .take(cap.bytes() + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > cap.bytes() {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(buf)
}

/// A file named by the caller (a `--profile FILE`, an Ansible arguments file, a dump):
/// opened as given, but only a regular file, without blocking, at most `cap` bytes.
pub fn read_file(path: &Path, cap: Cap) -> Result<Vec<u8>, ReadError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    read_fd(fd, cap)
}

/// Opens a directory held for writing below: the descriptor every later `*at()` call
/// starts from.
pub fn dir_fd<F: AsFd>(fd: F) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, tempfile::TempDir) {
        let top = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "shadow\n").unwrap();
        std::fs::create_dir_all(top.path().join("etc/sysctl.d")).unwrap();
        std::fs::write(top.path().join("etc/sysctl.conf"), "a = 1\n").unwrap();
        symlink(
            "../sysctl.conf",
            top.path().join("etc/sysctl.d/99-sysctl.conf"),
        )
        .unwrap();
        symlink("/etc/sysctl.conf", top.path().join("etc/abs.conf")).unwrap();
        symlink(
            outside.path().join("secret"),
            top.path().join("etc/out.conf"),
        )
        .unwrap();
        symlink("../../../../../../../..", top.path().join("etc/up")).unwrap();
        // A chain of 41 links.
        for i in 0..41 {
            symlink(format!("l{}", i + 1), top.path().join(format!("l{i}"))).unwrap();
        }
        std::fs::write(top.path().join("l41"), "end\n").unwrap();
        (top, outside)
    }

    fn each_way(f: impl Fn(&Tree, &Tree)) {
        let (top, _out) = tree();
        let in_root = Tree::open(top.path(), Confine::InRoot).unwrap();
        let beneath = Tree::open(top.path(), Confine::Beneath).unwrap();
        f(&in_root, &beneath);
        // The walk keeps the same rules as openat2.
        let walk = |t: &Tree, p: &str| {
            t.walk(&relative(Path::new(p)), OFlags::RDONLY | OFlags::NONBLOCK)
                .and_then(|fd| read_fd(fd, Cap::Config))
        };
        for p in [
            "etc/sysctl.d/99-sysctl.conf",
            "/etc/abs.conf",
            "etc/up/etc/sysctl.conf",
        ] {
            assert_eq!(walk(&in_root, p).unwrap(), b"a = 1\n", "{p}");
        }
        assert!(walk(&in_root, "etc/out.conf").unwrap_err().is_not_found());
        assert!(matches!(
            walk(&beneath, "etc/abs.conf"),
            Err(ReadError::Escapes(_))
        ));
        assert!(matches!(
            walk(&beneath, "etc/up/x"),
            Err(ReadError::Escapes(_))
        ));
        assert!(matches!(walk(&in_root, "l0"), Err(ReadError::Escapes(_))));
        assert_eq!(walk(&in_root, "l2").unwrap(), b"end\n");
    }

    #[test]
    fn links_stay_inside_the_tree() {
        each_way(|in_root, beneath| {
            let read = |t: &Tree, p: &str| t.read(Path::new(p), Cap::Config);
            assert_eq!(
                read(in_root, "/etc/sysctl.d/99-sysctl.conf").unwrap(),
                b"a = 1\n"
            );
            // An absolute target is re-rooted, not the host's /etc/sysctl.conf.
            assert_eq!(read(in_root, "/etc/abs.conf").unwrap(), b"a = 1\n");
            assert_eq!(read(in_root, "etc/up/etc/sysctl.conf").unwrap(), b"a = 1\n");
            // A link out of the tree reaches nothing inside it.
            assert!(read(in_root, "etc/out.conf").unwrap_err().is_not_found());
            assert!(matches!(
                read(beneath, "etc/out.conf"),
                Err(ReadError::Escapes(_))
            ));
            assert!(matches!(
                read(beneath, "etc/up/x"),
                Err(ReadError::Escapes(_))
            ));
            assert_eq!(
                read(beneath, "etc/sysctl.d/99-sysctl.conf").unwrap(),
                b"a = 1\n"
            );
            // 41 links in a row: refused, as the kernel refuses 41.
            assert!(matches!(read(in_root, "l0"), Err(ReadError::Escapes(_))));
            assert_eq!(read(in_root, "l2").unwrap(), b"end\n");
        });
    }

    #[test]
    fn only_regular_files_and_only_so_much() {
        let (top, _out) = tree();
        let t = Tree::open(top.path(), Confine::InRoot).unwrap();
        let fifo = top.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(
            t.read(Path::new("fifo"), Cap::Config),
            Err(ReadError::NotRegular(FileType::Fifo))
        ));
        assert!(matches!(
            t.read(Path::new("etc"), Cap::Config),
            Err(ReadError::NotRegular(_))
        ));
        std::fs::write(top.path().join("big"), vec![b'x'; (1 << 20) + 1]).unwrap();
        assert!(matches!(
            t.read(Path::new("big"), Cap::Small),
            Err(ReadError::TooLarge { .. })
        ));
        assert!(matches!(
            read_file(Path::new("/dev/zero"), Cap::Config),
            Err(ReadError::NotRegular(FileType::CharacterDevice))
        ));
        assert!(matches!(
            read_file(&fifo, Cap::Config),
            Err(ReadError::NotRegular(FileType::Fifo))
        ));
        let names: Vec<_> = t
            .read_dir(Path::new("/etc/sysctl.d"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["99-sysctl.conf"]);
        assert!(t.is_dir(Path::new("etc")));
        assert!(!t.is_dir(Path::new("etc/sysctl.conf")));
    }
}
