//! nginx's listening sockets against the profile: the backlog each socket asks for, what
//! the kernel gives it (min(backlog, somaxconn), net/socket.c), so_keepalive, and the
//! configuration errors nginx itself would raise. The live side is in `listeners.rs`.

use super::{human_seconds, waived, Cause, Finding, Targets};
use crate::host::nginx::directives;
use crate::host::nginx::listen::{ListenModel, SoKeepalive, Socket, When};
use crate::host::nginx::Config;
use crate::host::{NginxState, Snapshot};
use crate::profile::{Profile, Severity};
use serde::Serialize;

const BACKLOG_EXPLAINED: &str = "nginx asks listen() for the listen's backlog= (511 when unset on \
Linux); the kernel caps it at net.core.somaxconn at that moment, and the socket keeps that cap until \
listen() is called on it again. The accept queue then holds backlog+1 completed connections; past \
that, new SYNs are dropped (ListenOverflows).";

/// Why a new somaxconn does not reach a running nginx (measured in
/// tests/nginx_live.rs); said by every remedy that needs nginx to listen again.
pub(super) const RELISTEN: &str =
    "a reload calls listen() again only when the configured backlog number \
changes; otherwise only a restart picks up a new somaxconn";

const SO_KEEPALIVE_EXPLAINED: &str = "listen ... so_keepalive=on|idle:intvl:cnt sets SO_KEEPALIVE \
(and TCP_KEEPIDLE/INTVL/CNT) on the listening socket; accepted connections inherit it on Linux. \
Empty fields fall back to the tcp_keepalive_* sysctls. Without it, a client that vanished is never \
probed and its connection is held until nginx's own timeouts.";

/// The listen a finding is about, as the JSON report names it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NginxRef {
    pub socket: String,
    pub proto: &'static str,
    /// The `listen` that owns the socket's options (or nginx's implicit `*:80`).
    pub file: String,
    pub line: u32,
    pub listen: String,
    pub backlog: i32,
    pub backlog_configured: bool,
}

pub fn nginx_ref(conf: &Config, m: &ListenModel, s: &Socket) -> NginxRef {
    let l = &m.listens[s.owner];
    let text = &conf.files[l.file.0].bytes[l.span.clone()];
    NginxRef {
        socket: s.addr.to_string(),
        proto: s.proto.as_str(),
        file: conf.path(l.file).display().to_string(),
        line: l.line,
        listen: if l.implicit {
            "(no listen: nginx's default *:80)".into()
        } else {
            String::from_utf8_lossy(text).into_owned()
        },
        backlog: s.backlog,
        backlog_configured: s.backlog_configured,
    }
}

/// somaxconn as the audit knows it: live, else what the files give at boot.
pub(super) fn somaxconn(snap: &Snapshot) -> Option<(u32, &'static str)> {
    const KEY: &str = "net.core.somaxconn";
    if let Some(v) = snap.value(KEY) {
        return v.trim().parse().ok().map(|n| (n, "live"));
    }
    let p = snap.persisted.as_ref()?;
    let v = super::persisted::boot_value(p, KEY, crate::catalog::lookup(KEY), snap.kernel)?;
    let n = *v.ints()?.first()?;
    u32::try_from(n).ok().map(|n| (n, "at boot"))
}

pub(super) fn check(snap: &Snapshot, profile: &Profile, t: &Targets) -> Vec<Finding> {
    let mut out = check_read(snap, profile, t);
    if let NginxState::Read(r) = &snap.nginx {
        out.extend(discovery(r));
    }
    out
}

/// What finding nginx passed over: a process posing as the master that does not run as
/// root, a binary that may not be run (safety::exec). Not the configuration's fault, but
/// the host's owner should know who claims to be nginx.
fn discovery(read: &crate::host::NginxRead) -> Option<Finding> {
    let notes: Vec<&String> = read.notes.iter().chain(&read.version.passed_over).collect();
    if notes.is_empty() {
        return None;
    }
    let mut f = Finding::new("nginx", "nginx discovery", Severity::Warning);
    f.id = "nginx/discovery".into();
    f.explanation = "tuneguard believes only an nginx master running as root, and runs a \
binary only when root alone can change it and every directory above it (docs/nginx.md)."
        .into();
    Some(f.fail(
        Severity::Warning,
        format!(
            "{} was read ({}), judged as {}, passing over: {}",
            read.main.display(),
            read.how,
            read.version.version,
            notes
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    ))
}

fn check_read(snap: &Snapshot, profile: &Profile, t: &Targets) -> Vec<Finding> {
    let read = match &snap.nginx {
        NginxState::Read(r) => r,
        other => {
            let why = match other {
                NginxState::Off => {
                    "not checked: nginx checks are off (--no-nginx or --only sysctl)".to_string()
                }
                NginxState::NotFound(why) => format!("not checked: {why}"),
                NginxState::Unreadable { path, error } => {
                    format!("not checked: {} could not be read: {error}", path.display())
                }
                NginxState::Read(_) => unreachable!(),
            };
            return skipped_rules(profile, &why);
        }
    };
    let conf = match &read.conf {
        Ok(c) => c,
        Err(e) => {
            let mut f = Finding::new("nginx", "nginx config", Severity::Error);
            f.id = "nginx/config".into();
            let message = if e.over_limit {
                f.explanation =
                    "tuneguard bounds how deeply blocks and includes nest and how much it \
parses, far beyond any real configuration, so that no file can exhaust its stack or time."
                        .into();
                format!("tuneguard stops reading {}: {e}", read.main.display())
            } else {
                f.explanation =
                    "tuneguard reads the configuration as nginx does; this is where nginx \
would stop."
                        .into();
                format!("nginx would refuse {}: {e}", read.main.display())
            };
            let mut out = vec![f.fail(Severity::Error, message)];
            out.extend(skipped_rules(
                profile,
                "not checked: the configuration does not parse",
            ));
            return out;
        }
    };
    let m = &read.model;
    let mut out = problems(conf, m);
    out.extend(warnings(conf, m, &read.version));
    let refused = m.problems.iter().any(|p| p.when == When::Test);
    if refused {
        out.extend(skipped_rules(
            profile,
            "not checked: nginx -t would refuse this configuration",
        ));
        return out;
    }
    let cap = somaxconn(snap);
    for (i, s) in m.sockets.iter().enumerate() {
        if s.udp || trapped(m, i) {
            continue;
        }
        let at = nginx_ref(conf, m, s);
        if let Some(rule) = &profile.listen_backlog {
            if rule.min.is_some() {
                out.push(backlog_min(profile, rule, s, &at, cap, t));
            }
            if rule.within_somaxconn {
                out.push(within_somaxconn(profile, rule, s, &at, cap, t));
            }
        }
        if let Some(rule) = &profile.so_keepalive {
            out.push(so_keepalive(snap, profile, rule, s, &at, t));
        }
    }
    if m.sockets.iter().all(|s| s.udp) {
        let what = if m.sockets.is_empty() {
            "no listening socket"
        } else {
            "no listening TCP socket (UDP and QUIC sockets have no accept queue)"
        };
        out.extend(skipped_rules(
            profile,
            &format!("not checked: {} declares {what}", read.main.display()),
        ));
    }
    out
}

/// Whether the socket's own listen is the bound side of a wildcard trap.
fn trapped(m: &ListenModel, socket: usize) -> bool {
    let owner = m.sockets[socket].owner;
    m.problems
        .iter()
        .any(|p| p.when == When::Start && p.listens.last() == Some(&owner))
}

fn skipped_rules(profile: &Profile, why: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(b) = &profile.listen_backlog {
        let f = Finding::for_rule("nginx", "nginx.listen_backlog", &b.why);
        out.push(
            waived(profile, "nginx.listen_backlog", f.clone())
                .unwrap_or_else(|| f.skip(format!("nginx listen backlog {why}"))),
        );
    }
    if let Some(k) = &profile.so_keepalive {
        let f = Finding::for_rule("nginx", "nginx.so_keepalive", &k.why);
        out.push(
            waived(profile, "nginx.so_keepalive", f.clone())
                .unwrap_or_else(|| f.skip(format!("nginx so_keepalive {why}"))),
        );
    }
    out
}

/// The errors nginx itself would raise: at `nginx -t`, or only when it starts.
const VERSION_EXPLAINED: &str = "Which listen parameters and directives nginx accepts, and what \
it checks as it loads them, depends on its version (nginx's CHANGES: quic from 1.25.0, the http2 \
directive from 1.25.1, stream's udp from 1.9.13, port ranges from 1.15.10, a certificate for every \
ssl listen from 1.15.0 and quic listen from 1.25.0, ...); tuneguard judges the configuration by the \
version of the nginx that runs it, read from its binary (docs/nginx.md).";

const WARNING_EXPLAINED: &str = "nginx -t prints this warning and still accepts the \
configuration: a word its release deprecates (replaced in a later one), or one Linux builds \
ignore. Which words nginx accepts depends on its version; tuneguard judges the configuration by \
the version of the nginx that runs it, read from its binary (docs/nginx.md).";

/// What `nginx -t` of this version warns about and still accepts.
fn warnings(
    conf: &Config,
    m: &ListenModel,
    v: &crate::host::nginx::binary::Assumed,
) -> Vec<Finding> {
    m.warnings
        .iter()
        .map(|p| {
            let at = format!("{}:{}", conf.path(p.file).display(), p.line);
            let mut f = Finding::new("nginx", "nginx config", Severity::Warning);
            f.id = format!("nginx/config/{at}");
            f.explanation = WARNING_EXPLAINED.into();
            f.remedy = p.hint.clone();
            f.fail(
                Severity::Warning,
                format!("nginx {} -t warns: {} in {at}", v.version, p.message),
            )
        })
        .collect()
}

fn problems(conf: &Config, m: &ListenModel) -> Vec<Finding> {
    m.problems
        .iter()
        .map(|p| {
            let at = format!("{}:{}", conf.path(p.file).display(), p.line);
            let mut f = Finding::new("nginx", "nginx config", Severity::Error);
            f.id = format!("nginx/config/{at}");
            let (msg, remedy) = match p.when {
                // nginx names no place: the main context as a whole lacks something.
                When::Test if p.line == 0 => {
                    f.id = format!("nginx/config/{}", conf.path(p.file).display());
                    (
                        format!("nginx -t fails: {} (of {})", p.message, conf.path(p.file).display()),
                        String::new(),
                    )
                }
                When::Test => (
                    format!("nginx -t fails: {} in {at}", p.message),
                    "keep socket options (backlog=, so_keepalive=, reuseport, ...) on one listen per address, and each address once per server".to_string(),
                ),
                When::Start if p.shared_port(m) => {
                    let bound = &m.listens[p.listens[0]];
                    let failing = &m.listens[p.listens[1]];
                    (
                        format!("nginx -t passes but start fails: {} ({at})", p.message),
                        format!(
                            "give the {} listen at {at} another port or address than the {} listen at {}:{} (an SNI router in stream{{}} proxies to http{{}} on a local port such as 127.0.0.1:8443)",
                            failing.proto.as_str(),
                            bound.proto.as_str(),
                            conf.path(bound.file).display(),
                            bound.line
                        ),
                    )
                }
                When::Start if p.dual_stack(m) => {
                    let v4 = &m.listens[p.listens[1]];
                    (
                        format!("nginx -t passes but start fails: {} ({at})", p.message),
                        format!(
                            "remove ipv6only=off from {at} (its IPv6 socket then leaves the IPv4 port to {}:{}), or remove the listen {} at {}:{}",
                            conf.path(v4.file).display(),
                            v4.line,
                            v4.addr,
                            conf.path(v4.file).display(),
                            v4.line
                        ),
                    )
                }
                When::Start => {
                    let wildcard = &m.listens[p.listens[0]];
                    (
                        format!("nginx -t passes but start fails: {} ({at})", p.message),
                        format!(
                            "put the socket options on the wildcard listen at {}:{}, which owns the port's socket, and remove them from {at}",
                            conf.path(wildcard.file).display(),
                            wildcard.line
                        ),
                    )
                }
            };
            if let (Some((why, fix)), None) = (directives::explain(&p.message), &p.hint) {
                f.explanation = why.into();
                f.remedy = Some(fix.into());
                return f.fail(Severity::Error, msg);
            }
            if let Some(hint) = &p.hint {
                f.explanation = VERSION_EXPLAINED.into();
                f.remedy = Some(hint.clone());
                return f.fail(Severity::Error, msg);
            }
            f.explanation = "nginx answers every address of a port through the wildcard socket \
unless a listen has socket options; only one listen per address may carry them (nginx's ngx_http_add_addresses)."
                .into();
            f.fact = Some("docs/kernel.md §7: listen options and the wildcard trap (nginx ngx_http_add_addresses)".into());
            f.remedy = Some(remedy);
            f.fail(Severity::Error, msg)
        })
        .collect()
}

fn socket_finding(what: &str, at: &NginxRef, why: &crate::profile::Reasons) -> Finding {
    let mut f = Finding::for_rule("nginx", &format!("listen {}", at.socket), why);
    f.id = format!("nginx/{what}/{}/{}", at.proto, at.socket);
    f.nginx = Some(Box::new(at.clone()));
    f
}

/// "the listen at FILE:LINE (it owns SOCKET)", what a one-socket remedy acts on.
fn the_listen(at: &NginxRef) -> String {
    if at.listen.starts_with("(no listen") {
        return format!(
            "a new `listen {}` in the server at {}:{} (it has none, so nginx listens there with backlog 511)",
            at.socket, at.file, at.line
        );
    }
    format!(
        "the listen at {}:{} (it owns {})",
        at.file, at.line, at.socket
    )
}

fn asked(s: &Socket, at: &NginxRef) -> String {
    if s.backlog_configured {
        format!("backlog={} at {}:{}", s.backlog, at.file, at.line)
    } else {
        format!(
            "no backlog= at {}:{} (nginx asks for 511)",
            at.file, at.line
        )
    }
}

fn backlog_min(
    profile: &Profile,
    rule: &crate::profile::ListenBacklog,
    s: &Socket,
    at: &NginxRef,
    cap: Option<(u32, &str)>,
    t: &Targets,
) -> Finding {
    let mut f = socket_finding("listen_backlog", at, &rule.why);
    f.explanation = BACKLOG_EXPLAINED.into();
    f.expected = rule.min.map(|m| serde_json::json!({ "min": m }));
    // The configured backlog is `nginx.backlog`, not a live value: `live` stays null.
    if profile.waivers.contains_key("nginx.listen_backlog") {
        return waived(profile, "nginx.listen_backlog", f).expect("the waiver exists");
    }
    let Some(min) = rule.min else {
        return f.pass(format!("{}; profile sets no minimum", asked(s, at)));
    };
    let min32 = u32::try_from(min).unwrap_or(u32::MAX);
    let (effective, cut) = match cap {
        Some((c, src)) => {
            let e = s.effective(c);
            f.effective = Some(e.into());
            (
                e,
                (e < s.backlog as u32).then(|| format!(", cut to somaxconn {c} ({src})")),
            )
        }
        None => (s.backlog as u32, None),
    };
    let msg = format!(
        "effective backlog {effective}: {}{}; profile {} wants at least {min}",
        asked(s, at),
        cut.clone().unwrap_or_default(),
        rule.why.origin
    );
    if effective >= min32 {
        return f.pass(msg);
    }
    // Asking for too little is the listen's own cause; asking enough and being cut is
    // somaxconn's, which one remedy fixes for every socket.
    if (s.backlog as u32) < min32 {
        f.cause = Some(Cause::BacklogBelowProfile);
        f.remedy = t.backlog_fix(&the_listen(at));
    } else {
        f.cause = Some(Cause::SomaxconnCapsBacklog);
        f.remedy = t.somaxconn_fix();
    }
    f.fail(rule.why.severity, msg)
}

fn within_somaxconn(
    profile: &Profile,
    rule: &crate::profile::ListenBacklog,
    s: &Socket,
    at: &NginxRef,
    cap: Option<(u32, &str)>,
    t: &Targets,
) -> Finding {
    let mut f = socket_finding("within_somaxconn", at, &rule.why);
    f.explanation = BACKLOG_EXPLAINED.into();
    f.expected = Some(serde_json::json!({ "max": "net.core.somaxconn" }));
    if profile.waivers.contains_key("nginx.listen_backlog") {
        return waived(profile, "nginx.listen_backlog", f).expect("the waiver exists");
    }
    let Some((c, src)) = cap else {
        return f.skip(format!(
            "{}: net.core.somaxconn is unknown here, so the cut cannot be told",
            asked(s, at)
        ));
    };
    // Only a somaxconn read from the running kernel is live; the backlog is `nginx.backlog`.
    if src == "live" {
        f.live = Some(serde_json::json!({ "somaxconn": c }));
    }
    let e = s.effective(c);
    if e == s.backlog as u32 {
        return f.pass(format!("{} fits under somaxconn {c} ({src})", asked(s, at)));
    }
    // Cut today but within the somaxconn apply sets: somaxconn is the cause. Above even
    // that: the listen asks for more than the host will give.
    if t.somaxconn.is_some_and(|after| s.backlog as u32 <= after) {
        f.cause = Some(Cause::SomaxconnCapsBacklog);
        f.remedy = t.somaxconn_fix();
    } else {
        f.cause = Some(Cause::BacklogAboveSomaxconn);
        f.remedy = t.above_fix(&the_listen(at));
    }
    f.fail(
        rule.why.severity,
        format!(
            "{} is above net.core.somaxconn {c} ({src}): listen() silently cuts it to {e}",
            asked(s, at)
        ),
    )
}

fn so_keepalive(
    snap: &Snapshot,
    profile: &Profile,
    rule: &crate::profile::SoKeepalive,
    s: &Socket,
    at: &NginxRef,
    t: &Targets,
) -> Finding {
    let mut f = socket_finding("so_keepalive", at, &rule.why);
    f.explanation = SO_KEEPALIVE_EXPLAINED.into();
    f.expected = Some(serde_json::json!({ "required": rule.required }));
    if profile.waivers.contains_key("nginx.so_keepalive") {
        return waived(profile, "nginx.so_keepalive", f).expect("the waiver exists");
    }
    let (idle, intvl, cnt) = match s.so_keepalive {
        None | Some(SoKeepalive::Off) => {
            f.live = Some(serde_json::Value::Null);
            let what = if s.so_keepalive.is_some() {
                "so_keepalive=off"
            } else {
                "no so_keepalive"
            };
            let msg = format!(
                "{what} on the listen at {}:{}: accepted connections do not set SO_KEEPALIVE, so the kernel never probes a vanished client",
                at.file, at.line
            );
            if !rule.required {
                return f.pass(format!("{msg} (not required)"));
            }
            f.remedy = Some(format!(
                "add so_keepalive=on (or idle:intvl:cnt) to the listen at {}:{}; it is a socket option, so it must sit on the listen that owns {}",
                at.file, at.line, at.socket
            ));
            f.cause = Some(Cause::SoKeepaliveOff);
            return f.fail(rule.why.severity, msg);
        }
        Some(SoKeepalive::On) => (None, None, None),
        Some(SoKeepalive::Tuned { idle, intvl, cnt }) => (idle, intvl, cnt),
    };
    let sysctl = |k: &str| snap.value(k).and_then(|v| v.trim().parse::<u64>().ok());
    let time = idle.or_else(|| sysctl("net.ipv4.tcp_keepalive_time"));
    let intvl = intvl.or_else(|| sysctl("net.ipv4.tcp_keepalive_intvl"));
    let cnt = cnt.or_else(|| sysctl("net.ipv4.tcp_keepalive_probes"));
    let bound = t.keepalive_bound;
    let (Some(t), Some(i), Some(c)) = (time, intvl, cnt) else {
        return f.pass(
            "so_keepalive is on; the tcp_keepalive_* values it falls back to are unreadable here"
                .into(),
        );
    };
    let detection = t.saturating_add(i.saturating_mul(c));
    f.live = Some(serde_json::json!({ "idle": t, "intvl": i, "cnt": c, "detection": detection }));
    let msg = format!(
        "so_keepalive on at {}:{}: a vanished client is found after {t} + {i} × {c} = {}",
        at.file,
        at.line,
        human_seconds(detection as i64)
    );
    match bound {
        Some(b) if detection > b => {
            f.remedy = Some(format!(
                "shorten so_keepalive=idle:intvl:cnt at {}:{} (or the tcp_keepalive_* keys it falls back to) so the sum stays under {b} s",
                at.file, at.line
            ));
            f.cause = Some(Cause::SoKeepaliveSlow);
            f.fail(
                rule.why.severity,
                format!(
                    "{msg}, over the profile's keepalive bound of {}",
                    human_seconds(b as i64)
                ),
            )
        }
        _ => f.pass(msg),
    }
}
