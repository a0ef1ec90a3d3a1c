//! Incident 1, the listen queues: the accept queue that overflows, and the SYN queue
//! that drops before a connection ever reaches it. The two are told apart by the
//! kernel's own counters: every drop in tcp_conn_request bumps the listener's drops and
//! ListenDrops, only a full accept queue also bumps ListenOverflows.

use super::diagnose::{delta, per_second, thousands, total, Diagnosis};
use super::views::{ListenerView, Views};
use super::Observation;
use crate::profile::Severity;
use serde_json::json;

/// Incident 1: the accept queue overflows. A listener overflows when it was at its cap
/// in a sample, or when its own drops rose while the namespace's ListenOverflows rose
/// and no other listener was seen full. Drops on a listener whose accept queue stayed
/// below its cap, with ListenOverflows flat, come from the SYN queue (`syn_queue`):
/// every drop in tcp_conn_request bumps the socket's drops, only a full accept queue
/// bumps ListenOverflows.
pub(super) fn accept_queue(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let listeners = v
        .sockets
        .as_ref()
        .map(|s| s.listeners.as_slice())
        .unwrap_or(&[]);
    let overflows = delta(v, "TcpExt:ListenOverflows");
    let overflowing = overflows.is_some_and(|d| d > 0);
    let somaxconn = obs.setting("net.core.somaxconn");
    let abort = obs.setting("net.ipv4.tcp_abort_on_overflow").unwrap_or(0) != 0;
    let any_full = listeners.iter().any(|l| l.full_in_any_sample);
    let culprits: Vec<&ListenerView> = listeners
        .iter()
        .filter(|l| {
            l.full_in_any_sample
                || (overflowing && !any_full && l.drops_delta.is_some_and(|d| d > 0))
        })
        .collect();
    let abort_note = if abort {
        " tcp_abort_on_overflow is on, so clients get \"connection reset by peer\" instead of a retransmitted SYN: a diagnostic, not a setting to keep."
    } else {
        ""
    };
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
        // Item of issue 16: the connections waiting in the queue are this diagnosis,
        // not readers that stopped reading.
        let waiting = match (l.unaccepted_with_data, l.unaccepted_bytes) {
            (0, _) => String::new(),
            (n, b) => format!(
                "; {} {} {} request byte{} nobody can read before accept()",
                crate::words::count(n, "queued connection"),
                if n == 1 { "holds" } else { "hold" },
                thousands(b as i64),
                if b == 1 { "" } else { "s" }
            ),
        };
        out.push(Diagnosis {
            id: "accept-queue-overflow",
            severity: Severity::Error,
            subject: l.local.to_string(),
            summary: format!(
                "the accept queue of {} overflows: {} of {} queued, {drops}{waiting}",
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
                "attributed_by": if l.full_in_any_sample { "queue full in a sample" } else { "socket drops (SK_MEMINFO_DROPS) while ListenOverflows rose" },
                "unaccepted_with_data": l.unaccepted_with_data,
                "unaccepted_bytes": l.unaccepted_bytes,
                "ListenOverflows": total(v, "TcpExt:ListenOverflows"),
                "ListenOverflows_delta": overflows,
                "ListenDrops_delta": delta(v, "TcpExt:ListenDrops"),
                "somaxconn": somaxconn,
                "owners": l.owners,
            }),
        });
    }
    if culprits.is_empty() && overflowing {
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
    } else if culprits.is_empty() {
        if let Some(t) = total(v, "TcpExt:ListenOverflows").filter(|t| *t > 0) {
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
    }
    // A listener already diagnosed as overflowing is not also "near full".
    for l in listeners.iter().filter(|l| {
        !l.full_in_any_sample
            && l.fill >= 0.8
            && l.max > 0
            && !culprits.iter().any(|c| c.local == l.local)
    }) {
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

/// SYN queue (docs/kernel.md §1, tcp_conn_request): with tcp_syncookies = 0 a SYN is
/// dropped once the SYN queue passes the listen backlog (TCPReqQFullDrop) or, for peers
/// not yet proven alive, once fewer than a quarter of tcp_max_syn_backlog's slots are
/// free (no counter but the listener's drops and ListenDrops). With cookies on, a full
/// SYN queue answers with cookies instead.
pub(super) fn syn_queue(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let cookies = obs.setting("net.ipv4.tcp_syncookies");
    let max_syn = obs.setting("net.ipv4.tcp_max_syn_backlog");
    let overflowing = delta(v, "TcpExt:ListenOverflows").is_some_and(|d| d > 0);
    let listeners = v
        .sockets
        .as_ref()
        .map(|s| s.listeners.as_slice())
        .unwrap_or(&[]);
    let mut named = false;
    for l in listeners
        .iter()
        .filter(|l| l.drops_delta.is_some_and(|d| d > 0) && !l.full_in_any_sample && !overflowing)
    {
        let d = l.drops_delta.unwrap_or(0);
        let queues = format!(
            "{} half-open (SYN-RECV), accept queue {} of {} (not full), ListenOverflows flat",
            l.syn_recv, l.queue, l.max
        );
        let (id, severity, cause, explanation, settings) = if cookies == Some(0) {
            (
                "syn-queue-drops",
                Severity::Error,
                "setting",
                format!(
                    "tcp_syncookies is 0, so the kernel drops a SYN once the SYN queue passes the listen backlog, or once fewer than a quarter of net.ipv4.tcp_max_syn_backlog ({}) slots are free for peers not yet proven alive: here the SYN queue, not the accept queue, is full, and raising somaxconn or the backlog will not help. Turn tcp_syncookies on (1), which answers a full SYN queue with cookies; or raise tcp_max_syn_backlog well above the half-open connections you expect. Many half-open connections mean SYN-ACKs go unanswered: a lossy path, clients that vanish, or a SYN flood.",
                    max_syn.map_or("?".into(), |m| m.to_string())
                ),
                vec!["net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog"],
            )
        } else {
            (
                "listen-drops",
                Severity::Warning,
                "load",
                format!(
                    "The listener drops connection attempts although its accept queue is below its cap and no overflow was counted. With tcp_syncookies = {} a full SYN queue answers with cookies, so these are other listen drops: failed cookie checks (SyncookiesFailed), or the kernel failing to create the child socket (memory).",
                    cookies.map_or("?".into(), |c| c.to_string())
                ),
                vec!["net.ipv4.tcp_syncookies"],
            )
        };
        named |= id == "syn-queue-drops";
        out.push(Diagnosis {
            id,
            severity,
            subject: l.local.to_string(),
            summary: format!(
                "{} drops SYNs before they reach its accept queue: listen drops on this socket {}; {queues}",
                l.local,
                per_second(d, v)
            ),
            cause,
            explanation,
            settings,
            incident: Some(1),
            evidence: json!({
                "listener": l.local,
                "listener_drops_delta": d,
                "syn_recv": l.syn_recv,
                "accept_queue": l.queue,
                "backlog": l.max,
                "ListenOverflows_delta": delta(v, "TcpExt:ListenOverflows"),
                "ListenDrops_delta": delta(v, "TcpExt:ListenDrops"),
                "TCPReqQFullDrop_delta": delta(v, "TcpExt:TCPReqQFullDrop"),
                "tcp_syncookies": cookies,
                "tcp_max_syn_backlog": max_syn,
                "owners": l.owners,
            }),
        });
    }
    if let Some(d) = delta(v, "TcpExt:TCPReqQFullDrop").filter(|d| *d > 0 && !named) {
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
