//! The kernel is the oracle for catalog::accept: every string of a table of tricky ones
//! is written to a per-namespace key of each handler type inside a throwaway network
//! namespace, as a loader writes it (the text and a newline, straight to /proc/sys),
//! and whether the kernel took it and what it then holds must equal the model's answer.

mod common;
use common::*;
use std::process::Command;
use tuneguard::catalog::{accept, lookup};

/// (accepted, value before, value after) for each text, written in order.
fn kernel_writes(ns: &Netns, key: &str, texts: &[&str]) -> Vec<(bool, String, String)> {
    assert!(key.starts_with("net.") && !GLOBAL_NET_KEYS.contains(&key));
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let script = r#"f=$1; shift
for v in "$@"; do
  b=$(cat "$f" | tr '\t' ' ')
  if printf '%s\n' "$v" > "$f" 2>/dev/null; then r=1; else r=0; fi
  printf '%s\t%s\t%s\n' "$r" "$b" "$(cat "$f" | tr '\t' ' ')"
done"#;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, "sh", "-c", script, "sh", &path]);
    cmd.args(texts);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let ok = f.next() == Some("1");
            (ok, f.next().unwrap().into(), f.next().unwrap().into())
        })
        .collect()
}

fn ints(s: &str) -> Vec<i64> {
    s.split_whitespace().map(|x| x.parse().unwrap()).collect()
}

/// Writes `texts` to `key` on the real kernel and checks each against the model.
fn agree(key: &str, texts: &[&str], hz: u32) {
    let info = lookup(key).unwrap();
    let ns = Netns::new();
    let got = kernel_writes(&ns, key, texts);
    assert_eq!(got.len(), texts.len());
    for (text, (ok, before, after)) in texts.iter().zip(got) {
        let o = accept::write(&info.shape, Some(&ints(&before)), text, hz);
        assert_eq!(
            (o.error.is_none(), o.value),
            (ok, Some(ints(&after))),
            "{key}: writing {text:?} over {before:?}: the kernel said {}, the model {:?}",
            if ok { "yes" } else { "EINVAL" },
            o.error
        );
    }
}

const TRICKY: &[&str] = &[
    "8192",
    "\"16384\"",
    "'300'",
    "0x10",
    "0X1f",
    "0x",
    "0x1g",
    "010",
    "08",
    "+5",
    "-0",
    "-1",
    "-0x10",
    " 7",
    "\t9",
    "7 # note",
    "7\t# note",
    "7#x",
    "7abc",
    "7,8",
    "1 2",
    "1.5",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967296",
    "99999999999999999999",
    "00000000000000000001",
    "000000000000000000001",
    "-0000000000000000001",
    "",
    "x",
    "-",
    "255",
    "256",
    "0377",
    "3",
];

/// The HZ this kernel was built with, found as the kernel shows it: the largest number
/// of seconds tcp_keepalive_time takes is INT_MAX / HZ.
fn probe_hz() -> u32 {
    let ns = Netns::new();
    let key = "net.ipv4.tcp_keepalive_time";
    let found: Vec<u32> = [100u32, 250, 300, 1000]
        .into_iter()
        .filter(|hz| {
            let limit = i32::MAX / *hz as i32;
            let r = kernel_writes(&ns, key, &[&limit.to_string(), &(limit + 1).to_string()]);
            r[0].0 && !r[1].0
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "INT_MAX/HZ is the jiffies limit for exactly one HZ"
    );
    found[0]
}

#[test]
fn the_model_reads_every_tricky_string_as_the_kernel_does() {
    require_root();
    let hz = probe_hz();
    // tuneguard checks at HZ=1000, the smallest limit: what it accepts every build takes.
    assert!(i32::MAX / accept::HZ as i32 <= i32::MAX / hz as i32);
    for key in [
        "net.core.somaxconn",           // proc_dointvec_minmax, min 0
        "net.ipv4.tcp_max_syn_backlog", // proc_dointvec
        "net.ipv4.tcp_keepalive_time",  // proc_dointvec_jiffies
        "net.ipv4.tcp_fin_timeout",     // proc_dointvec_jiffies
        "net.ipv4.tcp_syncookies",      // proc_dou8vec_minmax
        "net.ipv4.tcp_tw_reuse",        // proc_dou8vec_minmax 0..2
        "net.ipv4.tcp_retries2",        // proc_dou8vec_minmax
    ] {
        agree(key, TRICKY, hz);
    }
    let limit = i32::MAX / hz as i32;
    let edges: Vec<String> = [limit, limit + 1, -limit, -limit - 1]
        .iter()
        .map(i32::to_string)
        .collect();
    let edges: Vec<&str> = edges.iter().map(String::as_str).collect();
    agree("net.ipv4.tcp_keepalive_intvl", &edges, hz);
}

#[test]
fn vectors_store_field_by_field_and_the_port_range_all_or_nothing() {
    require_root();
    let hz = 1000;
    agree(
        "net.ipv4.tcp_rmem",
        &[
            "4096 87380 6291456",
            "4096 131072",
            "0 1 1",
            "1 1 1 # c",
            "4096,87380,6291456",
            "1 2 3 4",
            "5 6 x",
            "7 -1 9",
            "8\t9\t10",
            "0x1000 010 3",
            "",
        ],
        hz,
    );
    agree(
        "net.ipv4.ip_local_port_range",
        &[
            "1024 65535",
            "2000",
            "1 1",
            "0 10",
            "5000 4000",
            "1024 65536",
            "1024\t60000",
            "1024 60000 70000",
            "1023 60000",
            "1024 1024",
            "3000 x",
            "\"1024 60000\"",
            "70000",
        ],
        hz,
    );
}
