//! Kernel versions: parsed from `uname -r` / `osrelease`, compared as (major, minor).
//!
//! Only major.minor matter for the facts we encode (defaults and key names change at
//! release boundaries, never at stable point releases), so the patch level and the
//! distribution suffix (`-18-amd64`, `-fc-v657`) are ignored.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Parses "6.1", "6.1.0-18-amd64", "4.19.0", "5.4-rc3". Returns None for anything
    /// that does not start with `MAJOR.MINOR`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor_raw = parts.next()?;
        let digits: String = minor_raw
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let minor = digits.parse().ok()?;
        Some(Self { major, minor })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A condition on the kernel version, as written in profiles: `">=5.4"`, `"<4.12"`,
/// `">=4.1, <6.3"` (all parts must hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRange {
    pub parts: Vec<(Cmp, KernelVersion)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl KernelRange {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        for raw in s.split(',') {
            let p = raw.trim();
            let (cmp, rest) = if let Some(r) = p.strip_prefix(">=") {
                (Cmp::Ge, r)
            } else if let Some(r) = p.strip_prefix("<=") {
                (Cmp::Le, r)
            } else if let Some(r) = p.strip_prefix('>') {
                (Cmp::Gt, r)
            } else if let Some(r) = p.strip_prefix('<') {
                (Cmp::Lt, r)
            } else if let Some(r) = p.strip_prefix("==") {
                (Cmp::Eq, r)
            } else {
                return Err(format!(
                    "kernel condition `{p}` must start with >=, >, <=, < or == (e.g. \">=5.4\")"
                ));
            };
            let v = KernelVersion::parse(rest.trim()).ok_or_else(|| {
                format!(
                    "`{}` in kernel condition is not a MAJOR.MINOR version",
                    rest.trim()
                )
            })?;
            parts.push((cmp, v));
        }
        if parts.is_empty() {
            return Err("empty kernel condition".into());
        }
        Ok(Self { parts })
    }

    pub fn contains(&self, v: KernelVersion) -> bool {
        self.parts.iter().all(|(cmp, bound)| match cmp {
            Cmp::Ge => v >= *bound,
            Cmp::Gt => v > *bound,
            Cmp::Le => v <= *bound,
            Cmp::Lt => v < *bound,
            Cmp::Eq => v == *bound,
        })
    }
}

impl fmt::Display for KernelRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (cmp, v)) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let op = match cmp {
                Cmp::Ge => ">=",
                Cmp::Gt => ">",
                Cmp::Le => "<=",
                Cmp::Lt => "<",
                Cmp::Eq => "==",
            };
            write!(f, "{op}{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distribution_releases() {
        assert_eq!(
            KernelVersion::parse("6.1.0-18-amd64"),
            Some(KernelVersion::new(6, 1))
        );
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v657"),
            Some(KernelVersion::new(6, 18))
        );
        assert_eq!(
            KernelVersion::parse("5.4-rc3"),
            Some(KernelVersion::new(5, 4))
        );
        assert_eq!(KernelVersion::parse("banana"), None);
        assert!(KernelVersion::new(6, 18) > KernelVersion::new(6, 3));
    }

    #[test]
    fn ranges() {
        let r = KernelRange::parse(">=4.1, <6.3").unwrap();
        assert!(r.contains(KernelVersion::new(5, 4)));
        assert!(!r.contains(KernelVersion::new(6, 3)));
        assert!(!r.contains(KernelVersion::new(4, 0)));
        assert!(KernelRange::parse("5.4").is_err());
        assert!(KernelRange::parse(">=five").is_err());
    }
}
