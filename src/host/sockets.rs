//! Sockets of the current network namespace, as NETLINK_SOCK_DIAG reports them (the
//! interface `ss` uses). Read-only. Netlink rather than /proc/net/tcp because only
//! sock_diag says a listener's backlog (`send_q`), lets the kernel do the state filtering,
//! and stays fast at 100k sockets.
//!
//! Layouts are written out by byte offset from the uapi headers (linux/netlink.h,
//! linux/sock_diag.h, linux/inet_diag.h, linux/unix_diag.h), so a short or garbled reply
//! is an error, never an out-of-bounds read.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// TCP states, numbered as in include/net/tcp_states.h; `ss` knows all of these.
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_SYN_SENT: u8 = 2;
pub const TCP_SYN_RECV: u8 = 3;
pub const TCP_FIN_WAIT1: u8 = 4;
pub const TCP_FIN_WAIT2: u8 = 5;
pub const TCP_TIME_WAIT: u8 = 6;
pub const TCP_CLOSE: u8 = 7;
pub const TCP_CLOSE_WAIT: u8 = 8;
pub const TCP_LAST_ACK: u8 = 9;
pub const TCP_LISTEN: u8 = 10;
pub const TCP_CLOSING: u8 = 11;
/// Request sockets (a SYN answered, the final ACK not yet seen). The kernel adds this bit
/// itself whenever TCP_SYN_RECV is asked for, and reports them as TCP_SYN_RECV.
pub const TCP_NEW_SYN_RECV: u8 = 12;
/// Every state above, for a census. TCP_BOUND_INACTIVE (13, kernels since 6.6: bound,
/// neither listening nor connected) is left out: such sockets hold no queue.
pub const TCP_ALL_STATES: u32 = ((1 << 13) - 1) & !1;

/// A state by the name `ss` filters take (`ss -tan state close-wait`).
pub fn state_by_name(name: &str) -> Option<u8> {
    Some(match name {
        "established" => TCP_ESTABLISHED,
        "syn-sent" => TCP_SYN_SENT,
        "syn-recv" => TCP_SYN_RECV,
        "fin-wait-1" => TCP_FIN_WAIT1,
        "fin-wait-2" => TCP_FIN_WAIT2,
        "time-wait" => TCP_TIME_WAIT,
        "close-wait" => TCP_CLOSE_WAIT,
        "last-ack" => TCP_LAST_ACK,
        "listening" | "listen" => TCP_LISTEN,
        "closing" => TCP_CLOSING,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Family {
    V4,
    /// Also a dual-stack `[::]` socket (ipv6only=0): the kernel reports it once, as
    /// AF_INET6, with IPv4 peers as v4-mapped addresses.
    V6,
}

/// One TCP socket as the kernel describes it in `struct inet_diag_msg`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TcpSocket {
    pub family: Family,
    /// TCP_* state number as the kernel gives it (TIME_WAIT sockets may show their
    /// FIN_WAIT2 substate, request sockets show TCP_SYN_RECV).
    pub state: u8,
    /// IPv6 addresses stay Ipv6Addr, v4-mapped included, so the family is never lost.
    /// Link-local addresses carry the interface index as scope id.
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// idiag_rqueue: for a listener the current accept queue (it can reach backlog + 1:
    /// the kernel declares the queue full only when it exceeds the backlog); otherwise
    /// unread bytes.
    pub recv_q: u32,
    /// idiag_wqueue: for a listener its effective backlog (sk_max_ack_backlog, already
    /// clamped to net.core.somaxconn); otherwise unacknowledged bytes.
    pub send_q: u32,
    pub uid: u32,
    /// The socket inode, the key to find owners in /proc/*/fd (0 for TIME_WAIT).
    pub inode: u64,
    /// idiag_timer: 0 none, 1 retransmit (or loss probe), 2 keepalive, 3 TIME_WAIT,
    /// 4 zero-window probe (the peer advertises no room: it is not reading). The kernel
    /// shows one timer: a pending retransmit hides an armed keepalive.
    pub timer: u8,
    /// Retransmits for timer 1; unanswered probes for timers 2 and 4.
    pub retrans: u8,
    pub expires_ms: u32,
    /// The kernel's socket cookie: unique for the socket's life, also for TIME_WAIT and
    /// request sockets that have no inode, so the same socket is recognised across samples.
    pub cookie: u64,
}

/// Timer numbers of `TcpSocket::timer` (net/ipv4/inet_diag.c, inet_sk_diag_fill).
pub const TIMER_KEEPALIVE: u8 = 2;
pub const TIMER_ZERO_WINDOW_PROBE: u8 = 4;

/// Extensions a dump may ask for, per socket (`idiag_ext`: bit 1 << (attribute - 1)).
/// Each costs the kernel a few hundred bytes per socket, so ask only in small dumps.
pub const EXT_INFO: u8 = 1 << (INET_DIAG_INFO - 1);
pub const EXT_SKMEMINFO: u8 = 1 << (INET_DIAG_SKMEMINFO - 1);

/// What the requested extensions said about one socket. TIME_WAIT and request sockets
/// carry none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    pub info: Option<TcpInfo>,
    /// SK_MEMINFO_DROPS: packets the socket dropped. For a listener these are its listen
    /// drops (tcp_listendrop increments sk_drops with ListenDrops), so the namespace-wide
    /// ListenOverflows can be attributed per port. None on kernels whose skmeminfo is
    /// shorter.
    pub drops: Option<u32>,
}

/// The fields of `struct tcp_info` observe uses (include/uapi/linux/tcp.h). Fields a
/// kernel's shorter struct lacks are None.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TcpInfo {
    /// Milliseconds since the peer's last ACK arrived (any segment, the FIN included).
    pub last_ack_recv_ms: u32,
    /// Unanswered keepalive or zero-window probes (icsk_probes_out).
    pub probes: u8,
    /// Bytes the peer acknowledged over the connection's life (since 4.1): a sender
    /// whose count moves between two samples is making progress.
    pub bytes_acked: Option<u64>,
    /// Data bytes received in order over the connection's life (since 4.1).
    pub bytes_received: Option<u64>,
    /// The peer's advertised receive window in bytes (since 5.4): 0 means it has no room.
    pub snd_wnd: Option<u32>,
}

impl TcpInfo {
    /// Offsets in struct tcp_info (include/uapi/linux/tcp.h).
    fn parse(v: &[u8]) -> TcpInfo {
        let u64_at = |at: usize| {
            (v.len() >= at + 8)
                .then(|| u64::from_ne_bytes(v[at..at + 8].try_into().expect("8-byte slice")))
        };
        TcpInfo {
            last_ack_recv_ms: u32_at(v, 56),
            probes: v[3],
            bytes_acked: u64_at(120),
            bytes_received: u64_at(128),
            snd_wnd: (v.len() >= 232).then(|| u32_at(v, 228)),
        }
    }
}

/// Dump TCP sockets of both families whose state bit is in `states` (bitmask 1<<state).
/// The kernel applies the mask, so asking for few states stays cheap on a busy host.
pub fn tcp_sockets(states: u32) -> io::Result<Vec<TcpSocket>> {
    let mut out = Vec::new();
    visit_tcp(states, 0, |s, _| out.push(s))?;
    Ok(out)
}

/// Streams the dump to `each` without keeping it: a census of 100k sockets holds no
/// list. `ext` is a mask of EXT_* bits.
pub fn visit_tcp(states: u32, ext: u8, mut each: impl FnMut(TcpSocket, Extras)) -> io::Result<()> {
    let mut diag = Diag::open()?;
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        // An all-zero inet_diag_sockid, which a dump does not look at.
        let req = inet_diag_req(family, ext, states);
        diag.dump(&req, |payload| {
            let s = parse_inet_diag_msg(payload)?;
            let extras = if ext == 0 {
                Extras::default()
            } else {
                parse_extras(&payload[INET_DIAG_MSG_LEN..])?
            };
            each(s, extras);
            Ok(())
        })?;
    }
    Ok(())
}

/// struct inet_diag_req_v2: family, protocol, ext, pad, states (u32), then an
/// inet_diag_sockid (48 bytes) left zero.
fn inet_diag_req(family: u8, ext: u8, states: u32) -> [u8; INET_DIAG_REQ_V2_LEN] {
    let mut req = [0u8; INET_DIAG_REQ_V2_LEN];
    req[0] = family;
    req[1] = libc::IPPROTO_TCP as u8;
    req[2] = ext;
    req[4..8].copy_from_slice(&states.to_ne_bytes());
    req
}

/// Asks the kernel for the tcp_info of a few sockets already seen in a dump, one exact
/// request each (by addresses and cookie): cheaper than asking a 100k-socket dump for
/// tcp_info when only the handful with queued bytes matter. A socket that closed
/// meanwhile (ENOENT) or whose addresses now name another socket (ESTALE: the cookie
/// differs) gives None.
pub fn tcp_info_of(sockets: &[&TcpSocket]) -> io::Result<Vec<Option<TcpInfo>>> {
    let mut diag = Diag::open()?;
    let mut out = Vec::with_capacity(sockets.len());
    for s in sockets {
        let family = match s.family {
            Family::V4 => libc::AF_INET as u8,
            Family::V6 => libc::AF_INET6 as u8,
        };
        let mut req = inet_diag_req(family, EXT_INFO, u32::MAX);
        // inet_diag_sockid at 8: sport, dport (big-endian), src[16], dst[16], if, cookie[2].
        req[8..10].copy_from_slice(&s.local.port().to_be_bytes());
        req[10..12].copy_from_slice(&s.remote.port().to_be_bytes());
        for (at, a) in [(12, s.local), (28, s.remote)] {
            match a {
                SocketAddr::V4(v4) => req[at..at + 4].copy_from_slice(&v4.ip().octets()),
                SocketAddr::V6(v6) => req[at..at + 16].copy_from_slice(&v6.ip().octets()),
            }
        }
        let ifindex = match s.local {
            SocketAddr::V6(v6) => v6.scope_id(),
            SocketAddr::V4(_) => 0,
        };
        req[44..48].copy_from_slice(&ifindex.to_ne_bytes());
        req[48..52].copy_from_slice(&(s.cookie as u32).to_ne_bytes());
        req[52..56].copy_from_slice(&((s.cookie >> 32) as u32).to_ne_bytes());
        let mut info = None;
        match diag.exact(&req, |payload| {
            let _ = parse_inet_diag_msg(payload)?;
            info = parse_extras(&payload[INET_DIAG_MSG_LEN..])?.info;
            Ok(())
        }) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESTALE)) => {}
            Err(e) => return Err(e),
        }
        out.push(info);
    }
    Ok(out)
}

/// The rtattrs after inet_diag_msg. Short attributes (older kernels) give None.
fn parse_extras(mut attrs: &[u8]) -> io::Result<Extras> {
    let mut out = Extras::default();
    while !attrs.is_empty() {
        let len = if attrs.len() >= 4 {
            u16::from_ne_bytes([attrs[0], attrs[1]]) as usize
        } else {
            0
        };
        if len < 4 || len > attrs.len() {
            return Err(garbled("inet_diag attribute overruns its message"));
        }
        let value = &attrs[4..len];
        match u16::from_ne_bytes([attrs[2], attrs[3]]) {
            INET_DIAG_INFO if value.len() >= 60 => out.info = Some(TcpInfo::parse(value)),
            INET_DIAG_SKMEMINFO if value.len() >= 4 * (SK_MEMINFO_DROPS + 1) => {
                out.drops = Some(u32_at(value, 4 * SK_MEMINFO_DROPS))
            }
            _ => {}
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    Ok(out)
}

/// The listen backlog audit's question: every listener with its effective backlog
/// (`send_q`) and how full its accept queue is right now (`recv_q`).
pub fn tcp_listeners() -> io::Result<Vec<TcpSocket>> {
    tcp_sockets(1 << TCP_LISTEN)
}

/// A listening AF_UNIX stream socket: php-fpm, gunicorn and nginx upstreams queue on
/// these just as on TCP listeners.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnixListener {
    /// The bound path; abstract names as "@name" (every NUL shown as '@', as ss does).
    pub path: String,
    pub recv_q: u32,
    pub send_q: u32,
    pub inode: u64,
}

/// AF_UNIX stream listeners via unix_diag (UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN; for a
/// listener rqueue = accept queue, wqueue = max backlog), state filter 1<<TCP_LISTEN,
/// type SOCK_STREAM. The kernel filters by state only, so SOCK_SEQPACKET listeners are
/// dropped here.
pub fn unix_listeners() -> io::Result<Vec<UnixListener>> {
    let mut diag = Diag::open()?;
    // struct unix_diag_req: family, protocol, pad (u16), states, ino, show, cookie[2].
    let mut req = [0u8; 24];
    req[0] = libc::AF_UNIX as u8;
    req[4..8].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    req[12..16].copy_from_slice(&(UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN).to_ne_bytes());
    let mut out = Vec::new();
    diag.dump(&req, |payload| {
        if let Some(l) = parse_unix_diag_msg(payload)? {
            out.push(l);
        }
        Ok(())
    })?;
    Ok(out)
}

pub use super::owners::{owners, Owner, Owners};

// linux/netlink.h, linux/sock_diag.h, linux/unix_diag.h
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP: u16 = 0x100 | 0x200; // NLM_F_ROOT | NLM_F_MATCH
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_REQ_V2_LEN: usize = 8 + 48;
const INET_DIAG_MSG_LEN: usize = 72;
const UNIX_DIAG_MSG_LEN: usize = 16;
// linux/inet_diag.h attribute types; linux/sock_diag.h SK_MEMINFO_* indices.
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_SKMEMINFO: u16 = 7;
const SK_MEMINFO_DROPS: usize = 8;
const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_RQLEN: u16 = 4;
/// The kernel never builds a dump datagram larger than 32 KiB (netlink_recvmsg caps
/// max_recvmsg_len there), and sizes the next one after the buffer we offer, so this
/// is both enough and the fastest size.
const RECV_BUF: usize = 32 * 1024;

/// One NETLINK_SOCK_DIAG socket and its receive buffer, reused across dumps.
struct Diag {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
}

impl Diag {
    fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            // SAFETY: fd is a fresh descriptor that nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            buf: vec![0; RECV_BUF],
            seq: 0,
        })
    }

    /// Sends one SOCK_DIAG_BY_FAMILY dump request (`req` is what follows the nlmsghdr)
    /// and gives each reply's payload to `each`, until NLMSG_DONE.
    fn dump(&mut self, req: &[u8], each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        self.request(req, NLM_F_REQUEST | NLM_F_DUMP, each)
    }

    /// Sends a request for one socket: the kernel answers with one datagram, the
    /// socket's message or an error.
    fn exact(&mut self, req: &[u8], each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        self.request(req, NLM_F_REQUEST, each)
    }

    fn request(
        &mut self,
        req: &[u8],
        flags: u16,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let len = NLMSG_HDRLEN + req.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it
        msg.extend_from_slice(req);
        // SAFETY: sockaddr_nl is plain data; all-zero is the kernel's address (pid 0).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: msg and kernel outlive the call; lengths are theirs.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // MSG_TRUNC makes recv return the real length, so truncation is detected.
            // SAFETY: buf is valid for buf.len() bytes for the duration of the call.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(garbled(&format!(
                    "a {n}-byte datagram does not fit the {}-byte buffer",
                    self.buf.len()
                )));
            }
            if n == 0 {
                return Err(garbled("empty datagram before NLMSG_DONE"));
            }
            let done = walk(&self.buf[..n], self.seq, &mut each)?;
            if done || flags & NLM_F_DUMP == 0 {
                return Ok(());
            }
        }
    }
}

/// Walks the netlink messages of one datagram; true once NLMSG_DONE is seen. Messages
/// of another sequence number (left from an earlier request) are skipped.
fn walk(
    mut buf: &[u8],
    seq: u32,
    each: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<bool> {
    while !buf.is_empty() {
        if buf.len() < NLMSG_HDRLEN {
            return Err(garbled("datagram ends inside an nlmsghdr"));
        }
        let len = u32_at(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(garbled(&format!(
                "nlmsg_len {len} outside 16..={}",
                buf.len()
            )));
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let msg_seq = u32_at(buf, 8);
        let payload = &buf[NLMSG_HDRLEN..len];
        buf = &buf[align4(len).min(buf.len())..];
        if msg_seq != seq {
            continue;
        }
        match kind {
            // Both carry an int: a negative errno (NLMSG_ERROR with 0 is a mere ACK;
            // NLMSG_DONE with a negative value is a dump that failed midway).
            NLMSG_ERROR | NLMSG_DONE => {
                let err = if payload.len() >= 4 {
                    u32_at(payload, 0) as i32
                } else if kind == NLMSG_DONE {
                    0
                } else {
                    return Err(garbled("NLMSG_ERROR without an error code"));
                };
                if err < 0 {
                    return Err(io::Error::from_raw_os_error(-err));
                }
                if kind == NLMSG_DONE {
                    return Ok(true);
                }
            }
            SOCK_DIAG_BY_FAMILY => each(payload)?,
            _ => {}
        }
    }
    Ok(false)
}

/// Parses `struct inet_diag_msg` (72 bytes; any attributes after it are ignored).
fn parse_inet_diag_msg(p: &[u8]) -> io::Result<TcpSocket> {
    if p.len() < INET_DIAG_MSG_LEN {
        return Err(garbled(&format!(
            "inet_diag_msg of {} bytes, expected {INET_DIAG_MSG_LEN}",
            p.len()
        )));
    }
    let family = match p[0] as i32 {
        libc::AF_INET => Family::V4,
        libc::AF_INET6 => Family::V6,
        f => return Err(garbled(&format!("inet_diag_msg of address family {f}"))),
    };
    // inet_diag_sockid at 4: sport, dport (big-endian), src[16], dst[16], if (40),
    // cookie[2] (44, low word first).
    let ifindex = u32_at(p, 40);
    let addr = |at: usize, port_at: usize| {
        let port = u16::from_be_bytes([p[port_at], p[port_at + 1]]);
        let raw: [u8; 16] = p[at..at + 16].try_into().expect("16-byte slice");
        match family {
            Family::V4 => {
                SocketAddr::new(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).into(), port)
            }
            Family::V6 => {
                let ip = Ipv6Addr::from(raw);
                let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
                let scope = if link_local { ifindex } else { 0 };
                SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))
            }
        }
    };
    Ok(TcpSocket {
        family,
        state: p[1],
        timer: p[2],
        retrans: p[3],
        local: addr(8, 4),
        remote: addr(24, 6),
        expires_ms: u32_at(p, 52),
        recv_q: u32_at(p, 56),
        send_q: u32_at(p, 60),
        uid: u32_at(p, 64),
        inode: u64::from(u32_at(p, 68)),
        cookie: u64::from(u32_at(p, 44)) | (u64::from(u32_at(p, 48)) << 32),
    })
}

/// Parses `struct unix_diag_msg` (family, type, state, pad, ino, cookie[2]) and its
/// attributes; None for a socket that is not a stream listener.
fn parse_unix_diag_msg(p: &[u8]) -> io::Result<Option<UnixListener>> {
    if p.len() < UNIX_DIAG_MSG_LEN {
        return Err(garbled(&format!("unix_diag_msg of {} bytes", p.len())));
    }
    let (kind, state, inode) = (p[1] as i32, p[2], u64::from(u32_at(p, 4)));
    let mut path = String::new();
    let mut rqlen = None;
    // struct rtattr { u16 len; u16 type; } then the value, each padded to 4 bytes.
    let mut attrs = &p[UNIX_DIAG_MSG_LEN..];
    while !attrs.is_empty() {
        let len = if attrs.len() >= 4 {
            u16::from_ne_bytes([attrs[0], attrs[1]]) as usize
        } else {
            0
        };
        if len < 4 || len > attrs.len() {
            return Err(garbled("unix_diag attribute overruns its message"));
        }
        let value = &attrs[4..len];
        match u16::from_ne_bytes([attrs[2], attrs[3]]) {
            UNIX_DIAG_NAME => path = unix_name(value),
            UNIX_DIAG_RQLEN if value.len() >= 8 => {
                rqlen = Some((u32_at(value, 0), u32_at(value, 4)))
            }
            UNIX_DIAG_RQLEN => return Err(garbled("short UNIX_DIAG_RQLEN")),
            _ => {}
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    if kind != libc::SOCK_STREAM || state != TCP_LISTEN {
        return Ok(None);
    }
    let (recv_q, send_q) =
        rqlen.ok_or_else(|| garbled("unix_diag reply without UNIX_DIAG_RQLEN"))?;
    Ok(Some(UnixListener {
        path,
        recv_q,
        send_q,
        inode,
    }))
}

/// sun_path as the kernel stored it: a filesystem path may carry its trailing NUL; an
/// abstract name starts with NUL and may hold more, shown as '@' like `ss` does.
fn unix_name(raw: &[u8]) -> String {
    let shown: Vec<u8> = match raw.first() {
        Some(0) => raw.iter().map(|&b| if b == 0 { b'@' } else { b }).collect(),
        _ => raw.iter().take_while(|&&b| b != 0).copied().collect(),
    };
    String::from_utf8_lossy(&shown).into_owned()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4-byte slice"))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn garbled(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, TcpListener, TcpStream};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A listener made with libc so the backlog is ours, not std's 128.
    fn tcp_listen(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        // SAFETY: plain syscalls on a descriptor we own; sockaddr structs are plain data.
        unsafe {
            let fd = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let rc = match addr {
                SocketAddr::V4(a) => {
                    let mut sin: libc::sockaddr_in = std::mem::zeroed();
                    sin.sin_family = libc::AF_INET as libc::sa_family_t;
                    sin.sin_port = a.port().to_be();
                    sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                    let len = std::mem::size_of_val(&sin) as libc::socklen_t;
                    libc::bind(
                        fd.as_raw_fd(),
                        (&sin as *const libc::sockaddr_in).cast(),
                        len,
                    )
                }
                SocketAddr::V6(a) => {
                    let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
                    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sin6.sin6_port = a.port().to_be();
                    sin6.sin6_addr.s6_addr = a.ip().octets();
                    let len = std::mem::size_of_val(&sin6) as libc::socklen_t;
                    libc::bind(
                        fd.as_raw_fd(),
                        (&sin6 as *const libc::sockaddr_in6).cast(),
                        len,
                    )
                }
            };
            if rc != 0 || libc::listen(fd.as_raw_fd(), backlog) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(TcpListener::from(fd))
        }
    }

    /// A unix listener of the given type on `name` (a leading NUL makes it abstract).
    fn unix_listen(name: &[u8], kind: i32, backlog: i32) -> OwnedFd {
        // SAFETY: as above.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "{}", io::Error::last_os_error());
            let fd = OwnedFd::from_raw_fd(fd);
            let mut sun: libc::sockaddr_un = std::mem::zeroed();
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            assert!(name.len() < sun.sun_path.len());
            for (d, s) in sun.sun_path.iter_mut().zip(name) {
                *d = *s as libc::c_char;
            }
            let len = std::mem::size_of::<libc::sa_family_t>() + name.len();
            let rc = libc::bind(
                fd.as_raw_fd(),
                (&sun as *const libc::sockaddr_un).cast(),
                len as _,
            );
            assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
            assert_eq!(libc::listen(fd.as_raw_fd(), backlog), 0);
            fd
        }
    }

    fn inode_of(fd: &impl AsRawFd) -> u64 {
        std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .unwrap()
            .ino()
    }

    fn unique(tag: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        format!(
            "tuneguard-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Polls `get` until it gives Some, within about two seconds.
    fn eventually<T>(mut get: impl FnMut() -> Option<T>) -> Option<T> {
        for _ in 0..200 {
            if let Some(v) = get() {
                return Some(v);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn listener_at(addr: SocketAddr) -> Option<TcpSocket> {
        let found: Vec<_> = tcp_listeners()
            .unwrap()
            .into_iter()
            .filter(|s| s.local == addr)
            .collect();
        assert!(found.len() <= 1, "{found:?}");
        found.into_iter().next()
    }

    /// (Recv-Q, Send-Q) of the listener on `port`, as `ss -ltn` prints them.
    fn ss_queues(port: u16) -> Option<(u32, u32)> {
        let out = match std::process::Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
        {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            r => r.expect("running ss"),
        };
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let f: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(f.first(), Some(&"LISTEN"), "ss said: {text}");
        Some((f[1].parse().unwrap(), f[2].parse().unwrap()))
    }

    #[test]
    fn v4_listener_shows_backlog_accept_queue_and_agrees_with_ss() {
        let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 7).unwrap();
        let addr = l.local_addr().unwrap();
        let s = listener_at(addr).expect("listener in the dump");
        assert_eq!(
            (s.family, s.state, s.send_q, s.recv_q),
            (Family::V4, TCP_LISTEN, 7, 0)
        );
        assert_eq!(s.remote, "0.0.0.0:0".parse().unwrap());
        assert_eq!(s.inode, inode_of(&l));
        // SAFETY: geteuid has no preconditions.
        assert_eq!(s.uid, unsafe { libc::geteuid() });

        let _clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let s = eventually(|| listener_at(addr).filter(|s| s.recv_q == 3))
            .expect("accept queue of 3 never reported");
        assert_eq!(s.send_q, 7);
        if let Some(ss) = ss_queues(addr.port()) {
            assert_eq!(ss, (s.recv_q, s.send_q), "ss disagrees");
        } else {
            eprintln!("ss not installed: comparison skipped");
        }
    }

    #[test]
    fn v6_listener() {
        let l = match tcp_listen("[::1]:0".parse().unwrap(), 9) {
            Ok(l) => l,
            Err(e) => return eprintln!("no IPv6 loopback here ({e}): skipped"),
        };
        let s = listener_at(l.local_addr().unwrap()).expect("v6 listener in the dump");
        assert_eq!((s.family, s.send_q), (Family::V6, 9));
        assert_eq!(s.local.ip(), "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn listener_drops_and_tcp_info_come_with_the_extensions() {
        let l = tcp_listen("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let addr = l.local_addr().unwrap();
        // The queue holds backlog + 1 = 2; further SYNs are dropped, each a listen drop
        // on this socket (non-blocking connects: a dropped SYN would block).
        let clients: Vec<TcpStream> = (0..6).map(|_| connect_nonblocking(addr)).collect();
        let drops = eventually(|| {
            let mut found = None;
            visit_tcp(1 << TCP_LISTEN, EXT_SKMEMINFO, |s, x| {
                if s.local == addr {
                    found = x.drops;
                }
            })
            .unwrap();
            found.filter(|d| *d > 0)
        });
        assert!(
            drops.is_some(),
            "no listen drops attributed to the listener"
        );
        drop(clients);

        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l2.local_addr().unwrap()).unwrap();
        let (_srv, _) = l2.accept().unwrap();
        let mine = c.local_addr().unwrap();
        let mut got = None;
        visit_tcp(1 << TCP_ESTABLISHED, EXT_INFO, |s, x| {
            if s.local == mine {
                got = Some((s.cookie, x.info));
            }
        })
        .unwrap();
        let (cookie, info) = got.expect("client socket in the dump");
        assert_ne!(cookie, 0);
        let info = info.expect("tcp_info asked for and not given");
        assert!(info.last_ack_recv_ms < 60_000, "{info:?}");
        // The cookie names the same socket in the next dump.
        let again = tcp_sockets(1 << TCP_ESTABLISHED).unwrap();
        let me = again
            .iter()
            .find(|s| s.local == mine && s.cookie == cookie)
            .unwrap();
        // An exact query by addresses and cookie gives the byte counters: 1000 bytes
        // written and acknowledged on one end, received on the other.
        use std::io::{Read, Write};
        let mut c = c;
        let mut srv = _srv;
        c.write_all(&[7u8; 1000]).unwrap();
        let mut buf = [0u8; 1000];
        srv.read_exact(&mut buf).unwrap();
        let peer = again
            .iter()
            .find(|s| s.remote == mine && s.local == l2.local_addr().unwrap())
            .unwrap();
        let infos = eventually(|| {
            let i = tcp_info_of(&[me, peer]).unwrap();
            (i[0]?.bytes_acked? >= 1000).then_some(i)
        })
        .expect("bytes_acked never reached 1000");
        assert_eq!(infos[1].unwrap().bytes_received, Some(1000));
        assert!(infos[0].unwrap().snd_wnd.unwrap() > 0);
        // A cookie that does not match (the socket is gone) gives None, not an error.
        let mut gone = me.clone();
        gone.cookie ^= 1;
        assert_eq!(tcp_info_of(&[&gone]).unwrap(), vec![None]);
    }

    fn connect_nonblocking(addr: SocketAddr) -> TcpStream {
        let SocketAddr::V4(a) = addr else {
            panic!("v4 only")
        };
        // SAFETY: plain syscalls on a descriptor we own.
        unsafe {
            let fd = libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            );
            assert!(fd >= 0);
            let fd = OwnedFd::from_raw_fd(fd);
            let mut sin: libc::sockaddr_in = std::mem::zeroed();
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            libc::connect(
                fd.as_raw_fd(),
                (&sin as *const libc::sockaddr_in).cast(),
                std::mem::size_of_val(&sin) as libc::socklen_t,
            );
            TcpStream::from(fd)
        }
    }

    #[test]
    fn established_pair_is_filtered_by_state() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        let (c, s) = (client.local_addr().unwrap(), server.local_addr().unwrap());
        let est = tcp_sockets(1 << TCP_ESTABLISHED).unwrap();
        assert!(est.iter().all(|x| x.state == TCP_ESTABLISHED));
        assert!(est
            .iter()
            .any(|x| x.local == c && x.remote == s && x.inode == inode_of(&client)));
        assert!(est
            .iter()
            .any(|x| x.local == s && x.remote == c && x.inode == inode_of(&server)));
        let listeners = tcp_listeners().unwrap();
        assert!(listeners.iter().all(|x| x.state == TCP_LISTEN));
        assert!(!listeners.iter().any(|x| x.local == c || x.remote == c));
    }

    #[test]
    fn unix_listener_shows_path_backlog_and_accept_queue() {
        let path = std::env::temp_dir().join(unique("sock"));
        let fd = unix_listen(path.as_os_str().as_bytes(), libc::SOCK_STREAM, 5);
        let abstract_name = unique("abstract");
        let afd = unix_listen(
            format!("\0{abstract_name}").as_bytes(),
            libc::SOCK_STREAM,
            3,
        );
        let seq_path = std::env::temp_dir().join(unique("seqpacket"));
        let _seq = unix_listen(seq_path.as_os_str().as_bytes(), libc::SOCK_SEQPACKET, 4);
        let want = path.to_str().unwrap().to_string();

        let all = unix_listeners().unwrap();
        let l = all.iter().find(|l| l.path == want).expect("path listener");
        assert_eq!((l.send_q, l.recv_q, l.inode), (5, 0, inode_of(&fd)));
        let a = all
            .iter()
            .find(|l| l.path == format!("@{abstract_name}"))
            .expect("abstract");
        assert_eq!((a.send_q, a.inode), (3, inode_of(&afd)));
        assert!(
            !all.iter().any(|l| l.path == seq_path.to_str().unwrap()),
            "SEQPACKET listed"
        );

        let _c: Vec<_> = (0..2)
            .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
            .collect();
        let l = eventually(|| {
            unix_listeners()
                .unwrap()
                .into_iter()
                .find(|l| l.path == want && l.recv_q == 2)
        });
        assert_eq!(l.map(|l| l.send_q), Some(5));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&seq_path);
    }

    /// A hand-made reply: one inet_diag_msg for 127.0.0.1:8080 <- 10.0.0.2:40000 then DONE.
    fn sample_reply(seq: u32) -> Vec<u8> {
        let mut m = vec![0u8; INET_DIAG_MSG_LEN];
        m[..4].copy_from_slice(&[libc::AF_INET as u8, TCP_ESTABLISHED, 1, 2]);
        m[4..6].copy_from_slice(&8080u16.to_be_bytes());
        m[6..8].copy_from_slice(&40000u16.to_be_bytes());
        m[8..12].copy_from_slice(&[127, 0, 0, 1]);
        m[24..28].copy_from_slice(&[10, 0, 0, 2]);
        for (at, v) in [
            (44, 5u32),
            (48, 1),
            (52, 300),
            (56, 11),
            (60, 22),
            (64, 1000),
            (68, 4242),
        ] {
            m[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        let mut out = nlmsg(SOCK_DIAG_BY_FAMILY, seq, &m);
        out.extend(nlmsg(NLMSG_DONE, seq, &0i32.to_ne_bytes()));
        out
    }

    fn nlmsg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = ((NLMSG_HDRLEN + payload.len()) as u32)
            .to_ne_bytes()
            .to_vec();
        v.extend(kind.to_ne_bytes());
        v.extend(0u16.to_ne_bytes());
        v.extend(seq.to_ne_bytes());
        v.extend(0u32.to_ne_bytes());
        v.extend(payload);
        v
    }

    fn collect(buf: &[u8]) -> io::Result<(bool, Vec<TcpSocket>)> {
        let mut got = Vec::new();
        let done = walk(buf, 7, &mut |p: &[u8]| {
            got.push(parse_inet_diag_msg(p)?);
            Ok(())
        })?;
        Ok((done, got))
    }

    #[test]
    fn parser_reads_offsets_and_rejects_truncation() {
        let full = sample_reply(7);
        let (done, got) = collect(&full).unwrap();
        assert!(done);
        assert_eq!(
            got,
            vec![TcpSocket {
                family: Family::V4,
                state: TCP_ESTABLISHED,
                local: "127.0.0.1:8080".parse().unwrap(),
                remote: "10.0.0.2:40000".parse().unwrap(),
                recv_q: 11,
                send_q: 22,
                uid: 1000,
                inode: 4242,
                timer: 1,
                retrans: 2,
                expires_ms: 300,
                cookie: (1 << 32) | 5,
            }]
        );
        // Every cut inside the first message is an error, never a panic.
        for cut in 1..NLMSG_HDRLEN + INET_DIAG_MSG_LEN {
            assert!(collect(&full[..cut]).is_err(), "cut at {cut} accepted");
        }
        // nlmsg_len claiming too much or too little.
        for bad in [1_000u32, 8] {
            let mut b = full.clone();
            b[..4].copy_from_slice(&bad.to_ne_bytes());
            assert!(collect(&b).is_err());
        }
        // A message that fits its nlmsg_len but is too short for inet_diag_msg.
        assert!(collect(&nlmsg(SOCK_DIAG_BY_FAMILY, 7, &[2, 1, 0])).is_err());
        // Another request's messages are skipped; NLMSG_ERROR carries the errno.
        assert_eq!(collect(&sample_reply(6)).unwrap(), (false, vec![]));
        let err = collect(&nlmsg(NLMSG_ERROR, 7, &(-libc::EINVAL).to_ne_bytes())).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert!(collect(&nlmsg(NLMSG_ERROR, 7, &[0xff])).is_err());
        // Garbled unix_diag attributes.
        let mut u = vec![libc::AF_UNIX as u8, libc::SOCK_STREAM as u8, TCP_LISTEN, 0];
        u.extend([0; 12]);
        u.extend([40, 0, 0, 0]); // rtattr of 40 bytes in a 4-byte tail
        assert!(parse_unix_diag_msg(&u).is_err());
        assert!(parse_unix_diag_msg(&u[..10]).is_err());
        assert_eq!(unix_name(b"\0a\0b"), "@a@b");
        assert_eq!(unix_name(b"/run/x.sock\0"), "/run/x.sock");
    }
}
