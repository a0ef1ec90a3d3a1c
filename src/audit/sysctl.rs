//! One sysctl rule against the live value, with the kernel's meaning: what the value
//! acts as (tcp_syncookies=3 acts as 1), which keys do nothing in the current state
//! (tcp_max_syn_backlog while syncookies are on), keys the kernel removed or a
//! namespace hides, and global keys read from inside a child namespace.

use super::{waived, Absence, Finding};
use crate::catalog::{self, KeyInfo, Meaning, Scope};
use crate::host::{Reading, Snapshot};
use crate::profile::{value_json, Constraint, KeyRule, Profile, Severity, Value};

pub(super) fn check(snap: &Snapshot, profile: &Profile, rule: &KeyRule) -> Finding {
    let key = rule.key.as_str();
    let info = catalog::lookup(key);
    let mut f = Finding::new("sysctl", key, rule.severity);
    f.expected = Some(rule.constraint.to_json());
    f.profile = Some(rule.origin.clone());
    f.rationale = rule.rationale.clone();
    f.fact = rule.fact.clone();
    f.incident = rule.incident;
    f.scope = info.map(|i| match i.scope {
        Scope::PerNetns => "per-netns",
        Scope::Global => "global",
    });
    f.explanation = match info {
        Some(i) => format!("{} {}", i.explanation, i.symptoms),
        None => format!("{key} is not in tuneguard's catalog; it is checked as a plain value."),
    };

    if let Some(w) = waived(profile, key, f.clone()) {
        return w;
    }
    if let (Some(range), Some(kv)) = (&rule.kernel, snap.kernel) {
        if !range.contains(kv) {
            return f.skip(format!(
                "{key}: the rule applies to kernels {range} and this one is {kv}"
            ));
        }
    }
    let raw = match snap.sysctl.get(key) {
        Some(Reading::Value(v)) => v.clone(),
        Some(Reading::Unreadable { error, .. }) => {
            return f.skip(format!("{key} could not be read: {error}"))
        }
        Some(Reading::Absent) | None => return absent(f, snap, rule, info),
    };
    let live = Value::Text(raw.clone());
    f.live = Some(value_json(&live));
    f.remedy = rule.fix_for(Some(&live)).map(|v| remedy(snap, key, &v));
    if info.is_some_and(|i| i.scope == Scope::Global) && snap.netns.initial == Some(false) {
        f.host_wide = true;
    }

    if let Some(cond) = &rule.when {
        let norm = norm_for(&cond.key);
        match snap.value(&cond.key) {
            Some(v) if cond.test.holds(&Value::Text(v.to_string()), &norm) => {}
            Some(v) => {
                return f.skip(format!(
                    "{key} is {raw}; the rule applies only while {} is {}, and it is {v}",
                    cond.key,
                    describe_test(&cond.test)
                ))
            }
            None => {
                return f.skip(format!(
                    "{key}: the rule depends on {}, which this kernel does not show",
                    cond.key
                ))
            }
        }
    }

    let meaning = info.map_or(Meaning::Plain, |i| i.meaning);
    let single = live.ints().filter(|v| v.len() == 1).map(|v| v[0]);
    if let Some(x) = single {
        if meaning.effective(x) != x {
            f.effective = Some(meaning.effective(x).into());
        }
    }
    let ok = rule.constraint.holds(&live, &|x| meaning.effective(x));
    let want = format!(
        "profile {} wants {}",
        rule.origin,
        describe_constraint(&rule.constraint)
    );
    let mut message = format!("{key} is {raw}, {want}");
    if let Some(x) = single.filter(|x| meaning.is_nonstandard(*x)) {
        message = format!(
            "{key} is {x}, which the kernel treats as {}: {want}",
            meaning.effective(x)
        );
    }
    let mut severity = rule.severity;
    if let Some(note) = dependency_note(snap, key) {
        if !note.active && !ok {
            // The value does nothing right now; say so, but it is not today's problem.
            severity = Severity::Info;
        }
        message = format!("{message}; {}", note.text);
    }
    if f.host_wide {
        message.push_str(" (host-wide: a global key, read from inside a network namespace)");
    }
    match (ok, single.filter(|x| meaning.is_nonstandard(*x))) {
        (true, None) => f.pass(message),
        // Acts as wanted, but written in a way that confuses tools and people.
        (true, Some(_)) => f.fail(
            Severity::Info,
            format!("{message}; write the standard value instead"),
        ),
        (false, _) => f.fail(severity, message),
    }
}

/// A key that is not there: removed, not yet added, global and hidden, or unknown.
fn absent(f: Finding, snap: &Snapshot, rule: &KeyRule, info: Option<&KeyInfo>) -> Finding {
    let key = rule.key.as_str();
    let kernel = snap.kernel.map_or("unknown".to_string(), |k| k.to_string());
    let (absence, message) = match (info, snap.kernel) {
        (Some(i), Some(kv)) if i.removed_in.is_some_and(|r| kv >= r) => {
            let r = i.removed_in.unwrap_or(kv);
            (
                Absence::Removed,
                format!(
                    "{key} was removed in Linux {r} and this kernel is {kernel}; drop it from profile {} or limit the rule with kernel: \"<{r}\"",
                    rule.origin
                ),
            )
        }
        (Some(i), Some(kv)) if i.added_in.is_some_and(|a| kv < a) => (
            Absence::NotYetAdded,
            format!("{key} arrived in Linux {} and this kernel is {kernel}", i.added_in.unwrap_or(kv)),
        ),
        (Some(i), _) if i.scope == Scope::Global && snap.netns.initial != Some(true) => (
            Absence::GlobalHidden,
            format!(
                "{key} is a global key, visible only from the host's initial network namespace ({} is not); audit the host to check it",
                snap.netns.label
            ),
        ),
        (Some(_), _) => (
            Absence::NotVisible,
            format!("{key} is not visible here although Linux {kernel} has it: hidden in this namespace (net.core.* under a user namespace before 6.3) or its module is not loaded"),
        ),
        (None, _) => (
            Absence::Unknown,
            format!("{key} does not exist on this kernel ({kernel}) and is not in tuneguard's catalog: a typo, or a key of another kernel"),
        ),
    };
    let mut f = f;
    f.absent = Some(absence);
    f.remedy = None;
    match absence {
        Absence::Unknown => f.fail(rule.severity, message),
        // A removed key the profile wants turned on: the profile asks for a feature
        // this kernel no longer has.
        Absence::Removed if !rule.constraint.holds(&Value::Int(0), &norm_for(key)) => {
            let sev = rule.severity.min(Severity::Warning);
            f.fail(
                sev,
                format!(
                    "{message}; the profile wants it {}, which this kernel cannot do",
                    describe_constraint(&rule.constraint)
                ),
            )
        }
        _ => f.skip(message),
    }
}

pub(super) struct DependencyNote {
    pub active: bool,
    pub text: String,
}

/// What the catalog says about keys whose effect depends on another key.
fn dependency_note(snap: &Snapshot, key: &str) -> Option<DependencyNote> {
    let dep = catalog::DEPENDENCIES.iter().find(|d| d.key == key)?;
    let raw: i64 = snap.value(dep.on)?.trim().parse().ok()?;
    let effective = norm_for(dep.on)(raw);
    let active = dep.active_when.contains(&effective);
    let template = if active { dep.active } else { dep.inert };
    Some(DependencyNote {
        active,
        text: template
            .replace("{on}", dep.on)
            .replace("{value}", &raw.to_string()),
    })
}

fn norm_for(key: &str) -> impl Fn(i64) -> i64 {
    let meaning = catalog::lookup(key).map_or(Meaning::Plain, |i| i.meaning);
    move |x| meaning.effective(x)
}

pub(super) fn describe_constraint(c: &Constraint) -> String {
    match c {
        Constraint::Range {
            min: Some(a),
            max: None,
        } => format!("at least {a}"),
        Constraint::Range {
            min: None,
            max: Some(b),
        } => format!("at most {b}"),
        Constraint::Range {
            min: Some(a),
            max: Some(b),
        } => format!("between {a} and {b}"),
        Constraint::Equals(v) => format!("{v}"),
        Constraint::NotEquals(v) => format!("anything but {v}"),
        Constraint::OneOf(vs) => {
            format!(
                "one of {}",
                vs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Constraint::Range {
            min: None,
            max: None,
        } => "any value".into(),
    }
}

fn describe_test(c: &Constraint) -> String {
    match c {
        Constraint::Equals(v) => format!("{v}"),
        other => describe_constraint(other),
    }
}

/// The command that fixes one key now, in the audited namespace. (Persisting it, and
/// doing it all at once with rollback, is `tuneguard apply`'s job.)
fn remedy(snap: &Snapshot, key: &str, v: &Value) -> String {
    let value = v.to_sysctl_string();
    let arg = if value.contains(' ') {
        format!("{key}=\"{value}\"")
    } else {
        format!("{key}={value}")
    };
    let label = &snap.netns.label;
    if label == "self" || label.starts_with("proc:") {
        format!("sysctl -w {arg}")
    } else if let Some(pid) = label.strip_prefix("pid:") {
        format!("nsenter --net=/proc/{pid}/ns/net sysctl -w {arg}")
    } else if label.contains('/') {
        format!("nsenter --net={label} sysctl -w {arg}")
    } else {
        format!("ip netns exec {label} sysctl -w {arg}")
    }
}
