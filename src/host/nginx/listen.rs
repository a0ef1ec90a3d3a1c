//! The sockets a configuration makes nginx open, decided as nginx decides them
//! (ngx_http_core_listen, ngx_http_add_addresses, ngx_http_init_listening and their
//! stream twins): which `listen` owns each socket's options, the backlog it will ask
//! listen() for, and the errors nginx would raise, at `nginx -t` or only at start.

use super::tls;
use super::versions::{self, Known, Version};
use super::{Config, Directive, FileId};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::ops::Range;

/// NGX_LISTEN_BACKLOG on Linux.
pub const DEFAULT_BACKLOG: i32 = 511;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Http,
    Stream,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Stream => "stream",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    Inet(SocketAddr),
    Unix(String),
}

impl Address {
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Address::Inet(a) if a.ip().is_unspecified())
    }

    fn family_port(&self) -> Option<(bool, u16)> {
        match self {
            Address::Inet(a) => Some((a.is_ipv4(), a.port())),
            Address::Unix(_) => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(a) => write!(f, "{a}"),
            Address::Unix(p) => write!(f, "unix:{p}"),
        }
    }
}

/// `so_keepalive=` as nginx stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoKeepalive {
    /// `on`: SO_KEEPALIVE with the tcp_keepalive_* sysctls.
    On,
    /// `off`: explicitly off.
    Off,
    /// `idle:intvl:cnt`: SO_KEEPALIVE with these overrides; an empty field falls back to
    /// its sysctl.
    Tuned {
        idle: Option<u64>,
        intvl: Option<u64>,
        cnt: Option<u64>,
    },
}

/// A `listen` directive, where it is, and what it asked for.
#[derive(Debug, Clone)]
pub struct Listen {
    pub proto: Proto,
    pub addr: Address,
    pub file: FileId,
    pub line: u32,
    /// The directive's bytes, and its arguments' (the address first): an edit adds or
    /// changes `backlog=` here.
    pub span: Range<usize>,
    /// Into [`Config::args`].
    pub args: Range<u32>,
    /// No `listen` in the server: nginx's default `*:80`.
    pub implicit: bool,
    pub server: usize,
    /// The argument index of `backlog=`, if written.
    pub backlog_arg: Option<usize>,
    pub backlog: Option<i32>,
    pub so_keepalive: Option<SoKeepalive>,
    pub reuseport: bool,
    pub ipv6only: bool,
    /// A datagram socket: stream's `udp`, or http's `quic` (nginx 1.25.0+).
    pub udp: bool,
    pub quic: bool,
    /// `http2` written on the listen (deprecated from 1.25.1).
    pub http2: bool,
    /// `spdy` written on the listen (superseded by http2 from 1.9.5).
    pub spdy: bool,
    /// `ssl`: the address needs a certificate (tls.rs).
    pub ssl: bool,
    pub default_server: bool,
    /// Has a socket option (backlog, so_keepalive, bind, ...): wants its own socket, and
    /// only one listen per address may have one.
    pub sets_options: bool,
}

impl Listen {
    /// A listen at this directive with nginx's defaults (ngx_http_core_listen's lsopt).
    fn new(proto: Proto, addr: Address, d: &Directive, server: usize) -> Listen {
        Listen {
            proto,
            addr,
            file: d.file,
            line: d.line,
            span: d.span.clone(),
            args: d.args.clone(),
            implicit: false,
            server,
            backlog_arg: None,
            backlog: None,
            so_keepalive: None,
            reuseport: false,
            ipv6only: true,
            udp: false,
            quic: false,
            http2: false,
            spdy: false,
            ssl: false,
            default_server: false,
            sets_options: false,
        }
    }
}

/// One socket nginx will open (per worker, with reuseport).
#[derive(Debug, Clone)]
pub struct Socket {
    pub proto: Proto,
    pub addr: Address,
    pub udp: bool,
    /// What nginx passes to listen(): the configured number as nginx's `int`, or 511.
    pub backlog: i32,
    pub backlog_configured: bool,
    pub so_keepalive: Option<SoKeepalive>,
    pub reuseport: bool,
    /// The `listen` whose options the socket takes (index into `ListenModel::listens`):
    /// the one with socket options, else the first for this address. Edits go here.
    pub owner: usize,
    /// Every `listen` this socket answers for, the owner included.
    pub serves: Vec<usize>,
}

impl Socket {
    /// What listen() gets from the kernel today: the backlog, compared unsigned, capped
    /// at somaxconn (`listen(fd, -1)` gets somaxconn).
    pub fn effective(&self, somaxconn: u32) -> u32 {
        let asked = self.backlog as u32;
        asked.min(somaxconn)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// `nginx -t` fails: nginx will not load the configuration at all.
    Test,
    /// `nginx -t` passes but starting fails (bind: Address already in use).
    Start,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub when: When,
    /// nginx's own words where it has them.
    pub message: String,
    pub file: FileId,
    pub line: u32,
    /// The listens involved (indexes into `ListenModel::listens`), when any.
    pub listens: Vec<usize>,
    /// What to do, when the generic advice on socket options does not fit (a word
    /// this nginx version does not know).
    pub hint: Option<String>,
}

impl Problem {
    /// http{} and stream{} on one port: `listens[0]` binds it, `listens[1]` fails.
    pub fn shared_port(&self, m: &ListenModel) -> bool {
        let [a, b] = self.listens[..] else {
            return false;
        };
        self.when == When::Start && m.listens[a].proto != m.listens[b].proto
    }

    /// The dual-stack trap: an IPv6 wildcard with ipv6only=off (`listens[0]`) and an
    /// IPv4 socket (`listens[1]`) on one port. Moving backlog= does not fix it.
    pub fn dual_stack(&self, m: &ListenModel) -> bool {
        let [w, s] = self.listens[..] else {
            return false;
        };
        let v4 = |i: usize| matches!(m.listens[i].addr.family_port(), Some((true, _)));
        self.when == When::Start
            && !self.shared_port(m)
            && !v4(w)
            && v4(s)
            && !m.listens[w].ipv6only
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListenModel {
    pub listens: Vec<Listen>,
    pub sockets: Vec<Socket>,
    pub problems: Vec<Problem>,
    /// What `nginx -t` warns about and still accepts (`listen ... http2` from 1.25.1).
    pub warnings: Vec<Problem>,
    /// `worker_processes`: None for `auto`.
    pub workers: Option<u32>,
}

/// Every socket the configuration asks for, in http{} and stream{}, as nginx `at`
/// (the version that runs it: versions.rs) reads them.
pub fn model(conf: &Config, at: Version) -> ListenModel {
    let mut m = ListenModel {
        workers: Some(1),
        ..Default::default()
    };
    let mut server = 0;
    // Every server block, by its number (`Listen::server` - 1).
    let mut servers: Vec<tls::Server> = Vec::new();
    for top in conf.top() {
        if unknown_directive(&mut m, top, at) {
            continue;
        }
        match &*top.name {
            "worker_processes" => {
                m.workers = conf.args(top).first().and_then(|a| {
                    let v = conf.value(a);
                    if v == "auto" {
                        None
                    } else {
                        v.parse().ok()
                    }
                })
            }
            "http" | "stream" => {
                let proto = if &*top.name == "http" {
                    Proto::Http
                } else {
                    Proto::Stream
                };
                let first = m.listens.len();
                let opened = m.sockets.len();
                let block_tls = tls::Tls::of(conf, top, tls::Tls::default());
                for srv in top.children() {
                    if unknown_directive(&mut m, srv, at) || &*srv.name != "server" {
                        deprecated_directive(&mut m, proto, srv, at);
                        continue;
                    }
                    server += 1;
                    servers.push(tls::Server {
                        file: srv.file,
                        line: tls::end_line(conf, srv.file, srv.line, &srv.span),
                        tls: tls::Tls::of(conf, srv, block_tls),
                    });
                    let before = m.listens.len();
                    for d in srv.children() {
                        if unknown_directive(&mut m, d, at) {
                            continue;
                        }
                        deprecated_directive(&mut m, proto, d, at);
                        if &*d.name == "listen" {
                            parse_listen(&mut m, conf, proto, d, server, at);
                        }
                    }
                    if m.listens.len() == before && !has_listen(srv) {
                        no_listen(&mut m, proto, srv, server);
                    }
                }
                sockets(&mut m, proto, first, at);
                tls::check(conf, &mut m, proto, first, &servers, at);
                shared_ports(&mut m, opened);
            }
            _ => {}
        }
    }
    m
}

/// http{} and stream{} on one port (the SNI router mistake): nginx opens each block's
/// sockets when the block ends, so the block written first binds first, and the later
/// block's bind fails. Only reuseport on both sides lets the kernel share the port.
/// `later` is where the block just read starts in `m.sockets`.
fn shared_ports(m: &mut ListenModel, later: usize) {
    for b in later..m.sockets.len() {
        for a in 0..later {
            let (x, y) = (&m.sockets[a], &m.sockets[b]);
            if x.proto == y.proto || x.udp != y.udp || (x.reuseport && y.reuseport) {
                continue;
            }
            let (Some((v4x, px)), Some((v4y, py))) = (x.addr.family_port(), y.addr.family_port())
            else {
                continue;
            };
            // An IPv6 wildcard with ipv6only=off holds the IPv4 port as well.
            let dual =
                |s: &Socket, v4: bool| !v4 && s.addr.is_wildcard() && !m.listens[s.owner].ipv6only;
            // Port 0 (a stream listen without a port) is a new ephemeral port each bind.
            let clash = px == py
                && px != 0
                && if v4x == v4y {
                    x.addr == y.addr || x.addr.is_wildcard() || y.addr.is_wildcard()
                } else {
                    dual(x, v4x) || dual(y, v4y)
                };
            if !clash {
                continue;
            }
            let (bound, failing) = (x.owner, y.owner);
            let message = format!(
                "bind() to {} failed (98: Address already in use): the {}{{}} listen on {} binds the port first, and {}{{}} cannot share it",
                y.addr,
                x.proto.as_str(),
                x.addr,
                y.proto.as_str()
            );
            let l = &m.listens[failing];
            m.problems.push(Problem {
                when: When::Start,
                message,
                file: l.file,
                line: l.line,
                listens: vec![bound, failing],
                hint: None,
            });
        }
    }
}

fn has_listen(srv: &Directive) -> bool {
    srv.children().iter().any(|d| &*d.name == "listen")
}

fn no_listen(m: &mut ListenModel, proto: Proto, srv: &Directive, server: usize) {
    match proto {
        // ngx_http_core_server: `*:80` (`*:8000` when nginx does not start as root;
        // tuneguard assumes root, as a system nginx is).
        Proto::Http => m.listens.push(Listen {
            implicit: true,
            args: 0..0,
            ..Listen::new(
                proto,
                Address::Inet(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80)),
                srv,
                server,
            )
        }),
        Proto::Stream => m.problems.push(Problem {
            when: When::Test,
            message: "no \"listen\" is defined for server".into(),
            file: srv.file,
            line: srv.line,
            listens: Vec::new(),
            hint: None,
        }),
    }
}

/// nginx -t refuses `d` with `message`, at its line.
pub(super) fn problem(m: &mut ListenModel, d: &Directive, message: String) {
    m.problems.push(Problem {
        when: When::Test,
        message,
        file: d.file,
        line: d.line,
        listens: Vec::new(),
        hint: None,
    });
}

/// A refusal because nginx `at` does not know `word` yet (`since`: the release that
/// brought it), or not on Linux: the hint says so.
fn too_old(
    m: &mut ListenModel,
    d: &Directive,
    message: String,
    (word, since): (&str, Option<Version>),
    at: Version,
) {
    let hint = match since {
        Some(since) if since > at => format!(
            "nginx {at} does not know {word} (nginx {since} brought it): remove it, or upgrade nginx; if another nginx runs this configuration, give its version with --nginx-version"
        ),
        _ => format!(
            "nginx {at} does not accept {word} here: remove it; if another nginx runs this configuration, give its version with --nginx-version"
        ),
    };
    problem(m, d, message);
    if let Some(p) = m.problems.last_mut() {
        p.hint = Some(hint);
    }
}

/// A directive nginx `at` does not have (`http2 on;` before 1.25.1, `stream {}` before
/// 1.9.0): nginx stops at it with `unknown directive`. Returns whether it stopped.
fn unknown_directive(m: &mut ListenModel, d: &Directive, at: Version) -> bool {
    if versions::directive_known(&d.name, at) != Known::No {
        return false;
    }
    let name = d.name.to_string();
    too_old(
        m,
        d,
        format!("unknown directive \"{name}\""),
        (&name, versions::since(&name, None)),
        at,
    );
    true
}

/// A directive of http{} nginx `at` warns about and accepts (`ssl on;` from 1.15.0).
fn deprecated_directive(m: &mut ListenModel, proto: Proto, d: &Directive, at: Version) {
    let Some(message) = versions::directive_warning(&d.name, at) else {
        return;
    };
    if proto == Proto::Http {
        m.warnings.push(Problem {
            when: When::Test,
            message: message.into(),
            file: d.file,
            line: d.line,
            listens: Vec::new(),
            hint: Some(
                "write `listen ... ssl` instead: nginx 1.25.1 and later refuse the ssl directive"
                    .into(),
            ),
        });
    }
}

/// Whether the address is a port range (`8000-8001`, `*:80-81`, `[::1]:80-81`).
fn is_range(addr: &str) -> bool {
    if addr.starts_with("unix:") {
        return false;
    }
    let port = match addr.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':').unwrap_or(""),
        None => addr.rsplit_once(':').map_or(addr, |(_, p)| p),
    };
    port.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
    })
}

fn parse_listen(
    m: &mut ListenModel,
    conf: &Config,
    proto: Proto,
    d: &Directive,
    server: usize,
    at: Version,
) {
    let args = conf.args(d);
    let Some(first) = args.first().map(|a| conf.value(a)) else {
        return problem(
            m,
            d,
            "invalid number of arguments in \"listen\" directive".into(),
        );
    };
    // Before 1.15.10 ngx_parse_inet_url read no range: the port is not a number, or
    // (without a colon) the whole word is a host name that does not resolve.
    if at < versions::PORT_RANGES && is_range(first) {
        let e = if first.contains(':') {
            "invalid port"
        } else {
            "host not found"
        };
        let message = format!("{e} in \"{first}\" of the \"listen\" directive");
        return too_old(
            m,
            d,
            message,
            ("port ranges", Some(versions::PORT_RANGES)),
            at,
        );
    }
    // ngx_http_core_listen sets default_port 80; ngx_stream_core_listen sets none, so a
    // stream listen without a port binds port 0 and the kernel picks one.
    let default_port = match proto {
        Proto::Http => 80,
        Proto::Stream => 0,
    };
    let addrs = match parse_address(first, default_port) {
        Ok(a) => a,
        Err(e) => {
            return problem(
                m,
                d,
                format!("{e} in \"{first}\" of the \"listen\" directive"),
            )
        }
    };
    let mut l = Listen::new(proto, addrs[0].clone(), d, server);
    for (i, arg) in args.iter().enumerate().skip(1) {
        let p = conf.value(arg);
        match versions::listen_param(proto, p, at) {
            Known::No => {
                let name = p.split_once('=').map_or(p, |(n, _)| n);
                let since = versions::since(p.find('=').map_or(p, |e| &p[..=e]), Some(proto));
                let message = versions::invalid_param_message(proto, p, at);
                return too_old(m, d, message, (&format!("listen ... {name}"), since), at);
            }
            // Parsed, and ignored on Linux with nginx's notice (accept_filter=).
            Known::Ignored => {
                m.warnings.push(Problem {
                    when: When::Test,
                    message: format!(
                        "accept filters \"{p}\" are not supported on this platform, ignored"
                    ),
                    file: d.file,
                    line: d.line,
                    listens: Vec::new(),
                    hint: Some(format!(
                        "remove {p}: Linux has no accept filters (deferred is the nearest)"
                    )),
                });
                continue;
            }
            Known::Yes | Known::Unlisted => {}
        }
        if let Err(e) = parameter(proto, &mut l, i, p) {
            let e = match e {
                Invalid::Param => versions::invalid_param_message(proto, p, at),
                Invalid::Value(e) => e,
            };
            return problem(m, d, e);
        }
    }
    if l.udp {
        let words = args.iter().skip(1).map(|a| conf.value(a));
        let has = |name: &str| {
            words
                .clone()
                .any(|w| w == name || w.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
        };
        let with = if l.quic { "quic" } else { "udp" };
        if let Some(p) = versions::datagram_refuses(proto, at)
            .into_iter()
            .find(|p| has(p))
        {
            return problem(
                m,
                d,
                format!("\"listen\" directive \"{p}\" parameter is incompatible with \"{with}\""),
            );
        }
    }
    // nginx's own warnings, in its words; `nginx -t` passes.
    let warn = |message: &str, hint: &str| Problem {
        when: When::Test,
        message: message.into(),
        file: d.file,
        line: d.line,
        listens: Vec::new(),
        hint: Some(hint.into()),
    };
    if l.spdy && at >= versions::SPDY_SUPERSEDED {
        m.warnings.push(warn(
            "invalid parameter \"spdy\": ngx_http_spdy_module was superseded by ngx_http_v2_module",
            "replace spdy with http2 on the listen",
        ));
    }
    if l.http2 && at >= versions::HTTP2_PARAM_DEPRECATED {
        m.warnings.push(warn(
            "the \"listen ... http2\" directive is deprecated, use the \"http2\" directive instead",
            "write `http2 on;` in the server instead of the listen's http2 parameter",
        ));
    }
    for addr in addrs {
        m.listens.push(Listen { addr, ..l.clone() });
    }
}

/// Why a parameter was refused: not one nginx knows here, or a bad value (nginx's
/// words).
enum Invalid {
    Param,
    Value(String),
}

impl From<String> for Invalid {
    fn from(e: String) -> Invalid {
        Invalid::Value(e)
    }
}

/// One listen parameter, as nginx on Linux reads it; whether the running version has
/// it at all was asked of versions.rs before.
fn parameter(proto: Proto, l: &mut Listen, i: usize, p: &str) -> Result<(), Invalid> {
    let http = proto == Proto::Http;
    let (name, value) = match p.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (p, None),
    };
    match (name, value) {
        ("default_server", None) => l.default_server = true,
        ("default", None) if http => l.default_server = true,
        ("ssl", None) => l.ssl = true,
        ("proxy_protocol", None) => {}
        ("http2", None) if http => l.http2 = true,
        ("spdy", None) if http => l.spdy = true,
        // A QUIC listener is a UDP socket of its own (lsopt.type = SOCK_DGRAM).
        ("quic", None) if http => {
            l.quic = true;
            l.udp = true;
        }
        ("udp", None) if !http => l.udp = true,
        ("bind" | "deferred" | "multipath", None) => l.sets_options = true,
        ("reuseport", None) => {
            l.reuseport = true;
            l.sets_options = true;
        }
        ("backlog", Some(v)) => {
            // ngx_atoi into nginx's `int`: a huge number wraps, 0 and -1 are refused.
            let n = atoi(v).map(|n| n as i32);
            match n {
                Some(n) if n != 0 && n != -1 => {
                    l.backlog = Some(n);
                    l.backlog_arg = Some(i);
                    l.sets_options = true;
                }
                _ => return Err(format!("invalid backlog \"{p}\"").into()),
            }
        }
        ("rcvbuf" | "sndbuf", Some(v)) => {
            if parse_size(v).is_none() {
                return Err(format!("invalid {name} \"{p}\"").into());
            }
            l.sets_options = true;
        }
        ("fastopen", Some(v)) => {
            if atoi(v).is_none() {
                return Err(format!("invalid fastopen \"{p}\"").into());
            }
            l.sets_options = true;
        }
        // nginx matches the prefix `ipv6only=o`: anything else is an unknown parameter.
        ("ipv6only", Some(v)) if v.starts_with('o') => {
            l.ipv6only = match v {
                "on" => true,
                "off" => false,
                _ => return Err(format!("invalid ipv6only flags \"{v}\"").into()),
            };
            l.sets_options = true;
        }
        ("so_keepalive", Some(v)) => {
            l.so_keepalive = Some(
                parse_so_keepalive(v)
                    .ok_or_else(|| format!("invalid so_keepalive value: \"{v}\""))?,
            );
            l.sets_options = true;
        }
        _ => return Err(Invalid::Param),
    }
    Ok(())
}

fn parse_so_keepalive(v: &str) -> Option<SoKeepalive> {
    match v {
        "on" => return Some(SoKeepalive::On),
        "off" => return Some(SoKeepalive::Off),
        _ => {}
    }
    let mut parts = v.splitn(3, ':');
    let field = |s: Option<&str>, time: bool| -> Option<Option<u64>> {
        match s {
            None | Some("") => Some(None),
            Some(s) if time => parse_time(s).map(Some),
            Some(s) => atoi(s).map(Some),
        }
    };
    let idle = field(parts.next(), true)?;
    let intvl = field(parts.next(), true)?;
    let cnt = field(parts.next(), false)?;
    let all_zero = [idle, intvl, cnt].iter().all(|f| f.unwrap_or(0) == 0);
    (!all_zero).then_some(SoKeepalive::Tuned { idle, intvl, cnt })
}

/// ngx_atoi: decimal digits only, no sign.
fn atoi(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&n| n <= i64::MAX as u64)
}

/// ngx_parse_size: a number with an optional k/K/m/M/g/G.
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    atoi(num)?.checked_mul(mult)
}

/// ngx_parse_time in seconds: `90`, `30s`, `2m`, `1h30m`; units in decreasing order.
pub fn parse_time(s: &str) -> Option<u64> {
    let units: [(u8, u64); 7] = [
        (b'y', 365 * 86400),
        (b'M', 30 * 86400),
        (b'w', 7 * 86400),
        (b'd', 86400),
        (b'h', 3600),
        (b'm', 60),
        (b's', 1),
    ];
    let b = s.as_bytes();
    let (mut i, mut total, mut step) = (0, 0u64, 0usize);
    let mut any = false;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: u64 = s[start..i].parse().ok()?;
        let mult = match b.get(i) {
            None | Some(b' ') => 1,
            Some(&u) => {
                let pos = units.iter().position(|&(c, _)| c == u)?;
                if pos < step || (b.get(i + 1) == Some(&b's') && u == b'm') {
                    return None;
                }
                step = pos + 1;
                i += 1;
                units[pos].1
            }
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
        any = true;
    }
    any.then_some(total)
}

/// The addresses of a `listen`, as ngx_parse_url reads it with `listen` set: unix:,
/// `[v6]:port`, `addr:port`, a port alone (IPv4 wildcard), `*:port`, a host name
/// (every address it resolves to), `default_port` when none is written (80 in http{},
/// 0 in stream{}). Any port may be a range `low-high`
/// (nginx 1.15.10+): one address per port, low ≤ high, both in 1..65535; a unix path
/// takes no range (a dash is part of the path).
fn parse_address(s: &str, default_port: u16) -> Result<Vec<Address>, &'static str> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        if path.len() >= 108 {
            return Err("too long path in the unix domain socket");
        }
        return Ok(vec![Address::Unix(path.to_string())]);
    }
    let every = |ips: &[IpAddr], (low, high): (u16, u16)| -> Vec<Address> {
        ips.iter()
            .flat_map(|&ip| (low..=high).map(move |p| Address::Inet(SocketAddr::new(ip, p))))
            .collect()
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("invalid host")?;
        let ip: Ipv6Addr = host.parse().map_err(|_| "invalid IPv6 address")?;
        let ports = match after {
            "" => (default_port, default_port),
            p => port_range(p.strip_prefix(':').ok_or("invalid host")?)?,
        };
        return Ok(every(&[IpAddr::V6(ip)], ports));
    }
    if s.contains(['/', '?']) {
        return Err("invalid host");
    }
    let any = [IpAddr::V4(Ipv4Addr::UNSPECIFIED)];
    let (host, ports) = match s.split_once(':') {
        Some((h, p)) => (h, port_range(p)?),
        None => match bare_ports(s)? {
            Some(ports) => return Ok(every(&any, ports)),
            None => (s, (default_port, default_port)),
        },
    };
    if host.is_empty() {
        return Err("no host");
    }
    if host == "*" {
        return Ok(every(&any, ports));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(every(&[IpAddr::V4(ip)], ports));
    }
    // A name: nginx resolves it when it reads the configuration, and listens on each
    // address it gets.
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in resolve_name(host)? {
        if !ips.contains(&a) {
            ips.push(a);
        }
    }
    if ips.is_empty() {
        return Err("host not found");
    }
    Ok(every(&ips, ports))
}

/// The port part after `:`: `port` or `low-high`, as ngx_parse_inet_url checks them
/// (the high end first).
fn port_range(p: &str) -> Result<(u16, u16), &'static str> {
    let (low, high) = match p.split_once('-') {
        Some((low, high)) => (low, Some(port(high)?)),
        None => (p, None),
    };
    let low = port(low)?;
    match high {
        Some(high) if low > high => Err("invalid port range"),
        Some(high) => Ok((low, high)),
        None => Ok((low, low)),
    }
}

/// An address without `:` that nginx tests as a port alone (`8080`, `8186-8187`); None
/// when it is a host name instead (`my-host`, `80-x`: not a number after the dash, or
/// before it).
fn bare_ports(s: &str) -> Result<Option<(u16, u16)>, &'static str> {
    let (low, high) = match s.split_once('-') {
        Some((low, high)) => match atoi(high) {
            None => return Ok(None),
            Some(h) => (low, Some(h)),
        },
        None => (s, None),
    };
    let Some(low) = atoi(low) else {
        return Ok(None);
    };
    let valid = |n: u64| (1..=65535).contains(&n);
    if !valid(low) || high.is_some_and(|h| !valid(h)) {
        return Err("invalid port");
    }
    let high = high.unwrap_or(low);
    if low > high {
        return Err("invalid port range");
    }
    Ok(Some((low as u16, high as u16)))
}

/// How many distinct host names one process resolves for `listen`, and how long it may
/// spend on them: each lookup may wait for the resolver's timeout (5 s and more on a host
/// whose DNS does not answer), so a configuration with thousands of names would hold the
/// audit for hours. Real configurations name a handful, if any.
const MAX_NAMES: usize = 32;
const LOOKUP_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// A `listen` host name's addresses, each name looked up once per process.
fn resolve_name(host: &str) -> Result<Vec<IpAddr>, &'static str> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Cache = (
        HashMap<String, Result<Vec<IpAddr>, &'static str>>,
        std::time::Duration,
    );
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let (cache, spent) = guard.get_or_insert_with(|| (HashMap::new(), Default::default()));
    if !cache.contains_key(host) {
        if cache.len() >= MAX_NAMES {
            return Err("host not resolved: more than 32 host names in listen directives");
        }
        if *spent >= LOOKUP_BUDGET {
            return Err("host not resolved: name lookups already took 5 s");
        }
        let t = std::time::Instant::now();
        let ips = (host, 0)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect())
            .map_err(|_| "host not found");
        *spent += t.elapsed();
        cache.insert(host.to_string(), ips);
    }
    cache[host].clone()
}

fn port(s: &str) -> Result<u16, &'static str> {
    match atoi(s) {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err("invalid port"),
    }
}

/// Groups the listens of one context into addresses and sockets, as
/// ngx_http_add_addresses and ngx_http_init_listening do.
fn sockets(m: &mut ListenModel, proto: Proto, first: usize, at: Version) {
    // Per address: the listens on it, in order.
    let mut addrs: Vec<(Address, bool, Vec<usize>)> = Vec::new();
    let mut seen: HashMap<(Address, bool), usize> = HashMap::new();
    for i in first..m.listens.len() {
        let l = &m.listens[i];
        match seen.get(&(l.addr.clone(), l.udp)) {
            Some(&at) => addrs[at].2.push(i),
            None => {
                seen.insert((l.addr.clone(), l.udp), addrs.len());
                addrs.push((l.addr.clone(), l.udp, vec![i]));
            }
        }
    }
    let mut out: Vec<Socket> = Vec::new();
    for (addr, udp, idx) in &addrs {
        let owner = check_address(m, proto, addr, idx, at);
        let o = &m.listens[owner];
        out.push(Socket {
            proto,
            addr: addr.clone(),
            udp: *udp,
            backlog: o.backlog.unwrap_or(DEFAULT_BACKLOG),
            backlog_configured: o.backlog.is_some(),
            so_keepalive: o.so_keepalive,
            reuseport: o.reuseport,
            owner,
            serves: idx.clone(),
        });
    }
    // With a wildcard on a port, an address without its own socket options is answered
    // by the wildcard's socket; one with options binds its own, and on Linux that bind
    // fails while the wildcard listens: the wildcard trap.
    let mut keep = vec![true; out.len()];
    // Sockets by port, so each wildcard looks only at its own port's addresses.
    let mut by_port: HashMap<u16, Vec<usize>> = HashMap::new();
    for (i, s) in out.iter().enumerate() {
        if let Some((_, port)) = s.addr.family_port() {
            by_port.entry(port).or_default().push(i);
        }
    }
    let none = Vec::new();
    for w in 0..out.len() {
        if !out[w].addr.is_wildcard() {
            continue;
        }
        let (v4, port) = out[w].addr.family_port().expect("inet");
        for &s in by_port.get(&port).unwrap_or(&none) {
            if s == w || out[s].udp != out[w].udp || out[s].addr.is_wildcard() {
                continue;
            }
            if out[s].addr.family_port() != Some((v4, port)) {
                continue;
            }
            if m.listens[out[s].owner].sets_options {
                // Port 0: each bind() gets its own ephemeral port, nothing clashes.
                if !(out[s].reuseport && out[w].reuseport) && port != 0 {
                    // nginx binds a port's explicit addresses first and its wildcard
                    // last: the wildcard's bind is the one that fails.
                    let failing = out[w].addr.clone();
                    trap(m, &out[w], &out[s], &failing, out[s].owner);
                }
            } else {
                keep[s] = false;
                let moved = out[s].serves.clone();
                out[w].serves.extend(moved);
            }
        }
    }
    // An IPv6 wildcard with ipv6only=off takes the IPv4 port as well.
    for w in 0..out.len() {
        let l = &m.listens[out[w].owner];
        if !out[w].addr.is_wildcard() || l.ipv6only {
            continue;
        }
        let (v4, port) = out[w].addr.family_port().expect("inet");
        if v4 || port == 0 {
            continue;
        }
        for &s in by_port.get(&port).unwrap_or(&none) {
            if keep[s]
                && out[s].addr.family_port() == Some((true, port))
                && out[s].udp == out[w].udp
            {
                // Ports are bound in the order their (port, family) first appears in
                // the context: the later of the two fails. Either way the listen to
                // change is the one with ipv6only=off.
                let failing = if opens_before(m, first, &out[w].addr, &out[s].addr) {
                    out[s].addr.clone()
                } else {
                    out[w].addr.clone()
                };
                trap(m, &out[w], &out[s], &failing, out[w].owner);
            }
        }
    }
    m.sockets.extend(
        out.into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(s, _)| s),
    );
}

/// Whether nginx binds `a`'s port before `b`'s: its ports (per family) are kept in the
/// order their first listen appears in the context.
fn opens_before(m: &ListenModel, first: usize, a: &Address, b: &Address) -> bool {
    let at = |x: &Address| {
        m.listens[first..]
            .iter()
            .position(|l| l.addr.family_port() == x.family_port())
    };
    at(a) <= at(b)
}

/// A start failure: `failing` is the address whose bind() fails, as nginx prints it;
/// the problem stands at `blame`, the listen to change.
fn trap(m: &mut ListenModel, wildcard: &Socket, bound: &Socket, failing: &Address, blame: usize) {
    let l = &m.listens[blame];
    let why = if blame == bound.owner {
        format!(
            "this listen has socket options, so {} wants its own socket beside the wildcard {}",
            bound.addr, wildcard.addr
        )
    } else {
        format!(
            "with ipv6only=off, {} takes the IPv4 port as well, and {} binds it too",
            wildcard.addr, bound.addr
        )
    };
    let message = format!("bind() to {failing} failed (98: Address already in use): {why}");
    m.problems.push(Problem {
        when: When::Start,
        message,
        file: l.file,
        line: l.line,
        listens: vec![wildcard.owner, bound.owner],
        hint: None,
    });
}

/// nginx's checks for one address; returns the listen that owns its options.
fn check_address(
    m: &mut ListenModel,
    proto: Proto,
    addr: &Address,
    idx: &[usize],
    at: Version,
) -> usize {
    let mut owner: Option<usize> = None;
    let mut default: Option<usize> = None;
    let mut errors = Vec::new();
    for (n, &i) in idx.iter().enumerate() {
        let l = &m.listens[i];
        // Before virtual servers (1.25.5) a stream address belongs to one server.
        if proto == Proto::Stream && n > 0 && at < versions::STREAM_VIRTUAL_SERVERS {
            errors.push((i, format!("duplicate \"{addr}\" address and port pair")));
            continue;
        }
        if idx[..n].iter().any(|&j| m.listens[j].server == l.server) {
            errors.push((i, format!("a duplicate listen {addr}")));
            continue;
        }
        if l.sets_options {
            if owner.is_some() {
                errors.push((i, format!("duplicate listen options for {addr}")));
                continue;
            }
            owner = Some(i);
        }
        if l.default_server {
            if default.is_some() {
                errors.push((i, format!("a duplicate default server for {addr}")));
                continue;
            }
            default = Some(i);
        }
    }
    for (i, message) in errors {
        let (file, line) = (m.listens[i].file, m.listens[i].line);
        let listens = owner.into_iter().chain([i]).collect();
        m.problems.push(Problem {
            when: When::Test,
            message,
            file,
            line,
            listens,
            hint: None,
        });
    }
    owner.unwrap_or(idx[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let one = |s: &str| parse_address(s, 80).unwrap().remove(0).to_string();
        assert_eq!(one("80"), "0.0.0.0:80");
        assert_eq!(one("*:8080"), "0.0.0.0:8080");
        assert_eq!(one("127.0.0.1"), "127.0.0.1:80");
        assert_eq!(one("[::]:443"), "[::]:443");
        assert_eq!(one("[::1]"), "[::1]:80");
        assert_eq!(one("unix:/run/a.sock"), "unix:/run/a.sock");
        assert_eq!(parse_address("0", 80).unwrap_err(), "invalid port");
        assert_eq!(
            parse_address("1.2.3.4:70000", 80).unwrap_err(),
            "invalid port"
        );
        assert_eq!(parse_address(":80", 80).unwrap_err(), "no host");
    }

    #[test]
    fn port_ranges() {
        let all = |s: &str| -> Vec<String> {
            parse_address(s, 80)
                .unwrap()
                .iter()
                .map(|a| a.to_string())
                .collect()
        };
        assert_eq!(all("8186-8187"), ["0.0.0.0:8186", "0.0.0.0:8187"]);
        assert_eq!(all("127.0.0.1:5-5"), ["127.0.0.1:5"]);
        assert_eq!(all("[::1]:9-10"), ["[::1]:9", "[::1]:10"]);
        assert_eq!(all("unix:/a-1-2"), ["unix:/a-1-2"]);
        assert_eq!(parse_address("9-8", 80).unwrap_err(), "invalid port range");
        assert_eq!(
            parse_address("*:9-8", 80).unwrap_err(),
            "invalid port range"
        );
        assert_eq!(parse_address("0-8", 80).unwrap_err(), "invalid port");
        assert_eq!(parse_address("1:8-", 80).unwrap_err(), "invalid port");
        assert_eq!(bare_ports("80-x"), Ok(None));
        assert_eq!(bare_ports("x-80"), Ok(None));
    }

    #[test]
    fn the_trap_names_the_failing_bind_and_the_listen_to_change() {
        let m = model_of("http { server { listen 80; listen 127.0.0.1:80 backlog=9; } }");
        assert!(m.problems[0]
            .message
            .starts_with("bind() to 0.0.0.0:80 failed"));
        assert_eq!(m.listens[m.problems[0].listens[1]].backlog, Some(9));
        let m = model_of("http { server { listen 80;\n listen [::]:80 ipv6only=off; } }");
        let p = &m.problems[0];
        assert!(p.message.starts_with("bind() to [::]:80 failed"), "{p:?}");
        assert!(p.dual_stack(&m));
        assert_eq!(p.line, 2);
        let m = model_of("http { server { listen [::]:80 ipv6only=off;\n listen 80; } }");
        let p = &m.problems[0];
        assert!(
            p.message.starts_with("bind() to 0.0.0.0:80 failed"),
            "{p:?}"
        );
        assert_eq!(p.line, 1);
    }

    #[test]
    fn http_and_stream_on_one_port_fail_in_the_later_block() {
        let one = |text: &str| {
            let m = model_of(text);
            m.problems
                .iter()
                .map(|p| {
                    (
                        p.message.split(" failed").next().unwrap().to_string(),
                        p.line,
                    )
                })
                .collect::<Vec<_>>()
        };
        let fails = |addr: &str, line: u32| vec![(format!("bind() to {addr}"), line)];
        assert_eq!(
            one("http { server { listen 443; } }\nstream { server { listen 443; } }"),
            fails("0.0.0.0:443", 2)
        );
        assert_eq!(
            one("stream { server { listen 443; } }\nhttp { server { listen 127.0.0.1:443; } }"),
            fails("127.0.0.1:443", 2)
        );
        assert_eq!(
            one("http { server { listen 127.0.0.1:443; } }\nstream { server { listen 443; } }"),
            fails("0.0.0.0:443", 2)
        );
        assert_eq!(
            one("http { server { listen [::]:443 ipv6only=off; } }\nstream { server { listen 443; } }"),
            fails("0.0.0.0:443", 2)
        );
        let m = model_of("http { server { listen 443; } }\nstream { server { listen 443; } }");
        assert!(m.problems[0].shared_port(&m) && !m.problems[0].dual_stack(&m));
        for fine in [
            "http { server { listen 443; } }\nstream { server { listen 443 udp; } }",
            "http { server { listen 443 reuseport; } }\nstream { server { listen 443 reuseport; } }",
            "http { server { listen [::]:443; } }\nstream { server { listen 443; } }",
            "http { server { listen 127.0.0.1:443; } }\nstream { server { listen 127.0.0.2:443; } }",
        ] {
            assert_eq!(one(fine), [], "{fine}");
        }
    }

    #[test]
    fn times_and_keepalive() {
        assert_eq!(parse_time("30"), Some(30));
        assert_eq!(parse_time("1h30m"), Some(5400));
        assert_eq!(parse_time("30m1h"), None);
        assert_eq!(parse_time("5ms"), None);
        assert_eq!(
            parse_so_keepalive("30m::10"),
            Some(SoKeepalive::Tuned {
                idle: Some(1800),
                intvl: None,
                cnt: Some(10)
            })
        );
        assert_eq!(parse_so_keepalive("::"), None);
        assert_eq!(parse_so_keepalive("0:0:0"), None);
        assert_eq!(parse_so_keepalive("x"), None);
    }

    fn model_of(text: &str) -> ListenModel {
        model_at(text, "1.22.1")
    }

    fn model_at(text: &str, version: &str) -> ListenModel {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, text).unwrap();
        model(
            &crate::host::nginx::load(std::path::Path::new("/"), &path).unwrap(),
            Version::parse(version).unwrap(),
        )
    }

    /// Releases other than the suite's oracle (1.22), as their sources read (the
    /// releases and commits are cited in versions.rs): what nginx -t says first, and
    /// what it warns.
    #[test]
    fn other_releases_as_their_sources_read() {
        let first = |text: &str, v: &str| {
            let m = model_at(text, v);
            let p = m.problems.iter().find(|p| p.when == When::Test);
            (
                p.map(|p| p.message.clone()),
                m.warnings
                    .iter()
                    .map(|w| w.message.clone())
                    .collect::<Vec<_>>(),
            )
        };
        let refused = |text: &str, v: &str| first(text, v).0.unwrap_or_default();
        let fine = |text: &str, v: &str| {
            let (p, _) = first(text, v);
            assert_eq!(p, None, "{v}: {text}");
        };
        // Port ranges from 1.15.10.
        assert_eq!(
            refused("http { server { listen 8000-8001; } }", "1.15.9"),
            "host not found in \"8000-8001\" of the \"listen\" directive"
        );
        assert_eq!(
            refused("http { server { listen 127.0.0.1:8000-8001; } }", "1.15.9"),
            "invalid port in \"127.0.0.1:8000-8001\" of the \"listen\" directive"
        );
        fine("http { server { listen [::1]:8000-8001; } }", "1.15.10");
        // The stream module from 1.9.0, udp from 1.9.13, in its old words.
        assert_eq!(
            refused("stream { server { listen 1; } }", "1.8.1"),
            "unknown directive \"stream\""
        );
        assert_eq!(
            refused("stream { server { listen 53 udp; } }", "1.9.12"),
            "the invalid \"udp\" parameter"
        );
        // quic from 1.25.0: a UDP socket; ssl, http2, proxy_protocol refused with it,
        // backlog and the rest only from 1.25.4.
        assert_eq!(
            refused("http { server { listen 443 quic; } }", "1.24.0"),
            "invalid parameter \"quic\""
        );
        let m = model_at(
            "http { ssl_certificate c; server { listen 443 quic; listen 443 ssl; } }",
            "1.25.0",
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(
            m.sockets.iter().map(|s| s.udp).collect::<Vec<_>>(),
            [true, false]
        );
        fine(
            "http { ssl_certificate c; server { listen 443 quic backlog=5; } }",
            "1.25.3",
        );
        assert_eq!(
            refused(
                "http { server { listen 443 quic backlog=5 ssl; } }",
                "1.25.3"
            ),
            "\"listen\" directive \"ssl\" parameter is incompatible with \"quic\""
        );
        assert_eq!(
            refused(
                "http { server { listen 443 quic ssl backlog=5; } }",
                "1.25.4"
            ),
            "\"listen\" directive \"backlog\" parameter is incompatible with \"quic\""
        );
        // multipath from 1.29.7, refused with quic and udp.
        assert_eq!(
            refused("http { server { listen 80 multipath; } }", "1.29.6"),
            "invalid parameter \"multipath\""
        );
        fine("http { server { listen 80 multipath; } }", "1.29.7");
        assert_eq!(
            refused(
                "http { server { listen 443 quic multipath ssl; } }",
                "1.29.7"
            ),
            "\"listen\" directive \"multipath\" parameter is incompatible with \"quic\""
        );
        // Stream from 1.25.5: http's words, virtual servers, default_server, deferred,
        // and udp's refusals in the new order.
        assert_eq!(
            refused("stream { server { listen 1 nonsense; } }", "1.25.5"),
            "invalid parameter \"nonsense\""
        );
        assert_eq!(
            refused(
                "stream { server { listen 1; } server { listen 1; } }",
                "1.25.4"
            ),
            "duplicate \"0.0.0.0:1\" address and port pair"
        );
        fine(
            "stream { server { listen 1 default_server deferred; } server { listen 1; } }",
            "1.25.5",
        );
        assert_eq!(
            refused("stream { server { listen 1 default_server; } server { listen 1 default_server; } }", "1.25.5"),
            "a duplicate default server for 0.0.0.0:1"
        );
        assert_eq!(
            refused(
                "stream { server { listen 53 udp ssl deferred; } }",
                "1.25.5"
            ),
            "\"listen\" directive \"deferred\" parameter is incompatible with \"udp\""
        );
        assert_eq!(
            refused(
                "stream { server { listen 53 udp ssl backlog=5; } }",
                "1.25.4"
            ),
            "\"listen\" directive \"backlog\" parameter is incompatible with \"udp\""
        );
        // What nginx -t warns about, and still accepts.
        assert_eq!(
            first("http { ssl_certificate c; server { listen 443 ssl http2; } }", "1.25.1"),
            (
                None,
                vec!["the \"listen ... http2\" directive is deprecated, use the \"http2\" directive instead".to_string()]
            )
        );
        assert_eq!(
            first(
                "http { ssl_certificate c; server { listen 443 ssl http2; } }",
                "1.25.0"
            )
            .1
            .len(),
            0
        );
        assert_eq!(
            first("http { server { listen 443 spdy; } }", "1.9.4")
                .1
                .len(),
            0
        );
        assert_eq!(
            first("http { server { listen 443 spdy; } }", "1.9.5")
                .1
                .len(),
            1
        );
        assert_eq!(
            refused("http { server { listen 443 spdy; } }", "1.19.7"),
            "invalid parameter \"spdy\""
        );
        // Directives: http2 from 1.25.1, HTTP/3's and QUIC's from 1.25.0.
        assert_eq!(
            refused("http { server { listen 80; http2 on; } }", "1.25.0"),
            "unknown directive \"http2\""
        );
        fine(
            "http { http2 on; server { listen 80; http3 on; } }",
            "1.25.1",
        );
        // `ssl on;`: warned about from 1.15.0, refused from 1.25.1.
        assert_eq!(
            first("http { server { listen 443; ssl on; } }", "1.14.2")
                .1
                .len(),
            0
        );
        assert_eq!(
            first("http { ssl on; server { listen 443; } }", "1.25.0")
                .1
                .len(),
            1
        );
        assert_eq!(
            refused("http { server { listen 443; ssl on; } }", "1.25.1"),
            "unknown directive \"ssl\""
        );
        assert_eq!(
            refused("quic_bpf on; http { quic_retry on; }", "1.24.0"),
            "unknown directive \"quic_bpf\""
        );
    }

    #[test]
    fn certificates_by_release() {
        let first = |text: &str, v: &str| {
            model_at(text, v)
                .problems
                .iter()
                .find(|p| p.when == When::Test)
                .map(|p| (p.message.clone(), p.line))
        };
        let none = |what: &str, name: &str| {
            format!("no \"{what}\" is defined for the \"listen ... {name}\" directive")
        };
        let ssl = "http {\nserver { listen 443 ssl; }\n}";
        assert_eq!(first(ssl, "1.14.2"), None);
        assert_eq!(
            first(ssl, "1.15.0"),
            Some((none("ssl_certificate", "ssl"), 2))
        );
        // Inherited from http{}; a server's own reject_handshake covers itself only.
        assert_eq!(
            first(
                "http { ssl_certificate c; server { listen 443 ssl; } }",
                "1.22.1"
            ),
            None
        );
        let reject = "http {\nserver { listen 443 ssl; ssl_reject_handshake on; }\nserver { server_name b; listen 443 ssl; }\n}";
        assert_eq!(
            first(reject, "1.22.1"),
            Some((none("ssl_certificate", "ssl"), 3))
        );
        // The stream module before 1.25.5 names the ssl listen and wants the key too;
        // from 1.25.5 the server, as http{}.
        let stream = "stream {\nserver {\nlisten 1 ssl; ssl_certificate c; } }";
        assert_eq!(
            first(stream, "1.22.1"),
            Some((none("ssl_certificate_key", "ssl"), 3))
        );
        let stream = "stream {\nserver {\nlisten 1 ssl; } }";
        assert_eq!(
            first(stream, "1.22.1"),
            Some((none("ssl_certificate", "ssl"), 3))
        );
        assert_eq!(
            first(stream, "1.25.5"),
            Some((none("ssl_certificate", "ssl"), 2))
        );
    }

    fn addrs(m: &ListenModel) -> Vec<(String, i32)> {
        m.sockets
            .iter()
            .map(|s| (s.addr.to_string(), s.backlog))
            .collect()
    }

    #[test]
    fn defaults_sharing_and_ownership() {
        let m = model_of(
            "http { server { } server { listen 127.0.0.1:80; listen 8080; }\n server { listen 8080 backlog=77 default_server; } }",
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        // The server without listen gets *:80, which answers 127.0.0.1:80 too.
        assert_eq!(
            addrs(&m),
            [("0.0.0.0:80".into(), 511), ("0.0.0.0:8080".into(), 77)]
        );
        let s8080 = &m.sockets[1];
        assert_eq!(m.listens[s8080.owner].line, 2);
        assert_eq!(s8080.serves.len(), 2);
        assert!(m.listens[m.sockets[0].owner].implicit);
        assert_eq!(m.sockets[0].serves.len(), 2);
    }

    #[test]
    fn stream_udp_and_its_errors() {
        let m = model_of("stream { server { listen 53 udp; } server { listen 9000 backlog=5; } }");
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert!(m.sockets[0].udp);
        assert_eq!(m.sockets[1].backlog, 5);
        let m = model_of("stream { server { } server { listen 53 udp backlog=5; } server { listen 1; } server { listen 1; } }");
        let msgs: Vec<&str> = m.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "no \"listen\" is defined for server",
                "\"listen\" directive \"backlog\" parameter is incompatible with \"udp\"",
                "duplicate \"0.0.0.0:1\" address and port pair"
            ]
        );
    }

    #[test]
    fn dual_stack_wildcard_takes_the_ipv4_port() {
        let m =
            model_of("http { server { listen [::]:80 ipv6only=off; listen 127.0.0.1:80 bind; } }");
        assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
        assert_eq!(m.problems[0].when, When::Start);
        let m = model_of("http { server { listen [::]:80; listen 80; } }");
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        // Both sides reuseport: the kernel lets the two sockets share the port.
        let m = model_of("http { server { listen 80 reuseport; listen 127.0.0.1:80 reuseport; } }");
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(m.workers, Some(1));
    }

    #[test]
    fn effective_backlog_compares_unsigned() {
        let s = Socket {
            proto: Proto::Http,
            addr: Address::Unix("/x".into()),
            udp: false,
            backlog: (2147483648u64 as i64) as i32,
            backlog_configured: true,
            so_keepalive: None,
            reuseport: false,
            owner: 0,
            serves: vec![0],
        };
        assert_eq!(s.effective(4096), 4096);
    }
}
