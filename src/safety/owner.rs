//! Whether a path is under root's sole control: the file itself and every directory
//! above it owned by root and not writable by group or others (the rule sshd's
//! StrictModes and sudo apply). A directory with the sticky bit, owned by root, is
//! accepted above the path (as /tmp is): others may create entries there but not
//! rename or remove root's. Anything else is refused with the reason and the command
//! that fixes it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a path is not trusted: the offending path, what is wrong, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub path: PathBuf,
    pub why: String,
    pub fix: String,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (fix: {})",
            self.path.display(),
            self.why,
            self.fix
        )
    }
}

/// Checks one path's own owner and mode. `above`: it is a directory above the path
/// being checked, where a root-owned sticky directory is fine.
pub fn check_one(path: &Path, meta: &std::fs::Metadata, above: bool) -> Result<(), Untrusted> {
    check_one_for(path, meta, above, 0)
}

/// `check_one`, trusting the owner `uid` as well as root: an unprivileged run may trust
/// its own files as it trusts itself (sshd's StrictModes accepts root or the user).
pub fn check_one_for(
    path: &Path,
    meta: &std::fs::Metadata,
    above: bool,
    uid: u32,
) -> Result<(), Untrusted> {
    let mode = meta.mode();
    if meta.uid() != 0 && meta.uid() != uid {
        return Err(Untrusted {
            path: path.to_path_buf(),
            why: format!("is owned by uid {}, not root", meta.uid()),
            fix: format!("chown root: {}", path.display()),
        });
    }
    let sticky_dir = above && meta.is_dir() && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky_dir {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "group and others",
            (true, false) => "its group",
            _ => "others",
        };
        return Err(Untrusted {
            path: path.to_path_buf(),
            why: format!("is writable by {who} (mode {:04o})", mode & 0o7777),
            fix: format!("chmod go-w {}", path.display()),
        });
    }
    Ok(())
}

/// Every symbolic link on the way to `path`, as given, must be root's and sit in a
/// directory under root's control: another user's link would choose where the path leads
/// (a state directory redirected onto /etc, a program onto theirs), even when where it
/// leads is root's.
pub fn links_on_the_way(path: &Path) -> Result<(), Untrusted> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Untrusted {
                path: path.to_path_buf(),
                why: format!("cannot be resolved: {e}"),
                fix: "give an absolute path".into(),
            })?
            .join(path)
    };
    let mut prefix = PathBuf::new();
    for c in abs.components() {
        prefix.push(c);
        let Ok(meta) = std::fs::symlink_metadata(&prefix) else {
            // What does not exist yet (a state directory to create) leads nowhere.
            return Ok(());
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        if meta.uid() != 0 {
            return Err(Untrusted {
                path: prefix.clone(),
                why: format!(
                    "is a symbolic link owned by uid {}, which chooses where the path leads",
                    meta.uid()
                ),
                fix: format!(
                    "give the path it should lead to instead of {}",
                    prefix.display()
                ),
            });
        }
        if let Some(dir) = prefix.parent() {
            let dmeta = std::fs::symlink_metadata(dir).map_err(|e| Untrusted {
                path: dir.to_path_buf(),
                why: format!("cannot be examined: {e}"),
                fix: "check the path".into(),
            })?;
            // The link's directory: others could replace the link in it.
            check_one(dir, &dmeta, true).map_err(|u| Untrusted {
                why: format!("{} (it holds the link {})", u.why, prefix.display()),
                ..u
            })?;
        }
    }
    Ok(())
}

/// Checks `path` (symlinks resolved first: the checks apply to what is really there)
/// and every directory above it, and that no other user's link chose where it leads.
/// Returns the resolved path.
pub fn trusted(path: &Path) -> Result<PathBuf, Untrusted> {
    links_on_the_way(path)?;
    let real = std::fs::canonicalize(path).map_err(|e| Untrusted {
        path: path.to_path_buf(),
        why: format!("cannot be resolved: {e}"),
        fix: "give a path that exists".into(),
    })?;
    let mut at: Option<&Path> = Some(&real);
    let mut above = false;
    while let Some(p) = at {
        let meta = std::fs::symlink_metadata(p).map_err(|e| Untrusted {
            path: p.to_path_buf(),
            why: format!("cannot be examined: {e}"),
            fix: "check the path".into(),
        })?;
        check_one(p, &meta, above)?;
        above = true;
        at = p.parent();
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn root_owned_paths_pass_and_writable_ones_are_refused() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("bin");
        std::fs::write(&f, "x").unwrap();
        chmod(&f, 0o755);
        assert_eq!(trusted(&f).unwrap(), std::fs::canonicalize(&f).unwrap());
        chmod(&f, 0o775);
        let e = trusted(&f).unwrap_err();
        assert!(e.why.contains("its group"), "{e}");
        assert_eq!(e.fix, format!("chmod go-w {}", e.path.display()));
        chmod(&f, 0o755);
        chmod(d.path(), 0o777);
        let e = trusted(&f).unwrap_err();
        assert_eq!(e.path, std::fs::canonicalize(d.path()).unwrap());
        // Sticky and root's, above the path: as /tmp is.
        chmod(d.path(), 0o1777);
        assert!(trusted(&f).is_ok());
        // But not the path itself.
        assert!(trusted(d.path()).is_err());
        std::os::unix::fs::chown(&f, Some(65534), None).unwrap();
        let e = trusted(&f).unwrap_err();
        assert!(e.why.contains("uid 65534"), "{e}");
        assert!(e.fix.starts_with("chown root:"), "{e}");
    }
}
