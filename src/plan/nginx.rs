//! nginx edits: `backlog=` on the `listen` that owns each socket's options (a listen
//! that only shares a socket cannot carry options: that is nginx's "duplicate listen
//! options", or on a port with a wildcard the bind() failure of the wildcard trap,
//! docs/kernel.md §7). Existing `backlog=` arguments are replaced in place; a listen without one
//! gets ` backlog=N` after its last argument. Nothing else in the file moves.
//!
//! The edited files are parsed again and modelled before the plan is returned: each
//! socket must ask for the planned backlog and nginx must have nothing to refuse.

use super::{FileChange, FileKind};
use crate::host::nginx as conf;
use crate::host::nginx::listen::{self, Address, ListenModel, Socket, When};
use crate::host::{Listeners, NginxRead};
use crate::profile::ListenBacklog;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// One socket whose backlog the plan changes or whose live cap is stale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SocketPlan {
    /// `127.0.0.1:80`, `[::]:443`, `unix:/run/x.sock`.
    pub addr: String,
    /// The backlog nginx passes to listen(), before and after (511 when not configured).
    pub before: i32,
    pub after: i32,
    /// What listen() will give: min(after, somaxconn after the plan), compared unsigned.
    pub expected: u32,
    /// The live max backlog of each socket at this address (several with reuseport);
    /// empty when nginx is not listening here.
    pub live: Vec<u32>,
    /// The configured number changes: a reload calls listen() again.
    pub relisten: bool,
}

impl SocketPlan {
    /// The live cap differs from what it will be, and only a restart changes it.
    pub fn needs_restart(&self) -> bool {
        !self.relisten && self.live.iter().any(|&c| c != self.expected)
    }
}

pub struct NginxEdits {
    pub changes: Vec<FileChange>,
    pub sockets: Vec<SocketPlan>,
    pub notes: Vec<String>,
}

/// Socket options other than backlog: a listen carrying one still wants its own socket
/// when its backlog moves away (the wildcard trap cannot be fixed by moving backlog=).
const OTHER_SOCKET_OPTIONS: [&str; 11] = [
    "bind",
    "deferred",
    "reuseport",
    "rcvbuf=",
    "sndbuf=",
    "so_keepalive=",
    "ipv6only=",
    "setfib=",
    "fastopen=",
    "accept_filter=",
    "multipath",
];

pub fn edits(
    read: &NginxRead,
    root: &Path,
    rule: Option<&ListenBacklog>,
    cap_after: Option<u32>,
    live: Option<&Listeners>,
) -> NginxEdits {
    let mut out = NginxEdits {
        changes: Vec::new(),
        sockets: Vec::new(),
        notes: Vec::new(),
    };
    // No backlog to set: nothing is edited, but what the audit finds still stands (stale
    // live caps want a restart, a backlog above somaxconn is cut).
    let Some((rule, min)) = rule.and_then(|r| Some((r, r.min.or(r.apply)?))) else {
        if let Ok(cfg) = &read.conf {
            above_cap(&mut out, cfg, &read.model, cap_after);
            socket_plans(&mut out, &read.model, &read.model, cap_after, live);
            // A restart without an edit runs no `nginx -t`: nginx would not come back.
            if read.model.problems.iter().any(|p| p.when == When::Test)
                && out.sockets.iter().any(SocketPlan::needs_restart)
            {
                out.sockets.clear();
                out.notes.push("nginx: nginx -t would refuse the configuration as it is, so nginx cannot be restarted to heal stale caps until it is fixed (see the audit's nginx/config findings)".into());
            }
        }
        return out;
    };
    let Ok(cfg) = &read.conf else {
        out.notes.push(format!(
            "nginx: {} does not parse; fix it before tuneguard edits it",
            read.main.display()
        ));
        return out;
    };
    let m = &read.model;
    if m.problems.iter().any(|p| p.when == When::Test) {
        out.notes.push("nginx: nginx -t would refuse the configuration as it is; tuneguard does not edit it (see the audit's nginx/config findings)".into());
        return out;
    }
    // The backlog the audit's remedies name (audit::Targets).
    let target =
        crate::audit::backlog_target(rule, cap_after).expect("the profile names a backlog");
    if let (Some(short), Some(cap)) = (target.short_of, cap_after) {
        out.notes.push(format!(
            "nginx: the profile wants backlog ≥ {short} within somaxconn, and somaxconn will be {cap}: raise somaxconn in the profile; backlog= set to {short}"
        ));
    }
    let want = i32::try_from(target.value).unwrap_or(i32::MAX);

    // Listen index → the backlog it must carry; listens whose backlog= must go.
    let mut set: BTreeMap<usize, i32> = BTreeMap::new();
    let mut remove: Vec<usize> = Vec::new();
    for p in m.problems.iter().filter(|p| p.when == When::Start) {
        let [wildcard, bound] = p.listens[..] else {
            continue;
        };
        let l = &m.listens[bound];
        if p.shared_port(m) {
            let w = &m.listens[wildcard];
            out.notes.push(format!(
                "nginx: {}:{}: the {}{{}} listen {} cannot bind the port that the {}{{}} listen {} at {}:{} holds; tuneguard cannot fix that by moving backlog=: give one of them another port or address",
                cfg.path(l.file).display(),
                l.line,
                l.proto.as_str(),
                l.addr,
                w.proto.as_str(),
                w.addr,
                cfg.path(w.file).display(),
                w.line
            ));
            continue;
        }
        if p.dual_stack(m) {
            let w = &m.listens[wildcard];
            out.notes.push(format!(
                "nginx: {}:{}: {} with ipv6only=off also takes the IPv4 port that {} at {}:{} binds; tuneguard cannot fix that by moving backlog=: remove ipv6only=off or one of the two listens",
                cfg.path(w.file).display(),
                w.line,
                w.addr,
                l.addr,
                cfg.path(l.file).display(),
                l.line
            ));
            continue;
        }
        let other = cfg.args[l.args.start as usize..l.args.end as usize]
            .iter()
            .map(|a| cfg.value(a))
            .skip(1)
            .find(|v| {
                OTHER_SOCKET_OPTIONS
                    .iter()
                    .any(|o| v.starts_with(o) && (o.ends_with('=') || v == o))
            });
        match (other, l.backlog) {
            (None, Some(b)) => {
                remove.push(bound);
                let slot = set.entry(wildcard).or_insert(want);
                *slot = (*slot).max(b);
            }
            (None, None) => {}
            (Some(o), _) => out.notes.push(format!(
                "nginx: {}:{}: {} has `{o}`, a socket option, so it wants its own socket while {} holds the port; tuneguard cannot fix that by moving backlog=: give the options to the wildcard's listen or drop them",
                cfg.path(l.file).display(),
                l.line,
                l.addr,
                m.listens[wildcard].addr
            )),
        }
    }
    // A trapped listen's socket is gone once its backlog= moves to the wildcard: it
    // must not also be given a backlog (two edits on one argument garble the file).
    for s in m
        .sockets
        .iter()
        .filter(|s| !s.udp && !remove.contains(&s.owner))
    {
        let configured = s.backlog;
        let low = (configured as u32 as u64) < min;
        let high = rule.within_somaxconn
            && cap_after.is_some_and(|c| configured as u32 > c && i64::from(want) <= i64::from(c));
        if !(low || high || set.contains_key(&s.owner)) {
            continue;
        }
        let l = &m.listens[s.owner];
        if l.implicit {
            out.notes.push(format!(
                "nginx: the server at {}:{} has no listen (nginx listens on {} with backlog 511); add `listen {} backlog={want};` to it",
                cfg.path(l.file).display(),
                l.line,
                l.addr,
                l.addr
            ));
            continue;
        }
        let slot = set.entry(s.owner).or_insert(want);
        if low || high {
            *slot = (*slot).max(want);
        }
    }

    // One edit per directive: a port range or a name with several addresses is one
    // `listen` behind several sockets, and two edits of one argument garble the file.
    let mut directives: BTreeMap<(usize, usize), (usize, i32)> = BTreeMap::new();
    for (&i, &n) in &set {
        let l = &m.listens[i];
        let slot = directives.entry((l.file.0, l.span.start)).or_insert((i, n));
        slot.1 = slot.1.max(n);
    }
    remove.sort_by_key(|&i| (m.listens[i].file.0, m.listens[i].span.start));
    remove.dedup_by_key(|i| (m.listens[*i].file.0, m.listens[*i].span.start));
    // Byte edits per file: (range, replacement).
    let mut per_file: BTreeMap<usize, Vec<(Range<usize>, String)>> = BTreeMap::new();
    for &(i, n) in directives.values() {
        let l = &m.listens[i];
        let args = &cfg.args[l.args.start as usize..l.args.end as usize];
        let edit = match l.backlog_arg {
            Some(a) => (args[a].raw.clone(), format!("backlog={n}")),
            None => {
                let end = args.last().expect("a listen has an address").raw.end;
                (end..end, format!(" backlog={n}"))
            }
        };
        if l.backlog != Some(n) {
            per_file.entry(l.file.0).or_default().push(edit);
        }
    }
    for &i in &remove {
        let l = &m.listens[i];
        let args = &cfg.args[l.args.start as usize..l.args.end as usize];
        if let Some(a) = l.backlog_arg {
            let prev_end = args[a - 1].raw.end;
            per_file
                .entry(l.file.0)
                .or_default()
                .push((prev_end..args[a].raw.end, String::new()));
        }
    }
    let mut files: BTreeMap<std::path::PathBuf, Vec<u8>> = cfg
        .files
        .iter()
        .map(|f| (f.path.clone(), f.bytes.clone()))
        .collect();
    for (file, mut list) in per_file {
        let f = &cfg.files[file];
        list.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut bytes = f.bytes.clone();
        for (r, text) in list {
            bytes.splice(r, text.into_bytes());
        }
        let why = set
            .iter()
            .filter(|(i, _)| m.listens[**i].file.0 == file)
            .map(|(i, n)| {
                let l = &m.listens[*i];
                format!("line {}: listen {}: backlog {} → {n}", l.line, l.addr, l.backlog.map_or("511 (default)".into(), |b| b.to_string()))
            })
            .chain(remove.iter().filter(|i| m.listens[**i].file.0 == file).map(|i| {
                let l = &m.listens[*i];
                format!("line {}: listen {}: backlog= moves to the wildcard listen that owns the port", l.line, l.addr)
            }))
            .collect();
        files.insert(f.path.clone(), bytes.clone());
        out.changes.push(FileChange {
            kind: FileKind::Nginx,
            path: f.path.clone(),
            // Read from the disk under the root: the file itself, links resolved there. From
            // a dump: where that path is under the root.
            real: if f.real.starts_with(root) {
                f.real.clone()
            } else {
                root.join(f.path.strip_prefix("/").unwrap_or(&f.path))
            },
            before: Some(f.bytes.clone()),
            after: bytes,
            removed: false,
            why,
        });
    }
    if out.changes.is_empty() {
        socket_plans(&mut out, m, m, cap_after, live);
        return out;
    }
    // The edited configuration, as nginx will read it.
    match conf::load_files(files, cfg.path(cfg.main)) {
        Ok(after) => {
            let model = listen::model(&after, read.version.version);
            if let Some(p) = model.problems.first() {
                out.notes.push(format!(
                    "nginx: the edit would not be accepted ({}); not planned",
                    p.message
                ));
                out.changes.clear();
                return out;
            }
            socket_plans(&mut out, m, &model, cap_after, live);
        }
        Err(e) => {
            out.notes.push(format!(
                "nginx: the edited configuration would not parse ({e}); not planned"
            ));
            out.changes.clear();
        }
    }
    out
}

/// A note for each socket whose configured backlog somaxconn (after the plan) cuts:
/// reported, not edited, when the profile names no backlog.
fn above_cap(out: &mut NginxEdits, cfg: &conf::Config, m: &ListenModel, cap: Option<u32>) {
    let Some(c) = cap else { return };
    for s in m
        .sockets
        .iter()
        .filter(|s| !s.udp && s.effective(c) != s.backlog as u32)
    {
        let l = &m.listens[s.owner];
        out.notes.push(format!(
            "nginx: {}:{}: listen {} asks for backlog {} and somaxconn will be {c}, so listen() gets {c}; the profile sets no backlog, so tuneguard does not edit it: lower backlog= or raise net.core.somaxconn",
            cfg.path(l.file).display(),
            l.line,
            s.addr,
            s.backlog as u32
        ));
    }
}

fn socket_plans(
    out: &mut NginxEdits,
    before: &ListenModel,
    after: &ListenModel,
    cap: Option<u32>,
    live: Option<&Listeners>,
) {
    for s in after.sockets.iter().filter(|s| !s.udp) {
        let old = before.sockets.iter().find(|o| o.addr == s.addr);
        let before_n = old.map_or(s.backlog, |o| o.backlog);
        let expected = cap.map_or(s.backlog as u32, |c| s.effective(c));
        let caps = live.map(|l| live_caps(l, s)).unwrap_or_default();
        let plan = SocketPlan {
            addr: s.addr.to_string(),
            before: before_n,
            after: s.backlog,
            expected,
            live: caps,
            relisten: before_n != s.backlog,
        };
        if plan.relisten || plan.needs_restart() {
            out.sockets.push(plan);
        }
    }
}

/// The live max backlog of each socket at this socket's address (several with reuseport).
pub fn live_caps(live: &Listeners, s: &Socket) -> Vec<u32> {
    match &s.addr {
        Address::Inet(a) => live
            .tcp
            .iter()
            .filter(|t| t.local == *a)
            .map(|t| t.send_q)
            .collect(),
        Address::Unix(p) => live
            .unix
            .iter()
            .filter(|u| u.path == *p)
            .map(|u| u.send_q)
            .collect(),
    }
}
