//! Turns a parsed profile file into checked rules. Every error names the file, line and
//! column of the offending value (found with `locate`, since serde_yaml keeps no spans).

use super::constraint::Constraint;
use super::error::ProfileError;
use super::locate::locate;
use super::model::{ProfileFile, Rule, Severity, Value};
use super::{Condition, Keepalive, KeyRule, ListenBacklog, Profile, Reasons, SoKeepalive, Waiver};
use crate::catalog::{self, KeyInfo};
use crate::kversion::{KernelRange, KernelVersion};

const DEFAULT_SEVERITY: Severity = Severity::Warning;

pub(super) fn validate(
    label: &str,
    text: &str,
    file: &ProfileFile,
    name: &str,
) -> Result<Profile, ProfileError> {
    let err = |path: &[&str], message: String| {
        let pos = locate(text, path);
        ProfileError {
            file: label.to_string(),
            line: pos.line,
            col: pos.col,
            message,
        }
    };
    let mut out = Profile {
        names: vec![name.to_string()],
        ..Profile::default()
    };

    for (key, rule) in &file.sysctl.0 {
        out.rules
            .push(key_rule(key, rule, name, &|field: &str, m: String| {
                let path: Vec<&str> = if field.is_empty() {
                    vec!["sysctl", key]
                } else {
                    vec!["sysctl", key, field]
                };
                err(&path, m)
            })?);
    }

    if let Some(k) = &file.keepalive {
        if k.max_detection.is_none() && k.idle_timeout.is_none() {
            return Err(err(
                &["keepalive"],
                "keepalive needs max_detection or idle_timeout (seconds)".into(),
            ));
        }
        for (field, v) in [
            ("max_detection", k.max_detection),
            ("idle_timeout", k.idle_timeout),
        ] {
            if v == Some(0) {
                return Err(err(
                    &["keepalive", field],
                    format!("{field} must be at least 1 second"),
                ));
            }
        }
        out.keepalive = Some(Keepalive {
            max_detection: k.max_detection,
            idle_timeout: k.idle_timeout,
            why: reasons(&k.severity, &k.rationale, &k.fact, k.incident, name),
        });
    }

    if let Some(n) = &file.nginx {
        if let Some(b) = &n.listen_backlog {
            for (field, v) in [("min", b.min), ("apply", b.apply)] {
                if v == Some(0) {
                    return Err(err(
                        &["nginx", "listen_backlog", field],
                        format!("{field}: nginx rejects backlog=0; use at least 1"),
                    ));
                }
            }
            if let (Some(min), Some(apply)) = (b.min, b.apply) {
                if apply < min {
                    return Err(err(
                        &["nginx", "listen_backlog", "apply"],
                        format!("apply {apply} is below min {min}: apply must satisfy the rule"),
                    ));
                }
            }
            if b.min.is_none() && b.within_somaxconn != Some(true) {
                return Err(err(
                    &["nginx", "listen_backlog"],
                    "listen_backlog needs min or within_somaxconn: true".into(),
                ));
            }
            out.listen_backlog = Some(ListenBacklog {
                min: b.min,
                within_somaxconn: b.within_somaxconn.unwrap_or(false),
                apply: b.apply.or(b.min),
                why: reasons(&b.severity, &b.rationale, &b.fact, b.incident, name),
            });
        }
        if let Some(k) = &n.so_keepalive {
            out.so_keepalive = Some(SoKeepalive {
                required: k.required.unwrap_or(true),
                why: reasons(&k.severity, &k.rationale, &k.fact, k.incident, name),
            });
        }
    }

    for (subject, reason) in &file.waivers.0 {
        if reason.trim().is_empty() {
            return Err(err(
                &["waivers", subject],
                format!("waiver for `{subject}` needs a reason"),
            ));
        }
        let known_subject = matches!(
            subject.as_str(),
            "keepalive" | "nginx.listen_backlog" | "nginx.so_keepalive"
        );
        if !known_subject {
            catalog::validate_key_name(subject).map_err(|m| err(&["waivers", subject], m))?;
        }
        out.waivers.insert(
            subject.clone(),
            Waiver {
                reason: reason.trim().to_string(),
                origin: name.to_string(),
            },
        );
    }
    Ok(out)
}

/// Checks one key's rule. `err(field, message)` places an error at `sysctl.KEY.field`.
fn key_rule(
    key: &str,
    rule: &Rule,
    origin: &str,
    err: &dyn Fn(&str, String) -> ProfileError,
) -> Result<KeyRule, ProfileError> {
    catalog::validate_key_name(key).map_err(|m| err("", m))?;
    let info = catalog::lookup(key);

    let constraint = match (&rule.equals, &rule.one_of, &rule.min, &rule.max) {
        (Some(v), None, None, None) => Constraint::Equals(v.clone()),
        (None, Some(vs), None, None) => {
            if vs.is_empty() {
                return Err(err("one_of", "one_of needs at least one value".into()));
            }
            Constraint::OneOf(vs.clone())
        }
        (None, None, min, max) if min.is_some() || max.is_some() => Constraint::Range {
            min: min.clone(),
            max: max.clone(),
        },
        (None, None, None, None) => {
            return Err(err(
                "",
                format!("the rule for {key} says nothing: give equals, min, max or one_of"),
            ));
        }
        _ => {
            let field = if rule.one_of.is_some() && rule.equals.is_some() {
                "one_of"
            } else {
                "min"
            };
            return Err(err(
                field,
                "use one of: equals, one_of, or min/max (they cannot be combined)".into(),
            ));
        }
    };

    for (field, v) in [
        ("equals", &rule.equals),
        ("min", &rule.min),
        ("max", &rule.max),
        ("apply", &rule.apply),
    ] {
        if let Some(v) = v {
            check_value(key, info, v, matches!(field, "min" | "max")).map_err(|m| err(field, m))?;
        }
    }
    for v in rule.one_of.iter().flatten() {
        check_value(key, info, v, false).map_err(|m| err("one_of", m))?;
    }

    if let Constraint::Range {
        min: Some(lo),
        max: Some(hi),
    } = &constraint
    {
        if let (Some(a), Some(b)) = (lo.ints(), hi.ints()) {
            if a.iter().zip(&b).any(|(x, y)| x > y) {
                return Err(err(
                    "max",
                    format!("min {lo} is greater than max {hi}: no value can satisfy this rule"),
                ));
            }
            // Compared as the kernel acts on them: tcp_orphan_retries min 0 acts as 8.
            let norm = |x: i64| info.map_or(x, |i| i.meaning.effective(x));
            if let Some((x, _)) = a.iter().zip(&b).find(|(x, y)| norm(**x) > norm(**y)) {
                return Err(err(
                    "min",
                    format!("min {lo} acts as {} in the kernel, above max {hi}: no value can satisfy this rule", norm(*x)),
                ));
            }
        }
    }

    let norm = |x: i64| info.map_or(x, |i| i.meaning.effective(x));
    let apply = match &rule.apply {
        Some(v) => {
            if !constraint.holds(v, &norm) {
                return Err(err(
                    "apply",
                    format!(
                        "apply {v} does not satisfy the rule ({constraint}) it is meant to fix"
                    ),
                ));
            }
            Some(v.clone())
        }
        None => None,
    };

    let kernel = match &rule.kernel {
        Some(s) => {
            let range = KernelRange::parse(s).map_err(|m| err("kernel", m))?;
            let any = (2..=9).any(|major| {
                (0..=40).any(|minor| range.contains(KernelVersion::new(major, minor)))
            });
            if !any {
                return Err(err(
                    "kernel",
                    format!("kernel condition `{s}` matches no kernel version"),
                ));
            }
            Some(range)
        }
        None => None,
    };

    let when = match &rule.when {
        None => None,
        Some(w) => {
            catalog::validate_key_name(&w.key).map_err(|m| err("when", m))?;
            let test = match (&w.equals, &w.not, &w.min, &w.max) {
                (Some(v), None, None, None) => Constraint::Equals(v.clone()),
                (None, Some(v), None, None) => Constraint::NotEquals(v.clone()),
                (None, None, min, max) if min.is_some() || max.is_some() => Constraint::Range {
                    min: min.clone(),
                    max: max.clone(),
                },
                _ => {
                    return Err(err(
                        "when",
                        "when needs `key` and exactly one of equals, not, or min/max".into(),
                    ))
                }
            };
            let winfo = catalog::lookup(&w.key);
            for v in [&w.equals, &w.not, &w.min, &w.max].into_iter().flatten() {
                check_value(&w.key, winfo, v, false).map_err(|m| err("when", m))?;
            }
            if w.key == key {
                return Err(err(
                    "when",
                    format!("a rule for {key} cannot depend on {key} itself"),
                ));
            }
            Some(Condition {
                key: w.key.clone(),
                test,
            })
        }
    };

    Ok(KeyRule {
        key: key.to_string(),
        constraint,
        apply,
        why: reasons(
            &rule.severity,
            &rule.rationale,
            &rule.fact,
            rule.incident,
            origin,
        ),
        kernel,
        when,
    })
}

/// A value must have the key's number of fields and lie in the range the kernel
/// accepts (a write outside it fails with EINVAL, docs/kernel.md §2). Keys outside the catalog
/// take any value, but `min`/`max` need numbers.
fn check_value(key: &str, info: Option<&KeyInfo>, v: &Value, bound: bool) -> Result<(), String> {
    let ints = v.ints();
    let Some(info) = info else {
        if bound && ints.is_none() {
            return Err(format!("`{v}` is not a number, so it cannot be a bound"));
        }
        return Ok(());
    };
    let Some(ints) = ints else {
        return Err(format!(
            "`{v}` is not a number; {key} takes {}",
            describe_shape(info)
        ));
    };
    if ints.len() != info.shape.fields as usize {
        return Err(format!("{key} takes {}, not `{v}`", describe_shape(info)));
    }
    match info.shape.rejects(&ints) {
        Some(why) => Err(format!(
            "the kernel rejects `{v}` for {key} (EINVAL): {why}"
        )),
        None => Ok(()),
    }
}

fn describe_shape(info: &KeyInfo) -> String {
    let (lo, hi) = info.shape.bounds();
    let range = format!(" in {lo}..{hi}");
    match info.shape.fields {
        1 => format!("one integer{range}"),
        n => format!("{n} integers{range} (a list like [a, b] or a string \"a b\")"),
    }
}

fn reasons(
    severity: &Option<Severity>,
    rationale: &Option<String>,
    fact: &Option<String>,
    incident: Option<u32>,
    origin: &str,
) -> Reasons {
    Reasons {
        severity: severity.unwrap_or(DEFAULT_SEVERITY),
        rationale: rationale.as_deref().map(Into::into),
        fact: fact.as_deref().map(Into::into),
        incident,
        origin: origin.to_string(),
    }
}
