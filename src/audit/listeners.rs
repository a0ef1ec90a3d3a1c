//! The live truth of listening sockets (sock_diag: Send-Q is the max backlog, Recv-Q the
//! accept queue now), matched to the sockets nginx's configuration asks for. A live cap
//! that differs from what a fresh listen() would get today is stale: somaxconn or the
//! backlog changed and listen() was not called again (net/socket.c __sys_listen).

use super::nginx::{nginx_ref, somaxconn, NginxRef, RELISTEN};
use super::{Cause, Finding};
use crate::host::nginx::listen::{Address, Socket, When};
use crate::host::sockets::Owners;
use crate::host::{Listeners, NginxState, Snapshot};
use crate::profile::Severity;
use std::collections::{BTreeMap, BTreeSet, HashSet};

const FACT: &str = "docs/kernel.md §1, §7: listen() caps at somaxconn when called; reload re-listens only when the backlog number changes";

const LIVE_EXPLAINED: &str = "The kernel fixes a listener's max backlog when listen() is \
called: min(backlog, net.core.somaxconn) at that moment. Raising somaxconn later changes nothing \
for sockets already listening, and nginx's reload calls listen() again only when the configured \
backlog number changed. Restarting nginx (or changing backlog=) is what applies a new cap.";

/// One live address: its sockets (several with reuseport) and who holds them.
struct Live {
    caps: BTreeSet<u32>,
    queue: u32,
    inodes: Vec<u64>,
}

fn owners_text(owners: &Owners, inodes: &[u64]) -> (String, serde_json::Value) {
    let mut seen: BTreeMap<u32, String> = BTreeMap::new();
    for i in inodes {
        for o in owners.by_inode.get(i).into_iter().flatten() {
            seen.insert(o.pid, o.name.clone());
        }
    }
    let json = serde_json::Value::Array(
        seen.iter()
            .map(|(pid, name)| serde_json::json!({ "pid": pid, "name": name }))
            .collect(),
    );
    if seen.is_empty() {
        let why = if owners.unreadable_processes > 0 {
            format!(
                "owner unknown: {} processes could not be read (run as root)",
                owners.unreadable_processes
            )
        } else {
            "owner not visible from here".to_string()
        };
        return (why, json);
    }
    let mut names: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (pid, name) in &seen {
        names.entry(name).or_default().push(*pid);
    }
    let text = names
        .iter()
        .map(|(n, pids)| {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!("{n} pid {}", pids.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ");
    (text, json)
}

fn live_finding(what: &str, subject: &str, id: String) -> Finding {
    let mut f = Finding::new("nginx", subject, Severity::Warning);
    f.id = format!("nginx/{what}/{id}");
    f.explanation = LIVE_EXPLAINED.into();
    f.fact = Some(FACT.into());
    f
}

pub(super) fn check(snap: &Snapshot) -> Vec<Finding> {
    let Some(live) = &snap.listeners else {
        return Vec::new();
    };
    let live = match live {
        Ok(l) => l,
        Err(e) => {
            let f = live_finding("live", "listeners", "sock_diag".into());
            return vec![f.skip(format!("listening sockets not checked: {e}"))];
        }
    };
    let cap = somaxconn(snap);
    let mut used: HashSet<usize> = HashSet::new();
    let mut out = Vec::new();
    let mut ports = BTreeSet::new();
    if let NginxState::Read(r) = &snap.nginx {
        let refused = r.model.problems.iter().any(|p| p.when == When::Test);
        if let (Ok(conf), false) = (&r.conf, refused) {
            let m = &r.model;
            let tcp: Vec<&Socket> = m.sockets.iter().filter(|s| !s.udp).collect();
            for s in &tcp {
                if let Address::Inet(a) = &s.addr {
                    ports.insert(a.port());
                }
            }
            // A socket on port 0 (a stream listen without a port) takes a port the kernel
            // picks: it is matched after every socket with a port of its own.
            let any_port = |s: &Socket| matches!(&s.addr, Address::Inet(a) if a.port() == 0);
            let mut found: Vec<Option<Live>> = tcp.iter().map(|_| None).collect();
            for pass in [false, true] {
                for (i, s) in tcp.iter().enumerate() {
                    if any_port(s) == pass {
                        found[i] = Some(matching(live, s, &mut used));
                    }
                }
            }
            let per_socket: Vec<(&Socket, Live)> = tcp
                .into_iter()
                .zip(found.into_iter().map(|l| l.expect("both passes ran")))
                .collect();
            let any_live = per_socket.iter().any(|(_, l)| !l.inodes.is_empty());
            if !per_socket.is_empty() && !any_live {
                let f = live_finding("live", "nginx live", "none".into());
                out.push(f.skip(format!(
                    "none of the {} sockets of {} is listening in this namespace ({}): nginx is not running here, or not with this configuration; live checks skipped",
                    per_socket.len(),
                    r.main.display(),
                    snap.netns.label
                )));
            } else {
                for (s, l) in per_socket {
                    let at = nginx_ref(conf, m, s);
                    out.push(socket(live, s, at, l, cap, m.workers));
                }
            }
        }
    }
    // Group the rest by address: reuseport gives one socket per worker.
    let mut rest: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, t) in live.tcp.iter().enumerate() {
        if !used.contains(&i) {
            rest.entry(t.local.to_string()).or_default().push(i);
        }
    }
    for (addr, idx) in rest {
        let first = &live.tcp[idx[0]];
        let inodes: Vec<u64> = idx.iter().map(|&i| live.tcp[i].inode).collect();
        let caps: BTreeSet<u32> = idx.iter().map(|&i| live.tcp[i].send_q).collect();
        let (who, owners) = owners_text(&live.owners, &inodes);
        let caps_text = caps
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join("/");
        let mut f = live_finding("listener", &format!("listener {addr}"), addr.clone());
        f.live = Some(serde_json::json!({
            "max_backlog": caps.iter().max(),
            "queue": idx.iter().map(|&i| live.tcp[i].recv_q).max(),
            "sockets": idx.len(),
            "owners": owners,
        }));
        if ports.contains(&first.local.port()) {
            f.remedy = Some("check that nginx runs the configuration you audit (a failed reload keeps the old one), or which program holds the port".into());
            f.cause = Some(Cause::ListenerUndeclared);
            out.push(f.fail(
                Severity::Warning,
                format!(
                    "{addr} is listening ({who}) on a port of the configuration, but the configuration declares no such socket: nginx runs an older configuration, or another program holds it"
                ),
            ));
            continue;
        }
        f.kind = "listener";
        f.severity = Severity::Info;
        let today = cap.map_or(String::new(), |(c, _)| {
            format!("; a listen() today gets at most somaxconn {c}")
        });
        out.push(f.pass(format!(
            "{addr} ({who}): max backlog {caps_text}, fixed when it called listen() as min(its backlog, somaxconn then){today}"
        )));
    }
    out
}

fn matching(live: &Listeners, s: &Socket, used: &mut HashSet<usize>) -> Live {
    let mut l = Live {
        caps: BTreeSet::new(),
        queue: 0,
        inodes: Vec::new(),
    };
    match &s.addr {
        // Any port on this address, but only a listener nginx holds: another program's
        // socket on 127.0.0.1 is not this listen's.
        Address::Inet(a) if a.port() == 0 => {
            let nginx = |inode: u64| {
                live.owners
                    .by_inode
                    .get(&inode)
                    .is_some_and(|o| o.iter().any(|o| o.name == "nginx"))
            };
            let free = live
                .tcp
                .iter()
                .enumerate()
                .find(|(i, t)| t.local.ip() == a.ip() && !used.contains(i) && nginx(t.inode));
            if let Some((i, t)) = free {
                used.insert(i);
                l.caps.insert(t.send_q);
                l.queue = t.recv_q;
                l.inodes.push(t.inode);
            }
        }
        Address::Inet(a) => {
            for (i, t) in live.tcp.iter().enumerate() {
                if t.local == *a {
                    used.insert(i);
                    l.caps.insert(t.send_q);
                    l.queue = l.queue.max(t.recv_q);
                    l.inodes.push(t.inode);
                }
            }
        }
        Address::Unix(p) => {
            for u in live.unix.iter().filter(|u| u.path == *p) {
                l.caps.insert(u.send_q);
                l.queue = l.queue.max(u.recv_q);
                l.inodes.push(u.inode);
            }
        }
    }
    l
}

fn socket(
    live: &Listeners,
    s: &Socket,
    at: NginxRef,
    l: Live,
    cap: Option<(u32, &str)>,
    workers: Option<u32>,
) -> Finding {
    let mut f = live_finding(
        "live",
        &format!("listen {}", at.socket),
        format!("{}/{}", at.proto, at.socket),
    );
    f.nginx = Some(Box::new(at.clone()));
    if l.inodes.is_empty() {
        f.remedy = Some("reload or restart nginx, and check its error log: a socket the configuration declares is not open".into());
        f.cause = Some(Cause::ListenerNotListening);
        return f.fail(
            Severity::Warning,
            format!(
                "not listening (listen at {}:{}): nginx has not loaded this configuration, or failed to bind it",
                at.file, at.line
            ),
        );
    }
    let (who, owners) = owners_text(&live.owners, &l.inodes);
    let max = *l.caps.iter().max().expect("a live socket has a cap");
    f.live = Some(serde_json::json!({
        "max_backlog": max,
        "queue": l.queue,
        "sockets": l.inodes.len(),
        "owners": owners,
    }));
    let sockets = if s.reuseport {
        let per = workers.map_or("one per worker".to_string(), |w| format!("{w} workers"));
        format!(", {} reuseport sockets ({per})", l.inodes.len())
    } else {
        String::new()
    };
    let Some((c, _)) = cap else {
        return f.pass(format!(
            "{} is listening ({who}) with max backlog {max}{sockets}",
            at.socket
        ));
    };
    let fresh = s.effective(c);
    f.expected = Some(serde_json::json!({ "max_backlog": fresh }));
    let stale: Vec<u32> = l.caps.iter().copied().filter(|&x| x != fresh).collect();
    if stale.is_empty() {
        return f.pass(format!(
            "listening ({who}) with max backlog {max}{sockets}, what listen() gives today: min({}, somaxconn {c})",
            s.backlog as u32
        ));
    }
    let why = if stale.iter().all(|&x| x < fresh) {
        "it listened while somaxconn (or backlog=) was lower"
    } else {
        "somaxconn (or backlog=) was lowered after it listened"
    };
    f.remedy = Some(format!(
        "restart nginx (systemctl restart nginx, or stop and start it): {RELISTEN}; or change backlog= at {}:{} and reload",
        at.file, at.line
    ));
    f.cause = Some(Cause::ListenerStale);
    f.fail(
        Severity::Warning,
        format!(
            "stale: live max backlog {max} ({who}), but a listen() today would get {fresh} = min({}, somaxconn {c}); {why}. A reload alone does not fix it",
            s.backlog as u32
        ),
    )
}
