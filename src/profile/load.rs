//! Finding and parsing profiles: the built-ins embedded from profiles/, site profiles
//! from `<root>/etc/tuneguard/profiles.d`, and files named by path. A site profile with
//! a built-in's name wins.

use super::error::{NotFound, ProfileError};
use super::locate::locate;
use super::model::ProfileFile;
use super::validate::validate;
use super::Profile;
use crate::safety::tree::{read_file, Cap, Confine, Tree};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The built-in profiles, embedded at compile time.
pub const BUILTIN: &[(&str, &str)] = &[
    ("baseline", include_str!("../../profiles/baseline.yaml")),
    (
        "web-frontend",
        include_str!("../../profiles/web-frontend.yaml"),
    ),
    (
        "long-lived-clients",
        include_str!("../../profiles/long-lived-clients.yaml"),
    ),
    (
        "websocket-gateway",
        include_str!("../../profiles/websocket-gateway.yaml"),
    ),
    (
        "small-proxy",
        include_str!("../../profiles/small-proxy.yaml"),
    ),
];

/// Where a profile's text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    Builtin,
    Site(PathBuf),
    File(PathBuf),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    source: ProfileSource,
    text: String,
}

impl Entry {
    fn label(&self) -> String {
        match &self.source {
            ProfileSource::Builtin => format!("builtin:profiles/{}.yaml", self.name),
            ProfileSource::Site(p) | ProfileSource::File(p) => p.display().to_string(),
        }
    }
}

/// Every profile known by name: built-ins, overridden by site profiles.
#[derive(Debug, Clone)]
pub struct Library {
    entries: Vec<Entry>,
}

/// One line of `profiles list`.
pub struct Listing {
    pub name: String,
    pub source: ProfileSource,
    pub description: Option<String>,
    /// Set when the profile does not load (a broken site profile is listed, not hidden).
    pub error: Option<String>,
    pub overrides_builtin: bool,
}

/// A site profile that replaces the built-in of the same name: every report says so, so
/// a replaced baseline is never silent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Override {
    pub name: String,
    pub path: PathBuf,
}

impl Library {
    /// Built-ins plus the site profiles under `root`. A missing site directory is fine;
    /// an unreadable or untrusted one is an error (`safety::profiles`).
    pub fn load(root: &Path) -> Result<Self> {
        let mut entries: Vec<Entry> = BUILTIN
            .iter()
            .map(|(name, text)| Entry {
                name: name.to_string(),
                source: ProfileSource::Builtin,
                text: text.to_string(),
            })
            .collect();
        let dir = root.join("etc/tuneguard/profiles.d");
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading site profiles in {}", dir.display()))
            }
        };
        let listing_found = listing.is_some();
        let mut site: Vec<PathBuf> = listing
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        site.sort();
        if listing_found {
            crate::safety::profiles::check_site(root, &dir, &site).map_err(|e| {
                anyhow::anyhow!(
                    "site profiles in {} are not under root's sole control, so none is read: {e}; a profile there could replace a built-in and make apply write what it says",
                    dir.display()
                )
            })?;
        }
        // Read through the root, held open: a link in a tree such as a container's rootfs
        // is followed inside it, never to the host's files.
        let tree = match site.is_empty() {
            true => None,
            false => Some(
                Tree::open(root, Confine::InRoot)
                    .with_context(|| format!("opening {}", root.display()))?,
            ),
        };
        for path in site {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let text = tree
                .as_ref()
                .expect("opened when there are site profiles")
                .read(rel, Cap::Small)
                .map_err(anyhow::Error::from)
                .and_then(|b| text(&path, b))
                .with_context(|| format!("reading site profile {}", path.display()))?;
            let name = stem(&path);
            entries.retain(|e| e.name != name);
            entries.push(Entry {
                name,
                source: ProfileSource::Site(path),
                text,
            });
        }
        Ok(Self { entries })
    }

    /// The site profiles that replace built-ins.
    pub fn overrides(&self) -> Vec<Override> {
        self.entries
            .iter()
            .filter_map(|e| match &e.source {
                ProfileSource::Site(p) if BUILTIN.iter().any(|(n, _)| *n == e.name) => {
                    Some(Override {
                        name: e.name.clone(),
                        path: p.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    pub fn list(&self) -> Vec<Listing> {
        self.entries
            .iter()
            .map(|e| {
                let parsed = parse(&e.label(), &e.text);
                let error = match &parsed {
                    Ok(_) => self
                        .resolve_entry(e, &mut Chain::default())
                        .err()
                        .map(|x| x.to_string()),
                    Err(x) => Some(x.to_string()),
                };
                Listing {
                    name: e.name.clone(),
                    description: parsed.ok().and_then(|f| f.description),
                    source: e.source.clone(),
                    error,
                    overrides_builtin: matches!(e.source, ProfileSource::Site(_))
                        && BUILTIN.iter().any(|(n, _)| *n == e.name),
                }
            })
            .collect()
    }

    /// The original text and source of a named profile (`profiles show`).
    pub fn text_of(&self, name: &str) -> Option<(String, ProfileSource)> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| (e.text.clone(), e.source.clone()))
    }

    /// Resolves `--profile` arguments (names or paths), each with everything it extends,
    /// and layers them in order. An empty list means the built-in baseline.
    pub fn select(&self, specs: &[String]) -> Result<Profile> {
        let default = ["baseline".to_string()];
        let specs = if specs.is_empty() {
            &default[..]
        } else {
            specs
        };
        let mut out = Profile::default();
        for spec in specs {
            let entry = self.find(spec, None)?;
            let p = self.resolve_entry(&entry, &mut Chain::default())?;
            out.overlay(p);
            out.names.push(entry.name.clone());
        }
        Ok(out)
    }

    /// Loads one file as `profiles validate` does: parse, check, resolve `extends`.
    pub fn validate_file(&self, path: &Path) -> Result<Profile> {
        let entry = file_entry(path)?;
        let mut p = self.resolve_entry(&entry, &mut Chain::default())?;
        p.names = vec![entry.name];
        Ok(p)
    }

    /// A name from the library, else a path (relative to `base`, the including file's
    /// directory, for `extends`).
    fn find(&self, spec: &str, base: Option<&Path>) -> Result<Entry> {
        if let Some(e) = self.entries.iter().find(|e| e.name == spec) {
            return Ok(e.clone());
        }
        let looks_like_path =
            spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml");
        if let (Some(base), true) = (base, looks_like_path) {
            return extended_entry(base, spec);
        }
        let path = PathBuf::from(spec);
        if looks_like_path || path.is_file() {
            return file_entry(&path);
        }
        Err(NotFound {
            name: spec.to_string(),
            known: self.names(),
        }
        .into())
    }

    /// Parses and checks an entry, then layers it over what it extends (depth first).
    /// `chain` holds the profiles being resolved, to name a cycle, and bounds the work.
    fn resolve_entry(&self, entry: &Entry, chain: &mut Chain) -> Result<Profile> {
        chain.resolved += 1;
        let label = entry.label();
        let file = parse(&label, &entry.text)?;
        let key = format!("{}@{label}", entry.name);
        let name = match &file.name {
            Some(n) if matches!(entry.source, ProfileSource::File(_)) => n.clone(),
            _ => entry.name.clone(),
        };
        if let Some(n) = &file.name {
            if *n != entry.name && !matches!(entry.source, ProfileSource::File(_)) {
                let pos = locate(&entry.text, &["name"]);
                return Err(ProfileError {
                    file: label,
                    line: pos.line,
                    col: pos.col,
                    message: format!(
                        "name `{n}` differs from the file name `{}`; rename one so they agree",
                        entry.name
                    ),
                }
                .into());
            }
        }
        chain.names.push(key);
        let base = match &entry.source {
            ProfileSource::Builtin => None,
            ProfileSource::Site(p) | ProfileSource::File(p) => p.parent().map(Path::to_path_buf),
        };
        let mut merged = Profile::default();
        for parent in &file.extends {
            let pos = locate(&entry.text, &["extends", parent]);
            let err = |message: String| ProfileError {
                file: label.clone(),
                line: pos.line,
                col: pos.col,
                message,
            };
            let pentry = match self.find(parent, base.as_deref()) {
                Ok(p) => p,
                Err(e) => return Err(err(format!("extends `{parent}`: {e:#}")).into()),
            };
            let pkey = format!("{}@{}", pentry.name, pentry.label());
            if chain.names.len() >= MAX_EXTENDS_DEPTH {
                return Err(err(format!(
                    "`extends` goes more than {MAX_EXTENDS_DEPTH} profiles deep"
                ))
                .into());
            }
            if chain.resolved >= MAX_EXTENDS_TOTAL {
                return Err(err(format!(
                    "`extends` reaches more than {MAX_EXTENDS_TOTAL} profiles in all (one reached twice counts twice)"
                ))
                .into());
            }
            let stack = &chain.names;
            if let Some(at) = stack.iter().position(|s| *s == pkey) {
                let mut chain: Vec<&str> = stack[at..]
                    .iter()
                    .map(|s| s.split('@').next().unwrap_or(s))
                    .collect();
                chain.push(&pentry.name);
                return Err(err(format!("`extends` cycle: {}", chain.join(" → "))).into());
            }
            let p = self.resolve_entry(&pentry, chain)?;
            merged.overlay(p);
        }
        chain.names.pop();
        let own = validate(&label, &entry.text, &file, &name)?;
        let own_waivers: Vec<String> = own.waivers.keys().cloned().collect();
        merged.overlay(own);
        // A set of the rules' keys: each waiver looked up in constant time.
        let keys: std::collections::HashSet<&str> =
            merged.rules.iter().map(|r| r.key.as_str()).collect();
        for subject in own_waivers {
            let checked = match subject.as_str() {
                "keepalive" | "nginx.listen_backlog" | "nginx.so_keepalive" => {
                    merged.has_subject(&subject)
                }
                key => keys.contains(key),
            };
            if !checked {
                let pos = locate(&entry.text, &["waivers", &subject]);
                return Err(ProfileError {
                    file: label,
                    line: pos.line,
                    col: pos.col,
                    message: format!("waiver for `{subject}`, but no rule of this profile or what it extends checks it"),
                }
                .into());
            }
        }
        Ok(merged)
    }
}

/// How deep `extends` may go, and how many profiles one resolution may reach: each is
/// parsed afresh where it is reached, so a profile extending the same parent many
/// times, many levels deep, would otherwise be parsed without end.
pub const MAX_EXTENDS_DEPTH: usize = 16;
pub const MAX_EXTENDS_TOTAL: usize = 256;

/// The profiles being resolved, outermost first, and how many were resolved so far.
#[derive(Default)]
struct Chain {
    names: Vec<String>,
    resolved: usize,
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A profile named by path on the command line: the caller chose it, so it is opened as
/// given, but only a regular file and at most [`Cap::Small`] of it.
fn file_entry(path: &Path) -> Result<Entry> {
    let text = read_file(path, Cap::Small)
        .map_err(anyhow::Error::from)
        .and_then(|b| text(path, b))
        .with_context(|| format!("reading profile {}", path.display()))?;
    Ok(Entry {
        name: stem(path),
        source: ProfileSource::File(path.to_path_buf()),
        text,
    })
}

/// A profile's bytes as text: UTF-8, or an error at the first bad byte's
/// `file:line:col` (serde_yaml would only say "invalid UTF-8" with no place).
fn text(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        // The prefix is valid UTF-8, so lines and columns count characters as an editor does.
        let before = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ProfileError {
            file: path.display().to_string(),
            line,
            col,
            message: format!(
                "invalid UTF-8 (byte 0x{:02x}): a profile is UTF-8 text",
                bytes[good]
            ),
        }
        .into()
    })
}

/// A profile an `extends:` names by path: relative to the extending profile's directory
/// and below it (no absolute path, no `..` or link out of it), and a `.yaml`/`.yml` file,
/// so a profile cannot make tuneguard read, or quote in an error, any other file.
fn extended_entry(base: &Path, spec: &str) -> Result<Entry> {
    let rel = Path::new(spec);
    if rel.is_absolute() {
        anyhow::bail!("a profile extends others by name or by a path relative to its own directory, not by an absolute path");
    }
    if !matches!(
        rel.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) {
        anyhow::bail!("a profile path in `extends` ends in .yaml or .yml");
    }
    let path = base.join(rel);
    let bytes = Tree::open(base, Confine::Beneath)
        .map_err(anyhow::Error::from)
        .and_then(|t| Ok(t.read(rel, Cap::Small)?))
        .with_context(|| format!("reading profile {}", path.display()))?;
    Ok(Entry {
        name: stem(&path),
        source: ProfileSource::File(path.clone()),
        text: text(&path, bytes)?,
    })
}

/// The largest profile tuneguard parses. The built-ins are a few KiB; a site profile
/// with a rule for every key of the catalog stays far below.
pub const MAX_PROFILE_BYTES: usize = 1 << 20;

/// How deeply flow collections (`[...]`, `{...}`) may nest in a profile. libyaml's
/// scanner takes time quadratic in this depth (100,000 levels: minutes), and a profile
/// needs three.
pub const MAX_FLOW_DEPTH: usize = 32;

/// serde_yaml with its location turned into `file:line:col`; the size and flow nesting
/// are checked first, so that no file can make it take long (serde_yaml itself stops
/// at 128 levels of block nesting).
pub(super) fn parse(label: &str, text: &str) -> Result<ProfileFile, ProfileError> {
    let error = |line, col, message: String| ProfileError {
        file: label.into(),
        line,
        col,
        message,
    };
    if text.trim().is_empty() {
        return Err(error(1, 1, "the profile is empty".into()));
    }
    if text.len() > MAX_PROFILE_BYTES {
        return Err(error(
            1,
            1,
            format!(
                "the profile is {} bytes; profiles are at most {} MiB",
                text.len(),
                MAX_PROFILE_BYTES >> 20
            ),
        ));
    }
    if let Some((line, col)) = too_deep(text) {
        return Err(error(
            line,
            col,
            format!("`[` and `{{` nest more than {MAX_FLOW_DEPTH} deep"),
        ));
    }
    // Syntax first, over the whole text, as PyYAML does: serde_yaml stops at the first
    // field it cannot use, so an unknown field on line 1 would hide an unclosed `[` on
    // line 4 that is the real mistake.
    serde_yaml::from_str::<serde::de::IgnoredAny>(text)
        .and_then(|_| serde_yaml::from_str::<ProfileFile>(text))
        .map_err(|e| {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let mut message = e.to_string();
            // serde_yaml appends " at line L column C" (" at position 0" at 1:1) and the
            // context; we say the place in front instead, and the context as below.
            if let Some(i) = message.find(" at line ").or(message.find(" at position ")) {
                message.truncate(i);
            }
            // libyaml also knows where the construct it was reading began (an unclosed `[`
            // on line 4 is only noticed at the end of the file); say that too, as PyYAML does.
            if let Some((context, l, c)) = yaml_context(&e) {
                if let Some(i) = message.find(&format!(", {context}")) {
                    message.truncate(i);
                }
                message = match (l, c) == (line, col) {
                    true => format!("{message}, {context}"),
                    false => format!("{message}, {context} at {l}:{c}"),
                };
            }
            ProfileError {
                file: label.into(),
                line,
                col,
                message,
            }
        })
}

/// libyaml's context of a syntax error: what it was reading and where that began
/// (1-based), e.g. ("while parsing a flow sequence", 4, 10). serde_yaml shows the mark
/// only in its Debug form (its Display leaves it out when the construct began at 1:1), so
/// it is read from there; `yaml_errors_name_where_the_construct_began` checks the parse
/// against PyYAML's marks.
fn yaml_context(e: &serde_yaml::Error) -> Option<(String, usize, usize)> {
    let debug = format!("{e:?}");
    let context = debug.split("context: \"").nth(1)?.split('"').next()?;
    let (line, col) = match debug.split("context_mark: Mark { line: ").nth(1) {
        Some(rest) => {
            let (line, rest) = rest.split_once(", column: ")?;
            let col = rest.split(' ').next()?;
            (line.parse().ok()?, col.parse().ok()?)
        }
        // libyaml's mark 0:0, which serde_yaml does not print: the start of the text.
        None => (1, 1),
    };
    Some((context.to_string(), line, col))
}

/// Where flow collections first nest deeper than MAX_FLOW_DEPTH (1-based line and
/// column), skipping quoted scalars and comments as YAML does. A bracket inside a plain
/// scalar (`a[b`) is counted too: at worst a profile written that way is refused with
/// its place named, never misread.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let (mut depth, mut line, mut line_start) = (0usize, 1usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') if i == 0 || !b[i - 1].is_ascii_alphanumeric() => {
                // To the closing quote: `\x` escapes in double quotes, `''` in single
                // ones is a quote and closes and reopens, which comes to the same.
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q == b'"' {
                        i += 1;
                    }
                    if b.get(i) == Some(&b'\n') {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    let col = text[line_start..i].chars().count() + 1;
                    return Some((line, col));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_nesting_is_bounded_and_quotes_do_not_count() {
        let deep = format!("sysctl: {}{}\n", "[".repeat(40), "]".repeat(40));
        assert_eq!(too_deep(&deep), Some((1, 9 + MAX_FLOW_DEPTH)));
        let quoted = format!(
            "a: \"{}\" # {}\nb: '{}'\n",
            "[".repeat(40),
            "{".repeat(40),
            "[".repeat(40)
        );
        assert_eq!(too_deep(&quoted), None);
        assert_eq!(too_deep("a: {b: [1, 2], c: {d: 1}}\n"), None);
    }

    fn lib() -> Library {
        Library::load(Path::new("/nonexistent-root")).unwrap()
    }

    #[test]
    fn every_builtin_loads_with_rationale_for_every_rule() {
        let lib = lib();
        for (name, _) in BUILTIN {
            let p = lib
                .select(&[name.to_string()])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!p.rules.is_empty());
            for r in &p.rules {
                assert!(
                    r.why.rationale.is_some() && r.why.fact.is_some(),
                    "{name}: {} lacks rationale/fact",
                    r.key
                );
                assert!(
                    r.fix_for(None).is_some(),
                    "{name}: {} has no value to apply",
                    r.key
                );
            }
        }
    }

    #[test]
    fn extends_layers_rules_in_place() {
        let p = lib().select(&["web-frontend".into()]).unwrap();
        let r = p.rule("net.core.somaxconn").unwrap();
        assert_eq!(r.why.origin, "web-frontend");
        assert_eq!(
            r.constraint,
            Constraint::Range {
                min: Some(super::super::Value::Int(16384)),
                max: None
            }
        );
        assert_eq!(
            p.rule("net.ipv4.tcp_abort_on_overflow").unwrap().why.origin,
            "baseline"
        );
        assert_eq!(p.names, vec!["web-frontend"]);
    }

    use super::super::Constraint;

    fn err_of(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, text).unwrap();
        format!("{:#}", lib().validate_file(&path).unwrap_err())
    }

    #[test]
    fn errors_name_file_line_column() {
        let e = err_of("sysctl:\n  net.core.somaxconn:\n    min: 10\n    max: 5\n");
        assert!(
            e.ends_with(
                "bad.yaml:4:5: min 10 is greater than max 5: no value can satisfy this rule"
            ),
            "{e}"
        );
        let e = err_of("sysctl:\n  net.core.somaxconn:\n    minimum: 10\n");
        assert!(
            e.contains("bad.yaml:3:5: sysctl.net.core.somaxconn: unknown field `minimum`"),
            "{e}"
        );
        let e = err_of("sysctl:\n  net.core.somaxconn: {min: 10, severity: fatal}\n");
        assert!(
            e.contains("bad.yaml:2:") && e.contains("unknown variant `fatal`"),
            "{e}"
        );
        let e = err_of("sysctl:\n  net..core:\n    min: 1\n");
        assert!(
            e.contains("bad.yaml:2:3: key name `net..core` has an empty segment"),
            "{e}"
        );
        let e = err_of("sysctl: [\n");
        assert!(e.contains("bad.yaml:"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.yaml");
        std::fs::write(&path, b"sysctl:\n  # caf\xc3\xa9 ok, na\xefve not\n").unwrap();
        let e = format!("{:#}", lib().validate_file(&path).unwrap_err());
        assert!(
            e.ends_with("latin1.yaml:2:16: invalid UTF-8 (byte 0xef): a profile is UTF-8 text"),
            "{e}"
        );
        let e = err_of("sysctl:\n  net.ipv4.tcp_syncookies: {equals: 300}\n");
        assert!(e.contains("bad.yaml:2:29: the kernel rejects `300` for net.ipv4.tcp_syncookies (EINVAL): 300 is out of range (0..255)"), "{e}");
    }

    #[test]
    fn values_the_kernel_refuses_are_errors_at_their_place() {
        // Jiffies keys: INT_MAX/HZ seconds at most (issue 14: 9000000 passed validation
        // and failed at apply with EINVAL).
        for (text, at) in [
            (
                "sysctl:\n  net.ipv4.tcp_keepalive_time: {equals: 9000000}\n",
                "2:33",
            ),
            (
                "sysctl:\n  net.ipv4.tcp_keepalive_intvl: {max: 2147484}\n",
                "2:34",
            ),
            (
                "sysctl:\n  net.ipv4.tcp_fin_timeout: {one_of: [30, 3000000]}\n",
                "2:30",
            ),
        ] {
            let e = err_of(text);
            assert!(
                e.contains(&format!("bad.yaml:{at}: the kernel rejects"))
                    && e.contains("INT_MAX/HZ, 2147483 with HZ=1000"),
                "{e}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.yaml");
        std::fs::write(
            &ok,
            "sysctl:\n  net.ipv4.tcp_keepalive_time: {equals: 2147483}\n",
        )
        .unwrap();
        assert!(lib().validate_file(&ok).is_ok());
        let e = err_of("sysctl:\n  net.core.somaxconn: {min: -1}\n");
        assert!(e.contains("-1 is out of range (0..2147483647)"), "{e}");
        let e = err_of("sysctl:\n  net.core.somaxconn: {equals: 2147483648}\n");
        assert!(e.contains("outside the kernel's int range"), "{e}");
        let e = err_of("sysctl:\n  net.ipv4.ip_local_port_range: {equals: [1000, 2000]}\n");
        assert!(
            e.contains("below net.ipv4.ip_unprivileged_port_start"),
            "{e}"
        );
    }
}
