//! One sysctl rule against the host, with the kernel's meaning: what the value acts as
//! (tcp_syncookies=3 acts as 1, tcp_orphan_retries=0 as 8), which keys do nothing in the
//! current state (tcp_max_syn_backlog while syncookies are on), keys the kernel removed
//! or a namespace hides, global keys read from inside a child namespace, and what a
//! reboot will do (the persisted side, `persisted.rs`).

use super::persisted::{self, Drift};
use super::{waived, Absence, Finding, Status};
use crate::catalog::{self, KeyInfo, Meaning, Scope};
use crate::host::netns::Target;
use crate::host::{Reading, Snapshot};
use crate::profile::{value_json, Constraint, KeyRule, Profile, Severity, Value};

pub(super) fn check(snap: &Snapshot, profile: &Profile, rule: &KeyRule) -> Finding {
    let key = rule.key.as_str();
    let info = catalog::lookup(key);
    let mut f = Finding::for_rule("sysctl", key, &rule.why);
    f.expected = Some(rule.constraint.to_json());
    f.scope = info.map(|i| match i.scope {
        Scope::PerNetns => "per-netns",
        Scope::Global => "global",
    });
    f.explanation = match info {
        Some(i) => format!("{} {}", i.explanation, i.symptoms),
        None => format!("{key} is not in tuneguard's catalog; it is checked as a plain value."),
    }
    .into();

    if let Some(w) = waived(profile, key, f.clone()) {
        return w;
    }
    match (&rule.kernel, snap.kernel) {
        (Some(range), Some(kv)) if !range.contains(kv) => {
            return f.skip(format!(
                "{key}: the rule applies to kernels {range} and this one is {kv}"
            ));
        }
        (Some(range), None) => {
            return f.skip(format!(
                "{key}: the rule applies to kernels {range} and this kernel's version is unknown (give --kernel)"
            ));
        }
        _ => {}
    }

    let live = if snap.live {
        match snap.sysctl.get(key) {
            Some(Reading::Value(v)) => Some(Value::Text(v.clone())),
            Some(Reading::Unreadable { error, .. }) => {
                return f.skip(format!("{key} could not be read: {error}"))
            }
            Some(Reading::Absent) | None => return absent(f, snap, rule, info),
        }
    } else {
        None
    };
    let applies = rule
        .when
        .as_ref()
        .is_none_or(|c| current(snap, &c.key).is_some_and(|v| c.test.holds(&v, &norm_for(&c.key))));
    let view = snap.persisted.as_ref().map(|p| {
        let kd = super::boot_default::of(snap, key, info);
        persisted::view(p, rule, info, snap.kernel, live.as_ref(), &kd, applies)
    });
    if let Some(v) = &view {
        f.persisted = Some(v.json.clone());
        f.drift = Some(v.drift.as_str().to_string());
    }
    // The value under test: live, or offline what the files give at boot.
    let (value, is) = match (&live, &view) {
        (Some(l), _) => (l.clone(), "is"),
        (None, Some(v)) => match &v.boot.value {
            Some(b) => (b.clone(), "will be"),
            None => {
                return f.skip(format!(
                    "{key}: no file sets it and its kernel default depends on the machine ({}), so what it will be after boot cannot be told offline",
                    info.and_then(|i| i.default_for(snap.kernel)).unwrap_or("not in the catalog")
                ))
            }
        },
        (None, None) => return f.skip(format!("{key}: no live value and no persisted files to read")),
    };
    f.live = live.as_ref().map(value_json);
    if snap.netns.initial == Some(false) && !snap.per_netns.contains(key) {
        f.host_wide = true;
    }

    if let Some(cond) = &rule.when {
        match current(snap, &cond.key) {
            Some(v) if cond.test.holds(&v, &norm_for(&cond.key)) => {}
            Some(v) => {
                return f.skip(format!(
                    "{key} {is} {value}; the rule applies only while {} is {}, and it {is} {v}",
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
    let single = value.ints().filter(|v| v.len() == 1).map(|v| v[0]);
    let acts_as = single.filter(|x| meaning.effective(*x) != *x);
    if let Some(x) = acts_as {
        f.effective = Some(meaning.effective(x).into());
    }
    let ok = rule.constraint.holds(&value, &|x| meaning.effective(x));
    let want = format!(
        "profile {} wants {}",
        rule.why.origin,
        describe_constraint(&rule.constraint)
    );
    let shown = match acts_as {
        Some(x) => format!("{x} (which the kernel treats as {})", meaning.effective(x)),
        None => value.to_string(),
    };
    let mut message = format!("{key} {is} {shown}, {want}");
    let mut severity = rule.why.severity;
    if let Some(note) = dependency_note(snap, key) {
        if note.active || !ok {
            if !note.active {
                // The value does nothing right now; say so, but it is not today's problem.
                severity = Severity::Info;
            }
            message = format!("{message}; {}", note.text);
        } else {
            f.explanation = format!("Now: {}. {}", note.text, f.explanation).into();
        }
    }
    if f.host_wide {
        message.push_str(" (host-wide: a global key, read from inside a network namespace)");
    }
    let nonstandard = single.is_some_and(|x| meaning.is_nonstandard(x));
    let mut f = match (ok, nonstandard) {
        (true, false) => f.pass(message),
        // Acts as wanted, but written in a way that confuses tools and people.
        (true, true) => f.fail(
            Severity::Info,
            format!("{message}; write the standard value instead"),
        ),
        (false, _) => f.fail(severity, message),
    };

    if let Some(v) = &view {
        let holds = |x: &Option<Value>| {
            x.as_ref()
                .is_some_and(|x| rule.constraint.holds(x, &|n| meaning.effective(n)))
        };
        let reboot_breaks = live.is_some() && ok && v.boot.value.is_some() && !holds(&v.boot.value);
        let other_breaks = ok && v.other.as_ref().is_some_and(|(_, o)| !holds(&o.value));
        // Right now, wrong after the next boot (lost at reboot): a warning at most; only
        // the loader that does not run at boot would break it: info.
        let fails_later = if reboot_breaks {
            Some(rule.why.severity.min(Severity::Warning))
        } else if other_breaks && f.status == Status::Pass {
            Some(Severity::Info)
        } else {
            None
        };
        if let Some(severity) = fails_later {
            f.status = Status::Fail;
            f.severity = severity;
            f.cause = Some(super::Cause::SysctlNotPersisted);
        }
        if let (Some(n), true) = (
            &v.note,
            v.drift != Drift::InSync || v.boot.rejected.is_some(),
        ) {
            f.message = format!("{}; {n}", f.message);
        }
        if let (true, Some(p)) = (reboot_breaks, &snap.persisted) {
            f.remedy = Some(format!(
                "persist it: {}",
                super::persist_remedy::remedy(p, key, &value.to_sysctl_string())
            ));
        }
    }
    if f.status == Status::Fail && f.remedy.is_none() {
        f.remedy = rule.fix_for(Some(&value)).map(|v| remedy(snap, key, &v));
    }
    f
}

/// A key's value as audit sees it: live, or offline what the files give at boot.
pub(super) fn current(snap: &Snapshot, key: &str) -> Option<Value> {
    if snap.live {
        return snap.value(key).map(|v| Value::Text(v.to_string()));
    }
    let p = snap.persisted.as_ref()?;
    persisted::boot_value(p, key, catalog::lookup(key), snap.kernel)
}

/// A key that is not there: removed, not yet added, global and hidden, or unknown.
fn absent(f: Finding, snap: &Snapshot, rule: &KeyRule, info: Option<&KeyInfo>) -> Finding {
    let key = rule.key.as_str();
    let kernel = snap
        .kernel
        .map_or("of unknown version".to_string(), |k| k.to_string());
    let removed = info.and_then(|i| i.removed_in);
    let (absence, message) = match (info, snap.kernel) {
        (Some(_), Some(kv)) if removed.is_some_and(|r| kv >= r) => {
            let r = removed.unwrap_or(kv);
            (
                Absence::Removed,
                format!(
                    "{key} was removed in Linux {r} and this kernel is {kernel}; drop it from profile {} or limit the rule with kernel: \"<{r}\"",
                    rule.why.origin
                ),
            )
        }
        (Some(_), None) if removed.is_some() => (
            Absence::Removed,
            format!(
                "{key} is not here; Linux removed it in {}, and this kernel is {kernel}",
                removed.unwrap_or(crate::kversion::KernelVersion::new(0, 0))
            ),
        ),
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
            format!(
                "{key} does not exist on this kernel ({kernel}) and is not in tuneguard's catalog: a typo, or a key of another kernel{}",
                crate::suggest::did_you_mean(key, crate::catalog::CATALOG.iter().map(|k| k.name))
            ),
        ),
    };
    let mut f = f;
    f.absent = Some(absence);
    match absence {
        Absence::Unknown => f.fail(rule.why.severity, message),
        // A removed key the profile wants turned on: the profile asks for a feature
        // this kernel no longer has.
        Absence::Removed if !rule.constraint.holds(&Value::Int(0), &norm_for(key)) => {
            let sev = rule.why.severity.min(Severity::Warning);
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

struct DependencyNote {
    active: bool,
    text: String,
}

/// What the catalog says about keys whose effect depends on another key.
fn dependency_note(snap: &Snapshot, key: &str) -> Option<DependencyNote> {
    let dep = catalog::DEPENDENCIES.iter().find(|d| d.key == key)?;
    let raw = current(snap, dep.on)?.ints()?.first().copied()?;
    let active = dep.active_when.contains(&norm_for(dep.on)(raw));
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

fn describe_constraint(c: &Constraint) -> String {
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
        Constraint::OneOf(vs) => format!(
            "one of {}",
            vs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
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
    let write = format!("sysctl -w {arg}");
    let now = match &snap.netns.target {
        _ if !snap.live => match &snap.persisted {
            Some(p) => super::persist_remedy::remedy(p, key, &value),
            None => format!("set {arg} in a file under /etc/sysctl.d/"),
        },
        None => write,
        Some(Target::Pid(pid)) => format!("nsenter --net=/proc/{pid}/ns/net {write}"),
        Some(Target::Netns(n)) if n.contains('/') => format!("nsenter --net={n} {write}"),
        Some(Target::Netns(n)) => format!("ip netns exec {n} {write}"),
    };
    match &snap.netns.workload {
        // Only the namespace's own keys: a host-wide one is the host's to set.
        Some(w) if snap.live && snap.per_netns.contains(key) => {
            super::workload_remedy::remedy(w, key, &arg, &now, snap.kernel)
        }
        _ => now,
    }
}
