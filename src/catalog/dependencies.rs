//! Keys whose effect depends on another key's value: the kernel's meaning, not a
//! profile's opinion, so audit says it whatever the profile wants.

/// `key` acts only while `on` (as the kernel reads it) is one of `active_when`.
#[derive(Debug, Clone, Copy)]
pub struct Dependency {
    pub key: &'static str,
    pub on: &'static str,
    pub active_when: &'static [i64],
    /// Said when `on` makes `key` inert; `{on}` and `{value}` are filled in.
    pub inert: &'static str,
    /// Said when `key` is in force.
    pub active: &'static str,
}

pub static DEPENDENCIES: &[Dependency] = &[Dependency {
    key: "net.ipv4.tcp_max_syn_backlog",
    on: "net.ipv4.tcp_syncookies",
    active_when: &[0],
    inert: "it has no effect while {on} is {value}: a SYN that finds the SYN queue longer than \
the listen backlog gets a cookie instead of being dropped (net/ipv4/tcp_input.c tcp_conn_request); it becomes the hard \
limit if cookies are ever turned off",
    active: "{on} is {value}, so this is the SYN queue's hard limit: SYNs from peers not yet \
proven alive are dropped once fewer than a quarter of its slots are free (TcpExt:TCPReqQFullDrop)",
}];
