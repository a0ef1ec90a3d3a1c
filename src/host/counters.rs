//! The kernel's evidence counters: the SNMP-style counters of /proc/net/netstat and
//! /proc/net/snmp, the socket counts of /proc/net/sockstat{,6}, the TCP slab caches of
//! /proc/slabinfo and MemTotal from /proc/meminfo.
//!
//! /proc/net is a link to /proc/self/net, which follows the network namespace of the
//! process's main thread; tuneguard reads /proc/thread-self/net, the calling thread's
//! (the main thread after `netns::enter`, or a worker of `--all-netns`). slabinfo and
//! meminfo are host-wide whatever the namespace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The calling thread's view of /proc: its net/ follows the thread's network namespace.
pub const THREAD_PROC: &str = "/proc/thread-self";

/// The slab caches that hold TCP sockets: full sockets, TIME_WAIT minisocks and
/// SYN_RECV request socks, for IPv4 and IPv6.
pub const TCP_SLABS: [&str; 6] = [
    "TCP",
    "TCPv6",
    "tw_sock_TCP",
    "tw_sock_TCPv6",
    "request_sock_TCP",
    "request_sock_TCPv6",
];

/// One reading of the counters, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    /// Every field by a stable name, `Section:Name`:
    /// - from net/netstat: "TcpExt:ListenOverflows", "IpExt:InOctets", "MPTcpExt:...";
    /// - from net/snmp: "Ip:...", "Icmp:...", "Tcp:ActiveOpens", "Tcp:CurrEstab",
    ///   "Udp:..." (snmp's "Tcp:MaxConn" is -1: "no limit");
    /// - from net/sockstat: "sockstat:sockets used", "sockstat:TCP inuse",
    ///   "sockstat:TCP orphan", "sockstat:TCP tw", "sockstat:TCP alloc", "sockstat:TCP mem",
    ///   "sockstat:UDP inuse", ...; from net/sockstat6: "sockstat6:TCP6 inuse", ...
    ///
    /// netstat and snmp are per network namespace. In sockstat, TCP inuse and tw count
    /// the namespace's sockets, while orphan, alloc and mem are the host's totals
    /// (global counters, the same in every namespace); TCP mem is in pages, as
    /// net.ipv4.tcp_mem is.
    ///
    /// The kernel prints its counters unsigned; one past i64::MAX is stored wrapped, so
    /// `delta` still gives the right change.
    pub values: BTreeMap<String, i64>,
    /// The TCP slab caches of /proc/slabinfo ([`TCP_SLABS`], those that exist), host-wide.
    /// Err(why) when slabinfo is unreadable (mode 0400: root only), absent or garbled.
    pub slab: Result<Vec<Slab>, String>,
    /// MemTotal from meminfo, in KiB, when readable.
    pub mem_total_kib: Option<u64>,
    /// Files that could not be read or parsed: (path, why). A missing sockstat6 (a kernel
    /// without IPv6) is listed too; callers decide what matters. A file listed here
    /// contributed no values.
    pub problems: Vec<(PathBuf, String)>,
}

/// One slab cache: how many objects of which size the kernel holds for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Slab {
    pub name: String,
    /// Objects in use.
    pub active_objs: u64,
    /// Objects allocated, in use or free in the cache's slabs.
    pub num_objs: u64,
    /// Bytes per object.
    pub objsize: u64,
}

impl Slab {
    /// Memory the cache's objects occupy (num_objs × objsize), in bytes.
    pub fn bytes(&self) -> u64 {
        self.num_objs.saturating_mul(self.objsize)
    }
}

/// Written by hand because `Result` has no default: an empty reading whose slabinfo was
/// not read.
impl Default for Counters {
    fn default() -> Self {
        Counters {
            values: BTreeMap::new(),
            slab: Err("slabinfo was not read".into()),
            mem_total_kib: None,
            problems: Vec::new(),
        }
    }
}

type Parser = fn(&str, &mut BTreeMap<String, i64>) -> Result<(), String>;

impl Counters {
    /// The value of one counter, by its `Section:Name`.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.values.get(name).copied()
    }

    /// Reads everything under `proc_root` (`Path::new("/proc")`, or a captured tree laid
    /// out the same way). Never fails as a whole: each file that cannot be read or
    /// parsed lands in `problems` (slabinfo's in `slab`).
    pub fn read(proc_root: &Path) -> Counters {
        // The running kernel's /proc/net follows the process's main thread, which
        // `observe --all-netns`'s workers never move: read the calling thread's.
        let net_root = match proc_root == Path::new("/proc") {
            true => Path::new(THREAD_PROC),
            false => proc_root,
        };
        let mut c = Counters::read_net(net_root);
        c.read_memory(proc_root);
        c
    }

    /// Only the per-namespace network counters (netstat, snmp, sockstat, sockstat6): what
    /// the audit's evidence needs, without slabinfo, which the kernel builds by walking
    /// every slab cache (about a millisecond).
    pub fn read_net(proc_root: &Path) -> Counters {
        let mut c = Counters::default();
        let files: [(&str, Parser); 4] = [
            ("net/netstat", Counters::parse_pairs),
            ("net/snmp", Counters::parse_pairs),
            ("net/sockstat", |t, into| {
                Counters::parse_sockstat(t, into, "sockstat")
            }),
            ("net/sockstat6", |t, into| {
                Counters::parse_sockstat(t, into, "sockstat6")
            }),
        ];
        for (rel, parse) in files {
            let path = proc_root.join(rel);
            let parsed = read_text(proc_root, &path)
                .map_err(|e| e.to_string())
                .and_then(|text| parse(&text, &mut c.values));
            if let Err(why) = parsed {
                c.problems.push((path, why));
            }
        }
        c
    }

    /// slabinfo's TCP caches and MemTotal.
    fn read_memory(&mut self, proc_root: &Path) {
        let c = self;
        let path = proc_root.join("slabinfo");
        c.slab = match read_text(proc_root, &path) {
            Ok(text) => {
                Counters::parse_slabinfo(&text).map_err(|why| format!("{}: {why}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
                "{} is readable only by root (mode 0400)",
                path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "{} is absent (a kernel built without slab debugging, or a captured tree without it)",
                path.display()
            )),
            Err(e) => Err(format!("{}: {e}", path.display())),
        };

        let path = proc_root.join("meminfo");
        match read_text(proc_root, &path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_mem_total(&text))
        {
            Ok(kib) => c.mem_total_kib = Some(kib),
            Err(why) => c.problems.push((path, why)),
        }
    }

    /// Parses the netstat/snmp format: for each section a line of names then a line of
    /// values, both starting with "Section:" ("TcpExt: ListenOverflows ...",
    /// "TcpExt: 0 ..."). Fields are matched by name, so a kernel that adds or reorders
    /// them reads the same. On error (a section without its values line, names and
    /// values of different counts, a value that is not a number) `into` is unchanged and
    /// the error names the section.
    pub fn parse_pairs(text: &str, into: &mut BTreeMap<String, i64>) -> Result<(), String> {
        let mut parsed = Vec::new();
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        while let Some(names) = lines.next() {
            let (section, names) = split_section(names)?;
            let Some(values) = lines.next() else {
                return Err(format!(
                    "{section}: a line of names without a line of values"
                ));
            };
            let (vsection, values) = split_section(values)?;
            if vsection != section {
                return Err(format!(
                    "{section}: its line of names is followed by a {vsection}: line, not by its values"
                ));
            }
            let names: Vec<&str> = names.split_whitespace().collect();
            let values: Vec<&str> = values.split_whitespace().collect();
            if names.len() != values.len() {
                return Err(format!(
                    "{section}: {} names but {} values",
                    names.len(),
                    values.len()
                ));
            }
            for (name, value) in names.into_iter().zip(values) {
                let Some(v) = parse_counter(value) else {
                    return Err(format!("{section}: {name} is {value:?}, not a number"));
                };
                parsed.push((format!("{section}:{name}"), v));
            }
        }
        into.extend(parsed);
        Ok(())
    }

    /// Parses the sockstat format, "PROTO: name value name value ..." per line
    /// ("TCP: inuse 7 orphan 0 tw 2 alloc 9 mem 1", "sockets: used 219"), into
    /// "{prefix}:PROTO name" ("sockstat:TCP inuse"). On error `into` is unchanged.
    pub fn parse_sockstat(
        text: &str,
        into: &mut BTreeMap<String, i64>,
        prefix: &str,
    ) -> Result<(), String> {
        let mut parsed = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some((proto, rest)) = line.split_once(':') else {
                return Err(format!("{line:?} is not a \"PROTO: name value ...\" line"));
            };
            let proto = proto.trim();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.len() % 2 != 0 {
                return Err(format!("{proto}: a name without a value in {line:?}"));
            }
            for pair in fields.chunks_exact(2) {
                let (name, value) = (pair[0], pair[1]);
                let Some(v) = parse_counter(value) else {
                    return Err(format!("{proto}: {name} is {value:?}, not a number"));
                };
                parsed.push((format!("{prefix}:{proto} {name}"), v));
            }
        }
        into.extend(parsed);
        Ok(())
    }

    /// Parses /proc/slabinfo (version 2.x: "name active_objs num_objs objsize ..."), keeping
    /// the [`TCP_SLABS`] caches in file order.
    pub fn parse_slabinfo(text: &str) -> Result<Vec<Slab>, String> {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        match first.strip_prefix("slabinfo - version:").map(str::trim) {
            Some(v) if v.starts_with("2.") => {}
            Some(v) => {
                return Err(format!(
                    "slabinfo version {v} is not the 2.x format read here"
                ))
            }
            None => return Err(format!("{first:?} is not a slabinfo header")),
        }
        let mut slabs = Vec::new();
        for line in lines.filter(|l| !l.starts_with('#')) {
            let mut fields = line.split_whitespace();
            let Some(name) = fields.next() else { continue };
            if !TCP_SLABS.contains(&name) {
                continue;
            }
            let mut number = |what: &str| {
                let field = fields.next().unwrap_or_default();
                field
                    .parse::<u64>()
                    .map_err(|_| format!("{name}: {what} is {field:?}, not a number"))
            };
            slabs.push(Slab {
                name: name.to_string(),
                active_objs: number("active_objs")?,
                num_objs: number("num_objs")?,
                objsize: number("objsize")?,
            });
        }
        Ok(slabs)
    }
}

/// The change of each counter between two readings (b - a), for names present in both.
/// Where a counter of `Counters::values` counts: "namespace" (netstat, snmp, sockstat's
/// inuse and tw) or "host" (sockstat's orphan, alloc and mem are global: the same
/// figures in every namespace).
pub fn scope(name: &str) -> &'static str {
    let host_wide = name.starts_with("sockstat")
        && [" orphan", " alloc", " mem"]
            .iter()
            .any(|f| name.ends_with(f));
    if host_wide {
        "host"
    } else {
        "namespace"
    }
}

/// Gauges (sockstat, Tcp:CurrEstab) may go down; counters that wrapped between the
/// readings still give their true change.
pub fn delta(a: &Counters, b: &Counters) -> BTreeMap<String, i64> {
    b.values
        .iter()
        .filter_map(|(name, vb)| Some((name.clone(), vb.wrapping_sub(*a.values.get(name)?))))
        .collect()
}

/// Reads a proc file whole. seq_file builds small files like these in one go on the
/// first read, so the text is one consistent reading. The running kernel's /proc is read
/// as it is; a captured tree only below its top (a link out of it is refused), and in
/// both only a regular file, up to [`Cap::Config`] (a FIFO or /dev/zero planted in a
/// capture is an error, not a hang).
fn read_text(proc_root: &Path, path: &Path) -> std::io::Result<String> {
    use crate::safety::tree::{read_file, Cap, Confine, Tree};
    let buf = if proc_root == Path::new("/proc") || proc_root == Path::new(THREAD_PROC) {
        read_file(path, Cap::Config)?
    } else {
        let rel = path.strip_prefix(proc_root).unwrap_or(path);
        Tree::open(proc_root, Confine::Beneath)?.read(rel, Cap::Config)?
    };
    String::from_utf8(buf)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// "TcpExt: a b c" -> ("TcpExt", " a b c").
fn split_section(line: &str) -> Result<(&str, &str), String> {
    match line.split_once(':') {
        Some((section, rest)) if !section.is_empty() && !section.contains(char::is_whitespace) => {
            Ok((section, rest))
        }
        _ => Err(format!("{line:?} does not start with a \"Section:\" name")),
    }
}

/// A counter as the kernel prints it: signed (Tcp:MaxConn is -1) or unsigned, an
/// unsigned one past i64::MAX wrapped into i64.
fn parse_counter(s: &str) -> Option<i64> {
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<u64>().ok().map(|u| u as i64))
}

/// "MemTotal:       24684092 kB" -> 24684092.
fn parse_mem_total(text: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .ok_or("no MemTotal line")?;
    let mut fields = line.split_whitespace();
    match (fields.next().map(str::parse::<u64>), fields.next()) {
        (Some(Ok(kib)), Some("kB")) => Ok(kib),
        _ => Err(format!("MemTotal:{line} is not \"N kB\"")),
    }
}

#[cfg(test)]
mod tests;
