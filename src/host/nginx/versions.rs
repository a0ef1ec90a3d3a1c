//! Which nginx release brought (or took away) each `listen` parameter and each directive
//! whose validity depends on the version, as nginx's own change log says
//! (docs/xml/nginx/changes.xml in the nginx repository, the CHANGES file of a release);
//! each entry names its release. The grammar in `listen.rs` asks this table, for the
//! version the configuration will run with (`binary.rs` finds it).

use super::listen::Proto;
use std::fmt;

/// An nginx version, `MAJOR.MINOR.PATCH` as `nginx -v` prints it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Version(pub u16, pub u16, pub u16);

impl Version {
    /// `1.22.1`; nothing else (no suffix, no fourth number).
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.split('.').map(|p| {
            (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten()
        });
        let v = Version(it.next()??, it.next()??, it.next()??);
        it.next().is_none().then_some(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The newest release this table was written from (changes.xml up to 1.31.4,
/// 2026-08-19): the version assumed when the running one cannot be known, so that
/// nothing a current nginx accepts is refused.
pub const NEWEST: Version = Version(1, 31, 4);

/// What Linux builds of nginx do with a parameter of their version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLinux {
    /// Parsed and used.
    Yes,
    /// Parsed, then ignored with an `[emerg] ... not supported on this platform,
    /// ignored` line; `nginx -t` still passes (accept_filter: no SO_ACCEPTFILTER).
    Ignored,
    /// Not compiled in (setfib: no SO_SETFIB): nginx reads it as an unknown parameter.
    No,
}

/// One word of the grammar and the releases that bound it.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The parameter as written (`backlog=` for those that take a value), or the
    /// directive's name.
    pub name: &'static str,
    /// The `listen` of this module; None for a directive.
    pub proto: Option<Proto>,
    pub since: Version,
    /// The first release that refuses it again.
    pub until: Option<Version>,
    pub linux: OnLinux,
}

const fn param(name: &'static str, proto: Proto, since: Version) -> Entry {
    Entry {
        name,
        proto: Some(proto),
        since,
        until: None,
        linux: OnLinux::Yes,
    }
}

const fn directive(name: &'static str, since: Version) -> Entry {
    Entry {
        name,
        proto: None,
        since,
        until: None,
        linux: OnLinux::Yes,
    }
}

const H: Proto = Proto::Http;
const S: Proto = Proto::Stream;
const fn v(a: u16, b: u16, c: u16) -> Version {
    Version(a, b, c)
}

/// Every `listen` parameter of http{} and stream{}, and the directives whose presence
/// depends on the release. The comment is the changes.xml entry each rests on.
pub const TABLE: &[Entry] = &[
    // 0.1.36: the "default", "af=", "bl=", "deferred", and "bind" parameters of the
    // "listen" directive.
    param("default", H, v(0, 1, 36)),
    param("deferred", H, v(0, 1, 36)),
    param("bind", H, v(0, 1, 36)),
    // 0.8.21: the "default_server" parameter of the "listen" directive.
    param("default_server", H, v(0, 8, 21)),
    // 0.3.3: "bl" and "af" renamed to "backlog" and "accept_filter"; the "rcvbuf" and
    // "sndbuf" parameters of the "listen" directive.
    param("backlog=", H, v(0, 3, 3)),
    Entry {
        linux: OnLinux::Ignored,
        ..param("accept_filter=", H, v(0, 3, 3))
    },
    param("rcvbuf=", H, v(0, 3, 3)),
    param("sndbuf=", H, v(0, 3, 3)),
    // 0.7.14: the "listen" directive supports the "ssl" parameter.
    param("ssl", H, v(0, 7, 14)),
    // 0.7.42: the "listen" directive supports the "ipv6only" parameter.
    param("ipv6only=", H, v(0, 7, 42)),
    // 0.8.44: the "listen" directive supports the "setfib" parameter (FreeBSD only).
    Entry {
        linux: OnLinux::No,
        ..param("setfib=", H, v(0, 8, 44))
    },
    // 1.1.11: the "so_keepalive" parameter of the "listen" directive.
    param("so_keepalive=", H, v(1, 1, 11)),
    // 1.5.8: the "listen" directive supports the "fastopen" parameter.
    param("fastopen=", H, v(1, 5, 8)),
    // 1.5.12: the "proxy_protocol" parameters of the "listen" ... directives.
    param("proxy_protocol", H, v(1, 5, 12)),
    // 1.3.15: the ngx_http_spdy_module; 1.9.5: the ngx_http_v2_module (replaces
    // ngx_http_spdy_module), `spdy` then only warned about (SPDY_SUPERSEDED); 1.19.7
    // (commit e82939206, "HTTP/2: removed SPDY directives handling"): refused.
    Entry {
        until: Some(v(1, 19, 7)),
        ..param("spdy", H, v(1, 3, 15))
    },
    param("http2", H, v(1, 9, 5)),
    // 1.9.1: the "reuseport" parameter of the "listen" directive.
    param("reuseport", H, v(1, 9, 1)),
    // 1.25.0: experimental HTTP/3 support (`listen ... quic`).
    param("quic", H, v(1, 25, 0)),
    // 1.29.7: the "multipath" parameter of the "listen" directive.
    param("multipath", H, MULTIPATH),
    // 1.9.0: the stream module, whose listen took bind, ipv6only=, ssl, so_keepalive=
    // (src/stream/ngx_stream_core_module.c of release-1.9.0).
    directive("stream", v(1, 9, 0)),
    param("bind", S, v(1, 9, 0)),
    param("ipv6only=", S, v(1, 9, 0)),
    param("ssl", S, v(1, 9, 0)),
    param("so_keepalive=", S, v(1, 9, 0)),
    // 1.9.1: reuseport, in the stream module's listen of release-1.9.1.
    param("reuseport", S, v(1, 9, 1)),
    // 1.9.2: the "backlog" parameter of the "listen" directives of the mail proxy and
    // stream modules.
    param("backlog=", S, v(1, 9, 2)),
    // 1.9.13: UDP support in the stream module.
    param("udp", S, v(1, 9, 13)),
    // 1.11.4: the "proxy_protocol" parameter of the "listen" directive ... in the
    // stream module.
    param("proxy_protocol", S, v(1, 11, 4)),
    // 1.13.0: the "rcvbuf" and "sndbuf" parameters of the "listen" directives of the
    // mail proxy and stream modules.
    param("rcvbuf=", S, v(1, 13, 0)),
    param("sndbuf=", S, v(1, 13, 0)),
    // 1.21.0: the "fastopen" parameter of the "listen" directive in the stream module.
    param("fastopen=", S, v(1, 21, 0)),
    // 1.25.5: virtual servers in the stream module; the "deferred", "accept_filter",
    // and "setfib" parameters of the "listen" directive in the stream module.
    param("default_server", S, v(1, 25, 5)),
    param("deferred", S, v(1, 25, 5)),
    Entry {
        linux: OnLinux::Ignored,
        ..param("accept_filter=", S, v(1, 25, 5))
    },
    Entry {
        linux: OnLinux::No,
        ..param("setfib=", S, v(1, 25, 5))
    },
    // 1.29.7: the "multipath" parameter of the "listen" directive (stream's too, in
    // release-1.29.7's ngx_stream_core_module.c).
    param("multipath", S, MULTIPATH),
    // 1.25.0: experimental HTTP/3 support (ngx_http_v3_module's directives and
    // quic_bpf of release-1.25.0).
    directive("http3", v(1, 25, 0)),
    directive("http3_hq", v(1, 25, 0)),
    directive("http3_max_concurrent_streams", v(1, 25, 0)),
    directive("http3_stream_buffer_size", v(1, 25, 0)),
    directive("quic_retry", v(1, 25, 0)),
    directive("quic_gso", v(1, 25, 0)),
    directive("quic_host_key", v(1, 25, 0)),
    directive("quic_active_connection_id_limit", v(1, 25, 0)),
    directive("quic_bpf", v(1, 25, 0)),
    // 1.25.1: the "http2" directive, which enables HTTP/2 on a per-server basis; the
    // "http2" parameter of the "listen" directive is now deprecated.
    directive("http2", v(1, 25, 1)),
    // 1.19.4: the "ssl_reject_handshake" directive.
    directive("ssl_reject_handshake", v(1, 19, 4)),
    // 1.15.0: the "ssl" directive is deprecated (SSL_DIRECTIVE_DEPRECATED); 1.25.1: the
    // deprecated "ssl" directive is not supported anymore. As old as
    // ngx_http_ssl_module itself.
    Entry {
        until: Some(v(1, 25, 1)),
        ..directive("ssl", v(0, 0, 0))
    },
];

/// 1.15.0: `ssl on;` warns `the "ssl" directive is deprecated, use the "listen ... ssl"
/// directive instead` (ngx_conf_deprecated), until 1.25.1 refuses it.
pub const SSL_DIRECTIVE_DEPRECATED: Version = v(1, 15, 0);

/// What nginx `at` warns about a directive of http{} it still accepts, in its words.
pub fn directive_warning(name: &str, at: Version) -> Option<&'static str> {
    (name == "ssl" && at >= SSL_DIRECTIVE_DEPRECATED && lookup(name, None, at) == Known::Yes)
        .then_some(
            "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead",
        )
}

/// 1.15.10: port ranges in the "listen" directive.
pub const PORT_RANGES: Version = v(1, 15, 10);
/// 1.9.5: `listen ... spdy` warns `invalid parameter "spdy": ngx_http_spdy_module was
/// superseded by ngx_http_v2_module` and is ignored (until 1.19.7 refuses it).
pub const SPDY_SUPERSEDED: Version = v(1, 9, 5);
/// 1.25.1: the "http2" parameter of the "listen" directive is now deprecated (nginx
/// warns, and still accepts it).
pub const HTTP2_PARAM_DEPRECATED: Version = v(1, 25, 1);
/// 1.25.5 (commit ae1948aa4, "Overhauled some diagnostic messages"): the stream module
/// says `invalid parameter "X"` as http{} does, where it said `the invalid "X" parameter`.
pub const STREAM_SAYS_INVALID_PARAMETER: Version = v(1, 25, 5);
/// 1.25.5: virtual servers in the stream module: several servers may listen on one
/// address, checked as http{} checks them.
pub const STREAM_VIRTUAL_SERVERS: Version = v(1, 25, 5);
/// 1.25.4 (commit 71a0a4acd): "fastopen", "backlog", "accept_filter", "deferred" and
/// "so_keepalive" are refused with "quic", beside ssl, http2 and proxy_protocol (1.25.0).
pub const QUIC_MORE_CHECKS: Version = v(1, 25, 4);

/// The parameters a datagram listen refuses (stream's `udp`, http's `quic`), in the
/// order nginx `at` checks them, so that the first one written is the one it names.
/// Linux builds skip accept_filter (no SO_ACCEPTFILTER).
pub fn datagram_refuses(proto: Proto, at: Version) -> Vec<&'static str> {
    let multipath = at >= MULTIPATH;
    let mut out = Vec::new();
    match proto {
        // ngx_stream_core_listen before 1.25.5.
        Proto::Stream if at < STREAM_VIRTUAL_SERVERS => {
            return vec![
                "backlog",
                "ssl",
                "so_keepalive",
                "proxy_protocol",
                "fastopen",
            ]
        }
        // ngx_http_core_listen, 1.25.0 to 1.25.3.
        Proto::Http if at < QUIC_MORE_CHECKS => return vec!["ssl", "http2", "proxy_protocol"],
        _ => {}
    }
    out.extend(["fastopen", "backlog", "deferred"]);
    if multipath {
        out.push("multipath");
    }
    out.push("ssl");
    if proto == Proto::Http {
        out.push("http2");
    }
    out.extend(["so_keepalive", "proxy_protocol"]);
    out
}

/// 1.29.7: the "multipath" parameter (and its clash with udp and quic).
const MULTIPATH: Version = v(1, 29, 7);

/// What the table says of a word in this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Yes,
    /// Parsed, then ignored on Linux with an `[emerg]` notice; `nginx -t` passes.
    Ignored,
    /// Not a word of this version (or not on Linux).
    No,
    /// Not in the table: the grammar decides alone.
    Unlisted,
}

fn lookup(name: &str, proto: Option<Proto>, at: Version) -> Known {
    // Every directive of a configuration comes here (60,000 in a large one), and few are
    // in the table: one hash lookup turns the rest away before a scan of the rows.
    static NAMES: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    if !NAMES
        .get_or_init(|| TABLE.iter().map(|e| e.name).collect())
        .contains(name)
    {
        return Known::Unlisted;
    }
    let mut rows = TABLE
        .iter()
        .filter(|e| e.proto == proto && e.name == name)
        .peekable();
    if rows.peek().is_none() {
        return Known::Unlisted;
    }
    let live = rows.find(|e| at >= e.since && e.until.is_none_or(|u| at < u));
    match live.map(|e| e.linux) {
        Some(OnLinux::Yes) => Known::Yes,
        Some(OnLinux::Ignored) => Known::Ignored,
        Some(OnLinux::No) | None => Known::No,
    }
}

/// A `listen` parameter of this module in version `at`: `p` as written (`backlog=5`
/// is looked up as `backlog=`).
pub fn listen_param(proto: Proto, p: &str, at: Version) -> Known {
    let name = match p.find('=') {
        Some(i) => &p[..=i],
        None => p,
    };
    lookup(name, Some(proto), at)
}

/// A directive whose presence depends on the release.
pub fn directive_known(name: &str, at: Version) -> Known {
    lookup(name, None, at)
}

/// The release that brought a word, for the remedy ("since nginx 1.25.0").
pub fn since(name: &str, proto: Option<Proto>) -> Option<Version> {
    TABLE
        .iter()
        .filter(|e| e.name == name && e.proto == proto)
        .map(|e| e.since)
        .min()
}

/// How nginx of version `at` refuses an unknown `listen` parameter in this module.
pub fn invalid_param_message(proto: Proto, p: &str, at: Version) -> String {
    if proto == Proto::Stream && at < STREAM_SAYS_INVALID_PARAMETER {
        format!("the invalid \"{p}\" parameter")
    } else {
        format!("invalid parameter \"{p}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("1.22.1"), Some(Version(1, 22, 1)));
        assert_eq!(Version::parse("1.25"), None);
        assert_eq!(Version::parse("1.25.0.1"), None);
        assert_eq!(Version::parse("1.x.0"), None);
        assert_eq!(Version::parse("1.99999.0"), None);
        assert!(Version(1, 9, 13) < Version(1, 22, 1));
        assert!(Version(1, 24, 9) < Version(1, 25, 0));
        assert!(Version(2, 0, 0) > Version(1, 25, 99));
        assert_eq!(Version(1, 22, 1).to_string(), "1.22.1");
    }

    #[test]
    fn the_table_answers_by_release() {
        let at = |s| Version::parse(s).unwrap();
        assert_eq!(listen_param(H, "quic", at("1.22.1")), Known::No);
        assert_eq!(listen_param(H, "quic", at("1.25.0")), Known::Yes);
        assert_eq!(listen_param(H, "backlog=9", at("1.22.1")), Known::Yes);
        assert_eq!(listen_param(S, "backlog=9", at("1.9.1")), Known::No);
        assert_eq!(listen_param(S, "udp", at("1.9.13")), Known::Yes);
        assert_eq!(listen_param(S, "default_server", at("1.22.1")), Known::No);
        assert_eq!(listen_param(S, "default_server", at("1.25.5")), Known::Yes);
        assert_eq!(listen_param(H, "spdy", at("1.9.4")), Known::Yes);
        assert_eq!(listen_param(H, "spdy", at("1.19.6")), Known::Yes);
        assert_eq!(listen_param(H, "spdy", at("1.19.7")), Known::No);
        assert_eq!(listen_param(H, "setfib=1", NEWEST), Known::No);
        assert_eq!(listen_param(H, "accept_filter=x", NEWEST), Known::Ignored);
        assert_eq!(listen_param(H, "nonsense", NEWEST), Known::Unlisted);
        assert_eq!(directive_known("http2", at("1.25.0")), Known::No);
        assert_eq!(directive_known("http2", at("1.25.1")), Known::Yes);
        assert_eq!(directive_known("stream", at("1.8.1")), Known::No);
        assert_eq!(directive_known("ssl", at("1.25.0")), Known::Yes);
        assert_eq!(directive_known("ssl", at("1.25.1")), Known::No);
        assert!(directive_warning("ssl", at("1.14.2")).is_none());
        assert!(directive_warning("ssl", at("1.22.1")).is_some());
        assert!(directive_warning("ssl", at("1.25.1")).is_none());
        assert_eq!(directive_known("server", at("1.8.1")), Known::Unlisted);
        assert_eq!(since("quic", Some(H)), Some(at("1.25.0")));
        assert_eq!(
            invalid_param_message(S, "quic", at("1.22.1")),
            "the invalid \"quic\" parameter"
        );
        assert_eq!(
            invalid_param_message(S, "quic", at("1.25.5")),
            "invalid parameter \"quic\""
        );
    }
}
