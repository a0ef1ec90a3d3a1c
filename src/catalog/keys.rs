//! The catalog table. One entry per key of FACTS.md §2, plus the removed keys a profile
//! may still name. Text here is what users read in `explain`, `-v` output, JSON
//! `explanation` and docs/keys/: write it for a person at a root shell during an outage.

use super::{Default, KernelNote, KeyInfo, Meaning, Scope, Shape};
use crate::kversion::KernelVersion as V;

const INT_GE0: Shape = Shape { fields: 1, min: Some(0), max: None };

pub static CATALOG: &[KeyInfo] = &[
    KeyInfo {
        name: "net.core.somaxconn",
        shape: INT_GE0,
        meaning: Meaning::Plain,
        unit: "connections",
        scope: Scope::PerNetns,
        defaults: &[
            Default { since: None, value: "128" },
            Default { since: Some(V::new(5, 4)), value: "4096" },
        ],
        summary: "Upper limit on every listen() backlog, applied when listen() is called.",
        explanation: "listen(fd, n) caps n at net.core.somaxconn at the moment listen() is called; \
the result is the socket's accept-queue limit (ss -lnt shows it as Send-Q). The queue is full \
at limit+1 connections. A socket that is already listening keeps its cap: raising somaxconn \
changes nothing for running servers until they call listen() again (for nginx: a restart, or a \
reload that changes the configured backlog number). A new network namespace starts from the \
kernel default, not from the host's value, so containers do not inherit host tuning.",
        symptoms: "While the accept queue is full, new SYNs are dropped and completed handshakes are \
ignored: clients see slow or failed connects (SYN retransmits after 1 s, 3 s, 7 s), pages fail \
at random while CPU and traffic look normal. With tcp_abort_on_overflow=1 they see \
\"connection reset by peer\" instead.",
        counters: &["TcpExt:ListenOverflows", "TcpExt:ListenDrops", "ss -lnt Recv-Q/Send-Q"],
        related: &["net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_abort_on_overflow", "net.ipv4.tcp_syncookies"],
        added_in: None,
        removed_in: None,
        notes: &[KernelNote {
            versions: "<4.1",
            text: "The listen backlog was stored in 16 bits before Linux 4.1 (sk_max_ack_backlog \
became u32 then): a somaxconn above 65535 was truncated, so 65536 gave a backlog of 0.",
        }],
        sources: "FACTS.md §1 (net/socket.c __sys_listen, __sys_listen_socket since 6.11), §2; INCIDENTS.md #1",
    },
];
