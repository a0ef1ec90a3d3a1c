//! Masking, the last resort: when no drop-in name sorts after a vendor file that beats
//! it (its name too long for `NAME_tuneguard.conf`), a same-named copy in /etc/sysctl.d
//! takes its place for both loaders. The plan says so: a package update of the masked
//! file no longer takes effect until the copy is removed.

use super::{set_values, Want};
use crate::host::sysctl_d::parse::LineKind;
use crate::host::sysctl_d::{ConfFile, Persisted, DIRS};
use crate::plan::{FileChange, FileKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A same-named copy of a file outside /etc, in /etc/sysctl.d: every line as it was,
/// but the lines setting the masked keys say the profile's values (appended when the
/// file only excludes the key or sets it by a glob).
pub(super) struct Mask {
    pub of: PathBuf,
    path: PathBuf,
    real: PathBuf,
    before: Vec<u8>,
    lines: BTreeMap<usize, String>,
    appended: Vec<String>,
    why: Vec<String>,
}

impl Mask {
    pub fn of(p: &Persisted, f: &ConfFile) -> Mask {
        let path = Path::new(DIRS[0]).join(f.path.file_name().expect("a file"));
        Mask {
            of: f.path.clone(),
            real: p.root.join(path.strip_prefix("/").unwrap()),
            path,
            before: f.bytes.clone(),
            lines: BTreeMap::new(),
            appended: Vec::new(),
            why: Vec::new(),
        }
    }

    /// Makes the copy set `w`; false when it already does.
    pub fn set(&mut self, f: &ConfFile, w: &Want) -> bool {
        if self
            .why
            .iter()
            .any(|y| y.starts_with(&format!("{} ", w.key)))
        {
            return false;
        }
        let value = w.value.to_sysctl_string();
        let mut exact = false;
        let mut excluded = false;
        for l in &f.lines {
            match &l.kind {
                LineKind::Assign { key, .. } if key == w.key => {
                    self.lines.insert(l.number, value.clone());
                    exact = true;
                }
                LineKind::Exclude { key } if key == w.key => excluded = true,
                _ => {}
            }
        }
        if excluded || !exact {
            self.appended.push(format!("{} = {value}\n", w.key));
        }
        self.why.push(format!(
            "{} = {} (masks {}, which sorts after every drop-in name: a copy with its other lines unchanged)",
            w.key,
            w.value,
            self.of.display()
        ));
        true
    }

    pub fn change(&self) -> FileChange {
        let mut after = set_values(&self.before, &self.lines);
        if !self.appended.is_empty() && !after.is_empty() && !after.ends_with(b"\n") {
            after.push(b'\n');
        }
        for a in &self.appended {
            after.extend_from_slice(a.as_bytes());
        }
        FileChange {
            kind: FileKind::Sysctl,
            path: self.path.clone(),
            real: self.real.clone(),
            before: None,
            after,
            removed: false,
            why: self.why.clone(),
        }
    }
}
