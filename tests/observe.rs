//! The incidents of docs/incidents.md, reproduced for real in throwaway namespaces with
//! programs of the tests' own making (examples/misbehave.rs), and what `observe` says
//! about them. `ss` and /proc/net/netstat in the same namespace are the oracles.

mod common;

use common::incident::{fact, ss, wait_for, Misbehaving};
use common::*;
use serde_json::Value;

fn observe(ns: &Netns, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["observe", "--netns", &ns.name, "--format", "json"];
    args.extend_from_slice(extra);
    let out = tg(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "observe gave no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["schema"], "tuneguard.observe/v1");
    (out.status.code().unwrap(), v)
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
        .map(|d| format!("{} {}", d["id"].as_str().unwrap(), d["subject"]))
        .collect()
}

/// A TcpExt counter read straight from the namespace's /proc/net/netstat.
fn netstat(ns: &Netns, name: &str) -> i64 {
    let out = ns.exec(&["cat", "/proc/net/netstat"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == name).unwrap();
    values[i].parse().unwrap()
}

#[test]
fn accept_queue_overflow_is_seen_per_port_and_blamed_on_the_backlog() {
    let ns = Netns::new();
    let server = Misbehaving::start(
        &ns,
        &["listen", "--addr", "127.0.0.1:4000", "--backlog", "8"],
    );
    // A quiet listener beside it must not be blamed.
    let _quiet = Misbehaving::start(
        &ns,
        &["listen", "--addr", "127.0.0.1:4001", "--backlog", "8"],
    );
    let _burst = Misbehaving::start(&ns, &["burst", "--to", "127.0.0.1:4000", "--count", "40"]);
    assert!(
        wait_for(10, || netstat(&ns, "ListenOverflows") > 0),
        "the burst did not overflow the queue"
    );

    let (code, v) = observe(&ns, &["--interval", "1.5"]);
    assert_eq!(code, 1, "an overflow is an error: {}", v["diagnoses"]);
    let d = diagnoses(&v, "accept-queue-overflow");
    assert_eq!(d.len(), 1, "{:?}", ids(&v));
    let d = d[0];
    assert_eq!(d["subject"], "127.0.0.1:4000");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["incident"], 1);
    assert!(d["settings"].to_string().contains("net.core.somaxconn"));
    // The kernel's word: the queue holds backlog + 1, and ss agrees.
    assert_eq!(d["evidence"]["accept_queue"], 9);
    assert_eq!(d["evidence"]["backlog"], 8);
    let line = ss(&ns, &["-ltn", "sport = :4000"]);
    let f: Vec<&str> = line[0].split_whitespace().collect();
    assert_eq!((f[1], f[2]), ("9", "8"), "ss: {line:?}");
    // Drops attributed to this socket, never more than the namespace counted.
    let drops = d["evidence"]["listener_drops"]
        .as_i64()
        .expect("per-socket drops");
    assert!(drops > 0);
    assert!(drops <= netstat(&ns, "ListenDrops"));
    assert!(d["evidence"]["ListenOverflows"].as_i64().unwrap() > 0);
    assert_eq!(d["evidence"]["owners"][0]["pid"], server.pid);
    // The quiet listener is shown, not blamed; nothing here is a loop.
    let listeners = v["sockets"]["listeners"].as_array().unwrap();
    let quiet = listeners
        .iter()
        .find(|l| l["local"] == "127.0.0.1:4001")
        .unwrap();
    assert_eq!(
        (quiet["queue"].as_i64(), quiet["full"].as_bool()),
        (Some(0), Some(false))
    );
    assert!(diagnoses(&v, "self-connection-loop").is_empty());
    // The 31 clients still in SYN-SENT show Send-Q 1 (their SYN's sequence number), not
    // a peer that does not read.
    assert!(ss(&ns, &["-tn", "state", "syn-sent"])
        .iter()
        .all(|l| l.split_whitespace().nth(1) == Some("1")));
    assert!(
        diagnoses(&v, "peer-not-reading").is_empty(),
        "{:?}",
        ids(&v)
    );

    // The text says what to read.
    let out = tg(&["observe", "--netns", &ns.name, "--once"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("accept-queue-overflow  127.0.0.1:4000"),
        "{text}"
    );
    assert!(
        text.contains("tuneguard explain net.core.somaxconn"),
        "{text}"
    );
    assert!(text.contains("like incident 1"), "{text}");
}

#[test]
fn close_wait_leak_is_grouped_by_peer_and_owner_with_keepalive_state() {
    let ns = Netns::new();
    let _peers = Misbehaving::start(
        &ns,
        &[
            "closer",
            "--addr",
            "127.0.0.2:5000",
            "--addr",
            "127.0.0.3:5000",
        ],
    );
    let leaky = Misbehaving::start(
        &ns,
        &[
            "leaky",
            "--to",
            "127.0.0.2:5000",
            "--to",
            "127.0.0.3:5000",
            "--per-peer",
            "12",
        ],
    );
    let kept = Misbehaving::start(
        &ns,
        &[
            "leaky",
            "--to",
            "127.0.0.3:5000",
            "--per-peer",
            "3",
            "--keepalive",
        ],
    );
    assert!(
        wait_for(10, || ss(&ns, &["-tn", "state", "close-wait"]).len() == 27),
        "expected 27 CLOSE_WAIT sockets: {:?}",
        ss(&ns, &["-tn", "state", "close-wait"])
    );

    let (code, v) = observe(&ns, &["--interval", "1"]);
    assert_eq!(code, 0, "27 CLOSE_WAIT is a warning, not an error");
    let cw = &v["sockets"]["close_wait"];
    assert_eq!(cw["total"], 27);
    assert_eq!(cw["persisted"], 27);
    // Each shows Recv-Q 1 in ss (the FIN, not data): no unread data, and no reader
    // diagnosis; the application has not even read the end of file.
    assert!(ss(&ns, &["-tn", "state", "close-wait"])
        .iter()
        .all(|l| l.split_whitespace().next() == Some("1")));
    assert_eq!(cw["unread_bytes"], 0);
    assert_eq!(cw["eof_unread"], 27);
    assert!(
        diagnoses(&v, "reader-not-reading").is_empty(),
        "{:?}",
        ids(&v)
    );
    assert_eq!(cw["peers"], 2);
    // Keepalive timers as the kernel shows them (ss -o: timer:(keepalive,...)).
    let armed = ss(&ns, &["-tno", "state", "close-wait"])
        .iter()
        .filter(|l| l.contains("timer:(keepalive"))
        .count();
    assert_eq!(armed, 3);
    assert_eq!(cw["keepalive_armed"], 3);
    let peer = |a: &str| {
        cw["by_peer"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["peer"] == a)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            peer("127.0.0.2:5000")["count"].as_i64(),
            peer("127.0.0.2:5000")["keepalive_armed"].as_i64()
        ),
        (Some(12), Some(0))
    );
    assert_eq!(
        (
            peer("127.0.0.3:5000")["count"].as_i64(),
            peer("127.0.0.3:5000")["keepalive_armed"].as_i64()
        ),
        (Some(15), Some(3))
    );
    let owners = cw["by_owner"].as_array().unwrap();
    assert_eq!(owners[0]["pid"], leaky.pid);
    assert_eq!(owners[0]["count"], 24);
    assert_eq!(owners[0]["name"], "misbehave");
    assert_eq!(owners[1]["pid"], kept.pid);
    assert_eq!(owners[1]["count"], 3);
    // The peer closed at least a second ago (tcp_info: nothing heard since its FIN).
    assert!(cw["oldest_idle_s"].as_f64().unwrap() >= 1.0, "{cw}");

    // One diagnosis per leaking process, each with its own keepalive count.
    let d = diagnoses(&v, "close-wait-leak");
    assert_eq!(d.len(), 2, "{:?}", ids(&v));
    let (d, k) = (d[0], d[1]);
    assert_eq!(d["cause"], "application");
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["incident"], 3);
    assert_eq!(d["subject"], format!("misbehave (pid {})", leaky.pid));
    assert_eq!(
        (
            d["evidence"]["close_wait"].as_i64(),
            d["evidence"]["keepalive_armed"].as_i64()
        ),
        (Some(24), Some(0))
    );
    let why = d["explanation"].as_str().unwrap();
    assert!(
        why.contains("never called close()") && why.contains("SO_KEEPALIVE"),
        "{why}"
    );
    // Without a timer, the advice is what SO_KEEPALIVE alone would give here.
    assert!(why.contains("7200 + 75 × 9 = 7875 s"), "{why}");
    assert!(d["settings"]
        .to_string()
        .contains("net.ipv4.tcp_keepalive_time"));
    // The process that set SO_KEEPALIVE with TCP_KEEPIDLE=600 is judged by its sockets'
    // own timers (ss -o shows them), not by the 7200 s default: information only.
    assert_eq!(k["subject"], format!("misbehave (pid {})", kept.pid));
    assert_eq!(k["severity"], "info");
    assert_eq!(k["evidence"]["keepalive_armed"], 3);
    let [lo, hi] = [0, 1].map(|i| k["evidence"]["keepalive_expires_s"][i].as_f64().unwrap());
    assert!(lo > 0.0 && hi <= 600.0, "{}", k["evidence"]);
    let ss_timers: Vec<f64> = ss(&ns, &["-tno", "state", "close-wait"])
        .iter()
        .filter_map(|l| {
            let t = l.split("timer:(keepalive,").nth(1)?;
            let secs = t.split(',').next()?;
            // ss prints "9min58sec" or "58sec".
            let (m, s) = match secs.split_once("min") {
                Some((m, s)) => (m.parse::<f64>().ok()?, s),
                None => (0.0, secs),
            };
            Some(m * 60.0 + s.trim_end_matches("sec").parse::<f64>().unwrap_or(0.0))
        })
        .collect();
    assert_eq!(ss_timers.len(), 3);
    assert!(
        ss_timers.iter().all(|t| *t <= hi + 1.0),
        "{ss_timers:?} vs {hi}"
    );
    let why = k["explanation"].as_str().unwrap();
    assert!(why.contains("their own keepalive timer armed"), "{why}");
    assert!(!why.contains("7875"), "{why}");
    // --no-owners skips the /proc scan and says so.
    let (_, v) = observe(&ns, &["--once", "--no-owners"]);
    assert_eq!(v["owners"]["looked_up"], false);
    assert_eq!(
        v["sockets"]["close_wait"]["by_owner"],
        serde_json::json!([])
    );
}

#[test]
fn a_reader_that_stops_reading_shows_on_both_ends() {
    let ns = Netns::new();
    let sink = Misbehaving::start(
        &ns,
        &["sink", "--addr", "127.0.0.1:6000", "--rcvbuf", "65536"],
    );
    let source = Misbehaving::start(
        &ns,
        &["source", "--to", "127.0.0.1:6000", "--bytes", "16000000"],
    );
    let written: u64 = fact(&source.ready, "bytes")
        .or(fact(&source.ready, "written"))
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    assert!(written > 0, "{}", source.ready);
    // Wait until the queues settle (the window closes).
    assert!(
        wait_for(10, || ss(&ns, &["-tno", "state", "established"])
            .iter()
            .any(|l| l.contains("persist"))),
        "{:?}",
        ss(&ns, &["-tno"])
    );

    let (code, v) = observe(&ns, &["--interval", "1"]);
    assert_eq!(code, 0);
    let reader = diagnoses(&v, "reader-not-reading");
    let peer = diagnoses(&v, "peer-not-reading");
    assert_eq!((reader.len(), peer.len()), (1, 1), "{:?}", ids(&v));
    let (r, p) = (&reader[0]["evidence"], &peer[0]["evidence"]);
    assert_eq!(r["local"], "127.0.0.1:6000");
    assert_eq!(p["remote"], "127.0.0.1:6000");
    assert_eq!(r["owners"][0]["pid"], sink.pid);
    assert_eq!(p["owners"][0]["pid"], source.pid);
    assert_eq!(p["zero_window_probe"], true);
    assert!(r["recv_q"][1].as_i64().unwrap() > 0 && p["send_q"][1].as_i64().unwrap() > 0);
    // Both ends are here and paired.
    let stuck = v["sockets"]["stuck"].as_array().unwrap();
    assert!(
        stuck.iter().all(|s| s["peer_on_this_host"] == true),
        "{stuck:?}"
    );
    // ss's Recv-Q on the sink's socket is what observe reported in its second sample.
    let line = ss(&ns, &["-tn", "sport = :6000"]);
    let f: Vec<&str> = line[0].split_whitespace().collect();
    assert_eq!(f[1], r["recv_q"][1].to_string(), "ss: {line:?}");
    assert_eq!(reader[0]["cause"], "application");
    assert!(reader[0]["explanation"]
        .as_str()
        .unwrap()
        .contains("stopped calling recv()"));
}

#[test]
fn a_proxy_connecting_to_itself_is_called_a_loop() {
    let ns = Netns::new();
    let proxy = Misbehaving::start(
        &ns,
        &[
            "selfloop",
            "--addr",
            "127.0.0.1:7000",
            "--rate",
            "40",
            "--max",
            "2000",
        ],
    );
    let (code, v) = observe(&ns, &["--interval", "1"]);
    assert_eq!(code, 1, "{:?}", ids(&v));
    let d = diagnoses(&v, "self-connection-loop");
    assert_eq!(d.len(), 1, "{:?}", ids(&v));
    let e = &d[0]["evidence"];
    assert_eq!(d[0]["subject"], "127.0.0.1:7000");
    assert_eq!(e["same_process"], true);
    assert_eq!(e["client_owners"][0]["pid"], proxy.pid);
    assert_eq!(e["listener_owners"][0]["pid"], proxy.pid);
    assert!(e["per_second"].as_f64().unwrap() >= 10.0, "{e}");
    assert_eq!(d[0]["incident"], 5);
    // One sample cannot tell a loop from a standing local connection: no verdict.
    let (_, v) = observe(&ns, &["--once"]);
    assert!(
        diagnoses(&v, "self-connection-loop").is_empty(),
        "{:?}",
        ids(&v)
    );
    assert!(v["sockets"]["to_self"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["target"] == "127.0.0.1:7000"));
}

#[test]
fn the_census_agrees_with_ss_and_a_quiet_namespace_has_nothing_to_say() {
    let ns = Netns::new();
    let (code, v) = observe(&ns, &["--interval", "0.2"]);
    assert_eq!(code, 0);
    assert_eq!(v["diagnoses"], serde_json::json!([]));
    assert_eq!(v["sockets"]["total"], 0);
    let _peers = Misbehaving::start(&ns, &["closer", "--addr", "127.0.0.2:5000"]);
    let _leaky = Misbehaving::start(&ns, &["leaky", "--to", "127.0.0.2:5000", "--per-peer", "5"]);
    assert!(wait_for(10, || ss(&ns, &["-tn", "state", "close-wait"])
        .len()
        == 5));
    let (_, v) = observe(&ns, &["--once"]);
    let all = ss(&ns, &["-tan"]);
    assert_eq!(
        v["sockets"]["total"].as_u64().unwrap() as usize,
        all.len(),
        "{all:?}"
    );
    let by_state = &v["sockets"]["by_state"];
    for (ours, theirs) in [
        ("LISTEN", "LISTEN"),
        ("CLOSE-WAIT", "CLOSE-WAIT"),
        ("FIN-WAIT-2", "FIN-WAIT-2"),
    ] {
        let n = all.iter().filter(|l| l.starts_with(theirs)).count() as u64;
        assert_eq!(by_state[ours].as_u64().unwrap_or(0), n, "{ours}: {all:?}");
    }
    assert_eq!(v["samples"], 1);
    assert_eq!(v["states"], "all");
    // Only CLOSE_WAIT, as `ss state close-wait`: the census is of that state alone.
    let (_, v) = observe(&ns, &["--once", "--state", "close-wait"]);
    assert_eq!(v["states"], serde_json::json!(["CLOSE-WAIT"]));
    assert_eq!(v["sockets"]["total"], 5);
    assert_eq!(
        v["sockets"]["by_state"],
        serde_json::json!({"CLOSE-WAIT": 5})
    );
    assert_eq!(v["sockets"]["listeners"], serde_json::json!([]));
}

#[test]
fn a_captured_tree_gives_the_counter_part_and_audit_carries_evidence() {
    let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc-capture");
    let out = tg(&["observe", "--proc", tree, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["host"]["hostname"], "shop-web-1");
    assert_eq!(v["sockets"], Value::Null);
    assert_eq!(v["samples"], 1);
    let d = diagnoses(&v, "accept-queue-overflowed");
    assert_eq!(d.len(), 1, "{:?}", ids(&v));
    assert_eq!(d[0]["evidence"]["ListenOverflows"], 31877);
    assert_eq!(v["settings"]["net.core.somaxconn"], "128");

    let out = tg(&["audit", "--proc", tree, "--no-nginx", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "sysctl/net.core.somaxconn")
        .unwrap();
    assert_eq!(
        f["evidence"],
        serde_json::json!({"ListenOverflows": 31877, "ListenDrops": 31877})
    );
    let out = tg(&["audit", "--proc", tree, "--no-nginx"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("evidence: ListenDrops 31,877 · ListenOverflows 31,877"),
        "{text}"
    );
}
