//! `--format prometheus`: the Prometheus text exposition format (version 0.0.4), for
//! node_exporter's textfile collector (contrib/systemd/) and alert rules
//! (contrib/prometheus/), made from the same report structs as the JSON.
//!
//! Cardinality stays bounded: labels carry only ids, keys, socket addresses, file:line
//! locations and the fixed words of a status, severity, cause or drift class; never a
//! message, an explanation or a remedy. Names follow Prometheus' conventions: snake_case,
//! the unit in the name, `_total` only on counters, a HELP and a TYPE line per family
//! (docs/prometheus.md lists them all).

use super::observe::ObserveReport;
use super::AuditReport;
use crate::audit::{Status, Summary};
use crate::host::NetnsInfo;
use crate::profile::Severity;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// One metric family: its samples, each a label set and a value, printed after the
/// family's HELP and TYPE lines.
struct Family {
    help: String,
    kind: &'static str,
    samples: Vec<(String, String)>,
    /// Label sets already given: a second sample with the same labels would make the
    /// whole scrape invalid, so it is dropped (the first one stands).
    seen: BTreeSet<String>,
}

/// The families of one exposition, in the order they were first named.
#[derive(Default)]
struct Exposition {
    order: Vec<String>,
    families: BTreeMap<String, Family>,
}

impl Exposition {
    fn sample(
        &mut self,
        name: &str,
        kind: &'static str,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let fam = self.families.entry(name.to_string()).or_insert_with(|| {
            self.order.push(name.to_string());
            Family {
                help: help.to_string(),
                kind,
                samples: Vec::new(),
                seen: BTreeSet::new(),
            }
        });
        let labels = label_set(labels);
        if fam.seen.insert(labels.clone()) {
            fam.samples.push((labels, number(value)));
        }
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(name, "gauge", help, labels, value);
    }

    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(name, "counter", help, labels, value);
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for name in &self.order {
            let f = &self.families[name];
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for (labels, value) in &f.samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

/// `{a="x",b="y"}`, or nothing for no labels. An empty value is left out: Prometheus
/// holds it the same as no label (a pass has no `cause`). Values are escaped as the
/// format wants (backslash, double quote, newline); other control characters, which a
/// file name may carry, are shown escaped as in every other report (report::escape).
fn label_set(labels: &[(&str, &str)]) -> String {
    let inner: Vec<String> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if inner.is_empty() {
        return String::new();
    }
    format!("{{{}}}", inner.join(","))
}

fn escape_label(v: &str) -> String {
    let shown = super::escape::line(v);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers exactly (a counter's value up to 2^53 survives a float), others as Go's
/// strconv would print them; NaN and infinities as the format spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The namespace as the reports name it, except that the caller's own namespace, when
/// it is the host's initial one, is `host`: a label read on a dashboard beside other
/// namespaces' series.
fn netns_label(n: &NetnsInfo) -> &str {
    if n.label == "self" && n.initial == Some(true) {
        "host"
    } else {
        &n.label
    }
}

/// What every exposition starts with: the version and when this run ended. `command`
/// tells audit's and observe's files apart when both feed one textfile directory
/// (node_exporter refuses two samples with the same labels).
fn run_info(e: &mut Exposition, command: &str, netns: &str) {
    e.gauge(
        "tuneguard_build_info",
        "tuneguard's version; the value is always 1.",
        &[("version", env!("CARGO_PKG_VERSION")), ("command", command)],
        1.0,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    e.gauge(
        "tuneguard_last_run_timestamp_seconds",
        "When the tuneguard run that wrote these metrics ended, in seconds since the Unix epoch.",
        &[("command", command), ("netns", netns)],
        (now * 1000.0).round() / 1000.0,
    );
}

/// CamelCase kernel counter names in snake_case: `TCPReqQFullDrop` → `tcp_req_q_full_drop`.
fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let acronym_end = i > 0
                && chars[i - 1].is_ascii_uppercase()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev_lower || acronym_end {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

/// A kernel counter as a metric: its name, type and help, or None for the ones not
/// exported. TcpExt and Tcp fields are counters since the namespace was created (a new
/// namespace is a counter reset to Prometheus), except Tcp CurrEstab; sockstat's are
/// gauges.
fn counter_metric(name: &str) -> Option<(String, &'static str, String)> {
    if let Some(field) = name.strip_prefix("TcpExt:") {
        // The *Chrono fields count milliseconds, not events: shown in seconds, the
        // base unit (`counters` divides them).
        let (base, unit) = match field.strip_suffix("Chrono") {
            Some(b) => (b, "_seconds_total"),
            None => (field, "_total"),
        };
        return Some((
            format!("tuneguard_tcpext_{}{unit}", snake(base)),
            "counter",
            format!(
                "TcpExt {field} of /proc/net/netstat, since the network namespace was created{}.",
                if unit == "_total" {
                    ""
                } else {
                    " (milliseconds there, seconds here)"
                }
            ),
        ));
    }
    if let Some(field) = name.strip_prefix("Tcp:") {
        if field == "CurrEstab" {
            return Some((
                "tuneguard_tcp_curr_estab".into(),
                "gauge",
                "Tcp CurrEstab of /proc/net/snmp: connections in ESTABLISHED or CLOSE_WAIT now."
                    .into(),
            ));
        }
        return Some((
            format!("tuneguard_tcp_{}_total", snake(field)),
            "counter",
            format!("Tcp {field} of /proc/net/snmp, since the network namespace was created."),
        ));
    }
    let field = name.strip_prefix("sockstat:TCP ")?;
    let scope = if matches!(field, "inuse" | "tw") {
        "this network namespace's"
    } else {
        "the host's (the same in every namespace)"
    };
    Some(match field {
        "mem" => (
            "tuneguard_sockstat_tcp_mem_pages".into(),
            "gauge",
            "TCP mem of /proc/net/sockstat: pages the host's TCP buffers hold (compare with net.ipv4.tcp_mem).".into(),
        ),
        f => (
            format!("tuneguard_sockstat_tcp_{}", snake(f)),
            "gauge",
            format!("TCP {f} of /proc/net/sockstat: {scope} TCP sockets."),
        ),
    })
}

/// The evidence counters: those the catalog names for its keys, and those observe
/// always shows, that this kernel has.
fn evidence_names() -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&str> = crate::observe::views::WATCHED.iter().copied().collect();
    for k in crate::catalog::CATALOG.iter() {
        names.extend(
            k.counters
                .iter()
                .copied()
                .filter(|c| counter_metric(c).is_some()),
        );
    }
    names
}

/// `command` keeps audit's and observe's readings of one counter two series, so both
/// files may feed one textfile directory.
fn counters(e: &mut Exposition, command: &str, netns: &str, values: &dyn Fn(&str) -> Option<i64>) {
    for name in evidence_names() {
        let (Some(v), Some((metric, kind, help))) = (values(name), counter_metric(name)) else {
            continue;
        };
        let v = if name.ends_with("Chrono") {
            v as f64 / 1000.0
        } else {
            v as f64
        };
        e.sample(
            &metric,
            kind,
            &help,
            &[("command", command), ("netns", netns)],
            v,
        );
    }
}

fn severities() -> [Severity; 3] {
    [Severity::Error, Severity::Warning, Severity::Info]
}

pub fn render_audit(r: &AuditReport) -> String {
    let mut e = Exposition::default();
    let netns = netns_label(&r.snapshot.netns);
    run_info(&mut e, "audit", netns);
    audit_samples(&mut e, r, netns);
    e.render()
}

/// `audit --all-netns`: one exposition, every namespace's samples under its own `netns`
/// label (`host`, the `ip netns` name, the container or pod, else `netns-INODE`).
pub fn render_fleet(reports: &[(String, AuditReport)]) -> String {
    let mut e = Exposition::default();
    for (netns, r) in reports {
        run_info(&mut e, "audit", netns);
        audit_samples(&mut e, r, netns);
    }
    e.render()
}

fn audit_samples(e: &mut Exposition, r: &AuditReport, netns: &str) {
    let summary = Summary::of(r.findings);
    for s in severities() {
        let n = match s {
            Severity::Error => summary.error,
            Severity::Warning => summary.warning,
            Severity::Info => summary.info,
        };
        e.gauge(
            "tuneguard_audit_failing_findings",
            "Findings that fail, by severity.",
            &[("netns", netns), ("severity", s.as_str())],
            n as f64,
        );
    }
    for f in r.findings {
        e.gauge(
            "tuneguard_audit_finding",
            "One per check of the audit: 1 when it fails, 0 when it passes or was skipped. `id` is the JSON report's finding id.",
            &[
                ("netns", netns),
                ("id", &f.id),
                ("kind", f.kind),
                ("subject", &f.subject),
                ("status", f.status.as_str()),
                ("severity", f.severity.as_str()),
                ("cause", f.cause.map_or("", |c| c.as_str())),
                ("profile", f.profile.as_deref().unwrap_or("")),
            ],
            if f.status == Status::Fail { 1.0 } else { 0.0 },
        );
    }
    for f in r.findings {
        let Some(drift) = &f.drift else { continue };
        e.gauge(
            "tuneguard_audit_sysctl_drift",
            "Per sysctl key, how the live value and the persisted files relate: 1 when they drift (live-not-persisted: lost at reboot; persisted-below-profile; shadowed; loaders-disagree), 0 when in-sync.",
            &[("netns", netns), ("key", &f.subject), ("drift", drift)],
            if drift == "in-sync" { 0.0 } else { 1.0 },
        );
    }
    if let Some(c) = &r.snapshot.counters {
        counters(e, "audit", netns, &|n| c.get(n));
    }
}

pub fn render_observe(r: &ObserveReport) -> String {
    let mut e = Exposition::default();
    let netns = netns_label(&r.identity.netns);
    run_info(&mut e, "observe", netns);
    observe_samples(&mut e, r, netns);
    e.render()
}

/// `observe --all-netns`: one exposition, every namespace's samples under its own
/// `netns` label, as [`render_fleet`] does for audit.
pub fn render_observe_fleet(reports: &[(String, ObserveReport)]) -> String {
    let mut e = Exposition::default();
    for (netns, r) in reports {
        run_info(&mut e, "observe", netns);
        observe_samples(&mut e, r, netns);
    }
    e.render()
}

fn observe_samples(e: &mut Exposition, r: &ObserveReport, netns: &str) {
    let a = r.analysis;
    for s in severities() {
        e.gauge(
            "tuneguard_observe_diagnoses",
            "Diagnoses observe made, by severity.",
            &[("netns", netns), ("severity", s.as_str())],
            a.diagnoses.iter().filter(|d| d.severity == s).count() as f64,
        );
    }
    for d in &a.diagnoses {
        e.gauge(
            "tuneguard_observe_diagnosis",
            "One per diagnosis observe made (always 1); `id` names the pattern, `subject` the socket address, peer, namespace or host.",
            &[
                ("netns", netns),
                ("id", d.id),
                ("subject", &d.subject),
                ("severity", d.severity.as_str()),
                ("cause", d.cause),
            ],
            1.0,
        );
    }
    let v = &a.views;
    let totals: BTreeMap<&str, i64> = v
        .counters
        .iter()
        .map(|c| (c.name.as_str(), c.total))
        .collect();
    counters(e, "observe", netns, &|n| totals.get(n).copied());
    if let Some(s) = &v.sockets {
        for (state, n) in &s.by_state {
            e.gauge(
                "tuneguard_observe_sockets",
                "TCP sockets of the namespace by state, as `ss` names the states.",
                &[("netns", netns), ("state", state)],
                *n as f64,
            );
        }
        for l in &s.listeners {
            let local = l.local.to_string();
            let labels = [("netns", netns), ("local", local.as_str())];
            e.gauge(
                "tuneguard_observe_listener_accept_queue",
                "Connections waiting in a listener's accept queue.",
                &labels,
                f64::from(l.queue),
            );
            e.gauge(
                "tuneguard_observe_listener_backlog",
                "A listener's accept queue cap: the backlog listen() got, at most net.core.somaxconn when it was called.",
                &labels,
                f64::from(l.max),
            );
            if let Some(d) = l.drops {
                e.counter(
                    "tuneguard_observe_listener_drops_total",
                    "SYNs and handshakes a listener dropped since it was created (sock_diag SK_MEMINFO_DROPS).",
                    &labels,
                    f64::from(d),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_become_snake_case_metric_names() {
        assert_eq!(snake("TCPReqQFullDrop"), "tcp_req_q_full_drop");
        assert_eq!(snake("ListenOverflows"), "listen_overflows");
        assert_eq!(snake("TWRecycled"), "tw_recycled");
        assert_eq!(snake("inuse"), "inuse");
        assert_eq!(
            counter_metric("TcpExt:TCPMemoryPressuresChrono").unwrap().0,
            "tuneguard_tcpext_tcp_memory_pressures_seconds_total"
        );
        assert_eq!(
            counter_metric("TcpExt:ListenOverflows").unwrap(),
            (
                "tuneguard_tcpext_listen_overflows_total".into(),
                "counter",
                "TcpExt ListenOverflows of /proc/net/netstat, since the network namespace was created.".into()
            )
        );
        assert_eq!(counter_metric("Tcp:CurrEstab").unwrap().1, "gauge");
        assert_eq!(counter_metric("ss -lnt Recv-Q/Send-Q"), None);
    }

    #[test]
    fn label_values_are_escaped_and_duplicates_dropped() {
        let mut e = Exposition::default();
        e.gauge(
            "m",
            "a \\ help\nline",
            &[("subject", "/etc/a\"b\\c\nd\x1b")],
            1.0,
        );
        e.gauge(
            "m",
            "a \\ help\nline",
            &[("subject", "/etc/a\"b\\c\nd\x1b")],
            2.0,
        );
        e.counter("c_total", "h", &[], 12345678901234.0);
        assert_eq!(
            e.render(),
            "# HELP m a \\\\ help\\nline\n# TYPE m gauge\nm{subject=\"/etc/a\\\"b\\\\c\\\\x0ad\\\\x1b\"} 1\n\
             # HELP c_total h\n# TYPE c_total counter\nc_total 12345678901234\n"
        );
    }
}
