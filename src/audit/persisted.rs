//! What a reboot will do: the winning line for a key under each loader, the value the
//! key will have after boot, and the drift class (docs/persisted.md,
//! "Drift classes"). Also the findings about the
//! files themselves (unreadable files, malformed lines).

use super::boot_default::{describe, KernelDefault};
use super::Finding;
use crate::catalog::{accept, KeyInfo, Meaning};
use crate::host::sysctl_d::parse::LineKind;
use crate::host::sysctl_d::resolve::{resolve, Assignment, Resolution};
use crate::host::sysctl_d::{Loader, Persisted};
use crate::kversion::KernelVersion;
use crate::profile::{value_json, KeyRule, Severity, Value};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    InSync,
    LiveNotPersisted,
    PersistedBelowProfile,
    Shadowed,
    LoadersDisagree,
}

impl Drift {
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::InSync => "in-sync",
            Drift::LiveNotPersisted => "live-not-persisted",
            Drift::PersistedBelowProfile => "persisted-below-profile",
            Drift::Shadowed => "shadowed",
            Drift::LoadersDisagree => "loaders-disagree",
        }
    }
}

/// The value a loader leaves the key with after boot.
#[derive(Debug, Clone)]
pub struct AfterBoot {
    /// None when nothing sets it and the kernel default is a formula.
    pub value: Option<Value>,
    /// "/etc/sysctl.d/99-x.conf:3", "the kernel default", ...
    pub source: String,
    /// Set when the kernel would refuse the persisted text.
    pub rejected: Option<String>,
    pub from_file: bool,
    /// The line whose value stays: the last write the kernel accepted.
    pub line: Option<Assignment>,
}

/// The persisted side of one key, as audit needs it.
pub struct View {
    pub json: serde_json::Value,
    pub drift: Drift,
    /// After boot with the loader that runs at boot.
    pub boot: AfterBoot,
    /// The other loader's result, when it differs.
    pub other: Option<(Loader, AfterBoot)>,
    /// A sentence for the finding's message, when there is something to say.
    pub note: Option<String>,
}

/// The kernel's reading of a persisted text for a key, when it accepts the whole of it
/// (catalog::accept: its own integer parsing, ranges and handler rules).
pub fn kernel_reading(info: Option<&KeyInfo>, text: &str) -> Result<Value, String> {
    let Some(info) = info else {
        return Ok(Value::Text(text.to_string()));
    };
    accept::accepts(&info.shape, text, accept::HZ)
        .map(ints_value)
        .map_err(|why| {
            format!(
                "the kernel rejects `{text}` for {} (EINVAL): {why}",
                info.name
            )
        })
}

fn ints_value(v: Vec<i64>) -> Value {
    match v.as_slice() {
        [x] => Value::Int(*x),
        _ => Value::List(v),
    }
}

/// After boot under `loader`: its writes to the key, in order, from the kernel default.
pub fn after_loader(
    r: &Resolution,
    loader: Loader,
    info: Option<&KeyInfo>,
    kernel: Option<KernelVersion>,
) -> AfterBoot {
    after_writes(r.writes(loader), info, kernel)
}

/// The value a sequence of writes leaves, starting from the kernel default: each write
/// is accepted or refused by the kernel on its own (catalog::accept), a refused one
/// leaves the value it found (a vector key keeps the fields read before the error).
pub(crate) fn after_writes(
    writes: &[Assignment],
    info: Option<&KeyInfo>,
    kernel: Option<KernelVersion>,
) -> AfterBoot {
    let default = info
        .and_then(|i| i.default_for(kernel))
        .and_then(|d| kernel_reading(info, d).ok())
        .and_then(|v| v.ints());
    let Some(info) = info else {
        // A key outside the catalog: its type is unknown, so every write is taken as
        // accepted.
        return match writes.last() {
            Some(a) => AfterBoot {
                value: Some(Value::Text(a.value.clone())),
                source: at(a),
                rejected: None,
                from_file: true,
                line: Some(a.clone()),
            },
            None => AfterBoot {
                value: None,
                source: "the kernel default; no file sets it".into(),
                rejected: None,
                from_file: false,
                line: None,
            },
        };
    };
    let mut state = default;
    let mut line: Option<&Assignment> = None;
    let mut refused: Vec<(&Assignment, String)> = Vec::new();
    for a in writes {
        let o = accept::write(&info.shape, state.as_deref(), &a.value, accept::HZ);
        state = o.value;
        if o.stored {
            line = Some(a);
            refused.clear();
        }
        if let Some(why) = o.error {
            refused.push((a, why));
        }
    }
    let source = match (line, writes.is_empty()) {
        (Some(a), _) => at(a),
        (None, true) => "the kernel default; no file sets it".into(),
        (None, false) => "the kernel default".into(),
    };
    let rejected = (!refused.is_empty()).then(|| {
        refused
            .iter()
            .map(|(a, why)| {
                format!(
                    "{} sets `{}`, which the kernel rejects (EINVAL: {why}), so {} stays",
                    at(a),
                    a.value,
                    if line.is_some() {
                        source.as_str()
                    } else {
                        "the default"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    AfterBoot {
        value: state.map(ints_value),
        source,
        rejected,
        from_file: line.is_some(),
        line: line.cloned(),
    }
}

/// What the boot loader leaves a key at (a file's value or the kernel default), for
/// keys audit reads but has no rule for (a `when` condition, a dependency).
pub fn boot_value(
    p: &Persisted,
    key: &str,
    info: Option<&KeyInfo>,
    kernel: Option<KernelVersion>,
) -> Option<Value> {
    let r = resolve(p, key);
    after_loader(&r, p.boot, info, kernel).value
}

fn at(a: &Assignment) -> String {
    match &a.glob {
        // No parentheses: messages put a source inside theirs.
        Some(g) => format!("the glob {g} at {}:{}", a.file.display(), a.line),
        None => format!("{}:{}", a.file.display(), a.line),
    }
}

fn same(a: &Option<Value>, b: &Option<Value>, meaning: Meaning) -> bool {
    let eff = |v: &Option<Value>| {
        v.as_ref().and_then(Value::ints).map(|xs| {
            xs.into_iter()
                .map(|x| meaning.effective(x))
                .collect::<Vec<_>>()
        })
    };
    match (eff(a), eff(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.as_ref().map(Value::to_sysctl_string) == b.as_ref().map(Value::to_sysctl_string),
    }
}

pub fn view(
    p: &Persisted,
    rule: &KeyRule,
    info: Option<&KeyInfo>,
    kernel: Option<KernelVersion>,
    live: Option<&Value>,
    kd: &KernelDefault,
    applies: bool,
) -> View {
    let key = rule.key.as_str();
    let meaning = info.map_or(Meaning::Plain, |i| i.meaning);
    let r = resolve(p, key);
    let other_loader = match p.boot {
        Loader::Systemd => Loader::Procps,
        Loader::Procps => Loader::Systemd,
    };
    let boot_winner = r.winner(p.boot);
    let boot = kd.fill(after_loader(&r, p.boot, info, kernel));
    let other = kd.fill(after_loader(&r, other_loader, info, kernel));
    let disagree = !r.all.is_empty() && !same(&boot.value, &other.value, meaning);
    let holds = |v: &Option<Value>| {
        v.as_ref()
            .is_some_and(|v| rule.constraint.holds(v, &|x| meaning.effective(x)))
    };
    // The lines whose values stay; a line the kernel refuses is told as refused, not as
    // overridden.
    let winners: Vec<&Assignment> = [boot.line.as_ref(), other.line.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let shadowed: Vec<&Assignment> = r
        .all
        .iter()
        .filter(|a| !winners.contains(a))
        .filter(|a| {
            kernel_reading(info, &a.value).is_ok_and(|v| !same(&Some(v), &boot.value, meaning))
        })
        .collect();
    // A masked file counts when it sets something else (or something the kernel would
    // refuse); one that sets the same value changes nothing.
    let masked: Vec<&(Assignment, PathBuf)> = r
        .masked
        .iter()
        .filter(|(a, _)| {
            !kernel_reading(info, &a.value).is_ok_and(|v| same(&Some(v), &boot.value, meaning))
        })
        .collect();
    // A rule whose `when` does not hold says nothing about the value (the key is inert).
    let drift = if disagree {
        Drift::LoadersDisagree
    } else if applies && boot.from_file && !holds(&boot.value) {
        Drift::PersistedBelowProfile
    } else if live.is_some_and(|l| match &boot.value {
        Some(_) => !same(&Some(l.clone()), &boot.value, meaning),
        // A default no running kernel shows: lost only if the live value cannot be it.
        None => kd.excludes(l),
    }) {
        Drift::LiveNotPersisted
    } else if !shadowed.is_empty() || !masked.is_empty() {
        Drift::Shadowed
    } else {
        Drift::InSync
    };

    // The last line the loader writes, whether the kernel takes it, and what stays.
    let entry = |a: Option<&Assignment>, ab: &AfterBoot| match a {
        Some(a) => {
            json!({ "value": value_or_text(info, &a.value), "file": a.file, "line": a.line, "glob": a.glob,
                "applied": ab.line.as_ref() == Some(a),
                "after_reboot": ab.value.as_ref().map(value_json), "after_reboot_source": ab.source })
        }
        None => serde_json::Value::Null,
    };
    let json = json!({
        "value": boot_winner.map(|a| value_or_text(info, &a.value)),
        "file": boot_winner.map(|a| a.file.clone()),
        "line": boot_winner.map(|a| a.line),
        "boot_loader": p.boot.name(),
        "boot_loader_assumed": !p.boot_known,
        "after_reboot": boot.value.as_ref().map(value_json),
        "after_reboot_source": boot.source,
        "procps": entry(r.procps.as_ref(), if p.boot == Loader::Procps { &boot } else { &other }),
        "systemd": entry(r.systemd.as_ref(), if p.boot == Loader::Systemd { &boot } else { &other }),
        "shadowed": shadowed.iter().map(|a| json!({ "file": a.file, "line": a.line, "value": value_or_text(info, &a.value) })).collect::<Vec<_>>(),
        "masked": r.masked.iter().map(|(a, by)| json!({ "file": a.file, "line": a.line, "value": value_or_text(info, &a.value), "masked_by": by })).collect::<Vec<_>>(),
        "excluded": r.excluded.iter().map(|(f, l)| json!({ "file": f, "line": l })).collect::<Vec<_>>(),
    });

    let note = match drift {
        Drift::InSync => boot.rejected.clone(),
        Drift::LoadersDisagree => Some(
            [
                Some(format!(
                    "{} sets {} but {} would set {}",
                    p.boot.name(),
                    describe(&boot),
                    other_loader.name(),
                    describe(&other),
                )),
                boot.rejected
                    .as_ref()
                    .map(|w| format!("under {}: {w}", p.boot.name())),
                other
                    .rejected
                    .as_ref()
                    .map(|w| format!("under {}: {w}", other_loader.name())),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
        ),
        Drift::PersistedBelowProfile => Some(format!(
            "persisted as {} in {}",
            boot.value
                .as_ref()
                .map_or_else(String::new, |v| v.to_string()),
            boot.source
        )),
        // A file may set the key with a value the kernel refuses: say so, or "not
        // persisted" reads as if no file named the key.
        Drift::LiveNotPersisted => Some(match &boot.rejected {
            Some(why) => format!(
                "not persisted: {why}: after a reboot it would be {}",
                describe(&boot)
            ),
            None => format!(
                "not persisted: after a reboot it would be {}",
                describe(&boot)
            ),
        }),
        Drift::Shadowed => {
            let mut parts: Vec<String> = shadowed
                .iter()
                .map(|a| format!("{} sets {}, overridden by {}", at(a), a.value, boot.source))
                .collect();
            parts.extend(masked.iter().map(|(a, by)| {
                format!(
                    "{} sets {}, but {} masks that file",
                    at(a),
                    a.value,
                    by.display()
                )
            }));
            Some(parts.join("; "))
        }
    };
    View {
        json,
        drift,
        boot,
        other: disagree.then_some((other_loader, other)),
        note,
    }
}

fn value_or_text(info: Option<&KeyInfo>, text: &str) -> serde_json::Value {
    match kernel_reading(info, text) {
        Ok(v) => value_json(&v),
        Err(_) => json!(text),
    }
}

/// Findings about the files: unreadable ones and malformed lines. Both loaders skip a
/// malformed line, so a setting someone wrote there never applies.
pub fn file_findings(p: &Persisted) -> Vec<Finding> {
    let mut out = Vec::new();
    for prob in &p.problems {
        let subject = prob.path.display().to_string();
        let mut f = Finding::new("persisted", &subject, Severity::Warning);
        f.explanation = "tuneguard could not read this file, so the persisted value of any key it sets is unknown; the loaders \
at boot (running as root) may read it."
            .into();
        out.push(f.fail(
            Severity::Warning,
            format!("{subject} could not be read: {}", prob.error),
        ));
    }
    for (link, target) in &p.dangling {
        let subject = link.display().to_string();
        let mut f = Finding::new("persisted", &subject, Severity::Info);
        f.explanation = "A link to a file that does not exist sets nothing: sysctl --system warns that it cannot open it and \
goes on with the other files, systemd-sysctl skips it. tuneguard does the same."
            .into();
        out.push(f.fail(
            Severity::Info,
            format!(
                "{subject} links to {}, which does not exist: both loaders skip it, and so does tuneguard",
                target.display()
            ),
        ));
    }
    // By subject, so a file of a million malformed lines costs linear time.
    let mut seen = std::collections::HashSet::new();
    for &i in p.procps.iter().chain(&p.systemd) {
        let file = &p.files[i];
        // A file of junk gets the first MALFORMED_LISTED lines named and one count, not
        // a finding per line.
        let mut malformed = 0usize;
        for l in &file.lines {
            if let LineKind::SystemdStops { len } = &l.kind {
                let subject = format!("{}:{}", file.path.display(), l.number);
                if !seen.insert(subject.clone()) {
                    continue;
                }
                let mut f = Finding::new("persisted", &subject, Severity::Warning);
                f.explanation = "systemd-sysctl reads a line of at most 1 MiB; at a longer one it logs \"Failed to read \
file\" and ignores the rest of the file, while sysctl --system reads on, so the two loaders set different values."
                    .into();
                out.push(f.fail(
                    Severity::Warning,
                    format!(
                        "{subject}: line of {len} bytes: systemd-sysctl stops reading the file here (its limit is 1 MiB); \
sysctl --system reads on"
                    ),
                ));
            }
            if let LineKind::Assign {
                key,
                braces: Some(globs),
                ..
            } = &l.kind
            {
                let subject = format!("{}:{}", file.path.display(), l.number);
                if globs.is_empty() && seen.insert(subject.clone()) {
                    let shown: String = key.chars().take(80).collect();
                    let mut f = Finding::new("persisted", &subject, Severity::Warning);
                    f.explanation =
                        "systemd-sysctl expands `{a,b}` in a glob key into one glob per \
alternative; tuneguard follows at most 256 of them, so what this line sets at boot is not known."
                            .into();
                    out.push(f.fail(
                        Severity::Warning,
                        format!(
                            "{subject}: the braces of `{shown}` expand to more globs than tuneguard follows; \
under systemd-sysctl this line is taken to set nothing"
                        ),
                    ));
                }
            }
            if let LineKind::Malformed { why } = &l.kind {
                let subject = format!("{}:{}", file.path.display(), l.number);
                if !seen.insert(subject.clone()) {
                    continue;
                }
                malformed += 1;
                if malformed > MALFORMED_LISTED {
                    continue;
                }
                let mut f = Finding::new("persisted", &subject, Severity::Warning);
                f.explanation = "sysctl --system and systemd-sysctl skip a line they cannot parse with a warning in the boot \
log, so whatever it meant to set is not set."
                    .into();
                out.push(f.fail(
                    Severity::Warning,
                    format!("{subject}: malformed line skipped by both loaders: {why}"),
                ));
            }
        }
        if malformed > MALFORMED_LISTED {
            let subject = file.path.display().to_string();
            let mut f = Finding::new("persisted", &subject, Severity::Warning);
            f.explanation =
                "Both loaders skip each malformed line with a warning in the boot log.".into();
            out.push(f.fail(
                Severity::Warning,
                format!(
                    "{subject}: {} more malformed lines skipped by both loaders, not listed",
                    malformed - MALFORMED_LISTED
                ),
            ));
        }
    }
    out
}

/// Malformed lines named one by one, per file.
const MALFORMED_LISTED: usize = 100;
