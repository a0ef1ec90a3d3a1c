//! Files, written so that a crash leaves either the old bytes or the new ones: a temp
//! file in the same directory, fsync, rename over the target, fsync the directory.
//! Mode and owner are the old file's. Nothing is written through a symlink: the plan
//! resolved links inside the root, and a path that is a link now (or leads out of the
//! root) is refused.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
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

/// The file's bytes and meta, or None when it does not exist.
pub fn read(path: &Path) -> Result<Option<(Vec<u8>, Meta)>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(m) if m.file_type().is_symlink() => bail!(
            "{} is a symbolic link now; tuneguard writes only the file it planned, never through a link",
            path.display()
        ),
        Ok(m) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(Some((
                bytes,
                Meta {
                    mode: m.mode() & 0o7777,
                    uid: m.uid(),
                    gid: m.gid(),
                },
            )))
        }
    }
}

/// Refuses a path whose directory leads outside `root` (through a symlink planted after
/// the plan, or `..`).
pub fn check_inside(root: &Path, path: &Path) -> Result<()> {
    let root =
        std::fs::canonicalize(root).with_context(|| format!("resolving {}", root.display()))?;
    let dir = path.parent().context("a file path has a directory")?;
    let real =
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    if !real.starts_with(&root) {
        bail!(
            "{} resolves to {}, outside {}: refused",
            path.display(),
            real.display(),
            root.display()
        );
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tuneguard-tmp"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

/// Replaces (or creates) `path` with `bytes`, owned and moded as `meta`.
pub fn write_atomic(path: &Path, bytes: &[u8], meta: Meta) -> Result<()> {
    let dir = path.parent().context("a file path has a directory")?;
    let tmp = temp_path(path);
    // A temp file of ours left by a killed run.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> Result<()> {
        f.write_all(bytes)?;
        std::os::unix::fs::fchown(&f, Some(meta.uid), Some(meta.gid))
            .context("setting the owner")?;
        f.set_permissions(std::fs::Permissions::from_mode(meta.mode))?;
        f.sync_all()?;
        // A crash here leaves only our temp file: the target is untouched.
        super::fault::boundary(&format!("temp-written:{}", path.display()))?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    sync_dir(dir)
}

/// Removes a file tuneguard created.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    sync_dir(path.parent().context("a file path has a directory")?)
}

/// Removes a leftover temp file of a killed run.
pub fn clean_temp(path: &Path) {
    let _ = std::fs::remove_file(temp_path(path));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_mode_and_refuses_links() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.conf");
        std::fs::write(&p, "x\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let (_, meta) = read(&p).unwrap().unwrap();
        write_atomic(&p, b"y\n", meta).unwrap();
        let (bytes, after) = read(&p).unwrap().unwrap();
        assert_eq!((bytes.as_slice(), after.mode), (&b"y\n"[..], 0o640));
        assert!(!temp_path(&p).exists());
        let link = d.path().join("l.conf");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(read(&link).is_err());
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("out")).unwrap();
        assert!(check_inside(d.path(), &d.path().join("out/x.conf")).is_err());
        assert!(check_inside(d.path(), &p).is_ok());
    }
}
