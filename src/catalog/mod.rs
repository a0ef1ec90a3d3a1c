//! What each sysctl key means: one table (`keys.rs`), read by audit, explain, the docs
//! generator and the JSON report. Nothing else in the program may hard-code what a key
//! does; it asks here.

pub mod accept;
mod dependencies;
mod keys;
pub mod kubernetes;

use crate::kversion::KernelVersion;

pub use accept::Handler;
pub use dependencies::{Dependency, DEPENDENCIES};
pub use keys::CATALOG;

/// How many integers a key holds and the range the kernel accepts for each. A write
/// outside the range fails with EINVAL; the kernel never clamps (kernel/sysctl.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Number of whitespace-separated integers (1 for plain keys, 2 for
    /// ip_local_port_range, 3 for tcp_rmem/tcp_wmem/tcp_mem).
    pub fields: u8,
    /// Smallest value the kernel accepts in each field, if bounded.
    pub min: Option<i64>,
    /// Largest value the kernel accepts in each field, if bounded.
    pub max: Option<i64>,
    /// The kernel rejects fields that are not in ascending order (ip_local_port_range).
    pub ascending: bool,
    /// How the kernel reads a written text ([`accept`]).
    pub handler: Handler,
}

impl Shape {
    /// The smallest and largest value the kernel stores in each field: the shape's own
    /// bounds within the handler's type (jiffies keys at [`accept::HZ`]).
    pub fn bounds(&self) -> (i64, i64) {
        self.bounds_at(accept::HZ)
    }

    /// [`Shape::bounds`] on a kernel built with `hz`.
    pub fn bounds_at(&self, hz: u32) -> (i64, i64) {
        let (lo, hi) = match self.handler {
            Handler::Int | Handler::PortRange => (i64::from(i32::MIN), i64::from(i32::MAX)),
            Handler::Jiffies => {
                let l = i64::from(i32::MAX) / i64::from(hz);
                (-l, l)
            }
            Handler::U8 => (0, 255),
            Handler::ULong => (0, i64::MAX),
        };
        (
            self.min.map_or(lo, |m| m.max(lo)),
            self.max.map_or(hi, |m| m.min(hi)),
        )
    }

    /// Why the kernel would reject these fields with EINVAL, if it would.
    pub fn rejects(&self, fields: &[i64]) -> Option<String> {
        if fields.len() != self.fields as usize {
            return Some(format!(
                "it takes {}, not {}",
                crate::words::count(self.fields as usize, "integer"),
                fields.len()
            ));
        }
        let text: Vec<String> = fields.iter().map(i64::to_string).collect();
        accept::accepts(self, &text.join(" "), accept::HZ).err()
    }
}

/// How the kernel reads a value: what it *acts as*, which is what audit compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// The number is used as written.
    Plain,
    /// Zero is off; any non-zero value acts as on (1).
    NonZeroIsOn,
    /// tcp_syncookies: 0 off, 2 unconditional cookies, any other value acts as 1.
    Syncookies,
    /// Zero stands for another value (tcp_orphan_retries: 0 acts as 8).
    ZeroMeans(i64),
}

impl Meaning {
    /// The value the kernel acts on for a raw single-field value.
    pub fn effective(self, raw: i64) -> i64 {
        match self {
            Meaning::Plain => raw,
            Meaning::NonZeroIsOn => i64::from(raw != 0),
            Meaning::Syncookies => match raw {
                0 => 0,
                2 => 2,
                _ => 1,
            },
            Meaning::ZeroMeans(v) => {
                if raw == 0 {
                    v
                } else {
                    raw
                }
            }
        }
    }

    /// True when `raw` is a value the kernel accepts but reads as something else
    /// (tcp_syncookies=3 acts as 1): worth saying, since it confuses people and tools.
    pub fn is_nonstandard(self, raw: i64) -> bool {
        match self {
            Meaning::Plain | Meaning::ZeroMeans(_) => false,
            Meaning::NonZeroIsOn | Meaning::Syncookies => self.effective(raw) != raw,
        }
    }
}

/// Whether each network namespace has its own copy of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every netns has its own value; a new netns starts from the kernel default, not
    /// from the host's tuned value.
    PerNetns,
    /// One value for the whole host. net.* global keys are absent inside a child netns;
    /// others (fs.*) are visible there but show and change the host's value.
    Global,
}

/// The kernel's default, from a given version on (entries in ascending `since` order;
/// `None` means "all versions we know of").
#[derive(Debug, Clone, Copy)]
pub struct Default {
    pub since: Option<KernelVersion>,
    /// The value as /proc/sys shows it, or a formula when it depends on the machine.
    pub value: &'static str,
}

/// A version-specific fact worth telling (a changed meaning, a truncation, a hidden key).
#[derive(Debug, Clone, Copy)]
pub struct KernelNote {
    /// Versions the note applies to, as a profile-style range (">=4.1", "<6.3").
    pub versions: &'static str,
    pub text: &'static str,
}

/// One catalog entry. Every field is data; see `keys.rs`.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo {
    pub name: &'static str,
    pub shape: Shape,
    pub meaning: Meaning,
    pub unit: &'static str,
    pub scope: Scope,
    pub defaults: &'static [Default],
    /// One line: what the setting does.
    pub summary: &'static str,
    /// A paragraph: how the kernel uses it, in plain words, with the facts behind it.
    pub explanation: &'static str,
    /// What a person sees when it is wrong (resets, timeouts, stalls, drops).
    pub symptoms: &'static str,
    /// Counters that show it (netstat TcpExt names, sockstat fields, `ss` columns).
    pub counters: &'static [&'static str],
    pub related: &'static [&'static str],
    pub added_in: Option<KernelVersion>,
    pub removed_in: Option<KernelVersion>,
    pub notes: &'static [KernelNote],
    /// Where the facts come from (docs/kernel.md sections, kernel files, commits).
    pub sources: &'static str,
}

impl KeyInfo {
    /// The default on a given kernel, or the newest one we know when the version is
    /// unknown.
    pub fn default_for(&self, kernel: Option<KernelVersion>) -> Option<&'static str> {
        let mut found = None;
        for d in self.defaults {
            match (d.since, kernel) {
                (None, _) => found = Some(d.value),
                (Some(since), Some(k)) if k >= since => found = Some(d.value),
                (Some(_), None) => found = Some(d.value),
                _ => {}
            }
        }
        found
    }

    /// Whether this kernel has the key, by the versions we know.
    pub fn exists_on(&self, kernel: KernelVersion) -> bool {
        self.added_in.is_none_or(|a| kernel >= a) && self.removed_in.is_none_or(|r| kernel < r)
    }
}

/// Looks a key up by its dotted name (`net.core.somaxconn`); `/` separators are
/// accepted as sysctl(8) accepts them.
pub fn lookup(name: &str) -> Option<&'static KeyInfo> {
    let dotted = name.replace('/', ".");
    CATALOG.iter().find(|k| k.name == dotted)
}

/// Checks that a key name is safe to turn into a /proc/sys path: dotted segments of
/// `[A-Za-z0-9_-]`, no empty segment (so no `..`), no `/`, no leading dot. Interface
/// names with dots (VLANs) are out of scope for the keys tuneguard handles.
pub fn validate_key_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty key name".into());
    }
    if name.contains('/') {
        return Err(format!(
            "key name `{name}` contains `/`: write keys with dots, e.g. net.core.somaxconn"
        ));
    }
    if name.len() > 200 {
        let head: String = name.chars().take(40).collect();
        return Err(format!("key name `{head}...` is too long"));
    }
    for seg in name.split('.') {
        if seg.is_empty() {
            return Err(format!(
                "key name `{name}` has an empty segment (`..` or a leading/trailing dot)"
            ));
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(format!("key name `{name}` contains `{c}`: only letters, digits, `_`, `-` and `.` are allowed"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_consistent() {
        let mut names: Vec<_> = CATALOG.iter().map(|k| k.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate catalog entries");
        for k in CATALOG {
            validate_key_name(k.name).unwrap();
            assert!(
                !k.summary.is_empty() && !k.explanation.is_empty(),
                "{}",
                k.name
            );
            for r in k.related {
                assert!(
                    lookup(r).is_some(),
                    "{} names unknown related key {r}",
                    k.name
                );
            }
            for n in k.notes {
                crate::kversion::KernelRange::parse(n.versions).unwrap();
            }
            if k.removed_in.is_none() {
                assert!(!k.defaults.is_empty(), "{} has no default", k.name);
            }
        }
    }

    #[test]
    fn syncookies_meaning() {
        let m = Meaning::Syncookies;
        assert_eq!(m.effective(3), 1);
        assert_eq!(m.effective(2), 2);
        assert!(m.is_nonstandard(3));
        assert!(!m.is_nonstandard(1));
        assert_eq!(Meaning::ZeroMeans(8).effective(0), 8);
        assert_eq!(Meaning::NonZeroIsOn.effective(5), 1);
    }

    #[test]
    fn key_names_are_validated() {
        assert!(validate_key_name("net.core.somaxconn").is_ok());
        assert!(validate_key_name("net..core").is_err());
        assert!(validate_key_name("net/core/somaxconn").is_err());
        assert!(validate_key_name("../../etc/passwd").is_err());
        assert!(validate_key_name("net.core.some maxconn").is_err());
        let long = format!("{}é{}", "a".repeat(39), "b".repeat(200));
        assert!(validate_key_name(&long).unwrap_err().contains("too long"));
    }
}
