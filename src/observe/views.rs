//! The evidence arranged the way a person reads it: counters with their rates, each
//! listener's queue, CLOSE_WAIT grouped by peer and by owner, queues that did not move
//! between the samples, connections to our own listeners. Serialized as they are into
//! `tuneguard.observe/v1` (docs/json-schema.md).

use super::Observation;
use crate::host::census::{
    eof_unread, plain, unread_bytes, unsent_bytes, Queued, SocketSample, TimeWaitKey,
};
use crate::host::counters::Slab;
use crate::host::sockets::{self, Owner, Owners, TcpSocket};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

/// New connections per second from one process to its own listener at which a
/// self-connection is called a loop (incident 5 saw more than 10 per half-millisecond).
pub const LOOP_RATE: f64 = 10.0;
/// How many peers, owners and stuck sockets a view lists (the totals count them all).
pub const TOP: usize = 10;

/// Counters shown even when they did not move (the rest only when they did).
pub const WATCHED: &[&str] = &[
    "TcpExt:ListenOverflows",
    "TcpExt:ListenDrops",
    "TcpExt:SyncookiesSent",
    "TcpExt:SyncookiesRecv",
    "TcpExt:SyncookiesFailed",
    "TcpExt:TCPReqQFullDrop",
    "TcpExt:TCPReqQFullDoCookies",
    "TcpExt:TCPBacklogDrop",
    "TcpExt:TCPAbortOnMemory",
    "TcpExt:TCPAbortOnTimeout",
    "TcpExt:TCPAbortOnData",
    "TcpExt:TCPZeroWindowDrop",
    "TcpExt:TCPToZeroWindowAdv",
    "TcpExt:TCPWantZeroWindowAdv",
    "TcpExt:TCPWinProbe",
    "TcpExt:TCPKeepAlive",
    "Tcp:ActiveOpens",
    "Tcp:PassiveOpens",
    "Tcp:CurrEstab",
    "Tcp:EstabResets",
    "Tcp:OutRsts",
    "sockstat:TCP inuse",
    "sockstat:TCP orphan",
    "sockstat:TCP tw",
    "sockstat:TCP alloc",
    "sockstat:TCP mem",
];

#[derive(Debug, Serialize)]
pub struct Views {
    pub samples: usize,
    pub interval_s: Option<f64>,
    pub counters: Vec<CounterLine>,
    pub memory: Memory,
    /// None for a captured proc tree, which holds no sockets.
    pub sockets: Option<SocketViews>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockets_error: Option<String>,
    /// Whether owners were looked up, and how many processes refused us.
    pub owners: OwnersNote,
    /// Counter files that could not be read.
    pub unreadable: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct OwnersNote {
    pub looked_up: bool,
    pub unreadable_processes: usize,
}

#[derive(Debug, Serialize)]
pub struct CounterLine {
    pub name: String,
    /// "namespace", or "host" for the global figures (sockstat's orphan, alloc, mem).
    pub scope: &'static str,
    /// Since the namespace was created (boot, for the host's own).
    pub total: i64,
    pub delta: Option<i64>,
    pub per_second: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    /// Always "host": slab caches, MemTotal and TCP buffer pages are the machine's,
    /// whichever namespace is observed.
    pub scope: &'static str,
    pub mem_total_bytes: Option<u64>,
    /// The TCP slab caches (TCP, TCPv6, tw_sock_*, request_sock_*), when readable.
    pub slab: Vec<Slab>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slab_unreadable: Option<String>,
    pub tcp_slab_bytes: Option<u64>,
    /// tcp_slab_bytes / mem_total_bytes.
    pub tcp_slab_share: Option<f64>,
    /// sockstat's TCP mem (pages, host-wide) against tcp_mem's three thresholds.
    pub tcp_mem_pages: Option<i64>,
    pub tcp_mem_limits: Option<Vec<i64>>,
}

#[derive(Debug, Serialize)]
pub struct SocketViews {
    pub total: u64,
    /// Counts by state, named as `ss` names them.
    pub by_state: BTreeMap<&'static str, u64>,
    pub listeners: Vec<ListenerView>,
    pub close_wait: CloseWaitView,
    /// Sockets whose queue stayed full across the samples.
    pub stuck: Vec<StuckView>,
    /// Connected sockets with queued bytes in the last sample (most are transient).
    pub queued_now: usize,
    pub to_self: Vec<SelfView>,
    pub time_wait: TimeWaitView,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerView {
    pub local: SocketAddr,
    /// The accept queue now, and its cap (the effective backlog).
    pub queue: u32,
    pub max: u32,
    pub fill: f64,
    /// The kernel's own test: the queue holds more than the backlog (backlog + 1).
    pub full: bool,
    /// Full in either sample.
    pub full_in_any_sample: bool,
    /// This socket's listen drops, since it was created (None: the kernel does not say).
    pub drops: Option<u32>,
    pub drops_delta: Option<i64>,
    /// Request sockets on it (SYN received, handshake not completed): the SYN queue.
    pub syn_recv: u32,
    /// Connections in its accept queue (no owner yet: inode 0) holding request bytes
    /// nobody can read until the application accepts them, and those bytes.
    pub unaccepted_with_data: usize,
    pub unaccepted_bytes: u64,
    pub owners: Vec<Owner>,
    #[serde(skip)]
    pub inode: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct CloseWaitView {
    pub total: usize,
    /// With a keepalive timer armed (the owner set SO_KEEPALIVE): the kernel will reap
    /// these once the peer stops answering; the rest stay until close().
    pub keepalive_armed: usize,
    /// Data bytes the application never read from them.
    pub unread_bytes: u64,
    /// Sockets whose end of file the application has not read either: it has not
    /// touched them since the peer closed (Recv-Q shows the FIN as 1).
    pub eof_unread: usize,
    /// In both samples (None with one sample).
    pub persisted: Option<usize>,
    pub by_peer: Vec<PeerGroup>,
    pub peers: usize,
    pub by_owner: Vec<OwnerGroup>,
    pub owner_unknown: usize,
    /// The longest time since the peer was last heard (tcp_info last_ack_recv), seconds.
    pub oldest_idle_s: Option<f64>,
    /// The soonest and latest keepalive timer of the armed sockets, seconds (idiag_expires).
    pub keepalive_expires_s: Option<[f64; 2]>,
    #[serde(skip)]
    pub inodes: Vec<u64>,
}

/// CLOSE_WAIT sockets to one peer: by its address and port when this side connected,
/// by its address and our local port when it connected to one of our listeners (its
/// ephemeral ports say nothing one by one).
#[derive(Debug, Serialize)]
pub struct PeerGroup {
    /// "10.0.0.9:5432" (we dialled it), or "10.0.0.2" with `local_port` (it dialled us).
    pub peer: String,
    pub local_port: Option<u16>,
    pub count: usize,
    pub keepalive_armed: usize,
    pub unread_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnerGroup {
    pub pid: u32,
    pub name: String,
    pub count: usize,
    pub keepalive_armed: usize,
    /// The soonest and latest keepalive timer among its sockets, seconds: each socket's
    /// own (TCP_KEEPIDLE and the probes since), as the kernel reports it.
    pub keepalive_expires_s: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StuckView {
    /// "reader-not-reading" (Recv-Q stays: this side does not read) or
    /// "peer-not-reading" (Send-Q stays: the peer does not read).
    pub kind: &'static str,
    pub state: &'static str,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub recv_q: [u32; 2],
    pub send_q: [u32; 2],
    /// The kernel is probing a zero window (timer 4): the peer advertises no room.
    pub zero_window_probe: bool,
    /// The peer advertises a zero window (tcp_info snd_wnd 0, or the probe timer).
    pub zero_window: bool,
    /// The byte counter that would show progress, at each sample: bytes_received for
    /// a reader, bytes_acked for a sender (tcp_info; null when the kernel did not say).
    pub progress: [Option<u64>; 2],
    pub owners: Vec<Owner>,
    /// The other end is on this host too and is stuck the opposite way.
    pub peer_on_this_host: bool,
    #[serde(skip)]
    pub inode: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelfView {
    /// Our own listener, as dialled.
    pub target: SocketAddr,
    /// Connections to it in the last sample, counted once whichever end is seen
    /// (TIME_WAIT included: a short-lived connection leaves one on either side).
    pub now: usize,
    /// Of those, the ones with an end in TIME_WAIT.
    pub time_wait: usize,
    /// Connections that appeared between the samples.
    pub new: Option<usize>,
    pub per_second: Option<f64>,
    /// Owners of the connecting ends (those still open), and of the listener.
    pub client_owners: Vec<Owner>,
    pub listener_owners: Vec<Owner>,
    /// The same process dials and listens: it connects to itself. None when the
    /// connecting ends' owners could not be named (all closed, or not looked up).
    pub same_process: Option<bool>,
    #[serde(skip)]
    pub client_inodes: Vec<u64>,
    #[serde(skip)]
    pub listener_inodes: Vec<u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct TimeWaitView {
    pub total: u64,
    /// This side connected: by the address it dialled (what exhausts local ports).
    pub by_peer: Vec<PeerCount>,
    /// This side accepted: by our listener the clients came through.
    pub by_listener: Vec<ListenerCount>,
}

#[derive(Debug, Serialize)]
pub struct PeerCount {
    pub peer: SocketAddr,
    pub count: u32,
}

#[derive(Debug, Serialize)]
pub struct ListenerCount {
    pub listener: SocketAddr,
    pub count: u32,
}

impl Views {
    pub fn build(obs: &Observation, owners: Option<&Owners>) -> Views {
        let last = obs.last();
        let secs = obs.seconds();
        let (sockets, sockets_error) = match &last.sockets {
            None => (None, None),
            Some(Err(e)) => (None, Some(e.clone())),
            Some(Ok(s)) => {
                let before = obs
                    .second
                    .and(obs.first.sockets.as_ref())
                    .and_then(|r| r.as_ref().ok());
                (Some(socket_views(s, before, secs, owners)), None)
            }
        };
        Views {
            samples: if obs.second.is_some() { 2 } else { 1 },
            interval_s: secs,
            counters: counters(obs),
            memory: memory(obs),
            sockets,
            sockets_error,
            owners: OwnersNote {
                looked_up: owners.is_some(),
                unreadable_processes: owners.map_or(0, |o| o.unreadable_processes),
            },
            unreadable: last
                .counters
                .problems
                .iter()
                .map(|(p, why)| format!("{}: {why}", p.display()))
                .collect(),
        }
    }

    /// The inodes whose owners the views would show (see `super::wanted_inodes`).
    pub fn inodes(&self) -> HashSet<u64> {
        let mut out = HashSet::new();
        let Some(s) = &self.sockets else {
            return out;
        };
        for l in &s.listeners {
            if l.full_in_any_sample || l.drops_delta.is_some_and(|d| d > 0) {
                out.insert(l.inode);
            }
        }
        out.extend(s.close_wait.inodes.iter().copied());
        out.extend(s.stuck.iter().map(|x| x.inode));
        for v in &s.to_self {
            if v.per_second.is_some_and(|r| r >= LOOP_RATE) {
                out.extend(v.client_inodes.iter().copied());
                out.extend(v.listener_inodes.iter().copied());
            }
        }
        out.remove(&0);
        out
    }
}

fn counters(obs: &Observation) -> Vec<CounterLine> {
    let last = &obs.last().counters;
    let delta = obs
        .second
        .map(|s| crate::host::counters::delta(&obs.first.counters, &s.counters));
    let secs = obs.seconds();
    let mut out = Vec::new();
    for (name, &total) in &last.values {
        let d = delta.as_ref().and_then(|d| d.get(name).copied());
        let watched = WATCHED.contains(&name.as_str());
        // Other counters only when they moved; gauges of sockstat are always shown.
        if !watched && d.is_none_or(|d| d == 0) {
            continue;
        }
        out.push(CounterLine {
            scope: crate::host::counters::scope(name),
            name: name.clone(),
            total,
            delta: d,
            per_second: d.zip(secs).map(|(d, s)| d as f64 / s),
        });
    }
    out
}

fn memory(obs: &Observation) -> Memory {
    let c = &obs.last().counters;
    let (slab, slab_unreadable) = match &c.slab {
        Ok(s) => (s.clone(), None),
        Err(e) => (Vec::new(), Some(e.clone())),
    };
    let tcp_slab_bytes = (!slab.is_empty()).then(|| slab.iter().map(Slab::bytes).sum::<u64>());
    let mem_total_bytes = c.mem_total_kib.map(|k| k * 1024);
    Memory {
        scope: "host",
        tcp_slab_share: tcp_slab_bytes
            .zip(mem_total_bytes)
            .filter(|(_, m)| *m > 0)
            .map(|(s, m)| s as f64 / m as f64),
        mem_total_bytes,
        slab,
        slab_unreadable,
        tcp_slab_bytes,
        tcp_mem_pages: c.get("sockstat:TCP mem"),
        tcp_mem_limits: obs.setting_fields("net.ipv4.tcp_mem"),
    }
}

fn socket_views(
    s: &SocketSample,
    before: Option<&SocketSample>,
    secs: Option<f64>,
    owners: Option<&Owners>,
) -> SocketViews {
    let who = |inode: u64| -> Vec<Owner> {
        owners
            .and_then(|o| o.by_inode.get(&inode))
            .cloned()
            .unwrap_or_default()
    };
    let mut by_state = BTreeMap::new();
    for (state, &n) in s.by_state.iter().enumerate() {
        if n > 0 {
            *by_state.entry(state_name(state as u8)).or_default() += n;
        }
    }
    SocketViews {
        total: s.total,
        by_state,
        listeners: listeners(s, before, &who),
        close_wait: close_wait(s, before, &who),
        stuck: stuck(s, before, &who),
        queued_now: s.queued.len(),
        to_self: to_self(s, before, secs, &who),
        time_wait: time_wait(s),
    }
}

/// The listener a connection's local address belongs to: the exact address first, else
/// a wildcard on its port.
fn listener_of(listeners: &[crate::host::census::Listener], local: SocketAddr) -> Option<usize> {
    let local = plain(local);
    listeners
        .iter()
        .position(|l| plain(l.socket.local) == local)
        .or_else(|| {
            listeners.iter().position(|l| {
                let a = plain(l.socket.local);
                a.ip().is_unspecified() && a.port() == local.port()
            })
        })
}

/// A connection still in a listener's accept queue: established (or already closed by
/// the client) and without a file yet, so inode 0 and no owner. Its unread bytes are a
/// request nobody can read before accept(): the listener's business, not a reader's.
fn unaccepted(s: &SocketSample, q: &TcpSocket) -> bool {
    q.inode == 0
        && matches!(q.state, sockets::TCP_ESTABLISHED | sockets::TCP_CLOSE_WAIT)
        && listener_of(&s.listeners, q.local).is_some()
}

fn listeners(
    s: &SocketSample,
    before: Option<&SocketSample>,
    who: &dyn Fn(u64) -> Vec<Owner>,
) -> Vec<ListenerView> {
    let earlier: HashMap<u64, &crate::host::census::Listener> = before
        .map(|b| b.listeners.iter().map(|l| (l.socket.cookie, l)).collect())
        .unwrap_or_default();
    let mut syn_recv = vec![0u32; s.listeners.len()];
    for (local, n) in &s.syn_recv_by_local {
        if let Some(i) = listener_of(&s.listeners, *local) {
            syn_recv[i] += n;
        }
    }
    let mut waiting = vec![(0usize, 0u64); s.listeners.len()];
    for q in s.queued.iter().map(|q| &q.socket) {
        if unaccepted(s, q) {
            if let Some(i) = listener_of(&s.listeners, q.local) {
                waiting[i].0 += 1;
                waiting[i].1 += u64::from(unread_bytes(q));
            }
        }
    }
    let mut out: Vec<ListenerView> = s
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (q, max) = (l.socket.recv_q, l.socket.send_q);
            let prev = earlier.get(&l.socket.cookie);
            let full = q > max;
            let full_before = prev.is_some_and(|p| p.socket.recv_q > p.socket.send_q);
            ListenerView {
                local: l.socket.local,
                queue: q,
                max,
                fill: if max == 0 {
                    1.0
                } else {
                    f64::from(q) / f64::from(max)
                },
                full,
                full_in_any_sample: full || full_before,
                drops: l.drops,
                drops_delta: prev
                    .and_then(|p| p.drops)
                    .zip(l.drops)
                    .map(|(a, b)| i64::from(b) - i64::from(a)),
                syn_recv: syn_recv[i],
                unaccepted_with_data: waiting[i].0,
                unaccepted_bytes: waiting[i].1,
                owners: who(l.socket.inode),
                inode: l.socket.inode,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (b.drops_delta.unwrap_or(0), b.full_in_any_sample, b.fill)
            .partial_cmp(&(a.drops_delta.unwrap_or(0), a.full_in_any_sample, a.fill))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.local.port().cmp(&b.local.port()))
    });
    out
}

/// The soonest and latest of some timer expiries, in seconds.
fn span(v: &mut Option<[f64; 2]>, ms: u32) {
    let x = f64::from(ms) / 1000.0;
    *v = Some(v.map_or([x, x], |[lo, hi]| [lo.min(x), hi.max(x)]));
}

fn close_wait(
    s: &SocketSample,
    before: Option<&SocketSample>,
    who: &dyn Fn(u64) -> Vec<Owner>,
) -> CloseWaitView {
    // A client that gave up while its connection waited in an accept queue leaves a
    // CLOSE_WAIT nobody has accepted yet: the listener's business, not a leak.
    let mine: Vec<&crate::host::census::CloseWait> = s
        .close_wait
        .iter()
        .filter(|c| !unaccepted(s, &c.socket))
        .collect();
    let mut v = CloseWaitView {
        total: mine.len(),
        ..Default::default()
    };
    let earlier: Option<HashSet<u64>> =
        before.map(|b| b.close_wait.iter().map(|c| c.socket.cookie).collect());
    v.persisted = earlier
        .as_ref()
        .map(|e| mine.iter().filter(|c| e.contains(&c.socket.cookie)).count());
    let mut peers: HashMap<(String, Option<u16>), PeerGroup> = HashMap::new();
    let mut by_owner: HashMap<u32, OwnerGroup> = HashMap::new();
    for c in mine {
        let armed = c.socket.timer == sockets::TIMER_KEEPALIVE;
        let unread = u64::from(unread_bytes(&c.socket));
        v.eof_unread += usize::from(eof_unread(&c.socket));
        v.keepalive_armed += usize::from(armed);
        if armed {
            span(&mut v.keepalive_expires_s, c.socket.expires_ms);
        }
        v.unread_bytes += unread;
        // A client of ours (it dialled one of our listeners) by its address and our
        // port; a server we dialled by its address and port.
        let key = if listener_of(&s.listeners, c.socket.local).is_some() {
            (
                plain(c.socket.remote).ip().to_string(),
                Some(c.socket.local.port()),
            )
        } else {
            (plain(c.socket.remote).to_string(), None)
        };
        let g = peers.entry(key.clone()).or_insert(PeerGroup {
            peer: key.0,
            local_port: key.1,
            count: 0,
            keepalive_armed: 0,
            unread_bytes: 0,
        });
        g.count += 1;
        g.keepalive_armed += usize::from(armed);
        g.unread_bytes += unread;
        if let Some(info) = c.info {
            let idle = f64::from(info.last_ack_recv_ms) / 1000.0;
            v.oldest_idle_s = Some(v.oldest_idle_s.map_or(idle, |o: f64| o.max(idle)));
        }
        let owners = who(c.socket.inode);
        if owners.is_empty() {
            v.owner_unknown += 1;
        }
        for o in owners {
            let g = by_owner.entry(o.pid).or_insert(OwnerGroup {
                pid: o.pid,
                name: o.name.clone(),
                count: 0,
                keepalive_armed: 0,
                keepalive_expires_s: None,
            });
            g.count += 1;
            if armed {
                g.keepalive_armed += 1;
                span(&mut g.keepalive_expires_s, c.socket.expires_ms);
            }
        }
        v.inodes.push(c.socket.inode);
    }
    v.peers = peers.len();
    let mut peers: Vec<PeerGroup> = peers.into_values().collect();
    peers.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.peer.cmp(&b.peer))
            .then(a.local_port.cmp(&b.local_port))
    });
    peers.truncate(TOP);
    v.by_peer = peers;
    let mut owners: Vec<OwnerGroup> = by_owner.into_values().collect();
    owners.sort_by(|a, b| b.count.cmp(&a.count).then(a.pid.cmp(&b.pid)));
    owners.truncate(TOP);
    v.by_owner = owners;
    v
}

/// Queues that held bytes in both samples while no byte moved: a reader that does not
/// read (Recv-Q, and bytes_received did not grow), or a peer that does not (Send-Q,
/// bytes_acked did not grow, and the peer advertises a zero window). Equal queue sizes
/// at two instants are no stall on their own: a busy connection refills its queue
/// between them. Needs two samples. Connections still in an accept queue are left to
/// their listener.
fn stuck(
    s: &SocketSample,
    before: Option<&SocketSample>,
    who: &dyn Fn(u64) -> Vec<Owner>,
) -> Vec<StuckView> {
    let Some(before) = before else {
        return Vec::new();
    };
    let earlier: HashMap<u64, &Queued> =
        before.queued.iter().map(|q| (q.socket.cookie, q)).collect();
    let mut out = Vec::new();
    for now in &s.queued {
        let q = &now.socket;
        let Some(was) = earlier.get(&q.cookie) else {
            continue;
        };
        if unaccepted(s, q) {
            continue;
        }
        let p = &was.socket;
        let (i0, i1) = (was.info, now.info);
        let zero_window =
            q.timer == sockets::TIMER_ZERO_WINDOW_PROBE || i1.and_then(|i| i.snd_wnd) == Some(0);
        let received = [
            i0.and_then(|i| i.bytes_received),
            i1.and_then(|i| i.bytes_received),
        ];
        let acked = [
            i0.and_then(|i| i.bytes_acked),
            i1.and_then(|i| i.bytes_acked),
        ];
        // Without the kernel's byte counters (before 4.1), the queue alone decides.
        let still = |c: [Option<u64>; 2]| match c {
            [Some(a), Some(b)] => a == b,
            _ => true,
        };
        let (was_in, is_in) = (unread_bytes(p), unread_bytes(q));
        let reader = was_in > 0 && is_in >= was_in && still(received);
        let (was_out, is_out) = (unsent_bytes(p), unsent_bytes(q));
        let peer = was_out > 0 && is_out >= was_out && still(acked) && zero_window;
        for (kind, yes, progress) in [
            ("reader-not-reading", reader, received),
            ("peer-not-reading", peer, acked),
        ] {
            if yes {
                out.push(StuckView {
                    kind,
                    state: state_name(q.state),
                    local: q.local,
                    remote: q.remote,
                    recv_q: [p.recv_q, q.recv_q],
                    send_q: [p.send_q, q.send_q],
                    zero_window_probe: q.timer == sockets::TIMER_ZERO_WINDOW_PROBE,
                    zero_window,
                    progress,
                    owners: who(q.inode),
                    peer_on_this_host: false,
                    inode: q.inode,
                });
            }
        }
    }
    // Pair the two ends of one connection when both are here (incident 4: the
    // consumer's Recv-Q and the sender's Send-Q).
    let ends: HashSet<(SocketAddr, SocketAddr, &str)> = out
        .iter()
        .map(|x| (plain(x.local), plain(x.remote), x.kind))
        .collect();
    for x in &mut out {
        let other = if x.kind == "reader-not-reading" {
            "peer-not-reading"
        } else {
            "reader-not-reading"
        };
        x.peer_on_this_host = ends.contains(&(plain(x.remote), plain(x.local), other));
    }
    out.sort_by(|a, b| {
        (b.recv_q[1].max(b.send_q[1]))
            .cmp(&a.recv_q[1].max(a.send_q[1]))
            .then(a.local.cmp(&b.local))
    });
    out
}

/// Connections to our own listeners, each counted once by (listener, connecting
/// address) whichever end the census saw: a short-lived one may leave only the
/// accepting end, in TIME_WAIT.
fn to_self(
    s: &SocketSample,
    before: Option<&SocketSample>,
    secs: Option<f64>,
    who: &dyn Fn(u64) -> Vec<Owner>,
) -> Vec<SelfView> {
    let key = |c: &crate::host::census::SelfConn| (plain(c.target), plain(c.client));
    let earlier: Option<HashSet<(SocketAddr, SocketAddr)>> =
        before.map(|b| b.to_self.iter().map(key).collect());
    // Hashed, not ordered: a host may hold tens of thousands of local connections (a
    // proxy's keepalive pool to its own application), and nothing below depends on the
    // order (groups are by target, owners sorted by pid).
    let mut conns: HashMap<(SocketAddr, SocketAddr), (bool, Vec<u64>)> = HashMap::new();
    for c in &s.to_self {
        let e = conns.entry(key(c)).or_default();
        e.0 |= c.state == sockets::TCP_TIME_WAIT;
        if !c.accepted && c.inode != 0 {
            e.1.push(c.inode);
        }
    }
    let mut groups: BTreeMap<SocketAddr, SelfView> = BTreeMap::new();
    for ((target, client), (tw, inodes)) in conns {
        let g = groups.entry(target).or_insert_with(|| SelfView {
            target,
            now: 0,
            time_wait: 0,
            new: earlier.as_ref().map(|_| 0),
            per_second: None,
            client_owners: Vec::new(),
            listener_owners: Vec::new(),
            same_process: None,
            client_inodes: Vec::new(),
            listener_inodes: listener_of(&s.listeners, target)
                .map(|i| vec![s.listeners[i].socket.inode])
                .unwrap_or_default(),
        });
        g.now += 1;
        g.time_wait += usize::from(tw);
        g.client_inodes.extend(inodes);
        if let (Some(e), Some(n)) = (&earlier, &mut g.new) {
            *n += usize::from(!e.contains(&(target, client)));
        }
    }
    // Dialling ends of the first sample too: a short-lived loop may have none open at
    // the second, and any still open when owners are looked up name the dialler. Each
    // once: a set, since a group may hold tens of thousands of them.
    let mut known: HashSet<u64> = groups
        .values()
        .flat_map(|g| g.client_inodes.iter().copied())
        .collect();
    for c in before.iter().flat_map(|b| &b.to_self) {
        if let Some(g) = groups.get_mut(&plain(c.target)) {
            if !c.accepted && c.inode != 0 && known.insert(c.inode) {
                g.client_inodes.push(c.inode);
            }
        }
    }
    let mut out: Vec<SelfView> = groups.into_values().collect();
    for g in &mut out {
        g.per_second = g.new.zip(secs).map(|(n, s)| n as f64 / s);
        let mut clients: Vec<Owner> = g.client_inodes.iter().flat_map(|&i| who(i)).collect();
        clients.sort_by_key(|o| o.pid);
        clients.dedup_by_key(|o| o.pid);
        let mut listeners: Vec<Owner> = g.listener_inodes.iter().flat_map(|&i| who(i)).collect();
        listeners.sort_by_key(|o| o.pid);
        listeners.dedup_by_key(|o| o.pid);
        if !clients.is_empty() && !listeners.is_empty() {
            g.same_process = Some(
                clients
                    .iter()
                    .any(|c| listeners.iter().any(|l| l.pid == c.pid)),
            );
        }
        g.client_owners = clients;
        g.listener_owners = listeners;
    }
    out.sort_by(|a, b| {
        b.per_second
            .unwrap_or(0.0)
            .partial_cmp(&a.per_second.unwrap_or(0.0))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.now.cmp(&a.now))
    });
    out
}

fn time_wait(s: &SocketSample) -> TimeWaitView {
    let mut by_peer = Vec::new();
    let mut by_listener = Vec::new();
    for (k, &count) in &s.time_wait_by {
        match *k {
            TimeWaitKey::Peer(peer) => by_peer.push(PeerCount { peer, count }),
            TimeWaitKey::Listener(listener) => by_listener.push(ListenerCount { listener, count }),
        }
    }
    by_peer.sort_by(|a, b| b.count.cmp(&a.count).then(a.peer.cmp(&b.peer)));
    by_peer.truncate(TOP);
    by_listener.sort_by(|a, b| b.count.cmp(&a.count).then(a.listener.cmp(&b.listener)));
    by_listener.truncate(TOP);
    TimeWaitView {
        total: s.by_state[usize::from(sockets::TCP_TIME_WAIT)],
        by_peer,
        by_listener,
    }
}

/// State names as `ss` prints them.
pub fn state_name(state: u8) -> &'static str {
    match state {
        sockets::TCP_ESTABLISHED => "ESTAB",
        sockets::TCP_SYN_SENT => "SYN-SENT",
        sockets::TCP_SYN_RECV | sockets::TCP_NEW_SYN_RECV => "SYN-RECV",
        sockets::TCP_FIN_WAIT1 => "FIN-WAIT-1",
        sockets::TCP_FIN_WAIT2 => "FIN-WAIT-2",
        sockets::TCP_TIME_WAIT => "TIME-WAIT",
        sockets::TCP_CLOSE => "UNCONN",
        sockets::TCP_CLOSE_WAIT => "CLOSE-WAIT",
        sockets::TCP_LAST_ACK => "LAST-ACK",
        sockets::TCP_LISTEN => "LISTEN",
        sockets::TCP_CLOSING => "CLOSING",
        _ => "UNKNOWN",
    }
}
