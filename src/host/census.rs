//! One sample of a network namespace's TCP state, for `observe`: the evidence counters
//! and a census of its sockets. The census streams the kernel's dump and keeps only
//! what a diagnosis can use (listeners, CLOSE_WAIT, sockets with queued bytes, the
//! client ends of connections to this namespace's own listeners, TIME_WAIT per peer),
//! so 100k sockets cost a count each, not a copy each.
//!
//! Three dumps, each filtered by state in the kernel: listeners with skmeminfo (their
//! drops), CLOSE_WAIT with tcp_info (how long since the peer was heard), and every other
//! state with the bare header.

use super::counters::Counters;
use super::sockets::{self, TcpInfo, TcpSocket};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Instant;

/// A map as a list of pairs in JSON (a capture's manifest): its keys are not strings.
mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::HashMap;
    use std::hash::Hash;

    pub fn serialize<K: Serialize + Ord, V: Serialize, S: Serializer>(
        m: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut v: Vec<(&K, &V)> = m.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.serialize(s)
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// What one look at the namespace gave.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub counters: Counters,
    /// None for a captured proc tree (it holds no sockets); Err when sock_diag failed.
    pub sockets: Option<Result<SocketSample, String>>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SocketSample {
    /// Every TCP socket of both families, listeners included.
    pub total: u64,
    /// Sockets by TCP state number (the index), both families.
    pub by_state: [u64; 16],
    pub listeners: Vec<Listener>,
    pub close_wait: Vec<CloseWait>,
    /// Connected sockets (not listeners) with bytes in Recv-Q or Send-Q, with their
    /// tcp_info (asked for these alone, at most QUEUED_INFO_MAX of them).
    pub queued: Vec<Queued>,
    /// Either end of connections from this namespace to one of its own listeners.
    pub to_self: Vec<SelfConn>,
    /// TIME_WAIT sockets by what they were connected to: the remote address for the
    /// connecting side, the local listener for the accepting side.
    #[serde(with = "pairs")]
    pub time_wait_by: HashMap<TimeWaitKey, u32>,
    /// Request sockets (SYN received, handshake not completed) by local address.
    #[serde(with = "pairs")]
    pub syn_recv_by_local: HashMap<SocketAddr, u32>,
}

/// How TIME_WAIT sockets are grouped: a server's TIME_WAIT are to clients on ephemeral
/// ports, which say nothing one by one; they belong to the listener they came through.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum TimeWaitKey {
    /// This side connected: the remote address it dialled.
    Peer(SocketAddr),
    /// This side accepted: the local address of our listener.
    Listener(SocketAddr),
}

/// A socket with queued bytes and, when the kernel gave it, its tcp_info (byte counters
/// that tell progress from a stall).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Queued {
    pub socket: TcpSocket,
    pub info: Option<TcpInfo>,
}

/// How many queued sockets get their tcp_info asked for, one request each (about 10 us).
pub const QUEUED_INFO_MAX: usize = 4096;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Listener {
    pub socket: TcpSocket,
    /// Listen drops of this socket (SK_MEMINFO_DROPS), when the kernel gives them.
    pub drops: Option<u32>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CloseWait {
    pub socket: TcpSocket,
    pub info: Option<TcpInfo>,
}

/// One end of a connection from this namespace to its own listener.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelfConn {
    pub cookie: u64,
    /// 0 for TIME_WAIT (no file, no owner) and for accepted ends not yet accepted.
    pub inode: u64,
    pub state: u8,
    /// The listener's address as the client dialled it.
    pub target: SocketAddr,
    /// The connecting end's address: with `target`, names the connection whichever
    /// end is seen.
    pub client: SocketAddr,
    /// This is the accepting end (local = target), not the connecting one.
    pub accepted: bool,
}

/// Reads the counters under `proc_root` and, when `states` is Some (a mask of 1 << TCP
/// state), the census of those states in the current network namespace.
pub fn sample(proc_root: &Path, states: Option<u32>) -> Sample {
    let counters = Counters::read(proc_root);
    let sockets =
        states.map(|m| census(m).map_err(|e| format!("reading sockets through sock_diag: {e}")));
    Sample {
        at: Instant::now(),
        counters,
        sockets,
    }
}

/// The socket census of the current network namespace, of the states in `mask`
/// (sockets::TCP_ALL_STATES for all). A dump is skipped when none of its states is asked.
pub fn census(mask: u32) -> std::io::Result<SocketSample> {
    let has = |state: u8| mask & (1 << state) != 0;
    let mut out = SocketSample::default();
    if has(sockets::TCP_LISTEN) {
        sockets::visit_tcp(
            1 << sockets::TCP_LISTEN,
            sockets::EXT_SKMEMINFO,
            |socket, x| {
                out.listeners.push(Listener {
                    socket,
                    drops: x.drops,
                })
            },
        )?;
    }
    let own = OwnListeners::new(&out.listeners);
    let mut close_wait = Vec::new();
    if has(sockets::TCP_CLOSE_WAIT) {
        sockets::visit_tcp(
            1 << sockets::TCP_CLOSE_WAIT,
            sockets::EXT_INFO,
            |socket, x| {
                close_wait.push(CloseWait {
                    socket,
                    info: x.info,
                })
            },
        )?;
    }
    for c in &close_wait {
        out.count(&c.socket, &own);
        if unread_bytes(&c.socket) > 0 || unsent_bytes(&c.socket) > 0 {
            out.queued.push(Queued {
                socket: c.socket.clone(),
                info: c.info,
            });
        }
    }
    out.close_wait = close_wait;
    let rest = mask & !(1 << sockets::TCP_LISTEN) & !(1 << sockets::TCP_CLOSE_WAIT);
    if rest == 0 {
        return Ok(out.with_listeners_counted());
    }
    sockets::visit_tcp(rest, 0, |s, _| {
        out.count(&s, &own);
        if s.state == sockets::TCP_TIME_WAIT {
            let key = if own.dialled(s.local) {
                TimeWaitKey::Listener(plain(s.local))
            } else {
                TimeWaitKey::Peer(plain(s.remote))
            };
            *out.time_wait_by.entry(key).or_default() += 1;
        } else if s.state == sockets::TCP_SYN_RECV {
            *out.syn_recv_by_local.entry(plain(s.local)).or_default() += 1;
        } else if unread_bytes(&s) > 0 || unsent_bytes(&s) > 0 {
            out.queued.push(Queued {
                socket: s,
                info: None,
            });
        }
    })?;
    out.ask_info();
    Ok(out.with_listeners_counted())
}

impl SocketSample {
    fn with_listeners_counted(mut self) -> Self {
        self.total += self.listeners.len() as u64;
        self.by_state[usize::from(sockets::TCP_LISTEN)] += self.listeners.len() as u64;
        self
    }

    /// Counts a non-listening socket and notes it when it dials one of our listeners.
    fn count(&mut self, s: &TcpSocket, own: &OwnListeners) {
        self.total += 1;
        self.by_state[usize::from(s.state) & 15] += 1;
        if s.state != sockets::TCP_SYN_RECV && own.dialled(s.remote) {
            self.to_self.push(SelfConn {
                cookie: s.cookie,
                inode: s.inode,
                state: s.state,
                target: s.remote,
                client: s.local,
                accepted: false,
            });
        }
        if s.state != sockets::TCP_SYN_RECV
            && s.state != sockets::TCP_LISTEN
            && own.dialled(s.local)
            && own.is_local(s.remote.ip())
        {
            self.to_self.push(SelfConn {
                cookie: s.cookie,
                inode: s.inode,
                state: s.state,
                target: s.local,
                client: s.remote,
                accepted: true,
            });
        }
    }

    /// tcp_info for the queued sockets that have none yet (a failed query leaves None:
    /// the stall test then has less to go on, and says less).
    fn ask_info(&mut self) {
        let want: Vec<usize> = (0..self.queued.len())
            .filter(|&i| self.queued[i].info.is_none())
            .take(QUEUED_INFO_MAX)
            .collect();
        let refs: Vec<&TcpSocket> = want.iter().map(|&i| &self.queued[i].socket).collect();
        if let Ok(infos) = sockets::tcp_info_of(&refs) {
            for (i, info) in want.into_iter().zip(infos) {
                self.queued[i].info = info;
            }
        }
    }
}

/// Data bytes the application has not read. Recv-Q is rcv_nxt - copied_seq, and the
/// peer's FIN takes one sequence number that only reading the end of file consumes: a
/// CLOSE_WAIT socket shows Recv-Q 1 with no data at all until the application reads
/// EOF (and 0 after, if it still does not close).
pub fn unread_bytes(s: &TcpSocket) -> u32 {
    if eof_unread(s) {
        s.recv_q - 1
    } else {
        s.recv_q
    }
}

/// Data bytes not yet acknowledged by the peer. Send-Q is write_seq - snd_una, and a SYN
/// or FIN in flight takes one sequence number: a SYN-SENT socket shows Send-Q 1, as does
/// a closed socket whose FIN is unacknowledged.
pub fn unsent_bytes(s: &TcpSocket) -> u32 {
    match s.state {
        sockets::TCP_SYN_SENT | sockets::TCP_SYN_RECV | sockets::TCP_NEW_SYN_RECV => 0,
        sockets::TCP_FIN_WAIT1 | sockets::TCP_CLOSING | sockets::TCP_LAST_ACK => {
            s.send_q.saturating_sub(1)
        }
        _ => s.send_q,
    }
}

/// The peer's FIN arrived and the application has not even read the end of file.
pub fn eof_unread(s: &TcpSocket) -> bool {
    matches!(
        s.state,
        sockets::TCP_CLOSE_WAIT | sockets::TCP_LAST_ACK | sockets::TCP_CLOSING
    ) && s.recv_q > 0
}

/// This namespace's listeners and addresses: is a remote address one of our own
/// listening sockets?
struct OwnListeners {
    exact: HashSet<SocketAddr>,
    wildcard_ports: HashSet<u16>,
    ports: HashSet<u16>,
    local_ips: HashSet<IpAddr>,
}

impl OwnListeners {
    fn new(listeners: &[Listener]) -> Self {
        let mut o = OwnListeners {
            exact: HashSet::new(),
            wildcard_ports: HashSet::new(),
            ports: HashSet::new(),
            local_ips: local_addresses(),
        };
        for l in listeners {
            let a = plain(l.socket.local);
            o.ports.insert(a.port());
            if a.ip().is_unspecified() {
                o.wildcard_ports.insert(a.port());
            } else {
                o.exact.insert(a);
            }
        }
        o
    }

    /// Whether `addr` is one of our listeners (as a client dials it, or as the
    /// accepted end's local address shows it).
    fn dialled(&self, addr: SocketAddr) -> bool {
        if !self.ports.contains(&addr.port()) {
            return false;
        }
        let r = plain(addr);
        self.exact.contains(&r)
            || (self.wildcard_ports.contains(&r.port()) && is_local(&self.local_ips, r.ip()))
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        is_local(&self.local_ips, plain(SocketAddr::new(ip, 0)).ip())
    }
}

/// v4-mapped IPv6 addresses as IPv4, without scope: the form addresses are compared in.
pub fn plain(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), a.port()),
            None => SocketAddr::new((*v6.ip()).into(), a.port()),
        },
        a => a,
    }
}

fn is_local(ips: &HashSet<IpAddr>, ip: IpAddr) -> bool {
    ip.is_loopback() || ips.contains(&ip)
}

/// The addresses of this network namespace's interfaces (getifaddrs).
pub fn local_addresses() -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; each node's ifa_addr is
    // either null or points at a sockaddr of the family it names.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut p = head;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() {
                match i32::from((*a).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(a as *const libc::sockaddr_in);
                        out.insert(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(a as *const libc::sockaddr_in6);
                        out.insert(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}
