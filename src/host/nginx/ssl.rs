//! `listen ... ssl` without a certificate: nginx -t refuses it, the way nginx 1.22 checks
//! it once a block is read (ngx_http_ssl_init for http{}, ngx_stream_ssl_merge_conf for
//! stream{}). A shipped site whose certificate lines are still commented out (Mastodon's
//! dist/nginx.conf, for one) stops here.

use super::listen::{Address, Listen, Problem, Proto, When};
use super::{Config, Directive};

/// A port's addresses (family and port as nginx keys them), each with its listens.
type Port<'a> = ((u8, u16), Vec<(&'a Address, Vec<&'a Listen>)>);

const MESSAGE: &str = "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive";

/// Whether a problem is this check's.
pub fn missing_certificate(p: &Problem) -> bool {
    p.message == MESSAGE
}

/// The first `listen ... ssl` nginx finds without a certificate in one http{} or
/// stream{} block, if any. `listens` are the block's, and its servers are numbered
/// from `first_server + 1` in order, as [`Listen::server`] counts them.
pub(super) fn problem(
    conf: &Config,
    block: &Directive,
    proto: Proto,
    listens: &[Listen],
    first_server: usize,
) -> Option<Problem> {
    let servers: Vec<&Directive> = block
        .children()
        .into_iter()
        .filter(|d| &*d.name == "server")
        .collect();
    let server = |l: &Listen| servers[l.server - first_server - 1];
    let has = |d: &Directive, name: &str| d.children().iter().any(|c| &*c.name == name);
    let certified = |srv: &Directive| has(srv, "ssl_certificate") || has(block, "ssl_certificate");
    let ssl = |l: &Listen| {
        conf.args[l.args.start as usize..l.args.end as usize]
            .iter()
            .skip(1)
            .any(|a| conf.value(a) == "ssl")
    };
    let at = |file, line| Problem {
        when: When::Test,
        message: MESSAGE.into(),
        file,
        line,
        listens: Vec::new(),
    };
    match proto {
        // Per server, at the line of its last `listen ... ssl` (where the directive's `;`
        // stands); certificates are inherited from stream{}.
        Proto::Stream => servers.iter().find_map(|srv| {
            let last = listens
                .iter()
                .rfind(|l| std::ptr::eq(server(l), *srv) && ssl(l))?;
            (!certified(srv))
                .then(|| at(last.file, end_line(conf, last.file, last.line, &last.span)))
        }),
        // Per address (ports in the order they first appear, then addresses): the ssl flag
        // of any listen on it makes the address ssl, and its default server (the
        // default_server one, else the first) needs a certificate unless it rejects
        // handshakes, in which case every server on the address needs one or rejects too.
        // nginx names the line of the server block's `{`.
        Proto::Http => {
            let reject = |srv: &Directive| {
                let own = |d: &Directive| {
                    d.children()
                        .iter()
                        .rev()
                        .find(|c| &*c.name == "ssl_reject_handshake")
                        .map(|c| conf.values(c).first() == Some(&"on"))
                };
                own(srv).or_else(|| own(block)).unwrap_or(false)
            };
            let key = |a: &Address| match a {
                Address::Inet(s) => (u8::from(s.is_ipv4()), s.port()),
                Address::Unix(_) => (2, 0),
            };
            let mut ports: Vec<Port> = Vec::new();
            for l in listens {
                let at_port = match ports.iter().position(|(k, _)| *k == key(&l.addr)) {
                    Some(i) => i,
                    None => {
                        ports.push((key(&l.addr), Vec::new()));
                        ports.len() - 1
                    }
                };
                let addrs = &mut ports[at_port].1;
                match addrs.iter_mut().find(|(a, _)| **a == l.addr) {
                    Some((_, ls)) => ls.push(l),
                    None => addrs.push((&l.addr, vec![l])),
                }
            }
            let fails = |d: &Directive| at(d.file, end_line(conf, d.file, d.line, &d.span));
            for (_, addrs) in &ports {
                for (_, ls) in addrs {
                    if !ls.iter().any(|l| ssl(l)) {
                        continue;
                    }
                    let default = ls.iter().find(|l| l.default_server).unwrap_or(&ls[0]);
                    let srv = server(default);
                    if certified(srv) {
                        continue;
                    }
                    if !reject(srv) {
                        return Some(fails(srv));
                    }
                    if let Some(l) = ls.iter().find(|l| {
                        let s = server(l);
                        !certified(s) && !reject(s)
                    }) {
                        return Some(fails(server(l)));
                    }
                }
            }
            None
        }
    }
}

/// The line where a directive ends (its `;` or `{`): nginx's current line when it acts
/// on the directive.
fn end_line(conf: &Config, file: super::FileId, line: u32, span: &std::ops::Range<usize>) -> u32 {
    let bytes = &conf.files[file.0].bytes;
    let end = span.end.min(bytes.len());
    let start = span.start.min(end);
    line + bytes[start..end.saturating_sub(1).max(start)]
        .iter()
        .filter(|&&c| c == b'\n')
        .count() as u32
}
