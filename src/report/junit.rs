//! `--format junit`: one testcase per finding, for CI systems. A finding at or above
//! `--fail-on` is a <failure>; a skip is <skipped>; a failure below the threshold passes
//! with the finding in <system-out>, so CI shows it without going red.

use super::AuditReport;
use crate::audit::{Status, Summary};
use std::fmt::Write;

pub fn render(r: &AuditReport) -> String {
    let s = Summary::of(r.findings);
    let failures = r.findings.iter().filter(|f| f.fails_at(r.fail_on)).count();
    let suite = format!(
        "tuneguard {} on {}",
        r.profiles.join("+"),
        r.snapshot.hostname
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // Jenkins' strict junit-10.xsd allows no `skipped` on <testsuites>, only on <testsuite>.
    let _ = writeln!(
        out,
        "<testsuites name=\"tuneguard\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        s.checks
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{}\" errors=\"0\">",
        esc(&suite),
        s.checks,
        s.skip
    );
    if !r.overrides.is_empty() {
        out.push_str("    <properties>\n");
        for (o, note) in r.overrides.iter().zip(r.override_notes()) {
            let _ = writeln!(
                out,
                "      <property name=\"profile_override.{}\" value=\"{}\"/>",
                esc(&o.name),
                esc(&note)
            );
        }
        out.push_str("    </properties>\n");
    }
    for f in r.findings {
        let _ = write!(
            out,
            "    <testcase classname=\"tuneguard.{}\" name=\"{}\"",
            f.kind,
            esc(&f.subject)
        );
        let body = format!(
            "{}\n\n{}{}",
            f.message,
            f.explanation,
            f.remedy
                .as_deref()
                .map(|x| format!("\n\nfix: {x}"))
                .unwrap_or_default()
        );
        if f.fails_at(r.fail_on) {
            let _ = writeln!(
                out,
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                f.severity.as_str(),
                esc(&f.message),
                esc(&body)
            );
        } else if f.status == Status::Skip {
            let _ = writeln!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                esc(&f.message)
            );
        } else if f.status == Status::Fail {
            let _ = writeln!(
                out,
                ">\n      <system-out>{} (below --fail-on): {}</system-out>\n    </testcase>",
                f.severity.as_str(),
                esc(&body)
            );
        } else {
            out.push_str("/>\n");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// XML-escaped, with control characters shown escaped (`super::escape`): XML 1.0 has
/// no place for most of them, and a CI log shows the rest to a terminal.
fn esc(s: &str) -> String {
    let s = super::escape::block(s);
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_xml() {
        assert_eq!(
            super::esc("a<b & \"c\"\u{1}\x1b[2J"),
            "a&lt;b &amp; &quot;c&quot;\\x01\\x1b[2J"
        );
    }
}
