//! Writing a capture archive (`capture -o FILE.tar.gz`): the capture directory packed
//! into a reproducible gzip-compressed tar, written as a new file (`fsio::create_new`:
//! O_EXCL|O_NOFOLLOW temp file, fsync, rename without replacing). Reading one back is
//! safety::archive's, by its own rules: the archive may come from anywhere.

use super::fsio;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Packs the capture directory `dir` into the new file `real` (its directory resolved
/// already): a gzip-compressed tar, every entry under `dir`'s name, in name order, files
/// 0644 and directories 0755 owned by 0/0 and dated `mtime` (the capture's time), the
/// capture's links kept as links, the gzip header dated 0 and nameless: the same
/// capture gives the same bytes.
pub fn pack(dir: &Path, real: &Path, mtime: u64) -> Result<()> {
    let top = PathBuf::from(dir.file_name().unwrap_or_default());
    fsio::create_new(Path::new("/"), real, fsio::ROOT_ONLY, |f| {
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(f, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        add(&mut b, dir, &top, mtime)?;
        b.into_inner()?.finish()?;
        Ok(())
    })
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    // Infallible for names this short.
    let _ = h.set_username("root");
    let _ = h.set_groupname("root");
    h
}

fn add<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    real: &Path,
    name: &Path,
    mtime: u64,
) -> Result<()> {
    let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
    b.append_data(&mut h, name, std::io::empty())?;
    let mut entries = std::fs::read_dir(real)
        .with_context(|| format!("reading {}", real.display()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let (path, inner) = (e.path(), name.join(e.file_name()));
        let t = e.file_type()?;
        if t.is_dir() {
            add(b, &path, &inner, mtime)?;
        } else if t.is_symlink() {
            let target = std::fs::read_link(&path)?;
            let mut h = header(tar::EntryType::Symlink, 0o777, 0, mtime);
            b.append_link(&mut h, &inner, &target)?;
        } else if t.is_file() {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            let len = f.metadata()?.len();
            let mut h = header(tar::EntryType::Regular, 0o644, len, mtime);
            b.append_data(&mut h, &inner, std::io::Read::take(f, len))?;
        } else {
            bail!("{}: not a file, directory or link", path.display());
        }
    }
    Ok(())
}
