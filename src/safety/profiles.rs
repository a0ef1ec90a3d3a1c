//! Which site profiles may be read. A site profile may replace a built-in (a
//! `baseline.yaml` in `<root>/etc/tuneguard/profiles.d` is the baseline every audit and
//! apply uses), and apply writes as root what a profile says. So the directory, every
//! profile file in it and every directory between it and `--root` (inclusive), and every
//! directory above `--root`, must be under root's sole control (`owner::check_one`): a container's rootfs passed as
//! `--root`, whose profiles.d a container user owns or may write, is refused. Refused with
//! the path and the fix, never skipped: skipping would silently change which profile
//! applies. A link anywhere between `--root` and a profile is refused too: what is checked
//! must be what is read, and a link in a container's tree means one thing to a check made
//! from the host and another to a read confined to the tree.
//!
//! An unprivileged run also trusts its own files (it can only mislead itself); as root,
//! only root's.

use super::owner::{check_one_for, Untrusted};
use std::path::{Path, PathBuf};

/// Checks the site profile directory `dir` under `root`, and the profile files in it
/// (`dir` and the files are paths under `root`, as joined by the caller).
pub fn check_site(root: &Path, dir: &Path, files: &[PathBuf]) -> Result<(), Untrusted> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    chain(dir, root, me)?;
    for f in files {
        chain(f, root, me)?;
    }
    above_root(root, me)
}

/// Every directory above `--root`, and the links on the way to it, under root's control
/// too: whoever can rename what is above the root can swap the whole tree, checked
/// files and all, for theirs between the check and the read.
fn above_root(root: &Path, me: u32) -> Result<(), Untrusted> {
    if me == 0 {
        super::owner::links_on_the_way(root)?;
    }
    let real = std::fs::canonicalize(root).map_err(|e| Untrusted {
        path: root.to_path_buf(),
        why: format!("cannot be resolved: {e}"),
        fix: format!("check {}", root.display()),
    })?;
    let mut at = real.parent();
    while let Some(p) = at {
        let meta = std::fs::symlink_metadata(p).map_err(|e| Untrusted {
            path: p.to_path_buf(),
            why: format!("cannot be examined: {e}"),
            fix: format!("check {}", p.display()),
        })?;
        check_one_for(p, &meta, true, me)?;
        at = p.parent();
    }
    Ok(())
}

/// `path`, then each directory above it up to and including `root`, none a link (`root`
/// itself may be one: the user named it).
fn chain(path: &Path, root: &Path, me: u32) -> Result<(), Untrusted> {
    let mut at = Some(path);
    let mut above = false;
    while let Some(p) = at {
        let is_root = p == root;
        let meta = if is_root {
            std::fs::metadata(p)
        } else {
            std::fs::symlink_metadata(p)
        }
        .map_err(|e| Untrusted {
            path: p.to_path_buf(),
            why: format!("cannot be examined: {e}"),
            fix: format!("check {}", p.display()),
        })?;
        if meta.file_type().is_symlink() {
            return Err(Untrusted {
                path: p.to_path_buf(),
                why: "is a symbolic link: site profiles are read only through real directories and files under --root".into(),
                fix: format!("replace {} with what it points to", p.display()),
            });
        }
        check_one_for(p, &meta, above, me)?;
        if is_root {
            break;
        }
        above = true;
        at = p.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_chain_stops_at_the_root_and_covers_every_file() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/tuneguard/profiles.d");
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("baseline.yaml");
        std::fs::write(&f, "sysctl: {}\n").unwrap();
        chmod(&f, 0o644);
        for d in [
            root.path(),
            &root.path().join("etc"),
            &root.path().join("etc/tuneguard"),
            &dir,
        ] {
            chmod(d, 0o755);
        }
        check_site(root.path(), &dir, std::slice::from_ref(&f)).unwrap();
        // Above the root is not this rule's business (a temp root sits in /tmp).
        chmod(&root.path().join("etc"), 0o777);
        let e = check_site(root.path(), &dir, &[]).unwrap_err();
        assert!(e.path.ends_with("etc"), "{e}");
        assert_eq!(e.fix, format!("chmod go-w {}", e.path.display()));
        chmod(&root.path().join("etc"), 0o755);
        chmod(&f, 0o666);
        let e = check_site(root.path(), &dir, std::slice::from_ref(&f)).unwrap_err();
        assert!(e.path.ends_with("baseline.yaml"), "{e}");
        chmod(&f, 0o644);
        // A link, even to a root-owned file: refused (a check from the host and a read
        // confined to the tree would follow it differently).
        let link = dir.join("evil.yaml");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        let e = check_site(root.path(), &dir, std::slice::from_ref(&link)).unwrap_err();
        assert_eq!(e.path, link, "{e}");
        assert!(e.why.contains("symbolic link"), "{e}");
    }
}
