//! Unknown variables against the real `nginx -t`: nginx checks, once it has read an
//! http{} or stream{} block, that every variable a directive compiled is defined
//! (`unknown "NAME" variable`, naming no file or line). Each configuration here is judged
//! by tuneguard with the oracle's binary and stream module, as an audit reads them: where
//! nginx accepts, tuneguard predicts no refusal; where it refuses, tuneguard's first
//! refusal is nginx's message, and its line when nginx names one (0 when not).

mod common;

use common::nginx::{stream_module, Prefix};
use std::path::Path;
use tuneguard::host::nginx::{self, binary, directives, listen};

/// nginx's first `[emerg]`: the message, and the line when it names a place.
fn emerg(stderr: &str) -> Option<(String, u32)> {
    let rest = stderr.split_once("[emerg] ")?.1;
    // "PID#TID: " when the message went through the log's format.
    let rest = match rest.split_once(": ") {
        Some((pid, m)) if pid.chars().all(|c| c.is_ascii_digit() || c == '#') => m,
        _ => rest,
    };
    let msg = rest.lines().next()?;
    Some(match msg.rsplit_once(" in /") {
        Some((text, at)) => (text.into(), at.rsplit_once(':')?.1.trim().parse().ok()?),
        None => (msg.into(), 0),
    })
}

/// `http` and `stream` are the blocks' bodies (stream{} is left out when empty), after
/// the main context's `main`.
fn check(main: &str, http: &str, stream: &str) {
    let p = Prefix::new();
    let stream = if stream.is_empty() {
        String::new()
    } else {
        format!("stream {{\n{stream}\n}}\n")
    };
    let text = format!(
        "load_module {};\n{}{main}\nhttp {{ {}\n{http}\n}}\n{stream}",
        stream_module().display(),
        p.preamble(),
        p.http_preamble()
    );
    let conf_path = p.write("nginx.conf", &text);
    let (ok, stderr) = p.test();
    let conf = nginx::load(Path::new("/"), &conf_path).unwrap();
    let bin = common::nginx::binary();
    let assumed = binary::assume(None, bin.ancestors().nth(3).unwrap(), true, None);
    let mut m = listen::model(&conf, assumed.version);
    let modules = directives::modules(&conf, assumed.program.as_ref(), None);
    assert!(
        modules.is_some(),
        "the binary and the stream module are read"
    );
    directives::judge(&mut m, &conf, modules.as_deref(), None);
    let ours = m
        .problems
        .iter()
        .find(|p| p.when == listen::When::Test)
        .map(|p| (p.message.clone(), p.line));
    let case = format!("{main} | {http} | {stream}\nnginx said: {stderr}\nwe: {ours:?}");
    if ok {
        assert_eq!(ours, None, "{case}");
    } else {
        assert_eq!(ours, emerg(&stderr), "{case}");
    }
}

fn server(body: &str) -> String {
    format!("server {{ listen 127.0.0.1:8080; {body} }}")
}

#[test]
fn unknown_variables_where_nginx_compiles_them() {
    // The corpus's case: a map's value.
    check("", "map $uri $m { '' $arg; default 1; }", "");
    check("", &server("return 200 $nope;"), "");
    check("", &server("return 302 http://x/$Nope;"), "");
    check("", &server("add_header X $nope;"), "");
    check("", &server("add_header X \"a ${nope}b\";"), "");
    check("", &server("if ($nope) { return 404; }"), "");
    check("", &server("if ($host = $nope) { return 404; }"), "");
    check("", &server("if (!-f $nope) { return 404; }"), "");
    check("", &server("location / { proxy_pass http://$nope; }"), "");
    check("", &server("location / { root /srv/$nope; }"), "");
    check(
        "",
        &server("location / { try_files $uri /$nope =404; }"),
        "",
    );
    check("", &server("rewrite ^/(.*) /$nope/$1;"), "");
    check("", &server("set $a $nope;"), "");
    check("", &format!("log_format f '$nope'; {}", server("")), "");
    check("", &server("access_log /dev/null combined if=$nope;"), "");
    check("", &server("error_page 404 /$nope;"), "");
    check(
        "",
        &format!("limit_req_zone $nope zone=z:1m rate=1r/s; {}", server("")),
        "",
    );
    // proxy_set_header is compiled as a server inherits it, and only then.
    check("", &format!("proxy_set_header X $nope; {}", server("")), "");
    check(
        "",
        &format!(
            "proxy_set_header X $nope; {}",
            server("proxy_set_header Y 1;")
        ),
        "",
    );
    check("", "proxy_set_header X $nope;", "");
    // stream{}: its own variables, and its own end of block.
    check(
        "",
        &server(""),
        "server { listen 127.0.0.1:9000; return $nope; }",
    );
    check(
        "",
        &server(""),
        "map $remote_addr $s { default $nope; } server { listen 127.0.0.1:9000; return $s; }",
    );
}

#[test]
fn defined_variables_pass() {
    check("", &server("set $v 1; return 200 $v;"), "");
    check("", &server("return 200 $v; set $v 1;"), "");
    check(
        "",
        &format!("map $uri $v {{ default 1; }} {}", server("return 200 $v;")),
        "",
    );
    check(
        "",
        &format!("geo $v {{ default 1; }} {}", server("return 200 $v;")),
        "",
    );
    check(
        "",
        &format!(
            "split_clients $uri $v {{ 50% a; * b; }} {}",
            server("return 200 $v;")
        ),
        "",
    );
    check(
        "",
        &server("location ~ ^/(?<n>x)(?P<m>y) { return 200 $n$m$1; }"),
        "",
    );
    check(
        "",
        &server("return 200 \"$http_x_foo $arg_id $cookie_a $sent_http_x $upstream_http_y\";"),
        "",
    );
    check("", &server("return 200 \"${host}x ${request_uri}\";"), "");
    check("", &server("return 200 $HOST;"), "");
    check(
        "",
        &server(""),
        "server { listen 127.0.0.1:9000; set $s 1; return \"$s $remote_addr\"; }",
    );
    // A `$` in a regex is not a variable.
    check(
        "",
        &server("location ~ /x$nope { } rewrite ^/a$nope /b; if ($uri ~ a$nope) { }"),
        "",
    );
}

#[test]
fn nginx_stops_at_the_first_error() {
    // A directive error in the block comes first.
    check("", &server("bogus_directive 1; return 200 $nope;"), "");
    check("", &server("return 200 $nope; bogus_directive 1;"), "");
    // One after the block comes after it.
    check(
        "",
        &server("return 200 $nope;"),
        "server { listen 127.0.0.1:9000; bogus_directive 1; }",
    );
    // A listen refused as it is read comes first; a start failure never happens.
    check("", &server("listen 127.0.0.1:8080; return 200 $nope;"), "");
    check(
        "",
        &format!(
            "{}\nserver {{ listen 8081; }}",
            server("listen 127.0.0.1:8081 backlog=9; return 200 $nope;")
        ),
        "",
    );
    // A certificate missing for `listen ... ssl` is found before the variables.
    check(
        "",
        "server { listen 127.0.0.1:8443 ssl; return 200 $nope; }",
        "",
    );
}
