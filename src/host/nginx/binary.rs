//! Which nginx version the configuration is judged by, and where that came from: given
//! with `--nginx-version`, else read from the nginx binary's own bytes (under `--root`,
//! the root's usr/sbin/nginx; else the running master's alone; with no master, nginx in
//! PATH, then /usr/sbin/nginx), only from a file root alone controls (safety::binary).
//! When none can be read, the newest version the table knows is assumed, so that nothing
//! a current nginx accepts is refused, and the report says why.

use super::discover::MASTER;
use super::versions::{self, Version};
use crate::safety::exec::{FileId, Process};
use std::path::{Path, PathBuf};

/// Where the version came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// `--nginx-version`.
    Given,
    /// The NGINX_VER string in this binary.
    Binary(PathBuf),
    /// Nothing could be read: the newest the table knows.
    Default,
}

impl Source {
    /// The JSON name: `flag`, `binary`, `default`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Given => "flag",
            Source::Binary(_) => "binary",
            Source::Default => "default",
        }
    }
}

/// The version assumed for the configuration, where it came from, and what was passed
/// over on the way (one sentence each).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assumed {
    pub version: Version,
    pub source: Source,
    /// Binaries that were there but not believed or not understood, and why.
    pub passed_over: Vec<String>,
    /// Where a binary was looked for and none was (for the default's reason).
    pub looked: Vec<PathBuf>,
    /// The bytes of the binary the version was read from (directives.rs looks for
    /// directive names in them); None with `--nginx-version` or the default. A capture
    /// keeps no binary, so `audit --capture` judges no directive name.
    #[serde(skip)]
    pub program: Option<Program>,
}

/// A believed program file's bytes (the nginx binary, a module it loads).
#[derive(Clone)]
pub struct Program {
    pub path: PathBuf,
    pub bytes: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Program({}, {} bytes)",
            self.path.display(),
            self.bytes.len()
        )
    }
}

impl PartialEq for Program {
    fn eq(&self, other: &Program) -> bool {
        self.path == other.path && self.bytes.len() == other.bytes.len()
    }
}

impl Eq for Program {}

impl Assumed {
    /// One sentence for the report: which version, and why that one.
    pub fn describe(&self) -> String {
        let v = self.version;
        let mut s = match &self.source {
            Source::Given => format!("nginx {v}, as given with --nginx-version"),
            Source::Binary(p) => format!("nginx {v}, read from the binary {}", p.display()),
            Source::Default => format!(
                "nginx {v} assumed (the newest tuneguard knows; give --nginx-version to judge by another): the version could not be read"
            ),
        };
        if !self.passed_over.is_empty() {
            s.push_str(&format!(" ({})", self.passed_over.join("; ")));
        } else if self.source == Source::Default {
            let looked: Vec<String> = self
                .looked
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            s.push_str(&format!(" (no nginx binary at {})", looked.join(", ")));
        }
        s
    }
}

/// The version `nginx -v` would print, from the binary's bytes: the NUL-terminated
/// NGINX_VER ("nginx/1.22.1") and "nginx version: nginx/1.22.1" must agree.
pub fn version_in(bytes: &[u8]) -> Result<Version, String> {
    const TAG: &[u8] = b"nginx/";
    let mut found: Vec<Version> = Vec::new();
    for start in memchr::memmem::find_iter(bytes, TAG) {
        let at = start + TAG.len();
        // "freenginx/", "/usr/share/nginx/": not nginx's own version string.
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'/') {
            continue;
        }
        let rest = &bytes[at..bytes.len().min(at + 20)];
        let end = rest
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .unwrap_or(rest.len());
        let Some(v) = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(Version::parse)
        else {
            continue;
        };
        if !found.contains(&v) {
            found.push(v);
        }
    }
    match found[..] {
        [v] => Ok(v),
        [] => Err("it holds no nginx/X.Y.Z version string".into()),
        _ => Err(format!(
            "it names several versions ({})",
            found
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The binaries to read, in order, when no master runs: under an explicit root only
/// its own; otherwise nginx in PATH (absolute entries), then /usr/sbin/nginx.
fn candidates(root: &Path, root_explicit: bool) -> Vec<PathBuf> {
    if root_explicit {
        return [
            "usr/sbin/nginx",
            "usr/local/sbin/nginx",
            "usr/local/nginx/sbin/nginx",
        ]
        .iter()
        .map(|p| root.join(p))
        .collect();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut out: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join("nginx"))
        .collect();
    out.push(PathBuf::from("/usr/sbin/nginx"));
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// The version in the binary at `path`, which file it is and its bytes, or why it was
/// not read.
fn read_version(path: &Path, within: Option<&Path>) -> Result<(Version, FileId, Program), String> {
    let (bytes, file) = crate::safety::binary::read_believed(path, within)
        .map_err(|u| format!("{u}: not read for the version"))?;
    let v = version_in(&bytes)
        .map_err(|e| format!("{}: {e}: not read for the version", path.display()))?;
    let program = Program {
        path: path.to_path_buf(),
        bytes: bytes.into(),
    };
    Ok((v, file, program))
}

/// The version to judge the configuration by. A running master (believed: it runs as
/// root) is the nginx that runs the configuration: its binary alone counts, and only
/// when the file at the path /proc/PID/exe names is the very file it runs; another
/// binary on this host may be another version (a container's nginx, an upgrade not yet
/// restarted).
pub fn assume(
    given: Option<Version>,
    root: &Path,
    root_explicit: bool,
    master: Option<&Process>,
) -> Assumed {
    let mut out = Assumed {
        version: versions::NEWEST,
        source: Source::Default,
        passed_over: Vec::new(),
        looked: Vec::new(),
        program: None,
    };
    if let Some(version) = given {
        return Assumed {
            version,
            source: Source::Given,
            ..out
        };
    }
    if let (Some(p), false) = (master, root_explicit) {
        let Some(path) = &p.exe_path else {
            out.passed_over.push(format!(
                "the binary of {MASTER} pid {} was not read: /proc/{}/exe cannot be read",
                p.pid, p.pid
            ));
            return out;
        };
        match read_version(path, None) {
            Ok((v, file, program)) if p.exe_file == Some(file) => {
                out.version = v;
                out.source = Source::Binary(path.clone());
                out.program = Some(program);
            }
            Ok(_) => out.passed_over.push(format!(
                "{} is not the file {MASTER} pid {} runs (/proc/{}/exe: replaced or deleted since it started, or another mount namespace's): not read for the version",
                path.display(),
                p.pid,
                p.pid
            )),
            Err(why) => out.passed_over.push(why),
        }
        return out;
    }
    let within = root_explicit.then_some(root);
    for path in candidates(root, root_explicit) {
        if std::fs::symlink_metadata(&path).is_err() {
            out.looked.push(path);
            continue;
        }
        match read_version(&path, within) {
            Ok((v, _, program)) => {
                out.version = v;
                out.source = Source::Binary(path);
                out.program = Some(program);
                return out;
            }
            Err(why) => out.passed_over.push(why),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_string_nginx_compiles_in() {
        let bin = b"\x7fELF..\0/usr/share/nginx/\0nginx version: nginx/1.22.1\n\0nginx/1.22.1\0--with-cc-opt=nginx-1.22.1";
        assert_eq!(version_in(bin), Ok(Version(1, 22, 1)));
        assert!(version_in(b"freenginx/1.26.0\0").is_err());
        assert!(version_in(b"\0nginx/1.2\0").is_err());
        let two = version_in(b"\0nginx/1.22.1\0nginx/1.25.0\0").unwrap_err();
        assert!(two.contains("1.22.1, 1.25.0"), "{two}");
    }

    #[test]
    fn a_given_version_wins_and_nothing_found_assumes_the_newest() {
        let given = assume(Some(Version(1, 25, 0)), Path::new("/"), false, None);
        assert_eq!(given.source, Source::Given);
        assert!(given.describe().contains("--nginx-version"), "{given:?}");
        let empty = tempfile::tempdir().unwrap();
        let a = assume(None, empty.path(), true, None);
        assert_eq!((a.version, &a.source), (versions::NEWEST, &Source::Default));
        assert!(
            a.describe().contains("no nginx binary at"),
            "{}",
            a.describe()
        );
    }
}
