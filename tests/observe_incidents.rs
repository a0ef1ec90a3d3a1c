//! observe against reproductions built apart from its own test programs: Python socket
//! programs (tests/fixtures/netload.py) and real nginx, clients in one namespace and
//! servers in another, joined by a veth pair (tests/common/veth.rs). Each incident's
//! diagnosis is asserted with its culprit (port, pid, setting) and its advice; each
//! healthy case must stay silent at the default --fail-on and print no warning. `ss`,
//! /proc/net/netstat and nginx's own pid file are the oracles.

mod common;

use common::incident::{fact, ss, wait_for, Misbehaving};
use common::nginx::Prefix;
use common::veth::{Link, CLIENT_IP, SERVER_IP};
use common::*;
use serde_json::Value;

fn observe(ns: &Netns, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["observe", "--netns", &ns.name, "--format", "json"];
    args.extend_from_slice(extra);
    let r = run(&args);
    let v = r.json();
    assert_eq!(v["schema"], "tuneguard.observe/v1");
    (r.code, v)
}

fn diagnoses<'a>(v: &'a Value, id: &str) -> Vec<&'a Value> {
    v["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == id)
        .collect()
}

fn ids(v: &Value) -> Vec<String> {
    v["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {} {}", d["severity"], d["id"], d["subject"]))
        .collect()
}

/// The healthy case: exit 0 at the default --fail-on, nothing above info in JSON, and
/// the text prints no WARNING or ERROR line.
fn silent(ns: &Netns, what: &str) -> Value {
    let (code, v) = observe(ns, &["--interval", "1"]);
    let loud: Vec<String> = ids(&v)
        .into_iter()
        .filter(|d| !d.starts_with("\"info\""))
        .collect();
    assert!(loud.is_empty() && code == 0, "{what}: {loud:?}\n{v:#}");
    let r = run(&["observe", "--netns", &ns.name, "--interval", "1"]);
    assert_eq!(r.code, 0, "{what}: {}", r.stdout);
    assert!(
        !r.stdout.contains("WARNING") && !r.stdout.contains("ERROR"),
        "{what}: {}",
        r.stdout
    );
    v
}

fn netstat(ns: &Netns, name: &str) -> i64 {
    let out = ns.exec(&["cat", "/proc/net/netstat"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    values[names.iter().position(|n| *n == name).unwrap()]
        .parse()
        .unwrap()
}

/// nginx started in `ns` with `servers` in http{}, one worker running as root (the
/// prefix is a root-only temp dir); the prefix and the master's pid.
fn nginx(ns: &Netns, servers: &str) -> (Prefix, u32) {
    let p = Prefix::new();
    p.write("www/big", &"b".repeat(64 * 1024));
    let text = format!(
        "user root;\nworker_processes 1;\n{}http {{ {}\nkeepalive_requests 100000;\n{servers}}}\n",
        p.preamble()
            .replace("worker_connections 64", "worker_connections 1024"),
        p.http_preamble()
    );
    p.write(
        "nginx.conf",
        &text.replace("@WWW@", &p.path().join("www").display().to_string()),
    );
    p.start(ns).expect("nginx starts");
    let pid = std::fs::read_to_string(p.path().join("nginx.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (p, pid)
}

/// The nginx processes of the namespace (pgrep would find other tests' too).
fn nginx_pids(ns: &Netns) -> Vec<u32> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &ns.name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "nginx")
        })
        .collect()
}

#[test]
fn syn_queue_drops_name_tcp_max_syn_backlog_not_the_accept_queue() {
    let link = Link::new();
    let ns = &link.server;
    ns.set("net.ipv4.tcp_syncookies", "0");
    ns.set("net.ipv4.tcp_max_syn_backlog", "16");
    let server = Misbehaving::python(ns, &["holder", "--addr", &format!("{SERVER_IP}:4100")]);
    let ghost = link.unanswering_client_ip();
    let _syns = Misbehaving::python(
        &link.client,
        &[
            "syn",
            "--to",
            &format!("{SERVER_IP}:4100"),
            "--from",
            ghost,
            "--count",
            "40",
        ],
    );
    assert!(
        wait_for(10, || netstat(ns, "ListenDrops") > 0),
        "no listen drops"
    );
    // The kernel's own picture: half-open connections piling up at 3/4 of 16, the
    // accept queue empty against 1024, ListenOverflows flat.
    let half_open = ss(ns, &["-tn", "state", "syn-recv"]).len();
    assert!((10..=16).contains(&half_open), "{half_open}");
    let (code, v) = observe(ns, &["--interval", "2"]);
    assert_eq!(netstat(ns, "ListenOverflows"), 0);
    assert_eq!(code, 1, "{:?}", ids(&v));
    assert!(
        diagnoses(&v, "accept-queue-overflow").is_empty(),
        "{:?}",
        ids(&v)
    );
    let d = diagnoses(&v, "syn-queue-drops");
    assert_eq!(d.len(), 1, "{:?}", ids(&v));
    let d = d[0];
    assert_eq!(d["subject"], format!("{SERVER_IP}:4100"));
    assert_eq!(d["severity"], "error");
    assert_eq!(d["evidence"]["accept_queue"], 0);
    assert_eq!(d["evidence"]["backlog"], 1024);
    assert_eq!(d["evidence"]["syn_recv"].as_u64(), Some(half_open as u64));
    assert!(d["evidence"]["listener_drops_delta"].as_i64().unwrap() > 0);
    assert_eq!(d["evidence"]["owners"][0]["pid"], server.pid);
    assert_eq!(
        d["settings"],
        serde_json::json!(["net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog"])
    );
    let why = d["explanation"].as_str().unwrap();
    assert!(
        why.contains("tcp_syncookies is 0") && why.contains("tcp_max_syn_backlog (16)"),
        "{why}"
    );
    assert!(why.contains("Turn tcp_syncookies on"), "{why}");
}

#[test]
fn an_overflow_with_real_http_clients_is_one_diagnosis_for_the_listener() {
    let link = Link::new();
    let (_nginx, master) = nginx(
        &link.server,
        &format!(
            "server {{ listen {SERVER_IP}:8081 backlog=8; location / {{ return 200 ok; }} }}\n"
        ),
    );
    // Nobody accepts: every nginx process stopped.
    for pid in nginx_pids(&link.server) {
        // SAFETY: kill has no memory preconditions; the pid is one of our nginx's.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    }
    let clients = Misbehaving::python(
        &link.client,
        &[
            "clients",
            "--to",
            &format!("{SERVER_IP}:8081"),
            "--count",
            "30",
            "--http",
        ],
    );
    assert!(
        fact(&clients.ready, "conns")
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 9
    );
    // ss: backlog 8 holds 9, each with a request nobody has read (inode 0: unaccepted).
    let queued = ss(&link.server, &["-tnei", "state", "established"]);
    assert!(
        wait_for(5, || ss(&link.server, &["-ltn"])
            .iter()
            .any(|l| l.split_whitespace().nth(1) == Some("9"))),
        "{queued:?}"
    );
    let (code, v) = observe(&link.server, &["--interval", "1"]);
    assert_eq!(code, 1);
    assert_eq!(ids(&v).len(), 1, "one line for the listener: {:?}", ids(&v));
    let d = diagnoses(&v, "accept-queue-overflow")[0];
    assert_eq!(d["subject"], format!("{SERVER_IP}:8081"));
    assert_eq!(d["evidence"]["accept_queue"], 9);
    assert_eq!(d["evidence"]["backlog"], 8);
    assert_eq!(d["evidence"]["unaccepted_with_data"], 9);
    assert!(d["evidence"]["unaccepted_bytes"].as_u64().unwrap() >= 9 * 30);
    let owners: Vec<u64> = d["evidence"]["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pid"].as_u64().unwrap())
        .collect();
    assert!(owners.contains(&u64::from(master)), "{owners:?}");
    assert!(d["summary"]
        .as_str()
        .unwrap()
        .contains("9 queued connections hold"));
    assert!(!d["summary"].as_str().unwrap().contains("zero window"));
    let text = run(&["observe", "--netns", &link.server.name, "--interval", "1"]).stdout;
    assert_eq!(text.matches("ERROR").count(), 1, "{text}");
    assert!(!text.contains("WARNING"), "{text}");
    assert!(text.lines().count() < 40, "{text}");
}

#[test]
fn nginx_under_steady_load_is_silent_and_its_time_wait_is_grouped_by_listener() {
    let link = Link::new();
    let (_nginx, _) = nginx(
        &link.server,
        &format!("server {{ listen {SERVER_IP}:8080; root @WWW@; location /small {{ return 200 ok; }} }}\n"),
    );
    let to = format!("{SERVER_IP}:8080");
    let _big = Misbehaving::python(
        &link.client,
        &[
            "http-load",
            "--to",
            &to,
            "--keepalive",
            "4",
            "--rate",
            "60",
            "--path",
            "/big",
        ],
    );
    let _small = Misbehaving::python(
        &link.client,
        &[
            "http-load",
            "--to",
            &to,
            "--keepalive",
            "2",
            "--rate",
            "100",
            "--path",
            "/small",
        ],
    );
    assert!(wait_for(10, || ss(
        &link.server,
        &["-tn", "state", "time-wait"]
    )
    .len()
        > 50));
    let v = silent(
        &link.server,
        "nginx serving keepalive and short connections",
    );
    // Responses were in flight (ss would show Send-Q) and no byte stood still.
    assert!(v["sockets"]["total"].as_u64().unwrap() > 10);
    // nginx closes the short connections: its TIME_WAIT belong to its listener, not to
    // one client port each.
    let tw = &v["sockets"]["time_wait"];
    assert_eq!(tw["by_listener"][0]["listener"], to, "{tw}");
    assert!(tw["by_peer"].as_array().unwrap().is_empty(), "{tw}");
    silent(&link.client, "the load generator's side");
}

#[test]
fn a_slow_bulk_transfer_is_silent() {
    let link = Link::new();
    let _bulk = Misbehaving::python(
        &link.server,
        &["bulk", "--addr", &format!("{SERVER_IP}:7000")],
    );
    let _reader = Misbehaving::python(
        &link.client,
        &[
            "slow-reader",
            "--to",
            &format!("{SERVER_IP}:7000"),
            "--bps",
            "300000",
        ],
    );
    // The sender's queue is full at every instant; the bytes still move.
    assert!(wait_for(10, || ss(&link.server, &["-tn", "sport = :7000"])
        .iter()
        .any(|l| l
            .split_whitespace()
            .nth(2)
            .is_some_and(|q| q.parse::<u64>().unwrap_or(0) > 10_000))));
    let v = silent(&link.server, "a sender to a slow reader");
    assert!(v["sockets"]["queued_now"].as_u64().unwrap() >= 1, "{v:#}");
    silent(&link.client, "a slow reader");
}

#[test]
fn idle_healthy_keepalive_connections_are_silent() {
    let link = Link::new();
    let _server = Misbehaving::python(
        &link.server,
        &["holder", "--addr", &format!("{SERVER_IP}:7100")],
    );
    let _pool = Misbehaving::python(
        &link.client,
        &[
            "pool",
            "--to",
            &format!("{SERVER_IP}:7100"),
            "--count",
            "50",
            "--keepidle",
            "25",
        ],
    );
    assert_eq!(ss(&link.client, &["-tn", "state", "established"]).len(), 50);
    silent(&link.client, "an idle keepalive pool");
    silent(&link.server, "the pool's server");
}

#[test]
fn nginx_proxying_to_a_local_application_is_no_self_connection_warning() {
    let link = Link::new();
    let app = Misbehaving::python(&link.server, &["app", "--addr", "127.0.0.1:9200"]);
    let (_nginx, _) = nginx(
        &link.server,
        &format!("server {{ listen {SERVER_IP}:8083; location / {{ proxy_pass http://127.0.0.1:9200; }} }}\n"),
    );
    let _load = Misbehaving::python(
        &link.client,
        &[
            "http-load",
            "--to",
            &format!("{SERVER_IP}:8083"),
            "--keepalive",
            "1",
            "--rate",
            "40",
        ],
    );
    assert!(wait_for(10, || ss(
        &link.server,
        &["-tn", "state", "time-wait", "sport = :9200"]
    )
    .len()
        > 20));
    let v = silent(&link.server, "nginx in front of a local application");
    assert!(diagnoses(&v, "self-connection-loop").is_empty());
    // The local hop is seen, from both ends, and told apart from a loop when its
    // dialling ends could be named.
    let hop = v["sockets"]["to_self"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["target"] == "127.0.0.1:9200")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert!(hop["per_second"].as_f64().unwrap() >= 10.0, "{hop}");
    assert_ne!(hop["same_process"], true, "{hop}");
    if hop["same_process"] == false {
        assert!(hop["listener_owners"]
            .to_string()
            .contains(&app.pid.to_string()));
    }
}

#[test]
fn a_proxy_chain_names_the_consumer_at_its_end() {
    let link = Link::new();
    let backend = Misbehaving::python(&link.server, &["backend", "--addr", "127.0.0.1:9100"]);
    let (_nginx, master) = nginx(
        &link.server,
        &format!("server {{ listen {SERVER_IP}:8082; location / {{ proxy_pass http://127.0.0.1:9100; proxy_buffering off; }} }}\n"),
    );
    let agent = Misbehaving::python(
        &link.client,
        &["stop-reading", "--to", &format!("{SERVER_IP}:8082")],
    );
    let agent_at = fact(&agent.ready, "local").unwrap().to_string();
    // Both senders on the server side end up probing a zero window: nginx towards the
    // agent, the backend towards nginx.
    assert!(
        wait_for(15, || ss(&link.server, &["-tno", "state", "established"])
            .iter()
            .filter(|l| l.contains("persist"))
            .count()
            >= 2),
        "{:?}",
        ss(&link.server, &["-tno"])
    );
    // Then until nginx's upstream queue stops growing (the backend's last bytes land).
    let upstream_q = || {
        ss(&link.server, &["-tn", "dport = :9100"])
            .first()
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    assert!(wait_for(15, || {
        let a = upstream_q();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        a.is_some() && a == upstream_q()
    }));
    let (code, v) = observe(&link.server, &["--interval", "1"]);
    let why = || {
        format!(
            "{:?}\n{:#}\n{:#?}",
            ids(&v),
            v["sockets"]["stuck"],
            ss(&link.server, &["-tnoi"])
        )
    };
    assert_eq!(code, 0, "{}", why());
    assert_eq!(
        ids(&v).len(),
        1,
        "one chain, not one line per hop: {}",
        why()
    );
    let d = diagnoses(&v, "consumer-not-reading");
    let d = d.first().unwrap_or_else(|| panic!("{}", why()));
    assert_eq!(d["subject"], agent_at);
    assert_eq!(d["incident"], 4);
    let worker: Vec<u32> = nginx_pids(&link.server)
        .into_iter()
        .filter(|p| *p != master)
        .collect();
    let relay = &d["evidence"]["relays"][0];
    assert_eq!(relay["downstream_end"]["owners"][0]["pid"], worker[0]);
    assert_eq!(relay["downstream_end"]["remote"], agent_at);
    assert_eq!(relay["upstream_end"]["remote"], "127.0.0.1:9100");
    assert_eq!(d["evidence"]["source"]["owners"][0]["pid"], backend.pid);
    let summary = d["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("nginx (pid {})", worker[0])),
        "{summary}"
    );
    assert!(summary.contains(&agent_at), "{summary}");
    let why = d["explanation"].as_str().unwrap();
    assert!(why.contains("passes the backpressure on"), "{why}");
}

#[test]
fn a_short_lived_self_connection_loop_is_found_from_both_ends() {
    let link = Link::new();
    let me = format!("{SERVER_IP}:3128");
    let proxy = Misbehaving::python(
        &link.server,
        &["loop-proxy", "--addr", &me, "--inner-ms", "200"],
    );
    let _storm = Misbehaving::python(
        &link.client,
        &["proxy-clients", "--to", &me, "--rate", "60"],
    );
    // The inner hop closes first: its TIME_WAIT sit on the listening side, from the
    // proxy's own address to its own port.
    assert!(wait_for(10, || ss(
        &link.server,
        &[
            "-tn",
            "state",
            "time-wait",
            &format!("sport = :3128 and dst {SERVER_IP}")
        ]
    )
    .len()
        > 20));
    let (code, v) = observe(&link.server, &["--interval", "1"]);
    assert_eq!(code, 1, "{:?}", ids(&v));
    let d = diagnoses(&v, "self-connection-loop");
    assert_eq!(d.len(), 1, "{:?}", ids(&v));
    let e = &d[0]["evidence"];
    assert_eq!(d[0]["subject"], me);
    assert_eq!(e["same_process"], true);
    assert_eq!(e["client_owners"][0]["pid"], proxy.pid);
    assert_eq!(e["listener_owners"][0]["pid"], proxy.pid);
    assert!(e["per_second"].as_f64().unwrap() >= 10.0, "{e}");
    assert!(e["time_wait"].as_u64().unwrap() > 0, "{e}");
    assert!(d[0]["explanation"]
        .as_str()
        .unwrap()
        .contains("Refuse requests whose target is the proxy's own address"));
}

#[test]
fn a_keepalive_pool_is_judged_by_its_own_timers() {
    let link = Link::new();
    let _closer = Misbehaving::start(
        &link.server,
        &["closer", "--addr", &format!("{SERVER_IP}:7200")],
    );
    let pool = Misbehaving::python(
        &link.client,
        &[
            "pool",
            "--to",
            &format!("{SERVER_IP}:7200"),
            "--count",
            "120",
            "--keepidle",
            "25",
        ],
    );
    assert!(wait_for(10, || ss(
        &link.client,
        &["-tn", "state", "close-wait"]
    )
    .len()
        == 120));
    let timers = ss(&link.client, &["-tno", "state", "close-wait"]);
    assert!(
        timers.iter().all(|l| l.contains("timer:(keepalive,")),
        "{timers:?}"
    );
    let (code, v) = observe(&link.client, &["--interval", "1"]);
    assert_eq!(code, 0, "{:?}", ids(&v));
    let d = diagnoses(&v, "close-wait-leak");
    assert_eq!(d.len(), 1, "{:?}", ids(&v));
    let subject = d[0]["subject"].as_str().unwrap();
    assert!(
        subject.ends_with(&format!("(pid {})", pool.pid)),
        "{subject}"
    );
    assert_eq!(d[0]["severity"], "info");
    assert_eq!(d[0]["evidence"]["keepalive_armed"], 120);
    let hi = d[0]["evidence"]["keepalive_expires_s"][1].as_f64().unwrap();
    assert!(hi <= 25.0, "{hi}");
    assert!(!d[0]["explanation"].as_str().unwrap().contains("7875"));
}

#[test]
fn close_wait_of_clients_is_grouped_by_address_and_local_port() {
    let link = Link::new();
    let holder = Misbehaving::python(
        &link.server,
        &["holder", "--addr", &format!("{SERVER_IP}:7300")],
    );
    let _clients = Misbehaving::python(
        &link.client,
        &[
            "clients",
            "--to",
            &format!("{SERVER_IP}:7300"),
            "--count",
            "20",
            "--close",
        ],
    );
    assert!(wait_for(10, || ss(
        &link.server,
        &["-tn", "state", "close-wait"]
    )
    .len()
        == 20));
    let (_, v) = observe(&link.server, &["--interval", "0.5"]);
    let cw = &v["sockets"]["close_wait"];
    assert_eq!(
        cw["by_peer"],
        serde_json::json!([{"peer": CLIENT_IP, "local_port": 7300, "count": 20, "keepalive_armed": 0, "unread_bytes": 0}])
    );
    let d = diagnoses(&v, "close-wait-leak");
    assert_eq!(d.len(), 1, "{:?}", ids(&v));
    assert!(d[0]["subject"]
        .as_str()
        .unwrap()
        .ends_with(&format!("(pid {})", holder.pid)));
}

#[test]
fn host_wide_figures_are_labelled_and_an_empty_namespace_says_so() {
    let ns = Netns::new();
    let (_, v) = observe(&ns, &["--once"]);
    let scope = |name: &str| {
        v["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["scope"].clone())
    };
    assert_eq!(scope("sockstat:TCP orphan"), Some("host".into()));
    assert_eq!(scope("sockstat:TCP alloc"), Some("host".into()));
    assert_eq!(scope("sockstat:TCP inuse"), Some("namespace".into()));
    assert_eq!(scope("TcpExt:ListenOverflows"), Some("namespace".into()));
    assert_eq!(v["memory"]["scope"], "host");
    let text = run(&["observe", "--netns", &ns.name, "--once"]).stdout;
    assert!(text.contains("Sockets: none"), "{text}");
    assert!(!text.contains("()"), "{text}");
    let alloc = text
        .lines()
        .find(|l| l.trim_start().starts_with("sockstat:TCP alloc"));
    if let Some(l) = alloc {
        assert!(l.ends_with("(host-wide)"), "{l}");
    }
    assert!(!text
        .lines()
        .any(|l| l.trim_start().starts_with("sockstat:TCP inuse") && l.contains("host-wide")));
}

#[test]
fn observe_refuses_the_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (flag, value) in [
        ("--profile", "baseline"),
        ("--root", d),
        ("--state-dir", d),
        ("--nginx-conf", "/etc/nginx/nginx.conf"),
    ] {
        let r = run(&["observe", "--once", flag, value]);
        assert_eq!(r.code, 2, "{flag}: {} {}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(&format!("observe does not use {flag}")),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
}

#[test]
fn a_wait_on_a_terminal_says_what_it_is_doing() {
    let ns = Netns::new();
    // script(1) gives the command a terminal; its output is what a person sees.
    let cmd = format!("{} observe --netns {} --interval 1.5", bin(), ns.name);
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.contains("first sample of netns"), "{seen}");
    assert!(
        seen.contains("second in 2 s") || seen.contains("second in 1 s"),
        "{seen}"
    );
    assert!(seen.contains("no diagnosis"), "{seen}");
    // Without a terminal nothing is said on stderr.
    let r = run(&["observe", "--netns", &ns.name, "--interval", "0.2"]);
    assert_eq!(r.stderr, "");
}
