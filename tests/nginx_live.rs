//! The kernel and nginx as oracles: real nginx started in a throwaway namespace with a
//! config of the test's making. What tuneguard says a listener's backlog is must be what
//! `ss` shows in that namespace; a reload after raising somaxconn leaves stale caps, a
//! restart heals them. nginx dies with the namespace, also when a test fails.

mod common;

use common::nginx::{ss_listeners, ss_unix_listeners, stream_module, Prefix};
use common::{run, Netns};
use serde_json::Value;

fn audit(ns: &Netns, extra: &[&str]) -> Value {
    let mut args = vec![
        "audit", "--netns", &ns.name, "--only", "nginx", "--format", "json",
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    r.json()
}

/// `audit` of a named configuration file.
fn audit_conf(ns: &Netns, conf: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["--nginx-conf", conf.to_str().unwrap()];
    args.extend_from_slice(extra);
    audit(ns, &args)
}

fn findings<'a>(r: &'a Value, prefix: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with(prefix))
        .collect()
}

fn by_socket<'a>(r: &'a Value, prefix: &str, socket: &str) -> &'a Value {
    findings(r, prefix)
        .into_iter()
        .find(|f| f["nginx"]["socket"] == socket)
        .unwrap_or_else(|| panic!("no {prefix} finding for {socket}: {r:#}"))
}

/// Five sockets of every kind: specific, wildcard (default backlog), IPv6, reuseport,
/// unix, and a stream listener.
fn many_sockets(p: &Prefix) {
    let d = p.path().display();
    p.write(
        "nginx.conf",
        &format!(
            "load_module {};\n{}worker_processes 2;\nhttp {{\n {}\n server {{ listen 127.0.0.1:8080 backlog=1024; return 200 a; }}\n server {{ listen 8081; listen [::1]:8082 backlog=100; return 200 b; }}\n include conf.d/*.conf;\n}}\nstream {{ server {{ listen 127.0.0.1:9000 backlog=50; return x; }} }}\n",
            stream_module().display(),
            p.preamble(),
            p.http_preamble()
        ),
    );
    p.write(
        "conf.d/more.conf",
        &format!("server {{ listen 8083 reuseport backlog=64; listen unix:{d}/s.sock backlog=300; return 200 c; }}\n"),
    );
}

#[test]
fn live_backlogs_equal_ss_then_go_stale_on_reload_and_heal_on_restart() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let p = Prefix::new();
    many_sockets(&p);
    p.start(&ns).expect("nginx starts");

    // No --nginx-conf: the running master's own -c is found.
    let r = audit(&ns, &["--profile", "web-frontend"]);
    assert_eq!(
        r["nginx"]["conf"],
        p.conf().display().to_string(),
        "{:#}",
        r["nginx"]
    );
    let ss = ss_listeners(&ns);
    assert_eq!(ss.len(), 6, "{ss:?}"); // 8083 twice: reuseport, two workers
    for (addr, _, send_q) in &ss {
        let live = by_socket(&r, "nginx/live/", addr);
        assert_eq!(live["status"], "pass", "{live:#}");
        assert_eq!(live["live"]["max_backlog"], *send_q, "{addr}: {live:#}");
        let count = ss.iter().filter(|(a, _, _)| a == addr).count();
        assert_eq!(live["live"]["sockets"], count, "{addr}");
        // Started with somaxconn 128: what the tool computes is what the kernel gave.
        let min = by_socket(&r, "nginx/listen_backlog/", addr);
        assert_eq!(min["effective"], *send_q, "{addr}: {min:#}");
        assert_eq!(live["live"]["owners"][0]["name"], "nginx");
    }
    let unix = ss_unix_listeners(&ns);
    let sock = format!("{}/s.sock", p.path().display());
    let (_, send_q) = unix
        .iter()
        .find(|(path, _)| *path == sock)
        .expect("unix listener");
    let live = by_socket(&r, "nginx/live/", &format!("unix:{sock}"));
    assert_eq!(live["live"]["max_backlog"], *send_q);
    assert_eq!(*send_q, 128);
    // A listener of the configuration's is never reported as someone else's.
    assert!(findings(&r, "nginx/listener/").is_empty(), "{r:#}");

    // Raising somaxconn and reloading with the same numbers: listen() is not called
    // again, the kernel keeps 128, and the tool says the cap is stale.
    ns.set("net.core.somaxconn", "4096");
    p.signal(&ns, "reload");
    let ss = ss_listeners(&ns);
    let r = audit(&ns, &["--profile", "web-frontend"]);
    let stale = by_socket(&r, "nginx/live/", "127.0.0.1:8080");
    assert_eq!(stale["status"], "fail", "{stale:#}");
    assert!(
        stale["message"].as_str().unwrap().contains("stale"),
        "{stale:#}"
    );
    assert_eq!(stale["expected"]["max_backlog"], 1024);
    let kernel = ss.iter().find(|(a, _, _)| a == "127.0.0.1:8080").unwrap().2;
    assert_eq!(kernel, 128);
    assert_eq!(stale["live"]["max_backlog"], kernel);
    assert!(stale["remedy"].as_str().unwrap().contains("restart"));
    // 8083 asked for 64 < 128: nothing changed for it.
    assert_eq!(
        by_socket(&r, "nginx/live/", "0.0.0.0:8083")["status"],
        "pass"
    );

    // A restart calls listen() again: every cap is min(backlog, 4096), nothing stale.
    p.stop(&ns);
    p.start(&ns).expect("nginx restarts");
    let r = audit(&ns, &["--profile", "web-frontend"]);
    for (addr, _, send_q) in ss_listeners(&ns) {
        let live = by_socket(&r, "nginx/live/", &addr);
        assert_eq!(live["status"], "pass", "{live:#}");
        assert_eq!(live["live"]["max_backlog"], send_q);
    }
    assert_eq!(
        by_socket(&r, "nginx/live/", "127.0.0.1:8080")["live"]["max_backlog"],
        1024
    );
    p.stop(&ns);
}

#[test]
fn sockets_not_listening_undeclared_and_other_programs() {
    let ns = Netns::new();
    let p = Prefix::new();
    p.write_http(
        "nginx.conf",
        " server { listen 127.0.0.1:8080; listen 127.0.0.2:8080; return 200 a; }\n",
    );
    p.start(&ns).expect("nginx starts");
    // The audited configuration differs from the running one.
    let audited = p.write_http(
        "audited.conf",
        " server { listen 127.0.0.1:8080; listen 127.0.0.1:8090; return 200 a; }\n",
    );
    // Another program's listener, with its own backlog.
    let mut other = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, "python3", "-c"])
        .arg("import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',9999))\ns.listen(77)\nprint('up',flush=True)\ntime.sleep(60)")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(other.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "up");

    let r = audit_conf(&ns, &audited, &[]);
    let missing = by_socket(&r, "nginx/live/", "127.0.0.1:8090");
    assert_eq!(
        (missing["status"].as_str(), missing["severity"].as_str()),
        (Some("fail"), Some("warning"))
    );
    assert!(missing["message"]
        .as_str()
        .unwrap()
        .contains("not listening"));
    let undeclared = findings(&r, "nginx/listener/127.0.0.2:8080");
    assert_eq!(undeclared.len(), 1, "{r:#}");
    assert_eq!(undeclared[0]["status"], "fail");
    let py = findings(&r, "nginx/listener/127.0.0.1:9999");
    assert_eq!(py.len(), 1, "{r:#}");
    assert_eq!(py[0]["status"], "pass");
    assert_eq!(py[0]["kind"], "listener");
    let kernel = ss_listeners(&ns)
        .into_iter()
        .find(|(a, _, _)| a == "127.0.0.1:9999")
        .unwrap()
        .2;
    assert_eq!(kernel, 77);
    assert_eq!(py[0]["live"]["max_backlog"], kernel);
    assert_eq!(py[0]["live"]["owners"][0]["name"], "python3");
    let _ = other.kill();
    let _ = other.wait();
    p.stop(&ns);
}

#[test]
fn the_wildcard_trap_is_a_finding_and_its_fix_starts() {
    let ns = Netns::new();
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        " server { listen 8080; return 200 a; }
 server { listen 127.0.0.1:8080 backlog=100; return 200 b; }
",
    );
    let (ok, stderr) = p.test();
    assert!(ok, "nginx -t passes the trap: {stderr}");
    let err = p.start(&ns).expect_err("start must fail");
    assert!(err.contains("Address already in use"), "{err}");
    let r = audit_conf(&ns, &conf, &["--profile", "web-frontend"]);
    let problems = findings(&r, "nginx/config/");
    assert_eq!(problems.len(), 1, "{r:#}");
    assert_eq!(problems[0]["severity"], "error");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("start fails"),
        "{:#}",
        problems[0]
    );
    assert!(
        problems[0]["id"]
            .as_str()
            .unwrap()
            .ends_with("nginx.conf:6"),
        "{:#}",
        problems[0]
    );
    assert!(
        problems[0]["remedy"]
            .as_str()
            .unwrap()
            .contains("nginx.conf:5"),
        "{:#}",
        problems[0]
    );
    // No backlog finding (and so no edit target) on the listen that cannot bind.
    assert!(
        findings(&r, "nginx/listen_backlog/http/127.0.0.1:8080").is_empty(),
        "{r:#}"
    );
    let wildcard = by_socket(&r, "nginx/listen_backlog/", "0.0.0.0:8080");
    assert_eq!(wildcard["nginx"]["line"], 5);

    // The remedy: the options on the wildcard's listen. nginx starts, and the kernel
    // gives the wildcard socket that backlog.
    p.write_http(
        "nginx.conf",
        " server { listen 8080 backlog=100; return 200 a; }
 server { listen 127.0.0.1:8080; return 200 b; }
",
    );
    p.start(&ns).expect("the fixed configuration starts");
    let ss = ss_listeners(&ns);
    assert_eq!(
        ss.iter()
            .map(|(a, _, q)| (a.as_str(), *q))
            .collect::<Vec<_>>(),
        [("0.0.0.0:8080", 100)]
    );
    let r = audit(&ns, &["--profile", "web-frontend"]);
    assert!(findings(&r, "nginx/config/").is_empty(), "{r:#}");
    let live = by_socket(&r, "nginx/live/", "0.0.0.0:8080");
    assert_eq!(live["live"]["max_backlog"], 100);
    assert_eq!(live["nginx"]["line"], 5);
    p.stop(&ns);
}

#[test]
fn duplicate_listen_options_fail_like_nginx_t() {
    let ns = Netns::new();
    let p = Prefix::new();
    let conf = p.write_http(
        "nginx.conf",
        " server { listen 8080 backlog=10; }
 server { listen 8080 so_keepalive=on; }
",
    );
    let (ok, stderr) = p.test();
    assert!(!ok);
    let r = audit_conf(&ns, &conf, &["--profile", "web-frontend"]);
    let problems = findings(&r, "nginx/config/");
    assert_eq!(problems.len(), 1, "{r:#}");
    let ours = problems[0]["message"].as_str().unwrap();
    let theirs = format!(
        "duplicate listen options for 0.0.0.0:8080 in {}:6",
        conf.display()
    );
    assert!(
        stderr.contains(&theirs) && ours.contains(&theirs),
        "nginx: {stderr}\nours: {ours}"
    );
    // Nothing to edit while nginx refuses the file: the socket rules are skipped.
    assert_eq!(findings(&r, "nginx/listen_backlog/").len(), 0);
    let skip = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == "nginx.listen_backlog")
        .unwrap();
    assert_eq!(skip["status"], "skip");
    // backlog=0 is refused by both.
    p.write_http(
        "nginx.conf",
        " server { listen 8080 backlog=0; }
",
    );
    let (ok, stderr) = p.test();
    assert!(
        !ok && stderr.contains("invalid backlog \"backlog=0\""),
        "{stderr}"
    );
    let r = audit_conf(&ns, &conf, &[]);
    let ours = findings(&r, "nginx/config/")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ours.contains("invalid backlog \"backlog=0\""), "{ours}");
}

#[test]
fn a_dump_audits_like_the_files() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "256");
    let p = Prefix::new();
    many_sockets(&p);
    let dump = p.path().join("dump.txt");
    std::fs::write(&dump, p.dump()).unwrap();
    let conf = p.conf();
    let from_files = audit_conf(&ns, &conf, &["--profile", "web-frontend"]);
    let from_dump = audit(
        &ns,
        &[
            "--nginx-dump",
            dump.to_str().unwrap(),
            "--profile",
            "web-frontend",
        ],
    );
    let strip = |r: &Value| -> Vec<(String, String)> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(strip(&from_files), strip(&from_dump));
    assert_eq!(from_dump["nginx"]["files"], from_files["nginx"]["files"]);
    // 6 sockets (unix included), each with its min and within-somaxconn checks.
    assert_eq!(findings(&from_files, "nginx/listen_backlog/").len(), 6);
    let cut = by_socket(&from_files, "nginx/within_somaxconn/", "127.0.0.1:8080");
    assert_eq!(cut["status"], "fail");
    assert!(
        cut["message"].as_str().unwrap().contains("cuts it to 256"),
        "{cut:#}"
    );
}

/// `ss -lnuH` in the namespace: local addresses of UDP sockets.
fn ss_udp(ns: &Netns) -> Vec<String> {
    let out = ns.exec(&["ss", "-lnuH"]);
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect();
    v.sort();
    v
}

#[test]
fn port_ranges_open_one_socket_per_port_and_ss_agrees() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "4096");
    let p = Prefix::new();
    let conf = p.write(
        "nginx.conf",
        &format!(
            "load_module {};\n{}http {{\n {}\n server {{ listen 127.0.0.1:8182-8183 backlog=77; listen 8186-8187; return 200 a; }}\n server {{ listen [::1]:8190-8191 backlog=300; return 200 b; }}\n}}\nstream {{ server {{ listen 9100-9101 backlog=40; return x; }} server {{ listen 127.0.0.1:5300-5301 udp; return x; }} }}\n",
            stream_module().display(),
            p.preamble(),
            p.http_preamble()
        ),
    );
    let (ok, stderr) = p.test();
    assert!(ok, "nginx -t accepts ranges: {stderr}");
    p.start(&ns).expect("nginx starts");
    let mut ss: Vec<(String, u32)> = ss_listeners(&ns)
        .into_iter()
        .map(|(a, _, q)| (a, q))
        .collect();
    ss.sort();
    // tuneguard's own model of the files: one socket per port, each with its backlog.
    let model = tuneguard::host::nginx::listen::model(
        &tuneguard::host::nginx::load(std::path::Path::new("/"), &conf).unwrap(),
        common::nginx::version(),
    );
    assert!(model.problems.is_empty(), "{:?}", model.problems);
    let mut ours: Vec<(String, u32)> = model
        .sockets
        .iter()
        .filter(|s| !s.udp)
        .map(|s| (s.addr.to_string(), s.effective(4096)))
        .collect();
    ours.sort();
    assert_eq!(ours, ss);
    assert_eq!(ss.len(), 8, "{ss:?}");
    let mut udp: Vec<String> = model
        .sockets
        .iter()
        .filter(|s| s.udp)
        .map(|s| s.addr.to_string())
        .collect();
    udp.sort();
    assert_eq!(udp, ss_udp(&ns));
    assert_eq!(udp, ["127.0.0.1:5300", "127.0.0.1:5301"]);
    // And the audit checks every one of them against the kernel.
    let r = audit_conf(&ns, &conf, &["--profile", "web-frontend"]);
    assert!(findings(&r, "nginx/config/").is_empty(), "{r:#}");
    for (addr, send_q) in &ss {
        let live = by_socket(&r, "nginx/live/", addr);
        assert_eq!(live["live"]["max_backlog"], *send_q, "{addr}: {live:#}");
        let min = by_socket(&r, "nginx/listen_backlog/", addr);
        assert_eq!(min["effective"], *send_q, "{addr}: {min:#}");
    }
    p.stop(&ns);
}

/// nginx's own bind() failure line, the first one it printed.
fn bind_failure(stderr: &str) -> &str {
    let at = stderr.find("bind() to ").expect("a bind() failure");
    let line = &stderr[at..];
    &line[..line.find("in use)").expect("EADDRINUSE") + "in use)".len()]
}

#[test]
fn the_trap_names_the_bind_that_fails_and_the_listen_to_change() {
    let ns = Netns::new();
    // (servers, the listen to change, its line): the explicit address with options
    // binds first and the wildcard fails; with ipv6only=off, of [::]:port and the IPv4
    // socket the one whose port comes later fails, and the listen to change is the one
    // with ipv6only=off in both orders.
    let cases = [
        (
            " server { listen 8080; return 200 a; }\n server { listen 127.0.0.1:8080 backlog=100; return 200 b; }\n",
            6,
        ),
        (
            " server { listen 8080; return 200 a; }\n server { listen [::]:8080 ipv6only=off; return 200 b; }\n",
            6,
        ),
        (
            " server { listen [::]:8080 ipv6only=off; return 200 a; }\n server { listen 8080; return 200 b; }\n",
            5,
        ),
        (
            " server { listen [::]:8080 ipv6only=off; return 200 a; }\n server { listen 127.0.0.1:8080 bind; return 200 b; }\n",
            5,
        ),
    ];
    for (servers, line) in cases {
        let p = Prefix::new();
        let conf = p.write_http("nginx.conf", servers);
        let (ok, stderr) = p.test();
        assert!(ok, "nginx -t passes the trap: {stderr}");
        let err = p.start(&ns).expect_err("start must fail");
        let theirs = bind_failure(&err);
        assert!(theirs.ends_with("(98: Address already in use)"), "{err}");
        let r = audit_conf(&ns, &conf, &["--profile", "web-frontend"]);
        let problems = findings(&r, "nginx/config/");
        assert_eq!(problems.len(), 1, "{servers}\n{r:#}");
        let msg = problems[0]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(&format!("nginx -t passes but start fails: {theirs}")),
            "{servers}\nnginx: {theirs}\nours: {msg}"
        );
        assert!(
            problems[0]["id"]
                .as_str()
                .unwrap()
                .ends_with(&format!("nginx.conf:{line}")),
            "{servers}\n{:#}",
            problems[0]
        );
        // What the dual-stack remedy says to do starts.
        if servers.contains("ipv6only=off") {
            let remedy = problems[0]["remedy"].as_str().unwrap();
            assert!(remedy.contains("remove ipv6only=off"), "{remedy}");
            p.write_http("nginx.conf", &servers.replace(" ipv6only=off", ""));
            p.start(&ns).expect("without ipv6only=off nginx starts");
            p.stop(&ns);
        }
    }
}

/// An http{} and a stream{} block, in this order (or the reverse), on lines 5 and 6.
fn http_and_stream(p: &Prefix, http: &str, stream: &str, stream_first: bool) -> std::path::PathBuf {
    let h = format!(
        "http {{ {} server {{ {http} return 200 a; }} }}",
        p.http_preamble()
    );
    let s = format!("stream {{ server {{ {stream} return x; }} }}");
    let (a, b) = if stream_first { (s, h) } else { (h, s) };
    let text = format!(
        "load_module {};\n{}{a}\n{b}\n",
        stream_module().display(),
        p.preamble()
    );
    p.write("nginx.conf", &text)
}

#[test]
fn http_and_stream_on_one_port_fail_at_start_in_the_later_block() {
    let ns = Netns::new();
    // (http listen, stream listen, stream block first, the socket nginx fails to bind):
    // the block written first binds first, whatever the module order.
    let clashes = [
        ("listen 443;", "listen 443;", false, "0.0.0.0:443"),
        ("listen 443;", "listen 443;", true, "0.0.0.0:443"),
        ("listen 127.0.0.1:443;", "listen 443;", false, "0.0.0.0:443"),
        (
            "listen 127.0.0.1:443;",
            "listen 443;",
            true,
            "127.0.0.1:443",
        ),
        (
            "listen 443;",
            "listen 127.0.0.1:443;",
            false,
            "127.0.0.1:443",
        ),
        ("listen 443;", "listen 127.0.0.1:443;", true, "0.0.0.0:443"),
        ("listen 443 reuseport;", "listen 443;", false, "0.0.0.0:443"),
        (
            "listen [::]:443 ipv6only=off;",
            "listen 443;",
            false,
            "0.0.0.0:443",
        ),
    ];
    for (http, stream, stream_first, failing) in clashes {
        let p = Prefix::new();
        let conf = http_and_stream(&p, http, stream, stream_first);
        let case = format!("http {http} stream {stream} stream first {stream_first}");
        let (ok, stderr) = p.test();
        assert!(ok, "{case}: nginx -t passes: {stderr}");
        let err = p.start(&ns).expect_err("start must fail");
        let theirs = bind_failure(&err);
        assert_eq!(
            theirs,
            format!("bind() to {failing} failed (98: Address already in use)"),
            "{case}: {err}"
        );
        let r = audit_conf(&ns, &conf, &["--profile", "web-frontend"]);
        let problems = findings(&r, "nginx/config/");
        assert_eq!(problems.len(), 1, "{case}\n{r:#}");
        let msg = problems[0]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(&format!("nginx -t passes but start fails: {theirs}")),
            "{case}\nnginx: {theirs}\nours: {msg}"
        );
        // The listen named is the one whose bind fails: in the block written last.
        let id = problems[0]["id"].as_str().unwrap();
        assert!(id.ends_with("nginx.conf:6"), "{case}: {id}");
        let remedy = problems[0]["remedy"].as_str().unwrap();
        assert!(remedy.contains("another port or address"), "{remedy}");
    }
    // Different protocols, or reuseport on both: no prediction, and nginx starts.
    let fine = [
        ("listen 443;", "listen 443 udp;"),
        ("listen 443 reuseport;", "listen 443 reuseport;"),
        ("listen [::]:443;", "listen 443;"),
    ];
    for (http, stream) in fine {
        let p = Prefix::new();
        let conf = http_and_stream(&p, http, stream, false);
        let r = audit_conf(&ns, &conf, &["--profile", "web-frontend"]);
        assert!(
            findings(&r, "nginx/config/").is_empty(),
            "{http} {stream}\n{r:#}"
        );
        p.start(&ns)
            .unwrap_or_else(|e| panic!("{http} {stream}: nginx starts: {e}"));
        p.stop(&ns);
    }
}
