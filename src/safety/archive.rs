//! Capture archives (`capture -o FILE.tar.gz`, `audit|observe --capture FILE.tar.gz`).
//!
//! A capture file may come from anywhere (a support ticket): it is hostile input. It is
//! never unpacked by the tar crate's `unpack` helpers nor by /bin/tar: every entry is
//! read here, checked, and written by us with `*at()` calls below a private directory
//! (0700, removed when the command ends) held open:
//!
//! - only regular files, directories and symbolic links; no hard links, devices, FIFOs,
//!   sparse or continuous files; no set-user-ID or set-group-ID bit;
//! - every name relative, without `..`, under the one top directory the first entry
//!   names (or, for an archive of a directory's contents that starts with `./`, all
//!   under `./`), at most `MAX_NAME` bytes, and never through a link or a file the archive
//!   made (each directory on the way is opened O_NOFOLLOW);
//! - a link's target relative, `..` only at its start and never above the top
//!   directory from the link's own directory (or `/dev/null`, a mask, as the capture
//!   writes them); it may dangle, as the capture keeps the host's dangling links;
//! - files created O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 whatever the archive says: an
//!   entry named twice is refused;
//! - caps: `MAX_ENTRIES` entries, `MAX_FILE` per file, `MAX_TOTAL` of files in all,
//!   `MAX_STREAM` of tar stream uncompressed (headers and long names included), so that
//!   a gzip bomb is refused after reading at most that, never filling the disk or memory.
//!
//! The extracted tree is then read as a capture directory is, through `safety::tree`.

use anyhow::{anyhow, Context, Result};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The most entries an archive may hold (a capture holds a few hundred).
pub const MAX_ENTRIES: usize = 100_000;
/// The largest file (the largest a capture writes is the nginx dump, read at 64 MiB).
pub const MAX_FILE: u64 = 64 << 20;
/// The files' sizes in all.
pub const MAX_TOTAL: u64 = 256 << 20;
/// The tar stream, uncompressed: the files, their headers and long names.
pub const MAX_STREAM: u64 = 320 << 20;
/// The longest entry name or link target.
pub const MAX_NAME: usize = 4096;
/// The largest PAX extended header or GNU long name record.
const MAX_EXTENSION: u64 = 64 << 10;

/// A directory of our own, mode 0700, removed with everything in it when dropped (on
/// success, on error, on every early return), and when the process is ended by SIGINT,
/// SIGTERM or SIGHUP while it exists (Ctrl-C during a large extraction would otherwise
/// leave up to `MAX_TOTAL` behind in $TMPDIR, or a staging directory beside a capture
/// file): see [`on_signal`].
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

/// The private directories that exist now, for the signal watcher.
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
/// The write end of the pipe the signal handler writes the signal number into.
static SIGNAL_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The handler: async-signal-safe, it only writes the signal's number into the pipe.
extern "C" fn on_signal_number(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    let b = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the byte outlives the call.
    unsafe { libc::write(fd, std::ptr::addr_of!(b).cast(), 1) };
}

/// Once per process, the first time a private directory is made: SIGINT, SIGTERM and
/// SIGHUP (left at their default, ending the process) now wake a thread instead, which
/// removes every private directory that exists, restores the default and raises the
/// signal again, so the process still ends by it (a shell sees 130 for Ctrl-C). A
/// signal whose disposition is not the default (ignored by nohup, or handled) is left
/// alone.
fn on_signal() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into the array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        SIGNAL_PIPE.store(fds[1], std::sync::atomic::Ordering::Relaxed);
        let read_end = fds[0];
        let spawned = std::thread::Builder::new()
            .name("private-dir-signals".into())
            .spawn(move || loop {
                let mut b = 0u8;
                // SAFETY: reads one byte into b from a descriptor this thread owns.
                let n = unsafe { libc::read(read_end, std::ptr::addr_of_mut!(b).cast(), 1) };
                if n != 1 {
                    continue;
                }
                let dirs = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
                for d in dirs {
                    // Another thread may still be writing into it: a few tries.
                    for _ in 0..5 {
                        if std::fs::remove_dir_all(&d).is_ok() || !d.exists() {
                            break;
                        }
                    }
                }
                let sig = libc::c_int::from(b);
                // SAFETY: restores the default action and raises the signal again.
                unsafe {
                    libc::signal(sig, libc::SIG_DFL);
                    libc::raise(sig);
                }
            });
        if spawned.is_err() {
            return;
        }
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: sigaction with a zeroed struct and a handler that only writes to a
            // pipe; the old action is read first so an ignored signal stays ignored.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction != libc::SIG_DFL
                {
                    continue;
                }
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal_number as extern "C" fn(libc::c_int) as usize;
                act.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut act.sa_mask);
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
    });
}

impl PrivateDir {
    /// Makes `<base>/.<prefix>-<random>`, mode 0700, a name no one else chose (mkdir
    /// fails on an existing entry: another name is tried).
    pub fn new_in(base: &Path, prefix: &str) -> std::io::Result<PrivateDir> {
        use std::hash::{BuildHasher, Hasher};
        use std::os::unix::fs::DirBuilderExt;
        for _ in 0..16 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            let path = base.join(format!(".{prefix}-{:016x}", h.finish()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    on_signal();
                    if let Ok(mut live) = LIVE.lock() {
                        live.push(path.clone());
                    }
                    return Ok(PrivateDir { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free temporary name"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // remove_dir_all does not follow links, and works from descriptors.
        let _ = std::fs::remove_dir_all(&self.path);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| p != &self.path);
        }
    }
}

/// An archive extracted: the capture directory is `top`, inside `dir`, which goes when
/// this is dropped.
#[derive(Debug)]
pub struct Extracted {
    pub top: PathBuf,
    dir: PrivateDir,
}

impl Extracted {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Where an archive is extracted: $TMPDIR (or /tmp) when it is ours or root's and no
/// one else may rename in it (not writable by others, or sticky).
fn temp_base() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    let meta = std::fs::metadata(&base)
        .with_context(|| format!("the temporary directory {}", base.display()))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    super::owner::check_one_for(&base, &meta, true, me).map_err(|u| {
        anyhow!(
            "the temporary directory {} {}: an archive is not extracted there (set TMPDIR to a directory of yours, or fix: {})",
            u.path.display(),
            u.why,
            u.fix
        )
    })?;
    Ok(base)
}

/// Extracts the capture archive `archive` (gzip-compressed tar) into a new private
/// directory by the rules above. Every refusal names the archive and the reason.
pub fn extract(archive: &Path) -> Result<Extracted> {
    let refuse = |why: String| {
        anyhow!(
            "--capture {}: {why}: refused, nothing read (give a file `tuneguard capture -o FILE.tar.gz` wrote)",
            archive.display()
        )
    };
    let fd = rustix::fs::open(
        archive,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        anyhow!(
            "--capture {}: {}",
            archive.display(),
            std::io::Error::from(e)
        )
    })?;
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(refuse("not a regular file".into()));
    }
    let dir = PrivateDir::new_in(&temp_base()?, "tuneguard-capture")
        .context("making a private directory to extract the capture into")?;
    let root = rustix::fs::open(
        dir.path(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .with_context(|| format!("opening {}", dir.path().display()))?;
    let over = Rc::new(Cell::new(false));
    let stream = Capped {
        inner: flate2::read::GzDecoder::new(std::io::BufReader::new(std::fs::File::from(fd))),
        left: MAX_STREAM,
        over: over.clone(),
    };
    let top = unpack(stream, &root).map_err(|e| match e {
        Refusal::Bad(why) => refuse(why),
        Refusal::Io(_) if over.get() => refuse(format!(
            "uncompresses to more than {} MiB of tar stream (a capture is far smaller; a gzip bomb?)",
            MAX_STREAM >> 20
        )),
        Refusal::Io(e) => refuse(format!(
            "not a gzip-compressed tar archive, or a truncated or corrupt one ({e})"
        )),
        Refusal::Local(e) => e.context(format!(
            "--capture {}: extracting into {}",
            archive.display(),
            dir.path().display()
        )),
    })?;
    Ok(Extracted {
        top: dir.path().join(top),
        dir,
    })
}

/// Why extraction stopped: the archive breaks a rule, cannot be read (corrupt, or past
/// the stream cap), or this host failed to write.
#[derive(Debug)]
enum Refusal {
    Bad(String),
    Io(std::io::Error),
    Local(anyhow::Error),
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        Refusal::Io(e)
    }
}

/// A reader that fails after `left` bytes.
struct Capped<R> {
    inner: R,
    left: u64,
    over: Rc<Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more says whether the stream ends here or goes on.
            let mut one = [0u8; 1];
            if self.inner.read(&mut one)? == 0 {
                return Ok(0);
            }
            self.over.set(true);
            return Err(std::io::Error::other(
                "the uncompressed stream is over its cap",
            ));
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// What a PAX header or a GNU long name record says of the entry after it.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
}

/// The top directory given to an archive of a capture directory's contents (`./...`).
const FLAT_TOP: &str = "capture";

/// A relative name of `.` components alone (`./`, `.`): the directory the archive was
/// made from.
fn only_dots(name: &[u8]) -> bool {
    !name.is_empty()
        && !name.starts_with(b"/")
        && name
            .split(|b| *b == b'/')
            .all(|c| c.is_empty() || c == b".")
}

/// Reads the tar stream entry by entry (raw: extension headers are ours to read, with
/// their own small cap) and writes what the rules let through below `root`. Returns
/// the top directory's name.
fn unpack<R: Read>(stream: R, root: &OwnedFd) -> Result<OsString, Refusal> {
    let mut ar = tar::Archive::new(stream);
    let mut top: Option<OsString> = None;
    let mut flat = false;
    let mut count = 0usize;
    let mut total = 0u64;
    let mut pending = Pending::default();
    for entry in ar.entries()?.raw(true) {
        let mut entry = entry?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(Refusal::Bad(format!(
                "holds more than {MAX_ENTRIES} entries"
            )));
        }
        let header = entry.header().clone();
        let kind = header.entry_type();
        let size = header.entry_size()?;
        use tar::EntryType as T;
        match kind {
            T::GNULongName | T::GNULongLink | T::XHeader | T::XGlobalHeader => {
                if size > MAX_EXTENSION {
                    return Err(Refusal::Bad(format!(
                        "an extended header of {size} bytes (at most {MAX_EXTENSION})"
                    )));
                }
                let mut bytes = Vec::new();
                (&mut entry).take(size).read_to_end(&mut bytes)?;
                match kind {
                    T::GNULongName | T::GNULongLink => {
                        if bytes.last() == Some(&0) {
                            bytes.pop();
                        }
                        let slot = if kind == T::GNULongName {
                            &mut pending.path
                        } else {
                            &mut pending.link
                        };
                        if slot.replace(bytes).is_some() {
                            return Err(Refusal::Bad("two long names for one entry".into()));
                        }
                    }
                    T::XHeader => pax(&bytes, &mut pending)?,
                    // Global PAX records (git archive's commit id): nothing we read.
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        let p = std::mem::take(&mut pending);
        let name = p.path.unwrap_or_else(|| header.path_bytes().into_owned());
        let shown = String::from_utf8_lossy(&name).into_owned();
        let bad = |why: &str| Refusal::Bad(format!("entry {shown}: {why}"));
        if let Some(s) = p.size {
            if s != size {
                return Err(bad(
                    "its PAX size differs from its header's (readers would disagree on where it ends)",
                ));
            }
        }
        let parts = match entry_path(&name) {
            Ok(mut parts) => {
                if flat {
                    parts.insert(0, FLAT_TOP.into());
                }
                parts
            }
            // `tar czf FILE -C DIR .` starts with `./`: the capture directory's contents
            // with no top directory of their own. They go under one named FLAT_TOP.
            Err(_) if top.is_none() && kind == T::Directory && only_dots(&name) => {
                flat = true;
                vec![FLAT_TOP.into()]
            }
            Err(w) => return Err(bad(&w)),
        };
        match &top {
            None => top = Some(parts[0].clone()),
            Some(t) if *t != parts[0] => {
                return Err(bad(&format!(
                    "outside the archive's top directory {}",
                    t.to_string_lossy()
                )))
            }
            Some(_) => {}
        }
        let mode = header.mode()?;
        if mode & 0o6000 != 0 {
            return Err(bad("set-user-ID or set-group-ID"));
        }
        match kind {
            T::Regular | T::Directory | T::Symlink => {}
            T::Link => return Err(bad("a hard link")),
            T::Char | T::Block => return Err(bad("a device")),
            T::Fifo => return Err(bad("a FIFO")),
            T::GNUSparse => return Err(bad("a sparse file")),
            other => {
                return Err(bad(&format!(
                    "an entry of type {:?} (only files, directories and symbolic links)",
                    other.as_byte() as char
                )))
            }
        }
        let mut target = Vec::new();
        if kind == T::Symlink {
            target = p
                .link
                .or_else(|| header.link_name_bytes().map(|b| b.into_owned()))
                .unwrap_or_default();
            if parts.len() >= 2 {
                link_ok(parts.len() - 2, &target).map_err(|w| bad(&w))?;
            }
        } else if p.link.is_some() {
            return Err(bad("a link name on an entry that is no link"));
        }
        if parts.len() == 1 && kind != T::Directory {
            return Err(bad("the archive's top must be a directory"));
        }
        let (last, dirs) = parts.split_last().expect("entry_path returns a name");
        let parent = open_dirs(root, dirs).map_err(|w| bad(&w))?;
        match kind {
            T::Directory => {
                match rustix::fs::mkdirat(&parent, last.as_os_str(), Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        rustix::fs::openat(
                            &parent,
                            last.as_os_str(),
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(|_| bad("named twice, a directory and something else"))?;
                    }
                    Err(e) => return Err(Refusal::Local(std::io::Error::from(e).into())),
                }
            }
            T::Symlink => {
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, last.as_os_str())
                    .map_err(|e| match e {
                        Errno::EXIST => bad("named twice"),
                        e => Refusal::Local(std::io::Error::from(e).into()),
                    })?;
            }
            _ => {
                if size > MAX_FILE {
                    return Err(bad(&format!(
                        "{size} bytes, over the {} MiB a capture's file may hold",
                        MAX_FILE >> 20
                    )));
                }
                total += size;
                if total > MAX_TOTAL {
                    return Err(Refusal::Bad(format!(
                        "its files hold more than {} MiB in all (a capture is far smaller; a gzip bomb?)",
                        MAX_TOTAL >> 20
                    )));
                }
                let fd = rustix::fs::openat(
                    &parent,
                    last.as_os_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| match e {
                    Errno::EXIST => bad("named twice"),
                    e => Refusal::Local(std::io::Error::from(e).into()),
                })?;
                let mut f = std::fs::File::from(fd);
                let n = std::io::copy(&mut (&mut entry).take(size), &mut f)?;
                if n != size {
                    return Err(bad("cut short: the archive is truncated"));
                }
                f.flush()?;
            }
        }
    }
    if pending.path.is_some() || pending.link.is_some() || pending.size.is_some() {
        return Err(Refusal::Bad(
            "an extended header with no entry after it: truncated".into(),
        ));
    }
    top.ok_or_else(|| Refusal::Bad("holds no entry: an empty archive".into()))
}

/// The PAX records tuneguard reads: `path`, `linkpath`, `size` (checked against the
/// header's); sparse files are refused; the rest (times, owners, charset) is ignored.
fn pax(bytes: &[u8], pending: &mut Pending) -> Result<(), Refusal> {
    for ext in tar::PaxExtensions::new(bytes) {
        let ext = ext.map_err(|e| Refusal::Bad(format!("a corrupt PAX header ({e})")))?;
        let key = ext.key_bytes();
        let value = ext.value_bytes().to_vec();
        match key {
            b"path" => pending.path = Some(value),
            b"linkpath" => pending.link = Some(value),
            b"size" => {
                pending.size = Some(
                    std::str::from_utf8(&value)
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| Refusal::Bad("a PAX size that is no number".into()))?,
                )
            }
            k if k.starts_with(b"GNU.sparse") => {
                return Err(Refusal::Bad("a sparse file (PAX GNU.sparse)".into()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// An entry's name as plain components, `.` dropped: refuses an absolute name, `..`,
/// an empty name, NUL bytes and names over `MAX_NAME` bytes.
pub fn entry_path(name: &[u8]) -> Result<Vec<OsString>, String> {
    if name.len() > MAX_NAME {
        return Err(format!("a name over {MAX_NAME} bytes"));
    }
    if name.contains(&0) {
        return Err("a NUL byte in its name".into());
    }
    if name.starts_with(b"/") {
        return Err("an absolute name".into());
    }
    let mut parts = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("a `..` component".into()),
            c => parts.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    if parts.is_empty() {
        return Err("an empty name".into());
    }
    Ok(parts)
}

/// Whether a link whose own directory lies `depth` directories below the archive's top
/// may hold `target`: relative, `..` only at its start and at most `depth` of them (so
/// that it stays inside the top directory whatever it leads to), or `/dev/null`.
pub fn link_ok(depth: usize, target: &[u8]) -> Result<(), String> {
    if target == b"/dev/null" {
        return Ok(());
    }
    if target.is_empty() {
        return Err("a symbolic link to nothing".into());
    }
    if target.len() > MAX_NAME || target.contains(&0) {
        return Err("a symbolic link's target over 4096 bytes or with a NUL byte".into());
    }
    let shown = String::from_utf8_lossy(target);
    if target.starts_with(b"/") {
        return Err(format!(
            "a symbolic link to the absolute path {shown} (a capture's links are relative)"
        ));
    }
    let mut ups = 0usize;
    let mut named = false;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if named => {
                return Err(format!(
                    "a symbolic link to {shown}: `..` after a name (a capture's links climb first, then name)"
                ))
            }
            b".." => ups += 1,
            _ => named = true,
        }
    }
    if ups > depth {
        return Err(format!(
            "a symbolic link to {shown}, which leads out of the archive's top directory"
        ));
    }
    Ok(())
}

/// Opens the directories `dirs` below `root` one at a time, never following a link,
/// making those missing (0700). A link or a file on the way is refused.
fn open_dirs(root: &OwnedFd, dirs: &[OsString]) -> Result<OwnedFd, String> {
    let mut at = crate::safety::tree::dir_fd(root.as_fd()).map_err(|e| e.to_string())?;
    for d in dirs {
        let open = |at: &OwnedFd| {
            rustix::fs::openat(
                at,
                d.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let next = match open(&at) {
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&at, d.as_os_str(), Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(format!("making {}: {e}", d.to_string_lossy())),
                }
                open(&at)
            }
            other => other,
        };
        at = next.map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => format!(
                "goes through {}, which the archive made a symbolic link or a file",
                d.to_string_lossy()
            ),
            e => format!("opening {}: {e}", d.to_string_lossy()),
        })?;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn entry_names_are_plain_and_relative() {
        assert_eq!(
            names(entry_path(b"cap/root/etc/sysctl.conf").unwrap()),
            ["cap", "root", "etc", "sysctl.conf"]
        );
        assert_eq!(names(entry_path(b"./cap/").unwrap()), ["cap"]);
        assert_eq!(names(entry_path(b"cap//a/./b").unwrap()), ["cap", "a", "b"]);
        for bad in [
            &b"/etc/shadow"[..],
            b"../x",
            b"cap/../../x",
            b"cap/a/..",
            b"",
            b"./",
            b"cap/a\0b",
        ] {
            assert!(entry_path(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(entry_path(&vec![b'a'; MAX_NAME + 1]).is_err());
    }

    #[test]
    fn only_dots_is_the_directory_itself() {
        for yes in [&b"./"[..], b".", b"./.", b".//"] {
            assert!(only_dots(yes), "{:?}", String::from_utf8_lossy(yes));
        }
        for no in [&b""[..], b"/", b"/.", b"./x", b"./..", b"..", b"x/."] {
            assert!(!only_dots(no), "{:?}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn links_stay_inside_the_top_directory() {
        // cap/root/etc/sysctl.d/99-sysctl.conf: its directory is 3 below cap.
        assert!(link_ok(3, b"../../etc/sysctl.conf").is_ok());
        assert!(link_ok(3, b"../../etc/gone.conf").is_ok()); // dangling, inside
        assert!(link_ok(3, b"../../../x").is_ok()); // cap/x
        assert!(link_ok(3, b"/dev/null").is_ok());
        assert!(link_ok(0, b"a.conf").is_ok());
        assert!(link_ok(3, b"../../../../x").is_err()); // out of cap
        assert!(link_ok(0, b"../x").is_err());
        assert!(link_ok(3, b"/etc/shadow").is_err());
        assert!(link_ok(3, b"/dev/null/x").is_err());
        assert!(link_ok(3, b"a/../../../../x").is_err());
        assert!(link_ok(3, b"a/..").is_err());
        assert!(link_ok(3, b"").is_err());
    }

    #[test]
    fn the_stream_cap_stops_reading() {
        let over = Rc::new(Cell::new(false));
        let mut r = Capped {
            inner: &[0u8; 100][..],
            left: 64,
            over: over.clone(),
        };
        let mut v = Vec::new();
        assert!(r.read_to_end(&mut v).is_err());
        assert!(over.get());
        assert_eq!(v.len(), 64);
        // Exactly at the cap is not over it.
        let over = Rc::new(Cell::new(false));
        let mut r = Capped {
            inner: &[0u8; 64][..],
            left: 64,
            over: over.clone(),
        };
        assert_eq!(r.read_to_end(&mut Vec::new()).unwrap(), 64);
        assert!(!over.get());
    }

    #[test]
    fn archive_names() {
        use crate::safety::capture::is_archive;
        assert!(is_archive(Path::new("/x/host.tar.gz")));
        assert!(is_archive(Path::new("host.tgz")));
        assert!(!is_archive(Path::new("host")));
        assert!(!is_archive(Path::new("host.tar")));
        assert!(!is_archive(Path::new(".tgz")));
    }

    #[test]
    fn a_private_dir_goes_when_dropped() {
        let base = tempfile::tempdir().unwrap();
        let d = PrivateDir::new_in(base.path(), "t").unwrap();
        let p = d.path().to_path_buf();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o700);
        std::fs::create_dir(p.join("a")).unwrap();
        std::fs::write(p.join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink(base.path(), p.join("a/l")).unwrap();
        drop(d);
        assert!(!p.exists());
        assert!(base.path().exists());
    }
}
