//! The config reader against the real `nginx -t` on the same bytes (docs/kernel.md §7): where
//! nginx accepts, we read the same words (nginx echoes a word back in "invalid value"
//! messages, so the oracle is nginx's own reading); where it refuses, we refuse with
//! its message and line. Includes are checked against `nginx -T`.

mod common;

use common::nginx::{stream_module, Prefix};
use std::path::Path;
use tuneguard::host::nginx::{self, Config, Directive};

/// What nginx said about the first directive it stopped at, if it stopped.
fn emerg(stderr: &str) -> Option<(String, String, u32)> {
    // The message may span lines (a quoted word with newlines); it ends where nginx's
    // summary line starts.
    let msg = stderr.split_once("[emerg] ")?.1;
    let msg = msg.split_once(": ").map_or(msg, |(_, m)| m);
    let msg = msg
        .split_once("\nnginx: configuration file")
        .map_or(msg, |(m, _)| m);
    let (text, at) = msg.rsplit_once(" in ")?;
    let (file, line) = at.rsplit_once(':')?;
    Some((
        text.to_string(),
        file.to_string(),
        line.trim().parse().ok()?,
    ))
}

fn first<'a>(conf: &'a Config, name: &str) -> Option<&'a Directive> {
    fn go<'a>(dirs: Vec<&'a Directive>, name: &str) -> Option<&'a Directive> {
        for d in dirs {
            if &*d.name == name {
                return Some(d);
            }
            if let Some(x) = go(d.children(), name) {
                return Some(x);
            }
        }
        None
    }
    go(conf.top(), name)
}

enum Want {
    /// `user WORD;`: nginx looks the word up and says which word it read.
    Value,
    /// nginx reads this many words for worker_processes.
    Words(usize),
    /// nginx accepts the whole file.
    Accepts,
    /// nginx refuses while reading: same message, same line.
    Refuses,
}

fn check(snippet: &str, want: Want) {
    let p = Prefix::new();
    // Line 3 onwards is the snippet.
    let text = format!(
        "pid {}/nginx.pid;\nevents {{}}\n{snippet}",
        p.path().display()
    );
    let conf_path = p.write("nginx.conf", &text);
    let (ok, stderr) = p.test();
    let ours = nginx::load(Path::new("/"), &conf_path);
    let summary = match &ours {
        Ok(c) => format!(
            "{:?}",
            first(c, "user")
                .or(first(c, "worker_processes"))
                .map(|d| c.values(d))
        ),
        Err(e) => e.to_string(),
    };
    let case = format!(
        "case {:?}\nnginx said: {stderr}\nwe read: {summary}",
        &snippet[..snippet.len().min(80)]
    );
    match want {
        Want::Value => {
            let (msg, _, _) = emerg(&stderr).unwrap_or_else(|| panic!("{case}"));
            // `user NAME` as root: nginx echoes the word it read in getpwnam("NAME").
            let word = msg
                .strip_prefix("getpwnam(\"")
                .and_then(|m| m.split_once("\") failed"))
                .map(|(w, _)| w)
                .unwrap_or_else(|| panic!("{case}"));
            let conf = ours.unwrap_or_else(|e| panic!("{case}\n{e}"));
            let d = first(&conf, "user").expect("user");
            assert_eq!(conf.values(d), [word], "{case}");
        }
        Want::Words(n) => {
            let (msg, _, _) = emerg(&stderr).unwrap_or_else(|| panic!("{case}"));
            assert_eq!(
                msg, "invalid number of arguments in \"worker_processes\" directive",
                "{case}"
            );
            let conf = ours.unwrap_or_else(|e| panic!("{case}\n{e}"));
            assert_eq!(
                conf.values(first(&conf, "worker_processes").unwrap()).len(),
                n,
                "{case}"
            );
        }
        Want::Accepts => {
            assert!(ok, "{case}");
            ours.unwrap_or_else(|e| panic!("{case}\n{e}"));
        }
        Want::Refuses => {
            assert!(!ok, "{case}");
            let (msg, file, line) = emerg(&stderr).unwrap_or_else(|| panic!("{case}"));
            let e = ours.expect_err(&case);
            assert_eq!(e.message, msg, "{case}");
            assert_eq!(e.file, Path::new(&file), "{case}");
            assert_eq!(e.line, line, "{case}");
        }
    }
}

#[test]
fn close_brace_and_sharp_only_at_the_start_of_a_word() {
    check("user x};\n", Want::Value);
    check("user a#b;\n", Want::Value);
    check(
        "worker_processes 1; # a comment with ; and { and }\n",
        Want::Accepts,
    );
    check("worker_processes 1;#c\n", Want::Accepts);
    check("worker_processes a };\n", Want::Refuses);
    check("worker_processes 1;\n}\n", Want::Refuses);
    check("# a comment }\nworker_processes 1 ;\n", Want::Accepts);
}

#[test]
fn quotes_open_only_at_word_start_and_need_a_separator_after() {
    check("user \"a b\";\n", Want::Value);
    check("user 'a b';\n", Want::Value);
    check("user \"two\nlines\";\n", Want::Value);
    check("user x\"y;\n", Want::Value);
    check("\"user\" q;\n", Want::Value);
    check("worker_processes \"a\"b;\n", Want::Refuses);
    check("worker_processes \"a\");\n", Want::Words(2));
    check("worker_processes \"never closed;\n", Want::Refuses);
}

#[test]
fn backslashes_unescape_as_nginx_stores_them() {
    check("user \"q\\\"s\\'b\\\\t\\tn\\nr\\rx\\xd\";\n", Want::Value);
    check("user 'p\\'q';\n", Want::Value);
    check("user \\\"r;\n", Want::Value);
    check("user a\\;b;\n", Want::Value);
    // No line continuation: the backslash keeps the newline inside the word.
    check("user a\\\nb;\n", Want::Value);
}

#[test]
fn variables_keep_their_brace_and_separators_are_any_whitespace() {
    check("user ${x}y;\n", Want::Value);
    check("user\r\n\t1x;\n", Want::Value);
    check("worker_processes 1\n", Want::Refuses);
    check(";\n", Want::Refuses);
    check("{\n", Want::Refuses);
    check("http {\n", Want::Refuses);
}

#[test]
fn words_longer_than_nginx_s_buffer_are_refused() {
    // 4095 bytes fit: nginx reads the word and looks it up (its log line is cut at
    // 2048 bytes, so the word is compared by its start and our length).
    let p = Prefix::new();
    let word = "x".repeat(4095);
    let conf = p.write("nginx.conf", &format!("events {{}}\nuser {word};\n"));
    let (_, stderr) = p.test();
    assert!(
        stderr.contains("getpwnam(\"xxxxxxxx") && !stderr.contains("too long"),
        "{stderr}"
    );
    let ours = nginx::load(Path::new("/"), &conf).unwrap();
    assert_eq!(ours.values(first(&ours, "user").unwrap()), [word.as_str()]);
    check(
        &format!("worker_processes {};\n", "x".repeat(4096)),
        Want::Refuses,
    );
    check(
        &format!("worker_processes \"{}\";\n", "x".repeat(5000)),
        Want::Refuses,
    );
    check(
        &format!("worker_processes '{}';\n", "x".repeat(5000)),
        Want::Refuses,
    );
}

#[test]
fn http_blocks_with_odd_words_and_handler_bodies() {
    let p = Prefix::new();
    let http = p.http_preamble();
    let body = format!(
        "http {{ {http}\n  types {{ text/html html; if x; location y; \"a b\" c; }}\n  map $uri $m {{ location 1; server 2; default 0; }}\n  server {{ listen 127.0.0.1:8080; return 200 x}}; }}\n}}\n"
    );
    check(&body, Want::Accepts);
    let q = Prefix::new();
    let conf = nginx::load(
        Path::new("/"),
        &q.write("nginx.conf", &format!("events {{}}\n{body}")),
    )
    .unwrap();
    let ret = first(&conf, "return").unwrap();
    assert_eq!(conf.values(ret), ["200", "x}"]);
    let types = first(&conf, "types").unwrap();
    let names: Vec<&str> = types.children().iter().map(|d| &*d.name).collect();
    assert_eq!(names, ["text/html", "if", "location", "a b"]);
    // A handler body takes no nested block.
    check(
        &format!("http {{ {http} types {{ a {{ }} }} }}\n"),
        Want::Refuses,
    );
}

/// A `listen` in http{} or stream{} against `nginx -t`: where nginx accepts, tuneguard
/// predicts no `nginx -t` failure and derives `sockets` sockets; where nginx refuses,
/// tuneguard's first problem is nginx's message on nginx's line.
fn check_listen(proto: &str, listen: &str, sockets: usize) {
    check_server(proto, listen, "", sockets);
}

/// `check_listen` with more directives in the server (and, for stream, the http{}
/// block), and `main` in the main context.
fn check_server(proto: &str, listen: &str, more: &str, sockets: usize) {
    check_conf(proto, listen, more, "", sockets);
}

fn check_conf(proto: &str, listen: &str, more: &str, main: &str, sockets: usize) {
    let p = Prefix::new();
    // Line 3 is the listen.
    let server = format!(
        "server {{ listen {listen}; {more} return {}; }}",
        if proto == "stream" { "x" } else { "200" }
    );
    let blocks = if proto == "stream" {
        format!("http {{ {} }}\nstream {{ {server} }}\n", p.http_preamble())
    } else {
        format!("http {{ {}\n{server} }}\n", p.http_preamble())
    };
    let text = format!(
        "load_module {};\n{} {main}\n{blocks}",
        stream_module().display(),
        p.preamble().replace('\n', " "),
    );
    let conf_path = p.write("nginx.conf", &text);
    let (ok, stderr) = p.test();
    let conf = nginx::load(Path::new("/"), &conf_path).unwrap();
    let m = nginx::listen::model(&conf, common::nginx::version());
    let ours = m
        .problems
        .iter()
        .find(|p| p.when == nginx::listen::When::Test);
    let case = format!(
        "{proto} listen {listen}; {more} {main}\nnginx said: {stderr}\nwe: {ours:?} {:?}",
        m.warnings
    );
    // nginx's warnings (`listen ... http2` from 1.25.1, and what Linux ignores with an
    // [emerg] line that does not fail) are ours, and only they.
    let warned = stderr
        .lines()
        .filter(|l| l.contains("[warn]") || (l.contains("[emerg]") && l.contains(", ignored")))
        .count();
    assert_eq!(warned, m.warnings.len(), "{case}");
    if ok {
        assert!(ours.is_none(), "{case}");
        assert_eq!(m.sockets.len(), sockets, "{case}\n{:?}", m.sockets);
    } else {
        let (msg, _, line) = emerg(&stderr).unwrap_or_else(|| panic!("{case}"));
        let ours = ours.unwrap_or_else(|| panic!("{case}"));
        assert_eq!(ours.message, msg, "{case}");
        assert_eq!(ours.line, line, "{case}");
    }
}

#[test]
fn port_ranges_read_as_ngx_parse_url_reads_them() {
    for proto in ["http", "stream"] {
        check_listen(proto, "127.0.0.1:8182-8183", 2);
        check_listen(proto, "8186-8187", 2);
        check_listen(proto, "*:7-9", 3);
        check_listen(proto, "[::1]:9000-9001", 2);
        check_listen(proto, "8100-8100 backlog=5", 1);
        // Refused: high below low, out of 1..65535, nothing after the dash.
        check_listen(proto, "8187-8186", 0);
        check_listen(proto, "127.0.0.1:5-4", 0);
        check_listen(proto, "0-5", 0);
        check_listen(proto, "5-70000", 0);
        check_listen(proto, "1-65536", 0);
        check_listen(proto, "127.0.0.1:5-", 0);
        check_listen(proto, "[::1]:9-x", 0);
        // Not a number on both sides of the dash: a host name, and none resolves.
        check_listen(proto, "80-x.invalid", 0);
        check_listen(proto, "x.invalid-80", 0);
    }
    // A unix path takes no range: the dash is part of the path.
    check_listen("http", "unix:/tmp/tuneguard-a-1-2.sock", 1);
    // A range's options are each port's: two listens with options on one port clash.
    check_listen(
        "http",
        "8300-8301 backlog=5; listen 8301 so_keepalive=on",
        0,
    );
}

#[test]
fn stream_listen_parameters_in_the_stream_module_s_words() {
    for param in [
        "default_server",
        "default",
        "http2",
        "deferred",
        "ipv6only=x",
        "ipv6only=onx",
        "accept_filter=x",
        "setfib=1",
        "bind=1",
        "reuseport=1",
        "backlog",
        "backlog=x",
        "backlog=0",
        "so_keepalive=x",
        "fastopen=3",
        "fastopen=x",
        "fastopen=3 udp",
        "ssl udp",
        "proxy_protocol udp",
        "so_keepalive=off udp",
        "udp backlog=3 so_keepalive=on",
        "udp proxy_protocol fastopen=1",
    ] {
        check_listen("stream", &format!("9001 {param}"), 1);
    }
    // http's own words for the same mistakes.
    for param in ["udp", "ipv6only=x", "ipv6only=onx", "backlog", "setfib=1"] {
        check_listen("http", &format!("9001 {param}"), 1);
    }
}

/// A key and a self-signed certificate for the `ssl` cases (nginx -t loads them).
fn certificate(p: &Prefix) -> String {
    let (key, crt) = (p.path().join("k.pem"), p.path().join("c.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=t",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "ssl_certificate {}; ssl_certificate_key {};",
        crt.display(),
        key.display()
    )
}

/// Every listen parameter and directive whose validity depends on the nginx version,
/// judged by the version tuneguard reads from the binary (Debian's 1.22.1 in the suite;
/// any nginx built with the stream module as Debian's, and its modules, can be the
/// oracle through TUNEGUARD_TEST_NGINX): its `nginx -t` verdict, message and line, and
/// its warnings, are tuneguard's.
#[test]
fn version_dependent_words_are_judged_by_the_binary_s_version() {
    for proto in ["http", "stream"] {
        for param in [
            "http2",
            "spdy",
            "multipath",
            "udp",
            "default_server",
            "reuseport",
            "fastopen=3",
            "so_keepalive=on",
            "so_keepalive=1m::3",
            "deferred",
            "bind",
            "backlog=5",
            "rcvbuf=8k",
            "sndbuf=8k",
            "setfib=1",
            "accept_filter=dataready",
            "proxy_protocol",
            "udp reuseport",
            "udp deferred",
            "udp multipath",
        ] {
            check_listen(proto, &format!("9001 {param}"), 1);
        }
        check_listen(proto, "[::1]:9001 ipv6only=on", 1);
        check_listen(proto, "[::]:9001 ipv6only=off", 1);
    }
    let p = Prefix::new();
    let tls = certificate(&p);
    // With a certificate: nginx -t refuses ssl (1.15.0) and quic (1.25.0) listens
    // without one, which tuneguard does not model.
    for proto in ["http", "stream"] {
        for param in [
            "ssl",
            "ssl udp",
            "quic",
            "ssl quic",
            "quic reuseport",
            "backlog=5 quic",
            "quic so_keepalive=on",
            "quic deferred",
            "quic proxy_protocol",
        ] {
            check_server(proto, &format!("9001 {param}"), &tls, 1);
        }
    }
    check_server("http", "9001 ssl http2", &tls, 1);
    // Without a certificate nginx -t refuses ssl (1.15.0) and quic (1.25.0) listens,
    // naming the server (the stream module before 1.25.5: the listen); with
    // ssl_reject_handshake (1.19.4) in the default server, every other server on the
    // address needs a certificate or to reject too.
    for proto in ["http", "stream"] {
        check_listen(proto, "9001 ssl", 1);
        check_listen(proto, "9001 quic", 1);
        check_server(proto, "9001 ssl", "ssl_certificate_key k.pem;", 1);
    }
    // (The stream module has ssl_reject_handshake from 1.25.5 only.)
    check_server("http", "9001 ssl", "ssl_reject_handshake on;", 1);
    // Two servers on one address (their names differ: nginx warns of a conflict).
    check_listen(
        "http",
        "9001 ssl default_server; ssl_reject_handshake on; return 200; }\nserver { server_name b; listen 9001 ssl",
        1,
    );
    check_listen(
        "http",
        &format!("9001 ssl; return 200; }}\nserver {{ server_name b; {tls} listen 9001 ssl default_server"),
        1,
    );
    // The ssl directive: deprecated in 1.15.0 (a warning), refused from 1.25.1.
    check_server("http", "9001", &format!("ssl on; {tls}"), 1);
    // Directives of later releases: HTTP/3's and QUIC's (1.25.0), http2 (1.25.1).
    for more in [
        "http2 on;",
        "http3 on;",
        "http3_hq on;",
        "quic_retry on;",
        "quic_gso on;",
    ] {
        check_server("http", "9001", more, 1);
    }
    check_conf("http", "9001", "", "quic_bpf on;", 1);
}
