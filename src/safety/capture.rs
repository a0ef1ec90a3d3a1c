//! Where `tuneguard capture` may write: a directory of root's that it makes itself, or
//! an empty one root already owns. A capture holds the host's configuration, so it must
//! not land in a directory another user controls or pre-filled, nor through a link
//! another user planted.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Makes `dir` (mode 0700), or accepts it when it is an empty directory of root's that
/// only root can write; refuses a link, anything else, and a parent that is not trusted.
pub fn output_dir(dir: &Path) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Err(u) = super::owner::trusted(parent) {
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
