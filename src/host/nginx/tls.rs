//! Whether every TLS listen has a certificate, as nginx checks it while loading the
//! configuration, so that `nginx -t` fails without one. By release (nginx's CHANGES
//! and sources):
//! - http{}, 1.15.0 ("now nginx detects missing SSL certificates during configuration
//!   testing when using the "ssl" parameter"), ngx_http_ssl_init: per address with an
//!   `ssl` listen (`quic` too from 1.25.0), its default server must have
//!   ssl_certificate, or, with ssl_reject_handshake on (1.19.4), every server on the
//!   address must have one or reject; the error names the server's line.
//! - stream{} before 1.25.5, ngx_stream_ssl_merge_conf: per server with an `ssl`
//!   listen, ssl_certificate and ssl_certificate_key, the error naming that listen's
//!   line; from 1.25.5 (virtual servers), per address as http{}.
//!
//! ssl_certificate, ssl_certificate_key and ssl_reject_handshake are inherited from the
//! block (http{}, stream{}) by servers that do not set them.

use super::listen::{ListenModel, Problem, Proto, When};
use super::versions::Version;
use super::{Config, Directive, FileId};

const HTTP_CHECKS: Version = Version(1, 15, 0);
const REJECT_HANDSHAKE: Version = Version(1, 19, 4);
const STREAM_PER_ADDRESS: Version = Version(1, 25, 5);

/// What a block or a server says about certificates, after inheritance.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tls {
    pub cert: bool,
    pub key: bool,
    pub reject: bool,
}

impl Tls {
    /// `d`'s own directives over what it inherits.
    pub fn of(conf: &Config, d: &Directive, inherited: Tls) -> Tls {
        let mut t = inherited;
        let (mut cert, mut key, mut reject) = (false, false, None);
        for c in d.children() {
            match &*c.name {
                "ssl_certificate" => cert = true,
                "ssl_certificate_key" => key = true,
                "ssl_reject_handshake" => {
                    reject = conf.args(c).first().map(|a| conf.value(a) == "on")
                }
                _ => {}
            }
        }
        t.cert |= cert;
        t.key |= key;
        if let Some(r) = reject {
            t.reject = r;
        }
        t
    }
}

/// A server block: where it is and what it says.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub file: FileId,
    /// The line of the block's `{`, which nginx's errors about the server name.
    pub line: u32,
    pub tls: Tls,
}

/// The first certificate error nginx `at` raises for the listens `first..` of one block
/// (`servers` by the listens' `server` number), unless an earlier error stopped it.
pub fn check(
    conf: &Config,
    m: &mut ListenModel,
    proto: Proto,
    first: usize,
    servers: &[Server],
    at: Version,
) {
    if m.problems.iter().any(|p| p.when == When::Test) {
        return;
    }
    let found = match proto {
        Proto::Http if at >= HTTP_CHECKS => per_address(m, first, servers, at),
        Proto::Stream if at >= STREAM_PER_ADDRESS => per_address(m, first, servers, at),
        Proto::Stream => per_server(conf, m, first, servers),
        Proto::Http => None,
    };
    if let Some((file, line, message)) = found {
        m.problems.push(Problem {
            when: When::Test,
            message,
            file,
            line,
            listens: Vec::new(),
            hint: Some("add ssl_certificate and ssl_certificate_key to the server (or its http{} or stream{} block)".into()),
        });
    }
}

type Found = Option<(FileId, u32, String)>;

fn missing(what: &str, name: &str) -> String {
    format!("no \"{what}\" is defined for the \"listen ... {name}\" directive")
}

/// ngx_http_ssl_init: addresses in nginx's order (ports as first listened, then the
/// addresses of each port as first listened). Linear in the listens: a generated
/// configuration has thousands of them (docs/performance.md).
fn per_address(m: &ListenModel, first: usize, servers: &[Server], at: Version) -> Found {
    use std::collections::hash_map::{Entry, HashMap};
    let listens = &m.listens[first..];
    // The listens of each address, in the order first listened, and the rank of its
    // port: the index of the first listen on that port of that family.
    let mut groups: Vec<(usize, Vec<&super::listen::Listen>)> = Vec::new();
    let mut group_of: HashMap<_, usize> = HashMap::new();
    let mut port_first = HashMap::new();
    for (i, l) in listens.iter().enumerate() {
        let family = match &l.addr {
            super::listen::Address::Inet(a) => Some((a.is_ipv4(), a.port())),
            super::listen::Address::Unix(_) => None,
        };
        let rank = *port_first.entry((family, l.udp)).or_insert(i);
        match group_of.entry((&l.addr, l.udp)) {
            Entry::Occupied(e) => groups[*e.get()].1.push(l),
            Entry::Vacant(e) => {
                e.insert(groups.len());
                groups.push((rank, vec![l]));
            }
        }
    }
    // Stable: equal ranks keep the order first listened.
    groups.sort_by_key(|(rank, _)| *rank);
    for (_, same) in groups {
        let quic = same.iter().any(|l| l.quic);
        if !quic && !same.iter().any(|l| l.ssl) {
            continue;
        }
        let name = if quic { "quic" } else { "ssl" };
        let default = same
            .iter()
            .find(|l| l.default_server)
            .unwrap_or(&same[0])
            .server;
        let server = |n: usize| servers[n - 1];
        let d = server(default);
        if d.tls.cert {
            continue;
        }
        let reject = |s: Server| at >= REJECT_HANDSHAKE && s.tls.reject;
        if !reject(d) {
            return Some((d.file, d.line, missing("ssl_certificate", name)));
        }
        for l in &same {
            let s = server(l.server);
            if !s.tls.cert && !reject(s) {
                return Some((s.file, s.line, missing("ssl_certificate", name)));
            }
        }
    }
    None
}

/// ngx_stream_ssl_merge_conf before 1.25.5: servers in order, each with an `ssl`
/// listen; the error names its last `ssl` listen.
fn per_server(conf: &Config, m: &ListenModel, first: usize, servers: &[Server]) -> Found {
    let mut numbers: Vec<usize> = m.listens[first..].iter().map(|l| l.server).collect();
    numbers.dedup();
    for n in numbers {
        let Some(l) = m.listens[first..].iter().rfind(|l| l.server == n && l.ssl) else {
            continue;
        };
        let tls = servers[n - 1].tls;
        let line = end_line(conf, l.file, l.line, &l.span);
        if !tls.cert {
            return Some((l.file, line, missing("ssl_certificate", "ssl")));
        }
        if !tls.key {
            return Some((l.file, line, missing("ssl_certificate_key", "ssl")));
        }
    }
    None
}

/// The line where a directive ends (its `;` or `{`): nginx's current line when it acts
/// on the directive, so the line its errors name.
pub fn end_line(conf: &Config, file: FileId, line: u32, span: &std::ops::Range<usize>) -> u32 {
    let bytes = &conf.files[file.0].bytes;
    let end = span.end.min(bytes.len());
    let start = span.start.min(end);
    line + bytes[start..end.saturating_sub(1).max(start)]
        .iter()
        .filter(|&&c| c == b'\n')
        .count() as u32
}
