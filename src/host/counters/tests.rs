//! Over text captured from a 6.18 kernel (tests/fixtures/proc/), trimmed where long.

use super::*;

const NETSTAT: &str = include_str!("../../../tests/fixtures/proc/netstat");
const SNMP: &str = include_str!("../../../tests/fixtures/proc/snmp");
const SOCKSTAT: &str = include_str!("../../../tests/fixtures/proc/sockstat");
const SOCKSTAT6: &str = include_str!("../../../tests/fixtures/proc/sockstat6");
const SLABINFO: &str = include_str!("../../../tests/fixtures/proc/slabinfo");
const MEMINFO: &str = include_str!("../../../tests/fixtures/proc/meminfo");

fn pairs(text: &str) -> Result<BTreeMap<String, i64>, String> {
    let mut m = BTreeMap::new();
    Counters::parse_pairs(text, &mut m).map(|()| m)
}

fn fixture_tree(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn netstat_fields_by_section_and_name() {
    let m = pairs(NETSTAT).unwrap();
    assert_eq!(m["TcpExt:ListenOverflows"], 15);
    assert_eq!(m["TcpExt:ListenDrops"], 15);
    assert_eq!(m["TcpExt:TW"], 139);
    assert_eq!(m["TcpExt:TCPAbortOnClose"], 69);
    assert_eq!(m["IpExt:InOctets"], 214402965);
    assert_eq!(m["MPTcpExt:MPCurrEstab"], 0);
    let names: usize = NETSTAT
        .lines()
        .step_by(2)
        .map(|l| l.split_whitespace().count() - 1)
        .sum();
    assert_eq!(m.len(), names);
}

#[test]
fn snmp_sections_and_a_signed_field() {
    let m = pairs(SNMP).unwrap();
    assert_eq!(m["Tcp:MaxConn"], -1);
    assert_eq!(m["Tcp:ActiveOpens"], 407);
    assert_eq!(m["Tcp:CurrEstab"], 0);
    assert_eq!(m["Tcp:OutRsts"], 263);
    assert_eq!(m["Ip:DefaultTTL"], 64);
    assert_eq!(m["IcmpMsg:InType3"], 4);
    assert_eq!(m["UdpLite:MemErrors"], 0);
}

/// A kernel that reorders sections and fields, and adds one, reads the same.
#[test]
fn reordered_and_extended_fields_read_the_same() {
    let lines: Vec<&str> = NETSTAT.lines().collect();
    let mut reordered = String::new();
    for pair in lines.chunks(2).rev() {
        let (section, names) = pair[0].split_once(' ').unwrap();
        let values = pair[1].split_once(' ').unwrap().1;
        let mut names: Vec<&str> = names.split(' ').collect();
        let mut values: Vec<&str> = values.split(' ').collect();
        names.reverse();
        values.reverse();
        names.insert(1, "TCPSomethingNew");
        values.insert(1, "77");
        reordered += &format!(
            "{section} {}\n{section} {}\n",
            names.join(" "),
            values.join(" ")
        );
    }
    let mut m = pairs(&reordered).unwrap();
    assert_eq!(m.remove("TcpExt:TCPSomethingNew"), Some(77));
    assert_eq!(m.remove("IpExt:TCPSomethingNew"), Some(77));
    assert_eq!(m.remove("MPTcpExt:TCPSomethingNew"), Some(77));
    assert_eq!(m, pairs(NETSTAT).unwrap());
}

#[test]
fn garbled_pairs_are_errors_naming_the_section() {
    let cases = [
        ("TcpExt: A B\nTcpExt: 1\n", "TcpExt: 2 names but 1 values"),
        (
            "TcpExt: A B\nTcpExt: 1 2\nIpExt: C\n",
            "IpExt: a line of names without",
        ),
        (
            "TcpExt: A B\nTcpExt: 1 x2\n",
            "TcpExt: B is \"x2\", not a number",
        ),
        (
            "TcpExt: A\nIpExt: 1\n",
            "TcpExt: its line of names is followed by a IpExt:",
        ),
        (
            "TcpExt A B\nTcpExt 1 2\n",
            "does not start with a \"Section:\"",
        ),
        ("TcpExt: A\nTcpExt: 99999999999999999999\n", "TcpExt: A is"),
    ];
    for (text, want) in cases {
        let mut m = BTreeMap::from([("kept".to_string(), 1)]);
        let err = Counters::parse_pairs(text, &mut m).unwrap_err();
        assert!(err.contains(want), "{text:?}: {err}");
        assert_eq!(m, BTreeMap::from([("kept".to_string(), 1)]), "{text:?}");
    }
    // Truncated anywhere, never a panic.
    for end in 0..NETSTAT.len() {
        let _ = pairs(&NETSTAT[..end]);
    }
}

#[test]
fn sockstat_pairs_by_protocol() {
    let mut m = BTreeMap::new();
    Counters::parse_sockstat(SOCKSTAT, &mut m, "sockstat").unwrap();
    Counters::parse_sockstat(SOCKSTAT6, &mut m, "sockstat6").unwrap();
    assert_eq!(m["sockstat:sockets used"], 11);
    assert_eq!(m["sockstat:TCP inuse"], 1);
    assert_eq!(m["sockstat:TCP orphan"], 0);
    assert_eq!(m["sockstat:TCP tw"], 0);
    assert_eq!(m["sockstat:TCP alloc"], 1);
    assert_eq!(m["sockstat:TCP mem"], 9);
    assert_eq!(m["sockstat:FRAG memory"], 0);
    assert_eq!(m["sockstat6:TCP6 inuse"], 0);
    assert_eq!(m["sockstat6:FRAG6 memory"], 0);

    let busy = "sockets: used 219\nTCP: inuse 7 orphan 0 tw 2 alloc 9 mem 1\nUDP: inuse 3 mem 2\n";
    let mut m = BTreeMap::new();
    Counters::parse_sockstat(busy, &mut m, "sockstat").unwrap();
    assert_eq!(m["sockstat:sockets used"], 219);
    assert_eq!(m["sockstat:TCP tw"], 2);
    assert_eq!(m["sockstat:UDP mem"], 2);
    assert_eq!(m.len(), 8);
}

#[test]
fn garbled_sockstat_is_an_error() {
    for (text, want) in [
        ("TCP: inuse 7 orphan\n", "TCP: a name without a value"),
        (
            "TCP: inuse seven\n",
            "TCP: inuse is \"seven\", not a number",
        ),
        ("TCP inuse 7\n", "is not a \"PROTO: name value"),
    ] {
        let mut m = BTreeMap::new();
        let err = Counters::parse_sockstat(text, &mut m, "sockstat").unwrap_err();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(m.is_empty());
    }
}

#[test]
fn slabinfo_keeps_the_tcp_caches() {
    let slabs = Counters::parse_slabinfo(SLABINFO).unwrap();
    let names: Vec<&str> = slabs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tw_sock_TCPv6",
            "request_sock_TCPv6",
            "TCPv6",
            "tw_sock_TCP",
            "request_sock_TCP",
            "TCP"
        ]
    );
    let tcp = slabs.iter().find(|s| s.name == "TCP").unwrap();
    assert_eq!(
        tcp,
        &Slab {
            name: "TCP".into(),
            active_objs: 131,
            num_objs: 208,
            objsize: 2368
        }
    );
    assert_eq!(tcp.bytes(), 208 * 2368);
}

#[test]
fn garbled_slabinfo_is_an_error() {
    let header = "slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> ...\n";
    for (text, want) in [
        ("", "is not a slabinfo header"),
        ("slabinfo - version: 1.1\n", "version 1.1"),
        (
            &format!("{header}TCP 131 lots 2368 13 8 : tunables 0 0 0 : slabdata 16 16 0\n"),
            "TCP: num_objs is \"lots\"",
        ),
        (
            &format!("{header}tw_sock_TCP 192 256\n"),
            "tw_sock_TCP: objsize is \"\"",
        ),
    ] {
        let err = Counters::parse_slabinfo(text).unwrap_err();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // Other caches are not looked at, however they look.
    assert_eq!(
        Counters::parse_slabinfo(&format!("{header}UDP x y z\n")),
        Ok(vec![])
    );
}

#[test]
fn mem_total_in_kib() {
    assert_eq!(parse_mem_total(MEMINFO), Ok(24684092));
    assert!(parse_mem_total("MemFree: 1 kB\n").is_err());
    assert!(parse_mem_total("MemTotal: 2030000 MB\n").is_err());
    assert!(parse_mem_total("MemTotal:\n").is_err());
}

/// Read-only: the running kernel's own files.
#[test]
fn reads_the_live_kernel() {
    let c = Counters::read(Path::new("/proc"));
    assert!(
        c.get("TcpExt:ListenOverflows").is_some(),
        "{:?}",
        c.problems
    );
    assert!(c.get("sockstat:TCP inuse").is_some(), "{:?}", c.problems);
    assert!(c.get("Tcp:CurrEstab").is_some(), "{:?}", c.problems);
    assert!(c.mem_total_kib.is_some_and(|k| k > 0));
    let proc_net = Path::new("/proc/net");
    assert!(
        !c.problems
            .iter()
            .any(|(p, _)| p.starts_with(proc_net) && !p.ends_with("sockstat6")),
        "{:?}",
        c.problems
    );
}

#[test]
fn the_incident_capture_shows_the_overflow() {
    let c = Counters::read(&fixture_tree("proc-capture"));
    assert_eq!(c.problems, vec![]);
    assert_eq!(c.get("TcpExt:ListenOverflows"), Some(31877));
    assert_eq!(c.get("TcpExt:ListenDrops"), Some(31877));
    assert_eq!(c.get("TcpExt:TCPReqQFullDoCookies"), Some(2214));
    assert_eq!(c.get("Tcp:MaxConn"), Some(-1));
    assert_eq!(c.get("sockstat6:TCP6 inuse"), Some(0));
    assert_eq!(c.mem_total_kib, Some(24684092));
    assert!(c.slab.unwrap_err().contains("is absent"));
}

#[test]
fn unreadable_files_become_problems_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("net")).unwrap();
    std::fs::write(
        root.join("net/netstat"),
        "TcpExt: ListenOverflows ListenDrops\nTcpExt: 3\n",
    )
    .unwrap();
    std::fs::write(root.join("net/snmp"), SNMP).unwrap();
    std::fs::write(root.join("net/sockstat"), SOCKSTAT).unwrap();
    std::fs::write(root.join("slabinfo"), SLABINFO).unwrap();
    std::fs::write(root.join("meminfo"), "MemFree: 1 kB\n").unwrap();

    let c = Counters::read(root);
    let problems: Vec<(&Path, &str)> = c
        .problems
        .iter()
        .map(|(p, w)| (p.as_path(), w.as_str()))
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(
        problems[0],
        (
            root.join("net/netstat").as_path(),
            "TcpExt: 2 names but 1 values"
        )
    );
    assert_eq!(problems[1].0, root.join("net/sockstat6"));
    assert!(problems[1].1.contains("No such file"), "{}", problems[1].1);
    assert_eq!(
        problems[2],
        (root.join("meminfo").as_path(), "no MemTotal line")
    );
    // What could be read was.
    assert_eq!(c.get("TcpExt:ListenOverflows"), None);
    assert_eq!(c.get("Tcp:ActiveOpens"), Some(407));
    assert_eq!(c.get("sockstat:TCP mem"), Some(9));
    assert_eq!(c.slab.as_ref().map(Vec::len), Ok(6));
    assert_eq!(c.mem_total_kib, None);

    std::fs::write(root.join("slabinfo"), "garbage\n").unwrap();
    let why = Counters::read(root).slab.unwrap_err();
    assert!(
        why.starts_with(&root.join("slabinfo").display().to_string()),
        "{why}"
    );
}

#[test]
fn delta_of_names_in_both_readings() {
    let mut a = Counters::default();
    let mut b = Counters::default();
    Counters::parse_pairs(
        "TcpExt: ListenOverflows Gone\nTcpExt: 10 1\n",
        &mut a.values,
    )
    .unwrap();
    Counters::parse_sockstat("TCP: inuse 9\n", &mut a.values, "sockstat").unwrap();
    Counters::parse_pairs(
        "TcpExt: New ListenOverflows\nTcpExt: 1 250\n",
        &mut b.values,
    )
    .unwrap();
    Counters::parse_sockstat("TCP: inuse 4\n", &mut b.values, "sockstat").unwrap();
    assert_eq!(
        delta(&a, &b),
        BTreeMap::from([
            ("TcpExt:ListenOverflows".to_string(), 240),
            ("sockstat:TCP inuse".to_string(), -5),
        ])
    );

    // An unsigned counter crossing 2^63 between readings still gives its change.
    let (mut a, mut b) = (Counters::default(), Counters::default());
    Counters::parse_pairs(
        "IpExt: InOctets\nIpExt: 9223372036854775807\n",
        &mut a.values,
    )
    .unwrap();
    Counters::parse_pairs(
        "IpExt: InOctets\nIpExt: 9223372036854775812\n",
        &mut b.values,
    )
    .unwrap();
    assert_eq!(delta(&a, &b)["IpExt:InOctets"], 5);
}
