//! Where `tuneguard capture` may write: a directory of root's that it makes itself, or
//! an empty one root already owns; or a new archive file (`-o FILE.tar.gz`) in a
//! directory of root's. A capture holds the host's configuration, so it must not land in
//! a directory another user controls or pre-filled, nor through a link another user
//! planted.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Whether `-o` / `--capture` names an archive rather than a directory: by the name
/// alone, `.tar.gz` or `.tgz`.
pub fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or(b"");
    (name.ends_with(b".tar.gz") || name.ends_with(b".tgz")) && !matches!(name, b".tar.gz" | b".tgz")
}

/// The parent of an output path, `.` for a bare name.
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `capture -o FILE.tar.gz`: the rules of `output_dir` for a file. Its parent must be
/// trusted as a directory's is (root's, not writable by others, every directory above
/// too); FILE must not exist (a link, even a dangling one, is refused as any other
/// entry). Returns the path to write, its directory resolved (no link left on the way,
/// so that `fsio::create_new` walks it from `/` refusing any link that appears later).
pub fn output_file(file: &Path) -> Result<std::path::PathBuf> {
    let real_parent = match super::owner::trusted(parent_of(file)) {
        Ok(p) => p,
        Err(u) => bail!(
            "capture -o {}: its parent {} {}: refused, nothing written ({})",
            file.display(),
            u.path.display(),
            u.why,
            u.fix
        ),
    };
    match std::fs::symlink_metadata(file) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "capture -o {}: a symbolic link: refused, nothing written (give a new file's path)",
            file.display()
        ),
        Ok(_) => bail!(
            "capture -o {}: exists: refused, nothing written (give a new file's path; an archive is never replaced)",
            file.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("capture -o {}", file.display())),
    }
    let Some(name) = file.file_name() else {
        bail!("capture -o {}: names no file", file.display());
    };
    Ok(real_parent.join(name))
}

/// Makes `dir` (mode 0700), or accepts it when it is an empty directory of root's that
/// only root can write; refuses a link, anything else, and a parent that is not trusted.
pub fn output_dir(dir: &Path) -> Result<()> {
    if let Err(u) = super::owner::trusted(parent_of(dir)) {
        bail!(
            "capture -o {}: its parent {} {}: refused, nothing written ({})",
            dir.display(),
            u.path.display(),
            u.why,
            u.fix
        );
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "capture -o {}: a symbolic link: refused, nothing written (give a new directory's path)",
            dir.display()
        ),
        Ok(m) if !m.is_dir() => bail!(
            "capture -o {}: exists and is not a directory: refused, nothing written (give a new directory's path)",
            dir.display()
        ),
        Ok(m) if m.uid() != 0 || m.mode() & 0o022 != 0 => bail!(
            "capture -o {}: a directory not root's alone (uid {}, mode {:04o}): refused, nothing written (give a new directory's path)",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777
        ),
        Ok(_) => {
            let mut entries =
                std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "capture -o {}: not empty: refused, nothing written (give a new directory's path)",
                    dir.display()
                );
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("chmod 0700 {}", dir.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("capture -o {}", dir.display())),
    }
    Ok(())
}
