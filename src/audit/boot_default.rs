//! What a key returns to at boot when no file sets it (or the kernel rejects what one
//! sets): the kernel default. Learned from this kernel when the host read a new network
//! namespace (`host/defaults.rs`), else the catalog's default for the kernel version;
//! a default no running kernel shows (tcp_rmem's, computed once at boot) is said as
//! such, never as "unknown", and counts as lost at reboot only when the live value
//! cannot be it.

use super::persisted::{kernel_reading, AfterBoot};
use crate::catalog::KeyInfo;
use crate::host::defaults::{copied, SYN_BACKLOG};
use crate::host::Snapshot;
use crate::profile::Value;

pub struct KernelDefault {
    pub value: Option<Value>,
    /// A noun phrase without parentheses: messages put it inside theirs.
    pub source: String,
    /// For a default that is not one number, what the catalog fixes of it: each field's
    /// value where fixed, and the most the last field can be ("at most 33554432").
    fixed: Vec<Option<i64>>,
    at_most: Option<i64>,
}

/// The kernel default of `key` as this audit can know it.
pub fn of(snap: &Snapshot, key: &str, info: Option<&KeyInfo>) -> KernelDefault {
    let text = info.and_then(|i| i.default_for(snap.kernel));
    let catalog = text
        .and_then(|d| kernel_reading(info, d).ok())
        .filter(|v| v.ints().is_some());
    let (fixed, at_most) = text.map(shape_of).unwrap_or_default();
    let learned = snap.new_netns.as_ref();
    let (value, source) = match (
        learned.and_then(|n| n.values.get(key)),
        learned.and_then(|n| n.not_default.get(key)),
    ) {
        (Some(v), _) => match kernel_reading(info, v) {
            Ok(v) => (
                Some(v),
                "the kernel default, as a new network namespace shows it".to_string(),
            ),
            Err(_) => (catalog.clone(), "the kernel default".to_string()),
        },
        (None, _) if catalog.is_some() => (catalog, "the kernel default".to_string()),
        (None, _) if key == SYN_BACKLOG && snap.syn_backlog_default.is_some() => {
            let (v, how) = snap.syn_backlog_default.clone().unwrap_or_default();
            (
                kernel_reading(info, &v).ok(),
                format!("the kernel default, {how}"),
            )
        }
        // tcp_rmem's max is computed from free memory at boot, and a new namespace copies
        // the host's current value: no running kernel shows the boot value again.
        (None, _) if copied(key).is_some() && key.starts_with("net.") => (
            None,
            format!(
                "the kernel default from boot, which a running kernel does not show again: {}",
                text.unwrap_or("not in the catalog")
            ),
        ),
        (None, Some(why)) => (
            None,
            format!("the kernel default, which depends on the machine: {why}"),
        ),
        (None, None) => (
            None,
            match (learned.and_then(|n| n.failed.as_deref()), text) {
                (Some(why), _) => format!("the kernel default, not learned here: {why}"),
                (None, Some(text)) => {
                    format!("the kernel default, which depends on the machine: {text}")
                }
                (None, None) => {
                    "the kernel default, which tuneguard's catalog does not know".into()
                }
            },
        ),
    };
    KernelDefault {
        value,
        source,
        fixed,
        at_most,
    }
}

/// "4096 131072 max computed from memory at boot (at most 33554432)" → fields 4096 and
/// 131072 fixed, the last at most 33554432.
fn shape_of(text: &str) -> (Vec<Option<i64>>, Option<i64>) {
    let fixed = text
        .split_whitespace()
        .map_while(|t| t.parse().ok())
        .map(Some)
        .collect();
    let at_most = text.split("at most ").nth(1).and_then(|rest| {
        rest.trim_end_matches(')')
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    (fixed, at_most)
}

impl KernelDefault {
    /// The loader's result with the kernel default filled in where no file's value
    /// applies.
    pub fn fill(&self, mut ab: AfterBoot) -> AfterBoot {
        if ab.from_file {
            return ab;
        }
        ab.value = self.value.clone();
        ab.source = if ab.rejected.is_some() {
            self.source.clone()
        } else {
            format!("{}; no file sets it", self.source)
        };
        ab
    }

    /// Whether `live` cannot be this default: it differs where the default is known.
    /// Only for a default with no known value; a known one is compared whole.
    pub fn excludes(&self, live: &Value) -> bool {
        let Some(xs) = live.ints() else {
            return false;
        };
        let fixed_differs = self
            .fixed
            .iter()
            .zip(&xs)
            .any(|(f, x)| f.is_some_and(|f| f != *x));
        let over = self
            .at_most
            .is_some_and(|m| xs.last().is_some_and(|x| *x > m));
        fixed_differs || over
    }
}

/// "2048 (the kernel default; no file sets it)", or the source alone when its value is
/// not known: never "unknown".
pub fn describe(ab: &AfterBoot) -> String {
    match &ab.value {
        Some(v) => format!("{v} ({})", ab.source),
        None => ab.source.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_default_text_fixes() {
        let (fixed, at_most) =
            shape_of("4096 131072 max computed from memory at boot (at most 33554432)");
        assert_eq!(fixed, vec![Some(4096), Some(131072)]);
        assert_eq!(at_most, Some(33554432));
        let kd = KernelDefault {
            value: None,
            source: String::new(),
            fixed,
            at_most,
        };
        let v = |s: &str| Value::Text(s.into());
        assert!(!kd.excludes(&v("4096 131072 33554432")));
        assert!(!kd.excludes(&v("4096 131072 6291456")));
        assert!(kd.excludes(&v("4096 87380 6291456")));
        assert!(kd.excludes(&v("4096 131072 67108864")));
        assert_eq!(shape_of("max(128, ehash_entries/128)"), (vec![], None));
    }
}
