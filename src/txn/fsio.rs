//! Files, written so that a crash leaves either the old bytes or the new ones: a temp
//! file in the same directory, fsync, rename over the target, fsync the directory.
//! Mode and owner are the old file's.
//!
//! Every step happens from a descriptor of the file's directory, reached from the root
//! without following any link (the plan resolved the links inside the root already, so
//! the path it wrote down has none; one that appears since is an attack or a change, and
//! is refused: `safety::tree`, `Confine::NoLinks`). A directory swapped for a link
//! between the plan and the write (rename(2) with RENAME_EXCHANGE, say) therefore makes
//! the walk fail, and a swap after the directory is open changes nothing: the temp file
//! is created, renamed and removed inside the directory that was opened, never through a
//! path another user can redirect.

use crate::safety::tree::{self, Cap, Confine, ReadError, Tree};
use anyhow::{anyhow, bail, Context, Result};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What a new file gets: root's, readable by all, as sysctl.d files are.
pub const NEW_FILE: Meta = Meta {
    mode: 0o644,
    uid: 0,
    gid: 0,
};

/// A file for root's eyes only (a capture's files and its archive).
pub const ROOT_ONLY: Meta = Meta {
    mode: 0o600,
    uid: 0,
    gid: 0,
};

/// A file to touch: its directory, held open, and its name in it.
struct At<'a> {
    dir: OwnedFd,
    name: &'a OsStr,
    path: &'a Path,
}

/// Opens the directory of `real` (a path under `root`) without following a link.
fn at<'a>(root: &Path, real: &'a Path) -> Result<At<'a>> {
    let rel = real.strip_prefix(root).map_err(|_| {
        anyhow!(
            "{} is not under the root {}: refused",
            real.display(),
            root.display()
        )
    })?;
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        bail!("{} names no file", real.display());
    };
    let top = Tree::open(root, Confine::NoLinks)
        .with_context(|| format!("opening the root {}", root.display()))?;
    let dir = top
        .open_at(parent, OFlags::RDONLY | OFlags::DIRECTORY)
        .map_err(|e| match e {
            ReadError::Escapes(_) => anyhow!(
                "{}: a directory on the way is a symbolic link now (it was not when the plan was made): refused, nothing written there",
                real.display()
            ),
            other => anyhow!("opening the directory of {}: {other}", real.display()),
        })?;
    Ok(At {
        dir,
        name,
        path: real,
    })
}

/// `.NAME.tuneguard-tmp`, with NAME cut so the whole stays within NAME_MAX (255 bytes):
/// a file named 250 bytes long (a vendor file apply masks) still gets a temp file.
fn temp_name(name: &OsStr) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    const SUFFIX: &[u8] = b".tuneguard-tmp";
    let keep = name.len().min(255 - 1 - SUFFIX.len());
    let mut t = b".".to_vec();
    t.extend_from_slice(&name.as_bytes()[..keep]);
    t.extend_from_slice(SUFFIX);
    std::ffi::OsString::from_vec(t)
}

/// The file's bytes and meta, or None when it does not exist. A link is refused.
pub fn read(root: &Path, real: &Path) -> Result<Option<(Vec<u8>, Meta)>> {
    let a = at(root, real)?;
    let fd = match rustix::fs::openat(
        &a.dir,
        a.name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => bail!(
            "{} is a symbolic link now; tuneguard writes only the file it planned, never through a link",
            real.display()
        ),
        Err(e) => {
            return Err(std::io::Error::from(e)).with_context(|| format!("reading {}", real.display()))
        }
    };
    let st = rustix::fs::fstat(&fd)?;
    let bytes =
        tree::read_fd(fd, Cap::Config).map_err(|e| anyhow!("reading {}: {e}", real.display()))?;
    Ok(Some((
        bytes,
        Meta {
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
        },
    )))
}

/// Makes the directories of `rel` under `root` that are missing, with `mode`, never
/// through a link (a link on the way is refused, as for every write).
pub fn create_dirs(root: &Path, rel: &Path, mode: u32) -> Result<()> {
    let top = Tree::open(root, Confine::NoLinks)
        .with_context(|| format!("opening the root {}", root.display()))?;
    let mut done = PathBuf::new();
    for part in rel.components() {
        let std::path::Component::Normal(name) = part else {
            bail!("{}: not a plain relative path: refused", rel.display());
        };
        let parent = top
            .open_at(&done, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| anyhow!("opening {}: {e}", root.join(&done).display()))?;
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("creating {}", root.join(&done).join(name).display()))
            }
        }
        done.push(name);
    }
    // An existing entry of that name must be a directory, not a link to one.
    top.open_at(&done, OFlags::RDONLY | OFlags::DIRECTORY)
        .map_err(|e| anyhow!("opening {}: {e}", root.join(&done).display()))?;
    Ok(())
}

/// Makes `real` a symbolic link to `target` (a new name only: an existing entry is
/// refused), through its directory's descriptor.
pub fn symlink(root: &Path, real: &Path, target: &Path) -> Result<()> {
    let a = at(root, real)?;
    rustix::fs::symlinkat(target, &a.dir, a.name)
        .map_err(std::io::Error::from)
        .with_context(|| format!("making the link {} -> {}", real.display(), target.display()))
}

/// Replaces (or creates) `real` with `bytes`, owned and moded as `meta`.
pub fn write_atomic(root: &Path, real: &Path, bytes: &[u8], meta: Meta) -> Result<()> {
    write_with(root, real, meta, Rename::Replace, |f| {
        Ok(f.write_all(bytes)?)
    })
}

/// Creates `real`, which must not exist, with what `fill` writes, owned and moded as
/// `meta`: written as `write_atomic` writes (temp file created O_EXCL|O_NOFOLLOW in the
/// same directory, fsync, rename, fsync the directory), but renamed with
/// RENAME_NOREPLACE, so that an entry of that name, a link included, that exists or
/// appears meanwhile is refused and never replaced (`capture -o FILE.tar.gz`).
pub fn create_new(
    root: &Path,
    real: &Path,
    meta: Meta,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    write_with(root, real, meta, Rename::NoReplace, fill)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rename {
    Replace,
    NoReplace,
}

fn write_with(
    root: &Path,
    real: &Path,
    meta: Meta,
    how: Rename,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    if meta.mode & 0o6000 != 0 {
        bail!(
            "{}: refusing to write a set-user-ID or set-group-ID file (mode {:04o})",
            real.display(),
            meta.mode
        );
    }
    let a = at(root, real)?;
    let tmp = temp_name(a.name);
    // A temp file of ours left by a killed run (a link planted under that name is
    // removed, not followed).
    let _ = rustix::fs::unlinkat(&a.dir, &tmp, AtFlags::empty());
    let fd = rustix::fs::openat(
        &a.dir,
        &tmp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(std::io::Error::from)
    .with_context(|| format!("creating the temp file for {}", real.display()))?;
    let mut f = std::fs::File::from(fd);
    let result = (|| -> Result<()> {
        fill(&mut f)?;
        rustix::fs::fchown(
            &f,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
        )
        .context("setting the owner")?;
        rustix::fs::fchmod(&f, Mode::from_raw_mode(meta.mode)).context("setting the mode")?;
        f.sync_all()?;
        // A crash here leaves only our temp file: the target is untouched.
        super::fault::boundary(&format!("temp-written:{}", real.display()))?;
        match how {
            Rename::Replace => rustix::fs::renameat(&a.dir, &tmp, &a.dir, a.name)?,
            Rename::NoReplace => {
                match rustix::fs::renameat_with(
                    &a.dir,
                    &tmp,
                    &a.dir,
                    a.name,
                    rustix::fs::RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => bail!("it exists (now): refused, it is never replaced"),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = rustix::fs::unlinkat(&a.dir, &tmp, AtFlags::empty());
        return Err(e).with_context(|| format!("writing {}", a.path.display()));
    }
    rustix::fs::fsync(&a.dir)
        .with_context(|| format!("syncing the directory of {}", real.display()))
}

/// A report file (`--output FILE`): written as `write_atomic` writes, from `/`, through
/// no link at all, mode 0644 and owned by whoever runs tuneguard. The temp file's name
/// (`.FILE.tuneguard-tmp`) does not end in `.prom`, so node_exporter's textfile
/// collector never reads it half-written. Its directory (node_exporter's, owned by the
/// prometheus user on Debian) may be writable by others: a link or FIFO planted at the
/// temp name is removed, not followed, and the rename replaces whatever FILE was
/// without writing into it.
pub fn publish(path: &Path, bytes: &[u8]) -> Result<()> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("reading the current directory")?
            .join(path)
    };
    let mut on_the_way = std::path::PathBuf::new();
    for c in abs.parent().unwrap_or(Path::new("/")).components() {
        on_the_way.push(c);
        if std::fs::symlink_metadata(&on_the_way).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "--output {}: {} is a symbolic link, and tuneguard writes its report only through real directories; give the path the link leads to",
                path.display(),
                on_the_way.display()
            );
        }
    }
    // SAFETY: geteuid and getegid have no preconditions.
    let meta = Meta {
        mode: 0o644,
        uid: unsafe { libc::geteuid() },
        gid: unsafe { libc::getegid() },
    };
    write_atomic(Path::new("/"), &abs, bytes, meta)
        .with_context(|| format!("--output {}", path.display()))
}

/// Removes a file tuneguard created.
pub fn remove(root: &Path, real: &Path) -> Result<()> {
    let a = at(root, real)?;
    match rustix::fs::unlinkat(&a.dir, a.name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => {
            return Err(std::io::Error::from(e))
                .with_context(|| format!("removing {}", real.display()))
        }
    }
    rustix::fs::fsync(&a.dir)
        .with_context(|| format!("syncing the directory of {}", real.display()))
}

/// Removes a leftover temp file of a killed run.
pub fn clean_temp(root: &Path, real: &Path) {
    if let Ok(a) = at(root, real) {
        let _ = rustix::fs::unlinkat(&a.dir, temp_name(a.name), AtFlags::empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_temp_name_fits_name_max() {
        let long = "z".repeat(250) + ".conf";
        assert_eq!(temp_name(OsStr::new(&long)).len(), 255);
        assert_eq!(temp_name(OsStr::new("a.conf")), ".a.conf.tuneguard-tmp");
    }

    #[test]
    fn keeps_mode_and_refuses_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir(root.join("etc")).unwrap();
        let p = root.join("etc/a.conf");
        std::fs::write(&p, "x\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let (_, meta) = read(root, &p).unwrap().unwrap();
        write_atomic(root, &p, b"y\n", meta).unwrap();
        let (bytes, after) = read(root, &p).unwrap().unwrap();
        assert_eq!((bytes.as_slice(), after.mode), (&b"y\n"[..], 0o640));
        assert!(!root.join("etc/.a.conf.tuneguard-tmp").exists());
        let link = root.join("etc/l.conf");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(read(root, &link).is_err());
        // A directory that became a link out of the root.
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        let e = write_atomic(root, &root.join("out/x.conf"), b"z\n", NEW_FILE).unwrap_err();
        assert!(format!("{e:#}").contains("symbolic link now"), "{e:#}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // Outside the root altogether.
        assert!(write_atomic(root, &outside.path().join("y"), b"", NEW_FILE).is_err());
        remove(root, &p).unwrap();
        assert!(read(root, &p).unwrap().is_none());
    }
}
