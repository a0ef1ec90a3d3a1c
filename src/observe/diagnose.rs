//! Evidence patterns → diagnoses. Each names what is at fault (a setting, the
//! application, or the load), the catalog entries to read, and the incident of
//! INCIDENTS.md it resembles, and carries the numbers it rests on as `evidence`.

use super::views::{Views, LOOP_RATE};
use super::Observation;
use crate::profile::Severity;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub id: &'static str,
    pub severity: Severity,
    /// What it is about: a socket address, a peer, "namespace" or "host".
    pub subject: String,
    /// One line with the numbers.
    pub summary: String,
    /// "setting", "application" or "load": what to change.
    pub cause: &'static str,
    /// Plain words: why this happens and what fixes it.
    pub explanation: String,
    /// Catalog entries to read (`tuneguard explain KEY`).
    pub settings: Vec<&'static str>,
    pub incident: Option<u32>,
    pub evidence: serde_json::Value,
}

pub fn all(obs: &Observation, v: &Views) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    accept_queue(obs, v, &mut out);
    syn_queue(obs, v, &mut out);
    close_wait(obs, v, &mut out);
    stuck(v, &mut out);
    self_loop(v, &mut out);
    memory(obs, v, &mut out);
    time_wait(obs, v, &mut out);
    out
}

fn delta(v: &Views, name: &str) -> Option<i64> {
    v.counters.iter().find(|c| c.name == name)?.delta
}

fn total(v: &Views, name: &str) -> Option<i64> {
    v.counters.iter().find(|c| c.name == name).map(|c| c.total)
}

fn per_second(d: i64, v: &Views) -> String {
    match v.interval_s {
        Some(s) => format!("+{} in {:.1} s ({:.0}/s)", thousands(d), s, d as f64 / s),
        None => thousands(d),
    }
}

/// 31877 → "31,877".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Incident 1: the accept queue overflows.
fn accept_queue(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let listeners = v
        .sockets
        .as_ref()
        .map(|s| s.listeners.as_slice())
        .unwrap_or(&[]);
    let overflows = delta(v, "TcpExt:ListenOverflows");
    let somaxconn = obs.setting("net.core.somaxconn");
    let abort = obs.setting("net.ipv4.tcp_abort_on_overflow").unwrap_or(0) != 0;
    let full: Vec<_> = listeners.iter().filter(|l| l.full_in_any_sample).collect();
    let dropping: Vec<_> = listeners
        .iter()
        .filter(|l| l.drops_delta.is_some_and(|d| d > 0))
        .collect();
    let now = overflows.is_some_and(|d| d > 0) || !full.is_empty() || !dropping.is_empty();
    let abort_note = if abort {
        " tcp_abort_on_overflow is on, so clients get \"connection reset by peer\" instead of a retransmitted SYN: a diagnostic, not a setting to keep."
    } else {
        ""
    };
    if now {
        // Attribute per port: the socket's own drops when the kernel gives them,
        // else the listeners seen full.
        let culprits: Vec<_> = if dropping.is_empty() {
            full.clone()
        } else {
            dropping.clone()
        };
        let attributed = !dropping.is_empty();
        for l in &culprits {
            let cap = l.max;
            let by = match somaxconn {
                Some(s) if i64::from(cap) >= s => format!(
                    "The cap is net.core.somaxconn ({s}) or the listen() backlog, whichever is smaller"
                ),
                Some(s) => format!(
                    "The cap {cap} is the listen() backlog (net.core.somaxconn is {s}), or somaxconn when the socket listened"
                ),
                None => "The cap is min(listen() backlog, net.core.somaxconn)".into(),
            };
            let drops = match (l.drops_delta, overflows) {
                (Some(d), _) if d > 0 => format!("listen drops on this socket {}", per_second(d, v)),
                (_, Some(o)) if o > 0 => format!(
                    "ListenOverflows {} in this namespace (the kernel counts them per namespace; this socket was full)",
                    per_second(o, v)
                ),
                _ => "full now".to_string(),
            };
            out.push(Diagnosis {
                id: "accept-queue-overflow",
                severity: Severity::Error,
                subject: l.local.to_string(),
                summary: format!(
                    "the accept queue of {} overflows: {} of {} queued, {drops}",
                    l.local, l.queue, cap
                ),
                cause: "setting",
                explanation: format!(
                    "Connections complete the handshake faster than the application accepts them; once the queue holds backlog + 1, new SYNs are dropped and clients wait for a retransmit (1 s, 3 s, ...) or give up. {by}. Raise net.core.somaxconn and the listener's backlog (nginx: listen ... backlog=N), then restart the listener: a socket keeps the cap it got when listen() was called. If the queue is full at any size, the application is too slow to accept.{abort_note}"
                ),
                settings: vec!["net.core.somaxconn", "net.ipv4.tcp_abort_on_overflow"],
                incident: Some(1),
                evidence: json!({
                    "listener": l.local,
                    "accept_queue": l.queue,
                    "backlog": cap,
                    "listener_drops": l.drops,
                    "listener_drops_delta": l.drops_delta,
                    "attributed_by": if attributed { "socket drops (SK_MEMINFO_DROPS)" } else { "queue full in a sample" },
                    "ListenOverflows": total(v, "TcpExt:ListenOverflows"),
                    "ListenOverflows_delta": overflows,
                    "ListenDrops_delta": delta(v, "TcpExt:ListenDrops"),
                    "somaxconn": somaxconn,
                    "owners": l.owners,
                }),
            });
        }
        if culprits.is_empty() {
            let d = overflows.unwrap_or(0);
            out.push(Diagnosis {
                id: "accept-queue-overflow",
                severity: Severity::Error,
                subject: "namespace".into(),
                summary: format!("ListenOverflows {}; no listener was seen full", per_second(d, v)),
                cause: "setting",
                explanation: format!("An accept queue overflowed between the samples, but the kernel counts overflows per namespace, and no socket was full at the instants sampled nor reported its own drops; a longer --interval may catch it. Raise net.core.somaxconn and the listeners' backlog, then restart them.{abort_note}"),
                settings: vec!["net.core.somaxconn"],
                incident: Some(1),
                evidence: json!({ "ListenOverflows_delta": d, "somaxconn": somaxconn }),
            });
        }
    } else if let Some(t) = total(v, "TcpExt:ListenOverflows").filter(|t| *t > 0) {
        out.push(Diagnosis {
            id: "accept-queue-overflowed",
            severity: Severity::Info,
            subject: "namespace".into(),
            summary: format!(
                "ListenOverflows is {} since the namespace started{}; {}",
                thousands(t),
                somaxconn.map_or(String::new(), |s| format!(" (net.core.somaxconn is {s})")),
                if v.samples == 2 { "none during this observation" } else { "one sample cannot tell whether it still happens" }
            ),
            cause: "load",
            explanation: "An accept queue overflowed at some time in the past. If it recurs, raise net.core.somaxconn and the listeners' backlog and restart them.".into(),
            settings: vec!["net.core.somaxconn"],
            incident: Some(1),
            evidence: json!({ "ListenOverflows": t }),
        });
    }
    for l in listeners
        .iter()
        .filter(|l| !l.full_in_any_sample && l.fill >= 0.8 && l.max > 0)
    {
        out.push(Diagnosis {
            id: "accept-queue-near-full",
            severity: Severity::Warning,
            subject: l.local.to_string(),
            summary: format!("the accept queue of {} holds {} of {}", l.local, l.queue, l.max),
            cause: "load",
            explanation: "The application accepts more slowly than connections arrive; the queue is close to the point where SYNs are dropped.".into(),
            settings: vec!["net.core.somaxconn"],
            incident: Some(1),
            evidence: json!({ "listener": l.local, "accept_queue": l.queue, "backlog": l.max }),
        });
    }
}

/// SYN queue: cookies or drops (FACTS §1).
fn syn_queue(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let cookies = obs.setting("net.ipv4.tcp_syncookies");
    if let Some(d) = delta(v, "TcpExt:TCPReqQFullDrop").filter(|d| *d > 0) {
        out.push(Diagnosis {
            id: "syn-queue-drops",
            severity: Severity::Error,
            subject: "namespace".into(),
            summary: format!("SYNs dropped because a SYN queue was full: TCPReqQFullDrop {}", per_second(d, v)),
            cause: "setting",
            explanation: format!(
                "With tcp_syncookies = {} a full SYN queue drops new connections. Turn syncookies on (1): the queue then answers with cookies instead of dropping; tcp_max_syn_backlog matters only while syncookies is 0.",
                cookies.map_or("0".into(), |c| c.to_string())
            ),
            settings: vec!["net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog"],
            incident: Some(1),
            evidence: json!({ "TCPReqQFullDrop_delta": d, "tcp_syncookies": cookies }),
        });
    }
    if let Some(d) = delta(v, "TcpExt:SyncookiesSent").filter(|d| *d > 0) {
        out.push(Diagnosis {
            id: "syncookies-sent",
            severity: Severity::Info,
            subject: "namespace".into(),
            summary: format!("SYN cookies sent {}", per_second(d, v)),
            cause: "load",
            explanation: "A SYN queue overflowed and the kernel answered with cookies: connections still succeed. Sustained, it means a burst or a SYN flood larger than the listen backlog.".into(),
            settings: vec!["net.ipv4.tcp_syncookies"],
            incident: Some(1),
            evidence: json!({ "SyncookiesSent_delta": d }),
        });
    }
}

/// Incident 3 (and 2): CLOSE_WAIT that stays.
fn close_wait(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let Some(s) = &v.sockets else { return };
    let cw = &s.close_wait;
    // With two samples: the ones still there; with one: every one (the peer is gone
    // and this side has not closed).
    let staying = cw.persisted.unwrap_or(cw.total);
    if staying == 0 {
        return;
    }
    let unarmed = cw.total - cw.keepalive_armed;
    let (time, intvl, probes) = (
        obs.setting("net.ipv4.tcp_keepalive_time"),
        obs.setting("net.ipv4.tcp_keepalive_intvl"),
        obs.setting("net.ipv4.tcp_keepalive_probes"),
    );
    let worst = match (time, intvl, probes) {
        (Some(t), Some(i), Some(p)) => format!(
            " Where keepalive is on, the kernel's defaults here reap a dead peer after {} + {} × {} = {} s.",
            t, i, p, t + i * p
        ),
        _ => String::new(),
    };
    let owners = if cw.by_owner.is_empty() {
        if v.owners.looked_up {
            " Their owners could not be named (another PID namespace, or not permitted)."
                .to_string()
        } else {
            String::new()
        }
    } else {
        format!(
            " Held by {}.",
            cw.by_owner
                .iter()
                .map(|o| format!("{} (pid {}): {}", o.name, o.pid, o.count))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let peers = cw
        .by_peer
        .iter()
        .take(3)
        .map(|p| format!("{} × {}", p.count, p.peer))
        .collect::<Vec<_>>()
        .join(", ");
    let severity = if staying >= 100 {
        Severity::Error
    } else {
        Severity::Warning
    };
    out.push(Diagnosis {
        id: "close-wait-leak",
        severity,
        subject: cw
            .by_owner
            .first()
            .map(|o| format!("{} (pid {})", o.name, o.pid))
            .unwrap_or_else(|| "namespace".into()),
        summary: format!(
            "{} CLOSE_WAIT socket(s) to {} peer(s) ({peers}){}; {} without a keepalive timer",
            cw.total,
            cw.peers,
            cw.persisted.map_or(String::new(), |p| format!(", {p} still there after {:.1} s", v.interval_s.unwrap_or(0.0))),
            unarmed
        ),
        cause: "application",
        explanation: format!(
            "CLOSE_WAIT means the peer closed and this application never called close(): it is a symptom of the application, not something a sysctl tunes away.{} tcp_keepalive_* apply only to sockets that set SO_KEEPALIVE ({} of {} here have a keepalive timer armed); without it these sockets stay until the process closes them or exits. Fix the client: close idle connections, or enable SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT.{worst}{owners}",
            match cw.eof_unread {
                0 => String::new(),
                n if n == cw.total => " The application has not even read the end of file from any of them: it never looks at these connections (an idle pool).".into(),
                n => format!(" It has not even read the end of file from {n} of them: it never looks at those connections."),
            },
            cw.keepalive_armed, cw.total
        ),
        settings: vec![
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        ],
        incident: Some(if cw.unread_bytes > 0 { 2 } else { 3 }),
        evidence: json!({
            "close_wait": cw.total,
            "persisted": cw.persisted,
            "keepalive_armed": cw.keepalive_armed,
            "unread_bytes": cw.unread_bytes,
            "eof_unread": cw.eof_unread,
            "by_peer": cw.by_peer,
            "by_owner": cw.by_owner,
            "oldest_idle_s": cw.oldest_idle_s,
        }),
    });
}

/// Incidents 2 and 4: queues that do not move. One diagnosis per kind and owning
/// process (or per socket when owners are unknown), the fullest connection first.
fn stuck(v: &Views, out: &mut Vec<Diagnosis>) {
    let Some(s) = &v.sockets else { return };
    let zero_adv = delta(v, "TcpExt:TCPToZeroWindowAdv");
    let probes = delta(v, "TcpExt:TCPWinProbe");
    let mut groups: Vec<Vec<&super::views::StuckView>> = Vec::new();
    for x in &s.stuck {
        let key = |y: &super::views::StuckView| (y.kind, y.owners.first().map(|o| o.pid));
        match groups
            .iter_mut()
            .find(|g| key(g[0]) == key(x) && key(x).1.is_some())
        {
            Some(g) => g.push(x),
            None => groups.push(vec![x]),
        }
    }
    for g in groups {
        let x = g[0];
        let more = match g.len() {
            1 => String::new(),
            n => format!(" and {} more connection(s) like it", n - 1),
        };
        let owner = x
            .owners
            .first()
            .map(|o| format!(", held by {} (pid {})", o.name, o.pid))
            .unwrap_or_default();
        let pair = if x.peer_on_this_host {
            " The other end is on this host, stuck the opposite way."
        } else {
            ""
        };
        let (id, summary, explanation, settings, incident) = if x.kind == "reader-not-reading" {
            (
                "reader-not-reading",
                format!(
                    "{} ← {} ({}): Recv-Q {} then {}, unread{owner}{more}",
                    x.local, x.remote, x.state, x.recv_q[0], x.recv_q[1]
                ),
                format!("The application owning {} stopped calling recv(): its Recv-Q stays full, the kernel advertises a zero window, and the sender stalls until some timeout resets the connection. Bigger buffers only delay it; the reader must drain its socket (e.g. not process messages on its I/O thread).{pair}", x.local),
                vec!["net.ipv4.tcp_rmem"],
                if x.state == "CLOSE-WAIT" { 2 } else { 4 },
            )
        } else {
            (
                "peer-not-reading",
                format!(
                    "{} → {} ({}): Send-Q {} then {}, unacknowledged{}{owner}{more}",
                    x.local,
                    x.remote,
                    x.state,
                    x.send_q[0],
                    x.send_q[1],
                    if x.zero_window_probe { "; the peer advertises a zero window" } else { "" },
                ),
                format!("The peer {} does not read: this side's Send-Q stays full{}. A proxy in this position eventually times out and resets the connection (nginx: send_timeout / proxy_send_timeout); raising timeouts only moves the reset. The consumer must read.{pair}", x.remote, if x.zero_window_probe { " and the kernel is probing a zero window" } else { "" }),
                vec!["net.ipv4.tcp_wmem", "net.ipv4.tcp_retries2"],
                4,
            )
        };
        out.push(Diagnosis {
            id,
            severity: Severity::Warning,
            subject: x.local.to_string(),
            summary,
            cause: "application",
            explanation,
            settings,
            incident: Some(incident),
            evidence: json!({
                "local": x.local, "remote": x.remote, "state": x.state,
                "recv_q": x.recv_q, "send_q": x.send_q,
                "zero_window_probe": x.zero_window_probe,
                "connections": g.len(),
                "others": g.iter().skip(1).take(super::views::TOP).map(|y| json!({"local": y.local, "remote": y.remote})).collect::<Vec<_>>(),
                "TCPToZeroWindowAdv_delta": zero_adv,
                "TCPWinProbe_delta": probes,
                "owners": x.owners,
            }),
        });
    }
}

/// Incident 5: a process connecting to its own listener in a loop.
fn self_loop(v: &Views, out: &mut Vec<Diagnosis>) {
    let Some(s) = &v.sockets else { return };
    for g in &s.to_self {
        let Some(rate) = g.per_second.filter(|r| *r >= LOOP_RATE) else {
            continue;
        };
        let same = g.same_process == Some(true);
        let who = g
            .client_owners
            .iter()
            .map(|o| format!("{} (pid {})", o.name, o.pid))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Diagnosis {
            id: if same { "self-connection-loop" } else { "self-connections" },
            severity: if same { Severity::Error } else { Severity::Warning },
            subject: g.target.to_string(),
            summary: format!(
                "{:.0} new connections per second from this host to its own listener {} ({} open, {} in TIME_WAIT){}",
                rate,
                g.target,
                g.now - g.time_wait,
                g.time_wait,
                if who.is_empty() { String::new() } else { format!(", opened by {who}") }
            ),
            cause: "application",
            explanation: if same {
                format!("The process listening on {} is also the one connecting to it: a proxy asked to forward to itself, or a retry loop. Each request costs two connections (in and out) and leaves TIME_WAIT behind; on a small box TCP slab memory and softirq time grow until nothing gets through. Refuse requests whose target is the proxy's own address, and bound client retries; no sysctl fixes a loop.", g.target)
            } else {
                format!("Local clients open connections to {} at a high rate. That may be intended (a local upstream), but each leaves TIME_WAIT behind; if it is a retry storm, the client needs a backoff.", g.target)
            },
            settings: vec!["net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_orphans"],
            incident: Some(5),
            evidence: json!({
                "target": g.target, "new": g.new, "per_second": g.per_second, "open": g.now,
                "time_wait": g.time_wait, "client_owners": g.client_owners,
                "listener_owners": g.listener_owners, "same_process": g.same_process,
                "ActiveOpens_delta": delta(v, "Tcp:ActiveOpens"),
            }),
        });
    }
}

/// Incident 5: TCP memory, slab and orphans.
fn memory(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let m = &v.memory;
    if let (Some(share), Some(bytes)) = (m.tcp_slab_share, m.tcp_slab_bytes) {
        if share >= 0.10 {
            out.push(Diagnosis {
                id: "tcp-slab-memory",
                severity: if share >= 0.25 { Severity::Error } else { Severity::Warning },
                subject: "host".into(),
                summary: format!(
                    "TCP slab caches hold {} MiB, {:.0}% of {} MiB of memory",
                    bytes >> 20,
                    share * 100.0,
                    m.mem_total_bytes.unwrap_or(0) >> 20
                ),
                cause: "load",
                explanation: "Socket structures alone take a large share of memory: many connections, TIME_WAIT or request sockets, often from a connection storm or a loop. Find who opens them (see the connections to this host's own listeners); tcp_mem limits buffers, not these structures.".into(),
                settings: vec!["net.ipv4.tcp_mem", "net.ipv4.tcp_max_orphans"],
                incident: Some(5),
                evidence: json!({ "tcp_slab_bytes": bytes, "mem_total_bytes": m.mem_total_bytes, "slab": m.slab }),
            });
        }
    }
    if let (Some(pages), Some(lim)) = (m.tcp_mem_pages, m.tcp_mem_limits.as_deref()) {
        if lim.len() == 3 && pages >= lim[1] {
            out.push(Diagnosis {
                id: "tcp-memory-pressure",
                severity: Severity::Error,
                subject: "host".into(),
                summary: format!("TCP buffers use {} pages, above tcp_mem's pressure threshold {}", thousands(pages), thousands(lim[1])),
                cause: "load",
                explanation: "The kernel is in TCP memory pressure: it shrinks buffers and, above the third threshold, drops packets and aborts sockets (TCPAbortOnMemory).".into(),
                settings: vec!["net.ipv4.tcp_mem"],
                incident: Some(5),
                evidence: json!({ "pages": pages, "tcp_mem": lim, "TCPAbortOnMemory_delta": delta(v, "TcpExt:TCPAbortOnMemory") }),
            });
        }
    }
    let orphans = total(v, "sockstat:TCP orphan");
    let max = obs.setting("net.ipv4.tcp_max_orphans");
    let aborts = delta(v, "TcpExt:TCPAbortOnMemory").filter(|d| *d > 0);
    if let (Some(o), Some(mx)) = (orphans, max) {
        if mx > 0 && (o * 2 >= mx || aborts.is_some()) {
            out.push(Diagnosis {
                id: "orphans",
                severity: if aborts.is_some() { Severity::Error } else { Severity::Warning },
                subject: "host".into(),
                summary: format!("{} orphaned sockets of at most {}{}", thousands(o), thousands(mx), aborts.map_or(String::new(), |a| format!(", TCPAbortOnMemory {}", per_second(a, v)))),
                cause: "load",
                explanation: "Orphans are sockets the application closed that still hold unsent data or await the peer's FIN. Past tcp_max_orphans the kernel resets them (\"too many orphaned sockets\").".into(),
                settings: vec!["net.ipv4.tcp_max_orphans", "net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_fin_timeout"],
                incident: Some(5),
                evidence: json!({ "orphans": o, "tcp_max_orphans": mx, "TCPAbortOnMemory_delta": aborts }),
            });
        }
    }
}

/// TIME_WAIT to one peer against the ports there are to reach it.
fn time_wait(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let Some(s) = &v.sockets else { return };
    let Some(range) = obs.setting_fields("net.ipv4.ip_local_port_range") else {
        return;
    };
    let ports =
        (range.get(1).copied().unwrap_or(0) - range.first().copied().unwrap_or(0) + 1).max(1);
    if let Some(top) = s.time_wait.by_peer.first() {
        if i64::from(top.count) * 2 >= ports {
            out.push(Diagnosis {
                id: "time-wait-ports",
                severity: Severity::Warning,
                subject: top.peer.to_string(),
                summary: format!("{} TIME_WAIT sockets to {}, of {} local ports", thousands(i64::from(top.count)), top.peer, thousands(ports)),
                cause: "load",
                explanation: "Each closed connection to this peer holds its local port for 60 s; new connects to it fail with EADDRNOTAVAIL once the range is used up. Reuse connections (keepalive to upstreams), widen ip_local_port_range, or keep tcp_tw_reuse on.".into(),
                settings: vec!["net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse"],
                incident: None,
                evidence: json!({ "peer": top.peer, "time_wait": top.count, "ports": ports }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::census::{Sample, SocketSample};
    use crate::host::counters::{Counters, Slab};
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn sample(at: Instant, values: &[(&str, i64)], sockets: Option<SocketSample>) -> Sample {
        let mut c = Counters::default();
        for (k, v) in values {
            c.values.insert(k.to_string(), *v);
        }
        Sample {
            at,
            counters: c,
            sockets: sockets.map(Ok),
        }
    }

    fn run(first: &Sample, second: Option<&Sample>, settings: &[(&str, &str)]) -> Vec<Diagnosis> {
        let settings: BTreeMap<String, String> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let obs = Observation {
            first,
            second,
            settings: &settings,
        };
        super::super::analyze(&obs, None).diagnoses
    }

    fn ids(d: &[Diagnosis]) -> Vec<(&str, Severity)> {
        d.iter().map(|d| (d.id, d.severity)).collect()
    }

    #[test]
    fn syn_queue_drops_blame_syncookies_and_cookies_are_information() {
        let t = Instant::now();
        let a = sample(
            t,
            &[("TcpExt:TCPReqQFullDrop", 10), ("TcpExt:SyncookiesSent", 0)],
            None,
        );
        let b = sample(
            t + Duration::from_secs(2),
            &[("TcpExt:TCPReqQFullDrop", 30), ("TcpExt:SyncookiesSent", 0)],
            None,
        );
        let d = run(&a, Some(&b), &[("net.ipv4.tcp_syncookies", "0")]);
        assert_eq!(ids(&d), vec![("syn-queue-drops", Severity::Error)]);
        assert!(
            d[0].summary.contains("+20 in 2.0 s (10/s)"),
            "{}",
            d[0].summary
        );
        assert!(d[0].explanation.contains("tcp_syncookies = 0"));
        let b = sample(
            t + Duration::from_secs(2),
            &[("TcpExt:TCPReqQFullDrop", 10), ("TcpExt:SyncookiesSent", 5)],
            None,
        );
        assert_eq!(
            ids(&run(&a, Some(&b), &[])),
            vec![("syncookies-sent", Severity::Info)]
        );
    }

    #[test]
    fn slab_memory_pressure_and_orphans_are_measured_against_their_limits() {
        let t = Instant::now();
        let mut a = sample(
            t,
            &[
                ("sockstat:TCP mem", 5000),
                ("sockstat:TCP orphan", 600),
                ("TcpExt:TCPAbortOnMemory", 3),
            ],
            None,
        );
        // Incident 5: ~300 MB of TCP slabs on a 2 GB box.
        a.counters.mem_total_kib = Some(2 * 1024 * 1024);
        a.counters.slab = Ok(vec![Slab {
            name: "TCP".into(),
            active_objs: 1,
            num_objs: 120_000,
            objsize: 2560,
        }]);
        let d = run(
            &a,
            None,
            &[
                ("net.ipv4.tcp_mem", "1000 4000 8000"),
                ("net.ipv4.tcp_max_orphans", "1000"),
            ],
        );
        assert_eq!(
            ids(&d),
            vec![
                ("tcp-memory-pressure", Severity::Error),
                ("tcp-slab-memory", Severity::Warning),
                ("orphans", Severity::Warning),
            ]
        );
        assert!(
            d[1].summary.contains("292 MiB, 14% of 2048 MiB"),
            "{}",
            d[1].summary
        );
        // Aborts rising make the orphans an error.
        let mut b = sample(
            t + Duration::from_secs(1),
            &[
                ("sockstat:TCP mem", 10),
                ("sockstat:TCP orphan", 10),
                ("TcpExt:TCPAbortOnMemory", 9),
            ],
            None,
        );
        b.counters.slab = Err("absent".into());
        let d = run(&a, Some(&b), &[("net.ipv4.tcp_max_orphans", "1000")]);
        assert_eq!(ids(&d), vec![("orphans", Severity::Error)]);
    }

    #[test]
    fn time_wait_to_one_peer_is_weighed_against_the_port_range() {
        let t = Instant::now();
        let mut s = SocketSample::default();
        s.by_state[6] = 20_000;
        s.time_wait_by_peer
            .insert("10.0.0.9:5432".parse().unwrap(), 16_000);
        s.time_wait_by_peer
            .insert("10.0.0.8:80".parse().unwrap(), 4_000);
        let a = sample(t, &[], Some(s));
        let d = run(&a, None, &[("net.ipv4.ip_local_port_range", "32768 60999")]);
        assert_eq!(ids(&d), vec![("time-wait-ports", Severity::Warning)]);
        assert_eq!(d[0].subject, "10.0.0.9:5432");
        // A wide range has room.
        assert!(run(&a, None, &[("net.ipv4.ip_local_port_range", "1024 65535")]).is_empty());
    }

    #[test]
    fn settings_named_are_in_the_catalog() {
        // Every diagnosis's `settings` must resolve in `tuneguard explain`.
        let src = include_str!("diagnose.rs");
        for quoted in src.split('"').skip(1).step_by(2) {
            if quoted.starts_with("net.") && !quoted.contains(' ') {
                assert!(
                    crate::catalog::lookup(quoted).is_some(),
                    "{quoted} not in the catalog"
                );
            }
        }
        assert_eq!(thousands(31877), "31,877");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(thousands(12), "12");
    }
}
