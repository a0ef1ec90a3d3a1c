//! `profiles list` and `profiles show`: what a person reads about profiles.

use super::escape::{block, line};
use super::style::Style;
use crate::profile::load::Listing;
use crate::profile::{Profile, ProfileSource};

/// One line per profile; a broken one gets a second line with its error. Returns the
/// text and whether any profile is broken.
pub fn list(listing: &[Listing], style: Style) -> (String, bool) {
    let mut out = String::new();
    let mut broken = false;
    for l in listing {
        let source = match &l.source {
            ProfileSource::Builtin => "built-in".to_string(),
            ProfileSource::Site(p) | ProfileSource::File(p) => {
                let over = if l.overrides_builtin {
                    ", overrides the built-in"
                } else {
                    ""
                };
                format!("site: {}{over}", p.display())
            }
        };
        out.push_str(&format!(
            "{:20} {} {}\n",
            style.bold(&line(&l.name)),
            line(l.description.as_deref().unwrap_or("")),
            style.dim(&line(&format!("({source})")))
        ));
        if let Some(e) = &l.error {
            broken = true;
            out.push_str(&format!("{:20} {} {}\n", "", style.red("broken:"), line(e)));
        }
    }
    (out, broken)
}

/// The profile's own text, then every rule it resolves to after `extends`.
pub fn show(name: &str, text: &str, source: &ProfileSource, p: &Profile, style: Style) -> String {
    let mut out = String::new();
    let from = match source {
        ProfileSource::Builtin => format!("builtin:profiles/{name}.yaml"),
        ProfileSource::Site(p) | ProfileSource::File(p) => p.display().to_string(),
    };
    out.push_str(&style.dim(&format!("# {}\n", line(&from))));
    out.push_str(&block(text));
    if !text.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&style.bold("\n# resolved, after extends:\n"));
    // Values and waiver reasons are the profile's text: escaped like it.
    let mut rest = String::new();
    for r in &p.rules {
        let mut extra = String::new();
        if let Some(k) = &r.kernel {
            extra.push_str(&format!(" kernel {k}"));
        }
        if let Some(w) = &r.when {
            extra.push_str(&format!(" when {} {}", w.key, w.test));
        }
        let apply = r
            .apply
            .as_ref()
            .map(|v| format!(" apply {v}"))
            .unwrap_or_default();
        rest.push_str(&format!(
            "{:36} {:18} {:8}{apply}{extra}  (from {})\n",
            r.key,
            r.constraint.to_string(),
            r.why.severity.as_str(),
            r.why.origin
        ));
    }
    if let Some(k) = &p.keepalive {
        rest.push_str(&format!(
            "{:36} {}{}{}  (from {})\n",
            "keepalive",
            opt("max_detection", k.max_detection, "s "),
            opt("idle_timeout", k.idle_timeout, "s "),
            k.why.severity.as_str(),
            k.why.origin
        ));
    }
    if let Some(b) = &p.listen_backlog {
        rest.push_str(&format!(
            "{:36} {}within_somaxconn {} {}  (from {})\n",
            "nginx.listen_backlog",
            opt("min", b.min, " "),
            b.within_somaxconn,
            b.why.severity.as_str(),
            b.why.origin
        ));
    }
    if let Some(k) = &p.so_keepalive {
        rest.push_str(&format!(
            "{:36} required {} {}  (from {})\n",
            "nginx.so_keepalive",
            k.required,
            k.why.severity.as_str(),
            k.why.origin
        ));
    }
    for (s, w) in &p.waivers {
        rest.push_str(&format!(
            "{s:36} waived: {}  (from {})\n",
            w.reason, w.origin
        ));
    }
    out.push_str(&block(&rest));
    out
}

/// `NAME VALUEUNIT` for a setting the profile gives, nothing for one it leaves out.
fn opt(name: &str, v: Option<u64>, unit: &str) -> String {
    v.map(|v| format!("{name} {v}{unit}")).unwrap_or_default()
}
