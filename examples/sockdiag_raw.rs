//! The raw netlink baseline of `scripts/bench observe`: the least a program can do to
//! count every TCP socket of its network namespace through NETLINK_SOCK_DIAG, the
//! interface `ss` uses. One socket, one SOCK_DIAG_BY_FAMILY dump per family (AF_INET,
//! then AF_INET6), a 32 KiB receive buffer, and only the state byte of each
//! `struct inet_diag_msg` read. libc only, and on purpose none of tuneguard's own code
//! (src/host/sockets.rs): it is what that code is measured against.
//!
//! ```text
//! sockdiag_raw [--states MASK]     MASK: bit 1<<state, decimal or 0x hex;
//!                                  default 0x1ffe (every state, as TCP_ALL_STATES)
//! total 100001
//! ESTABLISHED 95000
//! LISTEN 1
//! ...                              (states with a count of 0 are not printed)
//! ```

use std::io::{self, Write};

/// include/net/tcp_states.h, index = state number.
const STATE_NAMES: [&str; 14] = [
    "?",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
    "BOUND_INACTIVE",
];
/// The mask src/host/sockets.rs calls TCP_ALL_STATES: states 1..=12.
const ALL_STATES: u32 = ((1 << 13) - 1) & !1;

// linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP: u16 = 0x300;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// struct inet_diag_req_v2: family, protocol, ext, pad, states, inet_diag_sockid (48).
const REQ_LEN: usize = 8 + 48;
/// The fixed struct inet_diag_msg; idiag_state is its second byte.
const MSG_LEN: usize = 72;

fn main() {
    if let Err(e) = run() {
        eprintln!("sockdiag_raw: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let states = parse_args()?;
    // SAFETY: plain socket(2); the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(format!(
            "socket(NETLINK_SOCK_DIAG): {}",
            io::Error::last_os_error()
        ));
    }
    let mut counts = [0u64; 256];
    let mut buf = vec![0u8; 32 * 1024];
    for (seq, family) in [(1u32, libc::AF_INET), (2, libc::AF_INET6)] {
        request(fd, seq, family as u8, states)?;
        read_dump(fd, seq, &mut buf, &mut counts)?;
    }
    let mut out = io::stdout().lock();
    let total: u64 = counts.iter().sum();
    let mut text = format!("total {total}\n");
    for (state, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
        let name = STATE_NAMES.get(state).copied().unwrap_or("UNKNOWN");
        text.push_str(&format!("{name} {n}\n"));
    }
    out.write_all(text.as_bytes())
        .map_err(|e| format!("stdout: {e}"))
}

fn parse_args() -> Result<u32, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(ALL_STATES),
        [flag, mask] if flag == "--states" => {
            let parsed = match mask.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => mask.parse(),
            };
            parsed.map_err(|_| format!("--states: {mask:?} is not a number"))
        }
        _ => Err("usage: sockdiag_raw [--states MASK]".into()),
    }
}

/// One nlmsghdr + inet_diag_req_v2 asking for a dump of every TCP socket of `family`
/// whose state bit is in `states`; the all-zero sockid is not looked at by a dump.
fn request(fd: libc::c_int, seq: u32, family: u8, states: u32) -> Result<(), String> {
    let mut msg = [0u8; NLMSG_HDRLEN + REQ_LEN];
    msg[0..4].copy_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    msg[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
    let req = &mut msg[NLMSG_HDRLEN..];
    req[0] = family;
    req[1] = libc::IPPROTO_TCP as u8;
    req[4..8].copy_from_slice(&states.to_ne_bytes());
    // Unconnected netlink socket: send() goes to the kernel (nl_pid 0).
    // SAFETY: msg is valid for msg.len() bytes.
    let n = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), 0) };
    if n != msg.len() as isize {
        return Err(format!("send: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Receives datagrams until NLMSG_DONE, counting each socket message by its state byte.
fn read_dump(
    fd: libc::c_int,
    seq: u32,
    buf: &mut [u8],
    counts: &mut [u64; 256],
) -> Result<(), String> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("recv: {e}"));
        }
        let mut rest = &buf[..n as usize];
        if rest.is_empty() {
            return Err("empty datagram before NLMSG_DONE".into());
        }
        while rest.len() >= NLMSG_HDRLEN {
            let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
            if len < NLMSG_HDRLEN || len > rest.len() {
                return Err(format!("bad nlmsg_len {len}"));
            }
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            let msg_seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
            let payload = &rest[NLMSG_HDRLEN..len];
            if msg_seq == seq {
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let err = payload
                            .get(0..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                            .unwrap_or(0);
                        if err < 0 {
                            return Err(format!("dump: {}", io::Error::from_raw_os_error(-err)));
                        }
                    }
                    SOCK_DIAG_BY_FAMILY if payload.len() >= MSG_LEN => {
                        counts[payload[1] as usize] += 1;
                    }
                    SOCK_DIAG_BY_FAMILY => return Err("short inet_diag_msg".into()),
                    _ => {}
                }
            }
            // Messages are 4-byte aligned (NLMSG_ALIGN).
            rest = &rest[((len + 3) & !3).min(rest.len())..];
        }
    }
}
