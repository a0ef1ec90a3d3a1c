//! Incidents 2 and 4: queues that did not move. A connection is stuck only when no
//! byte moved between the samples (views::stuck); this turns the stuck ends into
//! diagnoses. A process that holds both a full receive queue from upstream and a send
//! queue facing a zero window downstream is a proxy passing the backpressure on: the
//! chain is one diagnosis naming the consumer at its end, not one per hop.

use super::diagnose::{delta, thousands, Diagnosis};
use super::views::{StuckView, Views, TOP};
use crate::host::census::plain;
use crate::profile::Severity;
use serde_json::json;
use std::collections::HashSet;

const READER: &str = "reader-not-reading";
const PEER: &str = "peer-not-reading";

pub fn diagnose(v: &Views, out: &mut Vec<Diagnosis>) {
    let Some(s) = &v.sockets else { return };
    let mut used: HashSet<usize> = HashSet::new();
    chains(v, &s.stuck, &mut used, out);
    let rest: Vec<(usize, &StuckView)> = s
        .stuck
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .collect();
    // One diagnosis per kind and owning process (per socket when owners are unknown),
    // the fullest connection first.
    let mut groups: Vec<Vec<&StuckView>> = Vec::new();
    for (_, x) in rest {
        let key = |y: &StuckView| (y.kind, y.owners.first().map(|o| o.pid));
        match groups
            .iter_mut()
            .find(|g| key(g[0]) == key(x) && key(x).1.is_some())
        {
            Some(g) => g.push(x),
            None => groups.push(vec![x]),
        }
    }
    for g in groups {
        out.push(single(v, &g));
    }
}

fn owner_text(x: &StuckView) -> String {
    x.owners
        .first()
        .map(|o| format!("{} (pid {})", o.name, o.pid))
        .unwrap_or_default()
}

fn moved(x: &StuckView) -> String {
    match x.progress {
        [Some(a), Some(_)] => format!(
            "; not one byte {} between the samples (at {})",
            if x.kind == READER {
                "received"
            } else {
                "acknowledged"
            },
            thousands(a as i64)
        ),
        _ => String::new(),
    }
}

fn single(v: &Views, g: &[&StuckView]) -> Diagnosis {
    let x = g[0];
    let more = match g.len() {
        1 => String::new(),
        2 => " and 1 more connection like it".to_string(),
        n => format!(" and {} more connections like it", n - 1),
    };
    let owner = match owner_text(x) {
        o if o.is_empty() => o,
        o => format!(", held by {o}"),
    };
    let pair = if x.peer_on_this_host {
        " The other end is on this host, stuck the opposite way: its Send-Q faces this zero window."
    } else {
        ""
    };
    let (summary, explanation, settings, incident) = if x.kind == READER {
        (
            format!(
                "{} ← {} ({}): Recv-Q {} then {}, unread{}{owner}{more}",
                x.local, x.remote, x.state, x.recv_q[0], x.recv_q[1], moved(x)
            ),
            format!("The application owning {} stopped calling recv(): its Recv-Q stays and nothing new arrives, so the sender stalls until some timeout resets the connection. Bigger buffers only delay it; the reader must drain its socket (e.g. not process messages on its I/O thread).{pair}", x.local),
            vec!["net.ipv4.tcp_rmem"],
            if x.state == "CLOSE-WAIT" { 2 } else { 4 },
        )
    } else {
        (
            format!(
                "{} → {} ({}): Send-Q {} then {}, unacknowledged, the peer advertises a zero window{}{owner}{more}",
                x.local, x.remote, x.state, x.send_q[0], x.send_q[1], moved(x)
            ),
            format!("The peer {} does not read: this side's Send-Q stays full and the peer's window is zero{}. A proxy in this position eventually times out and resets the connection (nginx: send_timeout / proxy_send_timeout); raising timeouts only moves the reset. The consumer must read.{pair}", x.remote, if x.zero_window_probe { " (the kernel is probing it)" } else { "" }),
            vec!["net.ipv4.tcp_wmem", "net.ipv4.tcp_retries2"],
            4,
        )
    };
    Diagnosis {
        id: x.kind,
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
            "zero_window": x.zero_window,
            "progress": x.progress,
            "connections": g.len(),
            "others": g.iter().skip(1).take(TOP).map(|y| json!({"local": y.local, "remote": y.remote})).collect::<Vec<_>>(),
            "TCPToZeroWindowAdv_delta": delta(v, "TcpExt:TCPToZeroWindowAdv"),
            "TCPWinProbe_delta": delta(v, "TcpExt:TCPWinProbe"),
            "owners": x.owners,
        }),
    }
}

/// Chains through processes that relay: a pid owning a stuck reader end (its
/// upstream's data waits unread) and a stuck sender end facing a zero window. Follows
/// the downstream side hop by hop while the consumer is a local process that relays
/// too; the end is the consumer that stopped reading (a local socket, or a remote
/// address). The hops' own stuck ends, and the upstream sender's, are folded in.
fn chains(v: &Views, stuck: &[StuckView], used: &mut HashSet<usize>, out: &mut Vec<Diagnosis>) {
    let pid = |x: &StuckView| x.owners.first().map(|o| o.pid);
    let find = |kind: &str, local, remote| {
        stuck
            .iter()
            .position(|y| y.kind == kind && plain(y.local) == local && plain(y.remote) == remote)
    };
    for (i, send) in stuck.iter().enumerate() {
        let Some(relay) = pid(send) else { continue };
        if send.kind != PEER || used.contains(&i) {
            continue;
        }
        // The relay's own stuck upstream end: it is not reading because it cannot write.
        // (With several stalled clients in one relay, which upstream feeds which
        // client is the relay's own business; each chain takes an upstream end of its
        // own, and names its consumer exactly.)
        let Some(up) = (0..stuck.len()).find(|&j| {
            stuck[j].kind == READER && pid(&stuck[j]) == Some(relay) && !used.contains(&j)
        }) else {
            continue;
        };
        let mut hops = vec![(up, i)];
        let mut members: Vec<usize> = vec![up, i];
        // Follow the downstream: is the consumer a local relay as well?
        let mut last = i;
        let mut end = None;
        for _ in 0..8 {
            let s = &stuck[last];
            match find(READER, plain(s.remote), plain(s.local)) {
                Some(c) => {
                    members.push(c);
                    let next = pid(&stuck[c]).and_then(|p| {
                        (0..stuck.len()).find(|&n| {
                            stuck[n].kind == PEER
                                && pid(&stuck[n]) == Some(p)
                                && !members.contains(&n)
                        })
                    });
                    match next {
                        Some(n) => {
                            members.push(n);
                            hops.push((c, n));
                            last = n;
                        }
                        None => {
                            end = Some(c);
                            break;
                        }
                    }
                }
                None => break,
            }
        }
        // The upstream sender, when local, is blocked by the first relay: part of the chain.
        let first_up = &stuck[hops[0].0];
        let source = find(PEER, plain(first_up.remote), plain(first_up.local));
        members.extend(source);
        used.extend(members.iter().copied());
        let last_send = &stuck[last];
        let consumer = match end {
            Some(c) if !owner_text(&stuck[c]).is_empty() => {
                format!("{} on {}", owner_text(&stuck[c]), stuck[c].local)
            }
            Some(c) => stuck[c].local.to_string(),
            None => last_send.remote.to_string(),
        };
        let subject = match end {
            Some(c) if !owner_text(&stuck[c]).is_empty() => owner_text(&stuck[c]),
            _ => last_send.remote.to_string(),
        };
        let upstream = source
            .map(|s| match owner_text(&stuck[s]) {
                o if o.is_empty() => stuck[s].local.to_string(),
                o => format!("{o} on {}", stuck[s].local),
            })
            .unwrap_or_else(|| first_up.remote.to_string());
        let relays: Vec<String> = hops
            .iter()
            .map(|&(u, s)| {
                format!(
                    "{} holds Recv-Q {} from {} and Send-Q {} to {} facing a zero window",
                    owner_text(&stuck[s]),
                    stuck[u].recv_q[1],
                    stuck[u].remote,
                    stuck[s].send_q[1],
                    stuck[s].remote
                )
            })
            .collect();
        let names: Vec<String> = hops.iter().map(|&(_, s)| owner_text(&stuck[s])).collect();
        out.push(Diagnosis {
            id: "consumer-not-reading",
            severity: Severity::Warning,
            subject,
            summary: format!(
                "{upstream} → {} → {consumer}: the consumer at the end stopped reading; {}",
                names.join(" → "),
                relays.join("; ")
            ),
            cause: "application",
            explanation: format!(
                "No byte moved along this chain between the samples. {} holds both a full receive queue from upstream and a send queue its downstream peer does not drain (zero window): it passes the backpressure on, it does not cause it. The consumer at the end, {consumer}, stopped reading: fix that reader (e.g. one that handles messages on its I/O thread). A proxy in the middle eventually resets one side at its timeout (nginx: proxy_read_timeout, send_timeout); raising timeouts only moves the reset.",
                names.join(" and ")
            ),
            settings: vec!["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"],
            incident: Some(4),
            evidence: json!({
                "consumer": consumer,
                "consumer_socket": end.map(|c| &stuck[c]),
                "relays": hops.iter().map(|&(u, s)| json!({"upstream_end": &stuck[u], "downstream_end": &stuck[s]})).collect::<Vec<_>>(),
                "source": source.map(|s| &stuck[s]),
                "TCPToZeroWindowAdv_delta": delta(v, "TcpExt:TCPToZeroWindowAdv"),
            }),
        });
    }
}
