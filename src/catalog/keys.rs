//! The catalog table. One entry per key tuneguard knows, plus the removed keys a profile
//! may still name. Text here is what users read in `explain`, `-v` output, JSON
//! `explanation` and docs/keys/: write it for a person at a root shell during an outage.
//!
//! Version boundaries are release versions: a commit merged during the merge window after
//! Linux X.Y was released is given as X.(Y+1). Where a fact rests on a kernel commit, the
//! commit is named in `sources` so the next person can check it.

use super::{Default, Handler, KernelNote, KeyInfo, Meaning, Scope, Shape};
use crate::kversion::KernelVersion as V;

/// One int, any value the kernel's int parser takes (proc_dointvec and friends).
const INT_ANY: Shape = Shape {
    fields: 1,
    min: None,
    max: None,
    ascending: false,
    handler: Handler::Int,
};
/// One int the kernel rejects below 0.
pub(crate) const INT_GE0: Shape = Shape {
    fields: 1,
    min: Some(0),
    max: None,
    ascending: false,
    handler: Handler::Int,
};
/// One u8 (proc_dou8vec_minmax): 0..=255, anything else is EINVAL.
pub(crate) const U8: Shape = Shape {
    fields: 1,
    min: Some(0),
    max: Some(255),
    ascending: false,
    handler: Handler::U8,
};
/// tcp_tw_reuse: 0, 1 or 2.
const TW_REUSE: Shape = Shape {
    fields: 1,
    min: Some(0),
    max: Some(2),
    ascending: false,
    handler: Handler::U8,
};
/// ip_local_port_range: two ports, low <= high (EINVAL otherwise). The kernel also
/// wants low >= ip_unprivileged_port_start, which depends on another key.
const PORT_RANGE: Shape = Shape {
    fields: 2,
    min: Some(1),
    max: Some(65535),
    ascending: true,
    handler: Handler::PortRange,
};
/// tcp_rmem / tcp_wmem: three ints, each at least 1 (measured on 6.18: 0 and -1 are
/// EINVAL, INT_MAX is stored); the kernel does not check their order.
pub(crate) const BUFFER_TRIPLE: Shape = Shape {
    fields: 3,
    min: Some(1),
    max: None,
    ascending: false,
    handler: Handler::Int,
};
/// tcp_mem: three unsigned longs, in pages.
const PAGES_TRIPLE: Shape = Shape {
    fields: 3,
    min: Some(0),
    max: None,
    ascending: false,
    handler: Handler::ULong,
};
/// Seconds the kernel keeps in jiffies (proc_dointvec_jiffies): any int of at most
/// INT_MAX / HZ in magnitude, negative ones included (measured on 6.18 with HZ=250:
/// 8589934 and -8589934 stored, 8589935 EINVAL).
const JIFFIES: Shape = Shape {
    fields: 1,
    min: None,
    max: None,
    ascending: false,
    handler: Handler::Jiffies,
};
/// fs.file-max: an unsigned long (proc_doulongvec_minmax), 0..=LONG_MAX.
const ULONG: Shape = Shape {
    fields: 1,
    min: Some(0),
    max: None,
    ascending: false,
    handler: Handler::ULong,
};
/// fs.nr_open on a 64-bit kernel: BITS_PER_LONG ..= INT_MAX & -BITS_PER_LONG (fs/file.c).
const NR_OPEN: Shape = Shape {
    fields: 1,
    min: Some(64),
    max: Some(2_147_483_584),
    ascending: false,
    handler: Handler::Int,
};

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
        notes: &[
            KernelNote {
                versions: "<3.11",
                text: "somaxconn accepted any int, and the listen backlog was stored in 16 bits: a \
somaxconn above 65535 was truncated when listen() stored it, so 65536 gave a backlog of 0.",
            },
            KernelNote {
                versions: ">=3.11, <4.1",
                text: "Writing somaxconn above 65535 (or below 0) fails with EINVAL (commit 5f671d6b4ec3), \
because the backlog is still 16 bits: 65535 is the ceiling. The backlog became 32 bits in 4.1 \
(commit becb74f0acca).",
            },
            KernelNote {
                versions: "<6.3",
                text: "Inside a network namespace owned by a non-initial user namespace (rootless \
containers), net.core.somaxconn is hidden (since 3.8): it cannot be read or set there, though \
listen() still applies the namespace's value. 6.3 made it visible (commit 6b754d7bd007).",
            },
        ],
        sources: "docs/kernel.md §1, §2; net/socket.c __sys_listen, __sys_listen_socket since 6.11; docs/incidents.md #1; \
net/core/sysctl_net_core.c; include/net/sock.h; commits 5f671d6b4ec3 (net fixes, Aug 2013), \
becb74f0acca (Mar 2015, merged for 4.1), 6b754d7bd007",
    },
    KeyInfo {
        name: "net.ipv4.tcp_max_syn_backlog",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "requests",
        scope: Scope::PerNetns,
        defaults: &[
            Default { since: None, value: "max(128, ehash_entries/256)" },
            Default { since: Some(V::new(5, 4)), value: "max(128, ehash_entries/128)" },
        ],
        summary: "Size of the SYN-queue reserve for proven peers; consulted only when tcp_syncookies = 0.",
        explanation: "The SYN queue (half-open connections) overflows at the listen backlog, not at this \
value: once it holds more than the backlog, a new SYN gets a cookie (tcp_syncookies = 1) or is \
dropped (tcp_syncookies = 0). tcp_max_syn_backlog is read only when tcp_syncookies = 0: then, \
once fewer than a quarter of its slots are free, SYNs from peers the kernel has not yet seen \
alive are dropped, keeping the last quarter for known peers. With cookies on (the default) it \
does not limit the SYN queue at all, so raising it alone changes nothing. The default scales \
with the TCP established hash table (\"TCP established hash table entries\" in the boot log).",
        symptoms: "Only with tcp_syncookies = 0: under a SYN burst, new clients from unfamiliar \
addresses time out connecting while returning clients still get in. With cookies on, a value \
here is not the cause of connect failures: look at the accept queue (somaxconn, the \
application's backlog) instead.",
        counters: &["TcpExt:ListenDrops", "TcpExt:TCPReqQFullDrop", "ss -tan state syn-recv"],
        related: &["net.ipv4.tcp_syncookies", "net.core.somaxconn"],
        added_in: None,
        removed_in: None,
        notes: &[],
        sources: "docs/kernel.md §1, §2; net/ipv4/tcp_input.c tcp_conn_request; docs/incidents.md #1; \
net/ipv4/tcp_ipv4.c tcp_sk_init. Measured on 6.18: 262144 ehash entries give 2048.",
    },
    KeyInfo {
        name: "net.ipv4.tcp_syncookies",
        shape: U8,
        meaning: Meaning::Syncookies,
        unit: "mode",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "1" }],
        summary: "Answer SYNs with a cookie instead of queuing them: 0 off, 1 when the SYN queue overflows, 2 always.",
        explanation: "With 1 (the default; any value other than 0 and 2 acts as 1) the kernel keeps \
accepting connections when a listener's SYN queue holds more than its listen backlog: it \
answers further SYNs with a SYN-ACK whose sequence number encodes the request, and builds the \
connection only when the client's ACK comes back. With 2 it does that for every SYN. With 0 \
those SYNs are dropped, and tcp_max_syn_backlog's quarter reserve comes into play. Cookies do \
not help a full accept queue: SYNs are still dropped while the application is not calling \
accept() fast enough. A connection built from a cookie keeps window scaling and SACK only if \
the client sent TCP timestamps.",
        symptoms: "Off (0) under a SYN burst or flood: clients time out connecting (SYN \
retransmits) and the kernel log says \"Possible SYN flooding on port ... Dropping request\". \
On: the log says \"... Sending cookies\"; connections work, but some may run with a smaller \
window than usual. Values like 3 act as 1 and confuse people reading the config.",
        counters: &[
            "TcpExt:SyncookiesSent",
            "TcpExt:SyncookiesRecv",
            "TcpExt:SyncookiesFailed",
            "TcpExt:TCPReqQFullDoCookies",
            "TcpExt:TCPReqQFullDrop",
        ],
        related: &["net.ipv4.tcp_max_syn_backlog", "net.core.somaxconn", "net.ipv4.tcp_abort_on_overflow"],
        added_in: None,
        removed_in: None,
        notes: &[
            KernelNote {
                versions: "<4.6",
                text: "Global before 4.6: one value for the whole host, absent inside a child network \
namespace (commit 12ed8244ed8b made it per netns).",
            },
            KernelNote {
                versions: "<5.13",
                text: "A plain int before 5.13: values outside 0..255 were accepted and stored \
(commit 4ecc1baf362c made it a u8).",
            },
        ],
        sources: "docs/kernel.md §1; docs/incidents.md #1; net/ipv4/tcp_input.c (tcp_conn_request, \
tcp_syn_flood_action); net/ipv4/syncookies.c; commits 12ed8244ed8b (Feb 2016), 4ecc1baf362c (Mar 2021)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_abort_on_overflow",
        shape: U8,
        meaning: Meaning::NonZeroIsOn,
        unit: "boolean",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Reset, instead of silently ignore, a handshake that completes while the accept queue is full.",
        explanation: "When a client's final handshake ACK arrives and the listener's accept queue is full, \
the kernel normally ignores the ACK and keeps the half-open request, so the connection can \
still complete later if the queue drains. With any non-zero value it answers with RST instead, \
and the client sees \"connection reset by peer\". That makes an overflowing queue visible, which \
is why it is a useful short experiment (docs/incidents.md #1), but it turns a short burst the server \
would have absorbed into errors for real users. It is a diagnostic, not a setting to keep: fix \
the backlog (somaxconn and the application's listen backlog) or the slow accept() instead.",
        symptoms: "On: bursts of \"connection reset by peer\" / ECONNRESET in clients and upstream \
logs whenever the accept queue overflows. Off (default): the same overflow shows up as stalls \
and slow connects instead, with ListenOverflows rising.",
        counters: &["TcpExt:ListenOverflows", "TcpExt:ListenDrops", "ss -lnt Recv-Q/Send-Q"],
        related: &["net.core.somaxconn", "net.ipv4.tcp_syncookies"],
        added_in: None,
        removed_in: None,
        notes: &[],
        sources: "docs/kernel.md §1; docs/incidents.md #1; net/ipv4/tcp_minisocks.c tcp_check_req; man 7 tcp",
    },
    KeyInfo {
        name: "net.ipv4.tcp_keepalive_time",
        shape: JIFFIES,
        meaning: Meaning::Plain,
        unit: "seconds",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "7200" }],
        summary: "Idle time before the first keepalive probe, for sockets that enabled SO_KEEPALIVE.",
        explanation: "After a connection has been idle this many seconds, the kernel sends a keepalive \
probe; if none is answered it sends tcp_keepalive_probes more, tcp_keepalive_intvl seconds \
apart, then drops the connection with ETIMEDOUT. Worst-case dead-peer detection is \
time + intvl × probes seconds: 7200 + 75 × 9 = 7875 s (over two hours) by default. It applies \
only to sockets that set SO_KEEPALIVE, and a socket can override it with TCP_KEEPIDLE (nginx: \
listen ... so_keepalive=idle:intvl:cnt). A CLOSE_WAIT socket whose owner never calls close() \
and never enabled keepalive stays forever (docs/incidents.md #3). The kernel accepts 0 and negative \
values; they are not meaningful settings.",
        symptoms: "Too long (or keepalive not enabled): connections through a load balancer, NAT or \
firewall with a shorter idle timeout are silently dropped in the middle, and the next request \
hangs or gets a reset; sockets to vanished peers pile up (ESTABLISHED or CLOSE_WAIT) until a \
restart. Compare time + intvl × probes with the idle timeout of everything in the path.",
        counters: &["TcpExt:TCPKeepAlive", "TcpExt:TCPAbortOnTimeout", "ss -tano (timer:keepalive)"],
        related: &["net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_retries2"],
        added_in: None,
        removed_in: None,
        notes: &[KernelNote {
            versions: "<4.5",
            text: "Global before 4.5: one value for the whole host, absent inside a child network \
namespace (commit 13b287e8d1ca made it per netns).",
        }],
        sources: "docs/kernel.md §4; nginx listen so_keepalive; docs/incidents.md #3; include/net/tcp.h keepalive_time_when; \
net/ipv4/tcp_timer.c tcp_keepalive_timer; commit 13b287e8d1ca (Jan 2016)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_keepalive_intvl",
        shape: JIFFIES,
        meaning: Meaning::Plain,
        unit: "seconds",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "75" }],
        summary: "Seconds between unanswered keepalive probes.",
        explanation: "Once keepalive probing has started (after tcp_keepalive_time of idleness), the kernel \
waits this many seconds for an answer before sending the next probe. Together with \
tcp_keepalive_probes it sets how long a dead peer is probed: worst-case detection is \
time + intvl × probes (7200 + 75 × 9 = 7875 s by default). Like the other keepalive keys it \
applies only to sockets that set SO_KEEPALIVE, and TCP_KEEPINTVL overrides it per socket. The \
kernel accepts 0 and negative values; they are not meaningful settings.",
        symptoms: "Too long: dead peers are detected late, so requests on a half-dead connection hang and \
CLOSE_WAIT or ESTABLISHED sockets to vanished peers linger (docs/incidents.md #3). Too short on a \
lossy path: a live connection is dropped after a few lost probes.",
        counters: &["TcpExt:TCPKeepAlive", "TcpExt:TCPAbortOnTimeout"],
        related: &["net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_probes"],
        added_in: None,
        removed_in: None,
        notes: &[KernelNote {
            versions: "<4.5",
            text: "Global before 4.5: one value for the whole host, absent inside a child network \
namespace (commit b840d15d3912 made it per netns).",
        }],
        sources: "docs/kernel.md §4; docs/incidents.md #3; include/net/tcp.h keepalive_intvl_when; \
net/ipv4/tcp_timer.c tcp_keepalive_timer; commit b840d15d3912 (Jan 2016)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_keepalive_probes",
        shape: U8,
        meaning: Meaning::Plain,
        unit: "probes",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "9" }],
        summary: "Unanswered keepalive probes before the connection is dropped.",
        explanation: "After this many keepalive probes go unanswered, the kernel resets the connection and \
the application's next call fails with ETIMEDOUT. Worst-case dead-peer detection is \
time + intvl × probes seconds (7200 + 75 × 9 = 7875 s by default). It applies only to sockets \
that set SO_KEEPALIVE; TCP_KEEPCNT overrides it per socket.",
        symptoms: "Too many: dead peers take long to detect and their sockets linger (docs/incidents.md #3). \
Too few (1-2) on a lossy path: healthy idle connections are dropped after a lost probe.",
        counters: &["TcpExt:TCPKeepAlive", "TcpExt:TCPAbortOnTimeout"],
        related: &["net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl"],
        added_in: None,
        removed_in: None,
        notes: &[
            KernelNote {
                versions: "<4.5",
                text: "Global before 4.5: one value for the whole host, absent inside a child network \
namespace (commit 9bd6861bd432 made it per netns).",
            },
            KernelNote {
                versions: "<5.13",
                text: "A plain int before 5.13: values outside 0..255 were accepted and stored \
(commit 4ecc1baf362c made it a u8).",
            },
        ],
        sources: "docs/kernel.md §4; docs/incidents.md #3; include/net/tcp.h keepalive_probes; net/ipv4/tcp_timer.c; \
commits 9bd6861bd432 (Jan 2016), 4ecc1baf362c (Mar 2021)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_fin_timeout",
        shape: JIFFIES,
        meaning: Meaning::Plain,
        unit: "seconds",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "60" }],
        summary: "How long an orphaned connection waits in FIN-WAIT-2 for the peer's FIN.",
        explanation: "When this host closes a connection first and the application has let go of the \
socket (an orphan), the connection waits in FIN-WAIT-2 for the peer to close its side; after \
tcp_fin_timeout seconds the kernel gives up and frees it. A socket can override it with \
TCP_LINGER2. It is not the TIME-WAIT duration: TIME-WAIT lasts a fixed 60 s \
(TCP_TIMEWAIT_LEN), which this key does not change. The kernel accepts 0 and negative values; \
they are not meaningful settings.",
        symptoms: "Many sockets in FIN-WAIT-2 towards peers that never close their side (buggy clients, \
peers that vanished), each holding a little memory. Lowering it does not reduce TIME-WAIT \
counts, a common misreading.",
        counters: &["ss -tan state fin-wait-2", "sockstat:TCP tw"],
        related: &["net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_max_orphans", "net.ipv4.tcp_tw_reuse"],
        added_in: None,
        removed_in: None,
        notes: &[KernelNote {
            versions: "<4.6",
            text: "Global before 4.6: one value for the whole host, absent inside a child network \
namespace (commit 1e579caa18b9 made it per netns).",
        }],
        sources: "docs/kernel.md §2; net/ipv4/tcp.c tcp_close, net/ipv4/tcp_timer.c tcp_keepalive_timer \
(FIN-WAIT-2 orphans), include/net/tcp.h TCP_TIMEWAIT_LEN; commit 1e579caa18b9 (Feb 2016)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_orphan_retries",
        shape: U8,
        meaning: Meaning::ZeroMeans(8),
        unit: "retransmissions",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Retransmissions before the kernel kills a connection the application has already closed; 0 means 8.",
        explanation: "After the application closes a socket, the kernel still owns the connection (an \
orphan) until its remaining data and FIN are acknowledged. This key caps how many times it \
retransmits to, or probes, an unresponsive peer before it drops such a connection. 0, the \
default, acts as 8, which with the minimum 200 ms retransmission timeout is over 100 seconds of \
backoff. Orphans that pile up also count against tcp_max_orphans and memory.",
        symptoms: "Too high on a busy server talking to flaky or vanished clients: many sockets linger in \
FIN-WAIT-1, CLOSING or LAST-ACK, and the sockstat orphan count grows. Too low: closes to slow \
peers are cut short and the last data may never arrive.",
        counters: &["sockstat:TCP orphan", "TcpExt:TCPAbortOnTimeout", "ss -tan state fin-wait-1"],
        related: &["net.ipv4.tcp_max_orphans", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_retries2"],
        added_in: None,
        removed_in: None,
        notes: &[
            KernelNote {
                versions: "<4.6",
                text: "Global before 4.6: one value for the whole host, absent inside a child network \
namespace (made per netns in the same Feb 2016 series as tcp_fin_timeout).",
            },
            KernelNote {
                versions: "<5.13",
                text: "A plain int before 5.13: values outside 0..255 were accepted and stored \
(commit 4ecc1baf362c made it a u8).",
            },
        ],
        sources: "docs/kernel.md §2; net/ipv4/tcp_timer.c tcp_orphan_retries (\"8 corresponds to >100 seconds \
with minimal RTO of 200msec\"), tcp_out_of_resources; commit 4ecc1baf362c (Mar 2021)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_tw_reuse",
        shape: TW_REUSE,
        meaning: Meaning::Plain,
        unit: "mode",
        scope: Scope::PerNetns,
        defaults: &[
            Default { since: None, value: "0" },
            Default { since: Some(V::new(4, 18)), value: "2" },
        ],
        summary: "Let new outgoing connections reuse ports held by TIME-WAIT sockets: 0 off, 1 on, 2 loopback only.",
        explanation: "When connect() needs a local port and the only free 4-tuples belong to connections \
in TIME-WAIT, a non-zero value lets the kernel take one over if TCP timestamps make it safe: the \
old connection must have used timestamps and its last one must be at least a second old. 1 \
allows this for all destinations, 2 only for loopback traffic. It acts only on outgoing \
connections this host makes; it does nothing for a server's incoming connections or for the \
TIME-WAIT sockets a server holds after closing first.",
        symptoms: "Client side with many short connections to the same destination: connect() fails with \
\"Cannot assign requested address\" (EADDRNOTAVAIL) while thousands of sockets sit in \
TIME-WAIT. On a server, turning it on changes nothing.",
        counters: &["TcpExt:TWRecycled", "sockstat:TCP tw"],
        related: &["net.ipv4.ip_local_port_range", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_recycle"],
        added_in: None,
        removed_in: None,
        notes: &[
            KernelNote {
                versions: "<4.18",
                text: "Only 0 and 1 mean anything before 4.18, and the default is 0: the loopback-only \
mode 2, and the default of 2, came with commit 79e9fed46038.",
            },
            KernelNote {
                versions: "<4.11",
                text: "Global before 4.11: one value for the whole host, absent inside a child network \
namespace (commit 56ab6b93007e made it per netns).",
            },
        ],
        sources: "docs/kernel.md §2; net/ipv4/tcp_ipv4.c tcp_twsk_unique; net/ipv4/inet_hashtables.c \
__inet_check_established; commits 56ab6b93007e (Dec 2016), 79e9fed46038 (committed 2018-06-04, \
the day after 4.17 was released: 4.18)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_retries2",
        shape: U8,
        meaning: Meaning::Plain,
        unit: "retransmissions",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "15" }],
        summary: "How long an established connection keeps retransmitting unacknowledged data before it is killed.",
        explanation: "When data sent on an established connection is not acknowledged, the kernel \
retransmits it with exponentially growing timeouts. It turns this count into a time budget, as \
if the timeout started at 200 ms and doubled up to its 120 s cap: the default 15 gives about \
924.6 s, so a connection to a peer that vanished mid-transfer fails only after about 15 minutes, \
with ETIMEDOUT. A socket can set its own limit in milliseconds with TCP_USER_TIMEOUT.",
        symptoms: "Too high (default): after a peer or path dies with data in flight, requests hang for \
many minutes before the application gets an error; failover looks slow. Too low (below about \
8): connections break during short outages or route changes.",
        counters: &["TcpExt:TCPAbortOnTimeout", "TcpExt:TCPTimeouts"],
        related: &["net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_keepalive_time"],
        added_in: None,
        removed_in: None,
        notes: &[
            KernelNote {
                versions: "<4.6",
                text: "Global before 4.6: one value for the whole host, absent inside a child network \
namespace (commit c6214a97c86c made it per netns).",
            },
            KernelNote {
                versions: "<5.13",
                text: "A plain int before 5.13: values outside 0..255 were accepted and stored \
(commit 4ecc1baf362c made it a u8).",
            },
        ],
        sources: "docs/kernel.md §2, §4; net/ipv4/tcp_timer.c tcp_write_timeout, retransmits_timed_out; \
Documentation/networking/ip-sysctl.rst (924.6 s); commits c6214a97c86c (Feb 2016), 4ecc1baf362c (Mar 2021)",
    },
    KeyInfo {
        name: "net.ipv4.ip_local_port_range",
        shape: PORT_RANGE,
        meaning: Meaning::Plain,
        unit: "ports",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "32768 60999" }],
        summary: "The ephemeral ports the kernel picks from for outgoing connections and bind() to port 0.",
        explanation: "Two numbers, low and high: the local ports connect() (and bind() to port 0) chooses \
from. Each local port can serve one connection per remote address and port, so the range caps \
how many simultaneous (and TIME-WAIT) connections this host can have to one destination: \
28232 with the default. The kernel rejects the write unless 1 <= low <= high <= 65535 and low is \
at least net.ipv4.ip_unprivileged_port_start (1024 by default). A server listening on a port \
inside the range can fail to start if an outgoing connection already holds that port.",
        symptoms: "Port exhaustion on a busy client or proxy: connect() fails with \"Cannot assign \
requested address\" (EADDRNOTAVAIL), usually with many TIME-WAIT sockets to one upstream. A \
service whose port lies in the range fails at start with \"Address already in use\".",
        counters: &["sockstat:TCP tw", "sockstat:TCP inuse", "ss -tan state time-wait"],
        related: &["net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout"],
        added_in: None,
        removed_in: None,
        notes: &[KernelNote {
            versions: ">=4.11",
            text: "A low end below net.ipv4.ip_unprivileged_port_start (added in 4.11) is rejected \
with EINVAL. Measured on 6.18: \"1 65535\" fails until ip_unprivileged_port_start is lowered.",
        }],
        sources: "docs/kernel.md §2; net/ipv4/sysctl_net_ipv4.c ipv4_local_port_range; \
net/ipv4/inet_hashtables.c __inet_hash_connect; measured on 6.18 in a network namespace",
    },
    KeyInfo {
        name: "net.ipv4.tcp_rmem",
        shape: BUFFER_TRIPLE,
        meaning: Meaning::Plain,
        unit: "bytes",
        scope: Scope::PerNetns,
        defaults: &[
            Default { since: None, value: "4096 87380 max computed from memory at boot" },
            Default { since: Some(V::new(4, 20)), value: "4096 131072 max computed from memory at boot (at most 6291456)" },
            Default { since: Some(V::new(6, 16)), value: "4096 131072 max computed from memory at boot (at most 33554432)" },
        ],
        summary: "Per-socket TCP receive buffer: minimum, initial size, and the ceiling autotuning may grow to.",
        explanation: "Three byte counts. The middle one is each TCP socket's initial receive buffer; the \
kernel then grows the buffer to follow the connection's bandwidth and round-trip time, up to \
the third. An application that sets SO_RCVBUF fixes its buffer (capped by net.core.rmem_max) and \
turns this autotuning off. The first is guaranteed to each socket even under moderate TCP memory \
pressure. The kernel checks only that each field is at least 1, not their order. Each network \
namespace has its own copy, taken from the host's current values when the namespace is made.",
        symptoms: "Max too small: a single download over a long path is capped at about max / RTT \
(6 MB at 100 ms is about 60 MB/s) however fast the link is. Too large on a box with many \
connections: buffer memory climbs toward tcp_mem and the host enters TCP memory pressure.",
        counters: &["TcpExt:TCPRcvQDrop", "TcpExt:PruneCalled", "TcpExt:RcvPruned", "TcpExt:TCPRcvCollapsed", "sockstat:TCP mem"],
        related: &["net.ipv4.tcp_wmem", "net.ipv4.tcp_mem"],
        added_in: None,
        removed_in: None,
        notes: &[KernelNote {
            versions: "<4.15",
            text: "Global before 4.15: one value for the whole host, absent inside a child network \
namespace (commit 356d1833b638 made it per netns, copied from the initial namespace).",
        }],
        sources: "docs/kernel.md §2, §3; net/ipv4/tcp.c tcp_init; net/ipv4/tcp_input.c tcp_rcv_space_adjust; \
commits 356d1833b638 (Nov 2017), a337531b942b (87380 -> 131072, Sep 2018), 572be9bf9d0d \
(max cap 32 MB, May 2025); measured on 6.18: fields of 0 or -1 are EINVAL, order not checked",
    },
    KeyInfo {
        name: "net.ipv4.tcp_wmem",
        shape: BUFFER_TRIPLE,
        meaning: Meaning::Plain,
        unit: "bytes",
        scope: Scope::PerNetns,
        defaults: &[Default { since: None, value: "4096 16384 max computed from memory at boot (at most 4194304)" }],
        summary: "Per-socket TCP send buffer: minimum, initial size, and the ceiling autotuning may grow to.",
        explanation: "Three byte counts. The middle one is each TCP socket's initial send buffer; the \
kernel grows it as the connection needs, up to the third. An application that sets SO_SNDBUF \
fixes its buffer (capped by net.core.wmem_max). The first is guaranteed to each socket even under \
moderate TCP memory pressure. The kernel checks only that each field is at least 1, not their \
order. Each network namespace has its own copy, taken from the host's current values when the \
namespace is made.",
        symptoms: "Max too small: uploads or responses over long paths stall below the link's capacity \
(at most about max / RTT per connection). Too large with many slow readers: unsent data piles \
up in kernel memory (a large Send-Q in ss, docs/incidents.md #4) and pushes the host toward tcp_mem.",
        counters: &["sockstat:TCP mem", "ss -tn Send-Q"],
        related: &["net.ipv4.tcp_rmem", "net.ipv4.tcp_mem"],
        added_in: None,
        removed_in: None,
        notes: &[KernelNote {
            versions: "<4.15",
            text: "Global before 4.15: one value for the whole host, absent inside a child network \
namespace (commit 356d1833b638 made it per netns, copied from the initial namespace).",
        }],
        sources: "docs/kernel.md §2, §3; docs/incidents.md #4; net/ipv4/tcp.c tcp_init; commit 356d1833b638 (Nov 2017); \
measured on 6.18: fields of 0 are EINVAL, order not checked",
    },
    KeyInfo {
        name: "net.core.netdev_max_backlog",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "packets",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "1000" }],
        summary: "Length of each CPU's queue of received packets waiting for the network stack.",
        explanation: "Received packets that are handed to the stack outside a driver's own polling (packets \
steered to another CPU by RPS, loopback traffic, drivers without NAPI) wait in a per-CPU queue \
of at most this many packets; when it is full, further packets are dropped. It has nothing to \
do with listen() or the accept queue, despite the name. It is global: one value for the whole \
host. Inside a child network namespace the key does not exist; writing it from the host's \
namespace (or from a container sharing it) changes it for every container on the host.",
        symptoms: "Packet loss under receive bursts on a busy CPU: retransmits and throughput dips with no \
drops on the NIC itself, and the second column of /proc/net/softnet_stat rising.",
        counters: &["softnet_stat:dropped"],
        related: &["net.core.somaxconn"],
        added_in: None,
        removed_in: None,
        notes: &[],
        sources: "docs/kernel.md §3; net/core/dev.c enqueue_to_backlog; net/core/net-procfs.c softnet_seq_show; \
net/core/sysctl_net_core.c (net_core_table, registered for init_net only); measured on 6.18: \
absent in a child netns",
    },
    KeyInfo {
        name: "net.ipv4.tcp_max_orphans",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "sockets",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "ehash_entries/2" }],
        summary: "How many closed-but-not-finished (orphaned) TCP connections the host keeps before resetting them.",
        explanation: "An orphan is a connection the application has closed while the kernel is still \
finishing it (sending the rest of the data and the FIN, waiting in FIN-WAIT or LAST-ACK). Once \
the host holds more orphans than this, the kernel resets orphans instead of finishing them \
politely and logs \"TCP: too many orphaned sockets\". Each orphan can hold up to about 64 KB of \
unswappable memory. It is global: one value for the whole host, absent inside a child network \
namespace; writing it from the host's namespace changes it for every container.",
        symptoms: "Too low for the traffic: peers get RSTs instead of a clean close and may lose the \
last part of a response; \"too many orphaned sockets\" in dmesg. Too high on a small box: \
orphans to slow or dead peers hold memory (docs/incidents.md #5).",
        counters: &["sockstat:TCP orphan", "TcpExt:TCPAbortOnMemory"],
        related: &["net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_mem"],
        added_in: None,
        removed_in: None,
        notes: &[],
        sources: "docs/kernel.md §3; docs/incidents.md #5; net/ipv4/tcp.c tcp_init, tcp_check_oom, tcp_close; \
net/ipv4/sysctl_net_ipv4.c (ipv4_table, init_net only); man 7 tcp; measured on 6.18: 262144 \
ehash entries give 131072, absent in a child netns",
    },
    KeyInfo {
        name: "net.ipv4.tcp_mem",
        shape: PAGES_TRIPLE,
        meaning: Meaning::Plain,
        unit: "pages",
        scope: Scope::Global,
        defaults: &[Default {
            since: None,
            value: "computed at boot: pressure = free buffer pages / 16, low = 3/4 of that, high = 3/2 of that",
        }],
        summary: "Host-wide limits, in pages, on memory used for TCP socket buffers: low, pressure, high.",
        explanation: "Three page counts for all TCP buffer memory on the host (queued data, not the socket \
structures). Below low, TCP does not restrain itself; above pressure, it enters memory pressure \
and shrinks buffers until usage falls below low again; at high, new buffer allocations fail, so \
packets are dropped and orphaned connections are reset. sockstat's mem field is the current \
usage in the same unit. It is global: one value for the whole host, absent inside a child \
network namespace. Socket structures themselves live in the TCP slabs and are not counted here \
(docs/incidents.md #5).",
        symptoms: "At the limit: \"TCP: out of memory -- consider tuning tcp_mem\" in dmesg, stalls and \
drops on many connections at once, resets of closing connections. In pressure: throughput of \
all connections drops as buffers shrink.",
        counters: &[
            "sockstat:TCP mem",
            "TcpExt:TCPMemoryPressures",
            "TcpExt:TCPMemoryPressuresChrono",
            "TcpExt:TCPAbortOnMemory",
            "TcpExt:TCPRcvQDrop",
            "slabinfo:TCP",
        ],
        related: &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_max_orphans"],
        added_in: None,
        removed_in: None,
        notes: &[],
        sources: "docs/kernel.md §3; docs/incidents.md #5; net/ipv4/tcp.c tcp_init_mem, tcp_check_oom; \
man 7 tcp; measured on 6.18 with 24 GB: 287901 383868 575802",
    },
    KeyInfo {
        name: "fs.file-max",
        shape: ULONG,
        meaning: Meaning::Plain,
        unit: "files",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "about RAM in KiB / 10, at least 8192" }],
        summary: "Host-wide ceiling on open file handles, sockets included.",
        explanation: "Every socket is an open file. When the host as a whole reaches this many open files, \
further open(), socket() and accept() calls by processes without CAP_SYS_ADMIN fail with ENFILE \
(\"Too many open files in system\") and the kernel logs \"VFS: file-max limit ... reached\". It is \
separate from each process's own limit (ulimit -n, capped by fs.nr_open). It is global: fs.* \
keys are not per network namespace, so a container that can write /proc/sys changes the host's \
value. /proc/sys/fs/file-nr shows how many are in use.",
        symptoms: "Servers stop accepting connections and log \"Too many open files in system\" (ENFILE, \
not the per-process EMFILE); the kernel log shows \"VFS: file-max limit ... reached\".",
        counters: &["fs/file-nr"],
        related: &["fs.nr_open"],
        added_in: None,
        removed_in: None,
        notes: &[],
        sources: "docs/kernel.md §3; fs/file_table.c files_maxfiles_init, alloc_empty_file; \
measured on 6.18 with 24 GB: 2466177",
    },
    KeyInfo {
        name: "fs.nr_open",
        shape: NR_OPEN,
        meaning: Meaning::Plain,
        unit: "files",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "1048576" }],
        summary: "Ceiling on any single process's open-file limit (RLIMIT_NOFILE).",
        explanation: "No process can raise its open-file limit (ulimit -n, systemd LimitNOFILE=, nginx \
worker_rlimit_nofile) above this value: the attempt fails with EPERM. It does not open anything \
itself; it only bounds the per-process limit that decides when accept() starts failing with \
EMFILE. The kernel accepts 64 to 2147483584 on 64-bit machines. It is global: fs.* keys are not \
per network namespace, so a container that can write /proc/sys changes the host's value.",
        symptoms: "A busy server hits its per-process limit: accept() fails with \"Too many open files\" \
(EMFILE) while the host is far from fs.file-max, and raising the service's limit above nr_open \
fails.",
        counters: &["/proc/PID/limits (Max open files)"],
        related: &["fs.file-max"],
        added_in: None,
        removed_in: None,
        notes: &[],
        sources: "docs/kernel.md §2, §3; fs/file.c sysctl_nr_open, sysctl_nr_open_min, sysctl_nr_open_max; \
kernel/sys.c do_prlimit",
    },
    // Removed keys a profile may still name. Their defaults are what they were while they
    // existed; audit uses removed_in to say "drop it from the profile".
    KeyInfo {
        name: "net.ipv4.tcp_tw_recycle",
        shape: INT_ANY,
        meaning: Meaning::NonZeroIsOn,
        unit: "boolean",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Removed in 4.12: fast recycling of TIME-WAIT sockets, which broke clients behind NAT.",
        explanation: "It shortened TIME-WAIT and made the kernel remember the last TCP timestamp seen from \
each peer address, silently dropping SYNs whose timestamp was older. Clients behind one NAT share \
an address but not a timestamp clock, so their connections failed at random; after 4.10 \
randomized timestamp offsets per connection it broke for everyone, and 4.12 removed it. Remove \
it from configs. To cope with many TIME-WAIT sockets on a client, use tcp_tw_reuse or a wider \
ip_local_port_range; on a server, TIME-WAIT sockets are cheap and best left alone.",
        symptoms: "On kernels before 4.12 with it on: some clients (typically whole offices or mobile \
carriers behind NAT) cannot connect at random while others can; SYNs arrive and get no answer. \
On 4.12 and later: sysctl reports an unknown key and strict loaders stop.",
        counters: &[],
        related: &["net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range"],
        added_in: None,
        removed_in: Some(V::new(4, 12)),
        notes: &[KernelNote {
            versions: ">=4.11, <4.12",
            text: "Per network namespace in 4.11 only (made per netns in Dec 2016, removed in 4.12).",
        }],
        sources: "docs/kernel.md §5; man 7 tcp (\"Linux 2.4 to Linux 4.11\"); commit 4396e46187ca \
(\"tcp: remove tcp_tw_recycle\"), which cites 8a5bd45f6616 (per-connection timestamp offsets)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_thin_dupack",
        shape: INT_ANY,
        meaning: Meaning::NonZeroIsOn,
        unit: "boolean",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Removed in 4.11: fast retransmit after one duplicate ACK for thin streams.",
        explanation: "For \"thin\" streams (fewer than four packets in flight, such as games or interactive \
protocols) it retransmitted after a single duplicate ACK instead of waiting for three, to cut \
latency after a loss. RACK loss detection, on by default, covers the same case, so 4.11 removed \
the sysctl (the TCP_THIN_DUPACK socket option remains as a no-op). Remove it from configs; \
nothing replaces it. The related net.ipv4.tcp_thin_linear_timeouts still exists.",
        symptoms: "On 4.11 and later: sysctl reports an unknown key and strict loaders stop. It never \
caused outages while it existed.",
        counters: &[],
        related: &[],
        added_in: None,
        removed_in: Some(V::new(4, 11)),
        notes: &[],
        sources: "docs/kernel.md §5; commit 4a7f60094411 (\"tcp: remove thin_dupack feature\", committed \
2017-01-13, merged for 4.11; git.zx2c4.com mirror); KernelNewbies Linux_4.11 as cited by a \
third-party review; added in 2.6.34 (man 7 tcp: TCP_THIN_DUPACK)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_abc",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "mode",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Removed in 3.9: Appropriate Byte Counting (RFC 3465) for congestion window growth.",
        explanation: "It made the congestion window grow by the bytes acknowledged rather than by the number \
of ACKs (0 off, 1 per full segment acknowledged, 2 allowed growth by two for delayed ACKs). It \
was off by default, and 3.9 removed it. Remove it from configs; nothing replaces it.",
        symptoms: "On 3.9 and later: sysctl reports an unknown key and strict loaders stop.",
        counters: &[],
        related: &[],
        added_in: None,
        removed_in: Some(V::new(3, 9)),
        notes: &[],
        sources: "docs/kernel.md §5; man 7 tcp (\"Linux 2.6.15 to Linux 3.8\", commit ca2eb5679f8d \"tcp: \
remove Appropriate Byte Count support\", Feb 2013)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_max_ssthresh",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "packets",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Removed in 3.13: Limited Slow-Start (RFC 3742) threshold.",
        explanation: "Above this congestion window (in packets) slow start grew more slowly, to limit \
overshoot on very fast paths; 0, the default, turned it off. 3.13 retired it, noting that hybrid \
slow start (HyStart, on by default with CUBIC) covers the same concern. Remove it from configs; \
nothing replaces it.",
        symptoms: "On 3.13 and later: sysctl reports an unknown key and strict loaders stop.",
        counters: &[],
        related: &[],
        added_in: None,
        removed_in: Some(V::new(3, 13)),
        notes: &[],
        sources: "docs/kernel.md §5; commit 9f9843a751d0 (\"tcp: properly handle stretch acks in slow \
start\": \"retires the experimental limited slow start (LSS) feature\"), committed 2013-11-04, the \
day after 3.12 was released: 3.13 (git.zx2c4.com mirror)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_cookie_size",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "bytes",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Removed in 3.10: default size of the experimental TCP Cookie Transactions option.",
        explanation: "It set the default size of the TCP Cookie Transactions (TCPCT, RFC 6013) option, an \
experimental extension that was off by default (0). 3.10 removed TCPCT entirely. It has nothing \
to do with SYN cookies (net.ipv4.tcp_syncookies). Remove it from configs; the maintained way to \
send data in the SYN is TCP Fast Open (net.ipv4.tcp_fastopen).",
        symptoms: "On 3.10 and later: sysctl reports an unknown key and strict loaders stop.",
        counters: &[],
        related: &["net.ipv4.tcp_syncookies"],
        added_in: None,
        removed_in: Some(V::new(3, 10)),
        notes: &[],
        sources: "docs/kernel.md §5; man 7 tcp source comments (TCP_COOKIE_TRANSACTIONS 2.6.33, \"REMOVED in \
Linux 3.10\", commit 1a2c6181c4a1 \"tcp: Remove TCPCT\", Mar 2013)",
    },
    KeyInfo {
        name: "net.ipv4.tcp_frto_response",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "mode",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "0" }],
        summary: "Removed in 3.10: how TCP reacted when F-RTO found a retransmission timeout spurious.",
        explanation: "When F-RTO decided a retransmission timeout had been spurious, this chose the \
response: 0 rate halving, 1 a very conservative reduction, 2 undo the congestion window \
reduction. 3.10 rewrote F-RTO to RFC 5682, with spurious timeouts undone by the stack's normal \
undo logic, and dropped this key. net.ipv4.tcp_frto itself still exists. Remove it from configs.",
        symptoms: "On 3.10 and later: sysctl reports an unknown key and strict loaders stop.",
        counters: &[],
        related: &[],
        added_in: None,
        removed_in: Some(V::new(3, 10)),
        notes: &[],
        sources: "docs/kernel.md §5; man 7 tcp (since 2.6.22); commit 9b44190dc114 (\"tcp: refactor F-RTO\": \
\"removes all F-RTO code except the sysctl_tcp_frto\", committed 2013-03-21, merged for 3.10) and \
e33099f96d99 (\"tcp: implement RFC5682 F-RTO\")",
    },
    KeyInfo {
        name: "net.ipv4.tcp_dma_copybreak",
        shape: INT_ANY,
        meaning: Meaning::Plain,
        unit: "bytes",
        scope: Scope::Global,
        defaults: &[Default { since: None, value: "4096" }],
        summary: "Gone in 3.13 (code removed in 3.18): smallest socket read offloaded to a DMA engine.",
        explanation: "With kernels built with CONFIG_NET_DMA, reads of at least this many bytes were copied \
by a DMA engine (Intel I/OAT) instead of the CPU. NET_DMA was marked broken in 3.13, because it \
could corrupt memory, so no kernel from 3.13 on can have the key; the code was deleted in 3.18. \
Remove it from configs; nothing replaces it.",
        symptoms: "On 3.13 and later: sysctl reports an unknown key and strict loaders stop.",
        counters: &[],
        related: &[],
        added_in: None,
        removed_in: Some(V::new(3, 13)),
        notes: &[KernelNote {
            versions: "<3.13",
            text: "Present only when the kernel was built with CONFIG_NET_DMA.",
        }],
        sources: "docs/kernel.md §5; man 7 tcp (since 2.6.24, CONFIG_NET_DMA); commit 77873803363c \
(\"net_dma: mark broken\", v3.13-rc5) and 7bced397510a (\"net_dma: simple removal\", last present \
in v3.17), both per linux-kernel mailing list posts (CVE-2019-3837 analysis; Kconfig symbol audit)",
    },
];
