//! What a journal may say before `recover`, `rollback` or `history` believes it. A
//! journal is a program root runs (files to write, sysctls to set, nginx to start), so
//! each record is checked against what tuneguard itself writes, and one that says
//! anything else is refused whole, naming the journal and the field, with nothing done:
//!
//! - its id is its directory's name; its kind `apply` or `rollback`;
//! - the root is the absolute canonical path apply recorded; every file's on-disk path
//!   is absolute, lexically inside that root (no `..`, no `.`), and its modes carry no
//!   bits beyond 0777 (no setuid, setgid or sticky file is ever written from a journal);
//! - live keys are valid key names (they cannot leave /proc/sys) and values one line;
//! - nginx is reached by argv, never a shell: the binary and a `--nginx-cmd`'s program
//!   are absolute and (when they are to be run) under root's control, the systemd unit
//!   is a plain `NAME.service`.

use super::owner;
use crate::plan::FileKind;
use crate::txn::journal::{Journal, Record};
use anyhow::{bail, Result};
use std::path::{Component, Path};

/// What the journal is read for: shown (`history`), or acted on (`recover`, `rollback`:
/// what it would run must be root's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Show,
    Act,
}

/// Refuses a journal whose record says what tuneguard never writes.
pub fn check(j: &Journal, use_: Use) -> Result<()> {
    if let Err((field, why)) = record(&j.rec, &j.dir, use_) {
        bail!(
            "the journal {} is refused: {field} {why}; tuneguard never writes that, so nothing was done (inspect it, and remove the directory if it is not yours)",
            j.dir.join("record.json").display()
        );
    }
    Ok(())
}

type Invalid = (String, String);

fn bad(field: impl Into<String>, why: impl Into<String>) -> Invalid {
    (field.into(), why.into())
}

fn record(rec: &Record, dir: &Path, use_: Use) -> Result<(), Invalid> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if rec.id != name || !plain_id(&rec.id) {
        return Err(bad(
            "id",
            format!("`{}` is not its directory's name `{name}`", rec.id),
        ));
    }
    match (rec.kind.as_str(), &rec.of) {
        ("apply", None) => {}
        ("rollback", Some(of)) if plain_id(of) => {}
        _ => {
            return Err(bad(
                "kind",
                format!(
                    "`{}` (with of {:?}) is not an apply or a rollback of a transaction",
                    rec.kind, rec.of
                ),
            ))
        }
    }
    clean_absolute(&rec.root)
        .map_err(|why| bad("root", format!("`{}` {why}", rec.root.display())))?;
    if let Some(p) = &rec.netns_path {
        clean_absolute(p).map_err(|why| bad("netns_path", format!("`{}` {why}", p.display())))?;
    }
    for (i, c) in rec.live.iter().enumerate() {
        crate::catalog::validate_key_name(&c.key).map_err(|e| bad(format!("live[{i}].key"), e))?;
        for (side, v) in [("before", &c.before), ("after", &c.after)] {
            if v.contains(['\n', '\r', '\0']) {
                return Err(bad(
                    format!("live[{i}].{side}"),
                    "holds a line break or NUL",
                ));
            }
        }
    }
    for (i, f) in rec.files.iter().enumerate() {
        clean_absolute(&f.path).map_err(|why| {
            bad(
                format!("files[{i}].path"),
                format!("`{}` {why}", f.path.display()),
            )
        })?;
        clean_absolute(&f.real).map_err(|why| {
            bad(
                format!("files[{i}].real"),
                format!("`{}` {why}", f.real.display()),
            )
        })?;
        if !f.real.starts_with(&rec.root) || f.real == rec.root {
            return Err(bad(
                format!("files[{i}].real"),
                format!(
                    "`{}` is outside the root {}",
                    f.real.display(),
                    rec.root.display()
                ),
            ));
        }
        for (side, m) in [("before", f.before), ("after", f.after)] {
            if let Some(m) = m {
                if m.mode & !0o777 != 0 {
                    return Err(bad(
                        format!("files[{i}].{side}.mode"),
                        format!("{:o} has setuid, setgid or sticky bits", m.mode),
                    ));
                }
            }
        }
    }
    if let Some(n) = &rec.nginx {
        clean_absolute(&n.binary)
            .map_err(|why| bad("nginx.binary", format!("`{}` {why}", n.binary.display())))?;
        clean_absolute(&n.main)
            .map_err(|why| bad("nginx.main", format!("`{}` {why}", n.main.display())))?;
        if let Some(argv) = &n.command {
            let Some(prog) = argv.first() else {
                return Err(bad("nginx.command", "is empty"));
            };
            clean_absolute(Path::new(prog))
                .map_err(|why| bad("nginx.command[0]", format!("`{prog}` {why}")))?;
            if let Some(why) = shell(prog) {
                return Err(bad("nginx.command[0]", why));
            }
        }
        if let Some(u) = &n.unit {
            if !unit_name(u) {
                return Err(bad(
                    "nginx.unit",
                    format!("`{u}` is not a systemd service name (NAME.service)"),
                ));
            }
        }
        // What would run: the binary for `nginx -t` (nginx files changed) and a start,
        // the command for a reload or restart.
        let tests = rec.files.iter().any(|f| f.kind == FileKind::Nginx);
        if use_ == Use::Act && (tests || n.control.is_some()) {
            let progs = std::iter::once(n.binary.clone()).chain(
                n.command
                    .iter()
                    .filter(|_| n.control.is_some())
                    .filter_map(|a| a.first())
                    .map(Into::into),
            );
            for p in progs {
                owner::trusted(&p)
                    .map_err(|u| bad("nginx", format!("would run {}, but {u}", p.display())))?;
            }
        }
    }
    Ok(())
}

/// Why a program may not be `--nginx-cmd`'s: a shell (or what starts one from its
/// arguments) would run words as commands, the one thing argv is there to prevent.
pub fn shell(prog: &str) -> Option<String> {
    const SHELLS: &[&str] = &[
        "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "csh", "tcsh", "fish", "busybox", "env",
        "sudo", "su", "xargs",
    ];
    let name = Path::new(prog).file_name()?.to_str()?;
    SHELLS.contains(&name).then(|| {
        format!("`{prog}` is a shell or runs its arguments as a command: name a script (or nginx itself) instead")
    })
}

/// A transaction id as `new_id` makes them: digits and dashes.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_digit() || c == '-')
}

/// Absolute, and no `.` or `..` anywhere (lexically inside what it starts with).
fn clean_absolute(p: &Path) -> Result<(), &'static str> {
    if !p.is_absolute() {
        return Err("is not an absolute path");
    }
    if p.components()
        .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
        || p.to_str()
            .is_some_and(|s| s.contains("/./") || s.ends_with("/."))
    {
        return Err("contains `.` or `..`");
    }
    Ok(())
}

/// A systemd service name: `[A-Za-z0-9:_.@\-]+\.service`.
pub fn unit_name(u: &str) -> bool {
    u.strip_suffix(".service").is_some_and(|stem| {
        !stem.is_empty()
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":_.@-".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_units() {
        assert!(clean_absolute(Path::new("/etc/sysctl.d/x.conf")).is_ok());
        assert!(clean_absolute(Path::new("etc/x")).is_err());
        assert!(clean_absolute(Path::new("/srv/root/../../etc/passwd")).is_err());
        assert!(clean_absolute(Path::new("/srv/./x")).is_err());
        assert!(unit_name("nginx.service"));
        assert!(unit_name("nginx@blue.service"));
        assert!(!unit_name(".service"));
        assert!(!unit_name("nginx.service; touch /x"));
        assert!(!unit_name("nginx"));
        assert!(shell("/bin/sh").is_some() && shell("bash").is_some());
        assert!(shell("/usr/bin/env").is_some());
        assert!(shell("/usr/sbin/nginx").is_none() && shell("systemctl").is_none());
        assert!(plain_id("20261122-101530-2"));
        assert!(!plain_id("../x"));
    }
}
