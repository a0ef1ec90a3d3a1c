//! `tuneguard explain`: a catalog entry as text, or as the Markdown page of docs/keys/
//! (generated from the catalog by scripts/gen-docs, never written by hand).

use super::style::Style;
use super::text::wrap;
use crate::catalog::{accept, Handler};
use crate::catalog::{KeyInfo, Meaning, Scope};
use std::fmt::Write;

struct Facts {
    values: String,
    meaning: Option<String>,
    defaults: String,
    scope: &'static str,
    /// How a Kubernetes pod gets it (per-namespace keys only).
    kubernetes: Option<String>,
    history: Option<String>,
}

fn facts(k: &KeyInfo) -> Facts {
    // The kernel's real limits (catalog::accept): the handler's type and the key's bounds.
    let (lo, hi) = k.shape.bounds();
    let range = match k.shape.handler {
        Handler::Jiffies => format!(
            "{lo}..{hi} (seconds kept in jiffies: the limit is INT_MAX/HZ, {hi} at HZ={}, {} at HZ=250)",
            accept::HZ,
            i32::MAX / 250
        ),
        Handler::PortRange => format!(
            "{lo}..{hi}, low first, low at least net.ipv4.ip_unprivileged_port_start ({})",
            accept::UNPRIVILEGED_PORT_START
        ),
        _ => format!("{lo}..{hi}"),
    };
    let values = match k.shape.fields {
        1 => format!("one integer, {range} (the kernel rejects other values with EINVAL)"),
        n => format!("{n} integers, each {range} (the kernel rejects other values with EINVAL)"),
    };
    let meaning = match k.meaning {
        Meaning::Plain => None,
        Meaning::NonZeroIsOn => Some("0 is off; any non-zero value acts as 1 (on)".to_string()),
        Meaning::Syncookies => Some("0 off, 1 cookies when the SYN queue overflows, 2 cookies always; any other value acts as 1".to_string()),
        Meaning::ZeroMeans(v) => Some(format!("0 acts as {v}")),
    };
    let defaults = if k.defaults.is_empty() {
        "none (removed key)".to_string()
    } else {
        k.defaults
            .iter()
            .map(|d| match d.since {
                Some(v) => format!("{} since Linux {v}", d.value),
                None => d.value.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let scope = match k.scope {
        Scope::PerNetns => "per network namespace: each namespace has its own value",
        Scope::Global => {
            "global: one value for the whole host; writing it from a container changes the host"
        }
    };
    let history = match (k.added_in, k.removed_in) {
        (None, None) => None,
        (Some(a), None) => Some(format!("added in Linux {a}")),
        (None, Some(r)) => Some(format!("removed in Linux {r}")),
        (Some(a), Some(r)) => Some(format!("added in Linux {a}, removed in Linux {r}")),
    };
    let kubernetes = (k.scope == Scope::PerNetns).then(|| match crate::catalog::kubernetes::safe_sysctl(k.name) {
        Some(s) => format!(
            "in the kubelet's safe set since Kubernetes {}.{}{}: a pod sets it in spec.securityContext.sysctls",
            s.since.0,
            s.since.1,
            s.kernel.map(|v| format!(" (on Linux {v} or later)")).unwrap_or_default()
        ),
        None => "not in the kubelet's safe set: a pod's spec.securityContext.sysctls may set it only where the kubelet runs with --allowed-unsafe-sysctls naming it".to_string(),
    });
    Facts {
        values,
        meaning,
        defaults,
        scope,
        kubernetes,
        history,
    }
}

pub fn text(k: &KeyInfo, style: Style) -> String {
    let f = facts(k);
    let ind = "  ";
    let mut o = String::new();
    let _ = writeln!(o, "{}  {}", style.bold(k.name), k.summary);
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(
            o,
            "{ind}{} {}",
            style.cyan(&format!("{label:9}")),
            wrap(value, 84, "            ")
        );
    };
    row("values", &f.values);
    if let Some(m) = &f.meaning {
        row("meaning", m);
    }
    row("default", &f.defaults);
    row("scope", f.scope);
    if let Some(kube) = &f.kubernetes {
        row("pods", kube);
    }
    if let Some(h) = &f.history {
        row("history", h);
    }
    if !k.unit.is_empty() {
        row("unit", k.unit);
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "{ind}{}", wrap(k.explanation, 90, ind));
    let _ = writeln!(o);
    let _ = writeln!(o, "{ind}{}", style.yellow("When it is wrong:"));
    let _ = writeln!(o, "{ind}{}", wrap(k.symptoms, 90, ind));
    if !k.counters.is_empty() {
        let _ = writeln!(
            o,
            "{ind}{} {}",
            style.cyan("Evidence:"),
            k.counters.join(", ")
        );
    }
    for n in k.notes {
        let _ = writeln!(
            o,
            "{ind}{} {}",
            style.cyan(&format!("Kernel {}:", n.versions)),
            wrap(n.text, 80, "      ")
        );
    }
    if !k.related.is_empty() {
        let _ = writeln!(
            o,
            "{ind}{} {}",
            style.cyan("Related:"),
            k.related.join(", ")
        );
    }
    let _ = writeln!(o, "{ind}{}", style.dim(&format!("Sources: {}", k.sources)));
    o
}

pub fn markdown(k: &KeyInfo) -> String {
    let f = facts(k);
    let mut o = String::new();
    let _ = writeln!(o, "<!-- generated by scripts/gen-docs from src/catalog/keys.rs: edit the catalog, not this page -->");
    let _ = writeln!(o, "# {}\n\n{}\n", k.name, k.summary);
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| values | {} |", f.values);
    if let Some(m) = &f.meaning {
        let _ = writeln!(o, "| meaning | {m} |");
    }
    let _ = writeln!(o, "| default | {} |", f.defaults);
    let _ = writeln!(o, "| scope | {} |", f.scope);
    if let Some(kube) = &f.kubernetes {
        let _ = writeln!(o, "| Kubernetes pods | {kube} |");
    }
    if let Some(h) = &f.history {
        let _ = writeln!(o, "| history | {h} |");
    }
    if !k.unit.is_empty() {
        let _ = writeln!(o, "| unit | {} |", k.unit);
    }
    let _ = writeln!(o, "\n## What it does\n\n{}\n", k.explanation);
    let _ = writeln!(o, "## When it is wrong\n\n{}\n", k.symptoms);
    if !k.counters.is_empty() {
        let _ = writeln!(o, "## Evidence\n");
        for c in k.counters {
            let _ = writeln!(o, "- `{c}`");
        }
        let _ = writeln!(o);
    }
    if !k.notes.is_empty() {
        let _ = writeln!(o, "## Kernel versions\n");
        for n in k.notes {
            let _ = writeln!(o, "- **{}**: {}", n.versions, n.text);
        }
        let _ = writeln!(o);
    }
    if !k.related.is_empty() {
        let links: Vec<String> = k.related.iter().map(|r| format!("[{r}]({r}.md)")).collect();
        let _ = writeln!(o, "## Related\n\n{}\n", links.join(", "));
    }
    let _ = writeln!(o, "## Sources\n\n{}", k.sources);
    o
}

/// docs/keys/README.md: the index.
pub fn markdown_index() -> String {
    let mut o = String::from(
        "<!-- generated by scripts/gen-docs from src/catalog/keys.rs: edit the catalog, not this page -->\n# The key catalog\n\n\
Every key tuneguard knows, as `tuneguard explain KEY` prints it. Keys outside the catalog still work in profiles as plain values.\n\n\
| key | scope | what it does |\n|---|---|---|\n",
    );
    for k in crate::catalog::CATALOG {
        let scope = match k.scope {
            Scope::PerNetns => "per netns",
            Scope::Global => "global",
        };
        let removed = k
            .removed_in
            .map(|r| format!(" (removed in {r})"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "| [{}]({}.md){removed} | {scope} | {} |",
            k.name, k.name, k.summary
        );
    }
    o
}
