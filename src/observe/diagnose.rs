//! Evidence patterns → diagnoses. Each names what is at fault (a setting, the
//! application, or the load), the catalog entries to read, and the incident of
//! docs/incidents.md it resembles, and carries the numbers it rests on as `evidence`.

use super::views::{OwnerGroup, Views, LOOP_RATE};
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
    super::listen::accept_queue(obs, v, &mut out);
    super::listen::syn_queue(obs, v, &mut out);
    close_wait(obs, v, &mut out);
    super::stalls::diagnose(v, &mut out);
    self_loop(v, &mut out);
    memory(obs, v, &mut out);
    time_wait(obs, v, &mut out);
    out
}

pub(super) fn delta(v: &Views, name: &str) -> Option<i64> {
    v.counters.iter().find(|c| c.name == name)?.delta
}

pub(super) fn total(v: &Views, name: &str) -> Option<i64> {
    v.counters.iter().find(|c| c.name == name).map(|c| c.total)
}

pub(super) fn per_second(d: i64, v: &Views) -> String {
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

/// Incident 3 (and 2): CLOSE_WAIT that stays, one diagnosis per owning process (one
/// for the namespace when owners are unknown). Keepalive is judged by each socket's
/// own timer as the kernel reports it (idiag_timer, idiag_expires), not by the sysctl
/// defaults: a socket with TCP_KEEPIDLE set is probed on its own schedule.
fn close_wait(obs: &Observation, v: &Views, out: &mut Vec<Diagnosis>) {
    let Some(s) = &v.sockets else { return };
    let cw = &s.close_wait;
    // With two samples: the ones still there; with one: every one (the peer is gone
    // and this side has not closed).
    let staying = cw.persisted.unwrap_or(cw.total);
    if staying == 0 {
        return;
    }
    let defaults = match (
        obs.setting("net.ipv4.tcp_keepalive_time"),
        obs.setting("net.ipv4.tcp_keepalive_intvl"),
        obs.setting("net.ipv4.tcp_keepalive_probes"),
    ) {
        (Some(t), Some(i), Some(p)) => format!(
            " SO_KEEPALIVE alone would use this namespace's defaults: {} + {} × {} = {} s before a dead peer is reaped; set TCP_KEEPIDLE/INTVL/CNT on the socket for minutes.",
            t, i, p, t + i * p
        ),
        _ => String::new(),
    };
    let peers = cw
        .by_peer
        .iter()
        .take(3)
        .map(|p| match p.local_port {
            Some(port) => format!("{} × {} (clients of :{port})", p.count, p.peer),
            None => format!("{} × {}", p.count, p.peer),
        })
        .collect::<Vec<_>>()
        .join(", ");
    // One group per owner; the whole namespace when owners are unknown.
    let everyone = OwnerGroup {
        pid: 0,
        name: String::new(),
        count: cw.total,
        keepalive_armed: cw.keepalive_armed,
        keepalive_expires_s: cw.keepalive_expires_s,
    };
    let groups: Vec<(String, Option<&OwnerGroup>)> = if cw.by_owner.is_empty() {
        vec![("namespace".into(), None)]
    } else {
        cw.by_owner
            .iter()
            .map(|o| (format!("{} (pid {})", o.name, o.pid), Some(o)))
            .collect()
    };
    let unknown = if cw.by_owner.is_empty() && v.owners.looked_up {
        " Their owners could not be named (another PID namespace, or not permitted)."
    } else {
        ""
    };
    for (subject, owner) in groups {
        let g = owner.unwrap_or(&everyone);
        let (n, armed, expires) = (g.count, g.keepalive_armed, g.keepalive_expires_s);
        let unarmed = n - armed;
        let severity = match unarmed {
            0 => Severity::Info,
            u if u >= 100 => Severity::Error,
            _ => Severity::Warning,
        };
        let timers = match (armed, expires) {
            (0, _) => format!("none of them has a keepalive timer armed: they stay until the process closes them or exits.{defaults}"),
            (a, Some([lo, hi])) => format!(
                "{a} of {n} have their own keepalive timer armed, next firing in {lo:.0}–{hi:.0} s (the socket's TCP_KEEPIDLE and probes, as the kernel reports them): the kernel reaps those once the peer stops answering.{}",
                if unarmed > 0 { format!(" The other {unarmed} have none and stay until the process closes them.{defaults}") } else { String::new() }
            ),
            (a, None) => format!("{a} of {n} have a keepalive timer armed."),
        };
        out.push(Diagnosis {
            id: "close-wait-leak",
            severity,
            subject,
            summary: format!(
                "{}{}{}; {unarmed} without a keepalive timer",
                crate::words::count(n, "CLOSE_WAIT socket"),
                if owner.is_some() { String::new() } else { format!(" to {} ({peers})", crate::words::count(cw.peers, "peer")) },
                cw.persisted.map_or(String::new(), |p| format!(", {p} of all {} still there after {:.1} s", cw.total, v.interval_s.unwrap_or(0.0))),
            ),
            cause: "application",
            explanation: format!(
                "CLOSE_WAIT means the peer closed and this application never called close(): it is a symptom of the application, not something a sysctl tunes away.{} tcp_keepalive_* apply only to sockets that set SO_KEEPALIVE; here {timers} Fix the client: close idle connections, or enable SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT. Peers: {peers}.{unknown}",
                match cw.eof_unread {
                    0 => String::new(),
                    e if e == cw.total => " The application has not even read the end of file from any of them: it never looks at these connections (an idle pool).".into(),
                    e => format!(" It has not even read the end of file from {e} of them: it never looks at those connections."),
                },
            ),
            settings: vec![
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
            ],
            incident: Some(if cw.unread_bytes > 0 { 2 } else { 3 }),
            evidence: json!({
                "close_wait": n,
                "close_wait_namespace": cw.total,
                "persisted": cw.persisted,
                "keepalive_armed": armed,
                "keepalive_expires_s": expires,
                "unread_bytes": cw.unread_bytes,
                "eof_unread": cw.eof_unread,
                "by_peer": cw.by_peer,
                "owner": owner,
                "oldest_idle_s": cw.oldest_idle_s,
            }),
        });
    }
}

/// Incident 5: a process connecting to its own listener in a loop. Connections are
/// counted from both ends, TIME_WAIT included (views::to_self); a loop is the process
/// that listens being the one that dials. Another local process dialling (nginx to a
/// local application) is a local upstream, not a diagnosis; when the dialling ends'
/// owners cannot be named (all closed already, or --no-owners), the rate is reported
/// as information only.
fn self_loop(v: &Views, out: &mut Vec<Diagnosis>) {
    let Some(s) = &v.sockets else { return };
    for g in &s.to_self {
        let Some(rate) = g.per_second.filter(|r| *r >= LOOP_RATE) else {
            continue;
        };
        let same = match g.same_process {
            Some(false) => continue,
            Some(true) => true,
            None => false,
        };
        let who = g
            .client_owners
            .iter()
            .map(|o| format!("{} (pid {})", o.name, o.pid))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Diagnosis {
            id: if same { "self-connection-loop" } else { "self-connections" },
            severity: if same { Severity::Error } else { Severity::Info },
            subject: g.target.to_string(),
            summary: format!(
                "{:.0} new connections per second from this host to its own listener {} ({} now, {} of them in TIME_WAIT; Tcp:ActiveOpens {}){}",
                rate,
                g.target,
                g.now,
                g.time_wait,
                delta(v, "Tcp:ActiveOpens").map_or("?".into(), |d| per_second(d, v)),
                if who.is_empty() { String::new() } else { format!(", opened by {who}, which also listens there") }
            ),
            cause: "application",
            explanation: if same {
                format!("The process listening on {} is also the one connecting to it: a proxy asked to forward to itself, or a retry loop. Each request costs two connections (in and out) and leaves TIME_WAIT behind; on a small box TCP slab memory and softirq time grow until nothing gets through. Refuse requests whose target is the proxy's own address, and bound client retries; no sysctl fixes a loop.", g.target)
            } else {
                format!("Connections to {} come from this host at a high rate, but no connecting end was open to name its process (they close quickly, or owners were not looked up): a local upstream is normal, a process dialling its own listener is a loop. Run observe again (without --no-owners) to tell them apart.", g.target)
            },
            settings: vec!["net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_orphans"],
            incident: Some(5),
            evidence: json!({
                "target": g.target, "new": g.new, "per_second": g.per_second, "open": g.now,
                "time_wait": g.time_wait, "client_owners": g.client_owners,
                "listener_owners": g.listener_owners, "same_process": g.same_process,
                "ActiveOpens_delta": delta(v, "Tcp:ActiveOpens"),
                "PassiveOpens_delta": delta(v, "Tcp:PassiveOpens"),
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
    use crate::host::census::{Listener, Queued, Sample, SocketSample, TimeWaitKey};
    use crate::host::counters::{Counters, Slab};
    use crate::host::sockets::{self, Family, TcpInfo, TcpSocket};
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
        s.time_wait_by
            .insert(TimeWaitKey::Peer("10.0.0.9:5432".parse().unwrap()), 16_000);
        s.time_wait_by
            .insert(TimeWaitKey::Peer("10.0.0.8:80".parse().unwrap()), 4_000);
        // A server's TIME_WAIT hold no local port of its own: never counted against the range.
        s.time_wait_by.insert(
            TimeWaitKey::Listener("10.0.0.1:80".parse().unwrap()),
            30_000,
        );
        let a = sample(t, &[], Some(s));
        let d = run(&a, None, &[("net.ipv4.ip_local_port_range", "32768 60999")]);
        assert_eq!(ids(&d), vec![("time-wait-ports", Severity::Warning)]);
        assert_eq!(d[0].subject, "10.0.0.9:5432");
        // A wide range has room.
        assert!(run(&a, None, &[("net.ipv4.ip_local_port_range", "1024 65535")]).is_empty());
    }

    fn sock(
        state: u8,
        local: &str,
        remote: &str,
        q: (u32, u32),
        inode: u64,
        cookie: u64,
    ) -> TcpSocket {
        TcpSocket {
            family: Family::V4,
            state,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            recv_q: q.0,
            send_q: q.1,
            uid: 0,
            inode,
            timer: 0,
            retrans: 0,
            expires_ms: 0,
            cookie,
        }
    }

    fn listener(local: &str, queue: u32, max: u32, drops: u32) -> Listener {
        Listener {
            socket: sock(sockets::TCP_LISTEN, local, "0.0.0.0:0", (queue, max), 9, 1),
            drops: Some(drops),
        }
    }

    #[test]
    fn listen_drops_below_the_cap_with_overflows_flat_are_the_syn_queue() {
        // The reproduction: syncookies 0, tcp_max_syn_backlog 16, backlog 1024,
        // SYN-ACKs unanswered: 13 half-open, the listener's drops rising, ListenDrops
        // rising, ListenOverflows flat, accept queue 0 of 1024.
        let t = Instant::now();
        let mk = |at, drops, ld| {
            let mut s = SocketSample::default();
            s.listeners.push(listener("10.0.0.1:80", 0, 1024, drops));
            s.syn_recv_by_local
                .insert("10.0.0.1:80".parse().unwrap(), 13);
            sample(
                at,
                &[("TcpExt:ListenOverflows", 0), ("TcpExt:ListenDrops", ld)],
                Some(s),
            )
        };
        let (a, b) = (mk(t, 10, 10), mk(t + Duration::from_secs(1), 30, 30));
        let settings = [
            ("net.ipv4.tcp_syncookies", "0"),
            ("net.ipv4.tcp_max_syn_backlog", "16"),
        ];
        let d = run(&a, Some(&b), &settings);
        assert_eq!(ids(&d), vec![("syn-queue-drops", Severity::Error)]);
        assert_eq!(d[0].subject, "10.0.0.1:80");
        assert!(d[0].summary.contains("13 half-open"), "{}", d[0].summary);
        assert!(
            d[0].explanation.contains("tcp_max_syn_backlog (16)"),
            "{}",
            d[0].explanation
        );
        // The same drops with the queue at its cap are an overflow, and only that.
        let full = |at, drops| {
            let mut s = SocketSample::default();
            s.listeners.push(listener("10.0.0.1:80", 1025, 1024, drops));
            sample(at, &[("TcpExt:ListenOverflows", i64::from(drops))], Some(s))
        };
        let d = run(
            &full(t, 10),
            Some(&full(t + Duration::from_secs(1), 30)),
            &settings,
        );
        assert_eq!(ids(&d), vec![("accept-queue-overflow", Severity::Error)]);
    }

    fn queued(s: TcpSocket, bytes_acked: u64, bytes_received: u64, snd_wnd: u32) -> Queued {
        Queued {
            socket: s,
            info: Some(TcpInfo {
                bytes_acked: Some(bytes_acked),
                bytes_received: Some(bytes_received),
                snd_wnd: Some(snd_wnd),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn equal_queues_are_a_stall_only_when_no_byte_moved() {
        let t = Instant::now();
        let est = sockets::TCP_ESTABLISHED;
        let at = |when, acked, received, wnd| {
            let mut s = SocketSample::default();
            s.queued.push(queued(
                sock(est, "10.0.0.1:80", "10.0.0.2:40000", (0, 5000), 7, 11),
                acked,
                0,
                wnd,
            ));
            s.queued.push(queued(
                sock(est, "10.0.0.1:41000", "10.0.0.3:9000", (3000, 0), 8, 12),
                0,
                received,
                65535,
            ));
            sample(when, &[], Some(s))
        };
        let later = t + Duration::from_secs(1);
        // A busy connection: the same queue sizes, but bytes moved: silent.
        let d = run(
            &at(t, 1000, 500, 0),
            Some(&at(later, 90_000, 80_000, 0)),
            &[],
        );
        assert!(d.is_empty(), "{:?}", ids(&d));
        // Nothing acknowledged but the peer's window is open: not "not reading".
        let d = run(
            &at(t, 1000, 500, 65535),
            Some(&at(later, 1000, 80_000, 65535)),
            &[],
        );
        assert!(d.is_empty(), "{:?}", ids(&d));
        // Nothing moved and the window is zero: both ends stuck.
        let d = run(&at(t, 1000, 500, 0), Some(&at(later, 1000, 500, 0)), &[]);
        assert_eq!(
            ids(&d),
            vec![
                ("peer-not-reading", Severity::Warning),
                ("reader-not-reading", Severity::Warning)
            ]
        );
    }

    #[test]
    fn unaccepted_connections_belong_to_their_listener() {
        // Inode 0 and ESTABLISHED on a listener's port: still in its accept queue.
        let t = Instant::now();
        let at = |when| {
            let mut s = SocketSample::default();
            s.listeners.push(listener("0.0.0.0:80", 9, 8, 0));
            for i in 0..9 {
                s.queued.push(queued(
                    sock(
                        sockets::TCP_ESTABLISHED,
                        "10.0.0.1:80",
                        &format!("10.0.0.2:{}", 40000 + i),
                        (27, 0),
                        0,
                        100 + i,
                    ),
                    0,
                    27,
                    65535,
                ));
            }
            // A client that gave up: CLOSE_WAIT, still unaccepted, not a leak.
            s.close_wait.push(crate::host::census::CloseWait {
                socket: sock(
                    sockets::TCP_CLOSE_WAIT,
                    "10.0.0.1:80",
                    "10.0.0.2:39999",
                    (1, 0),
                    0,
                    99,
                ),
                info: None,
            });
            sample(when, &[], Some(s))
        };
        let d = run(&at(t), Some(&at(t + Duration::from_secs(1))), &[]);
        assert_eq!(ids(&d), vec![("accept-queue-overflow", Severity::Error)]);
        assert!(
            d[0].summary
                .contains("9 queued connections hold 243 request bytes"),
            "{}",
            d[0].summary
        );
    }

    #[test]
    fn a_relay_passing_backpressure_on_is_one_chain_ending_at_the_consumer() {
        use crate::host::sockets::{Owner, Owners};
        let t = Instant::now();
        let est = sockets::TCP_ESTABLISHED;
        let at = |when| {
            let mut s = SocketSample::default();
            let mut zero = |mut x: TcpSocket, acked, received| {
                x.timer = sockets::TIMER_ZERO_WINDOW_PROBE;
                s.queued.push(queued(x, acked, received, 0));
            };
            // backend (pid 10) → nginx (pid 20) → a client that stopped reading.
            zero(
                sock(
                    est,
                    "127.0.0.1:9100",
                    "127.0.0.1:44940",
                    (0, 3_000_000),
                    1,
                    1,
                ),
                500,
                0,
            );
            zero(
                sock(est, "10.0.0.1:80", "10.0.0.2:5000", (0, 600_000), 3, 3),
                100,
                0,
            );
            s.queued.push(queued(
                sock(est, "127.0.0.1:44940", "127.0.0.1:9100", (595_000, 0), 2, 2),
                0,
                500,
                65535,
            ));
            sample(when, &[], Some(s))
        };
        let (a, b) = (at(t), at(t + Duration::from_secs(1)));
        let owner = |pid, name: &str| {
            vec![Owner {
                pid,
                name: name.into(),
            }]
        };
        let owners = Owners {
            by_inode: [
                (1, owner(10, "backend")),
                (2, owner(20, "nginx")),
                (3, owner(20, "nginx")),
            ]
            .into_iter()
            .collect(),
            unreadable_processes: 0,
        };
        let settings = BTreeMap::new();
        let obs = Observation {
            first: &a,
            second: Some(&b),
            settings: &settings,
        };
        let d = super::super::analyze(&obs, Some(&owners)).diagnoses;
        assert_eq!(ids(&d), vec![("consumer-not-reading", Severity::Warning)]);
        assert_eq!(d[0].subject, "10.0.0.2:5000");
        assert!(
            d[0].summary
                .starts_with("backend (pid 10) on 127.0.0.1:9100 → nginx (pid 20) → 10.0.0.2:5000"),
            "{}",
            d[0].summary
        );
        // Without owners nothing says nginx relays: one line per stuck end.
        let d = super::super::analyze(&obs, None).diagnoses;
        assert_eq!(d.len(), 3, "{:?}", ids(&d));
    }

    #[test]
    fn settings_named_are_in_the_catalog() {
        // Every diagnosis's `settings` must resolve in `tuneguard explain`.
        let src = [
            include_str!("diagnose.rs"),
            include_str!("listen.rs"),
            include_str!("stalls.rs"),
        ]
        .concat();
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
