//! Includes against the real nginx: the order and the files `nginx -T` prints, errors
//! where `nginx -t` stops, and the same tree read from the files and from the dump.

mod common;

use common::nginx::Prefix;
use std::path::Path;
use tuneguard::host::nginx::{self, Config, Directive};

/// Every directive with its words, depth-first, includes expanded.
fn words(conf: &Config) -> Vec<String> {
    fn go(conf: &Config, dirs: Vec<&Directive>, out: &mut Vec<String>) {
        for d in dirs {
            out.push(format!("{} {}", d.name, conf.values(d).join(" ")));
            go(conf, d.children(), out);
        }
    }
    let mut out = Vec::new();
    go(conf, conf.top(), &mut out);
    out
}

/// The files `nginx -T` prints, in its order.
fn dumped(dump: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(dump)
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# configuration file ")?
                .strip_suffix(':')
                .map(str::to_string)
        })
        .collect()
}

fn tree() -> Prefix {
    let p = Prefix::new();
    p.write(
        "nginx.conf",
        &format!(
            "{}http {{\n  {}\n  include sites/*.conf;\n  include empty/*.conf;\n  include snippets/twice.conf;\n}}\n",
            p.preamble(),
            p.http_preamble()
        ),
    );
    // Byte order: digits, upper case, underscore, lower case.
    for (name, port) in [
        ("b.conf", 8001),
        ("B.conf", 8002),
        ("_.conf", 8003),
        ("10.conf", 8004),
        ("9.conf", 8005),
    ] {
        // Nested includes resolve against the main config's directory, not this one's.
        p.write(
            &format!("sites/{name}"),
            &format!("server {{ listen 127.0.0.1:{port}; include snippets/common.conf; }}\n"),
        );
    }
    p.write("sites/.hidden.conf", "this would not parse\n");
    p.write(
        "sites/snippets/common.conf",
        "this is the wrong directory\n",
    );
    p.write("snippets/common.conf", "return 204;\n");
    p.write(
        "snippets/twice.conf",
        "server { listen 127.0.0.1:8006; include snippets/common.conf; }\n",
    );
    std::fs::create_dir_all(p.path().join("empty")).unwrap();
    p
}

#[test]
fn files_in_nginx_s_order_and_the_same_tree_from_the_dump() {
    let p = tree();
    let (ok, stderr) = p.test();
    assert!(ok, "{stderr}");
    let dump = p.dump();
    let conf = nginx::load(Path::new("/"), &p.conf()).unwrap();
    let ours: Vec<String> = conf
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    assert_eq!(ours, dumped(&dump), "files in first-parsed order");
    let rel: Vec<String> = ours
        .iter()
        .map(|f| {
            f.trim_start_matches(&p.path().display().to_string())
                .to_string()
        })
        .collect();
    assert_eq!(
        rel,
        [
            "/nginx.conf",
            "/sites/10.conf",
            "/snippets/common.conf",
            "/sites/9.conf",
            "/sites/B.conf",
            "/sites/_.conf",
            "/sites/b.conf",
            "/snippets/twice.conf"
        ]
    );
    // common.conf is included six times and parsed six times; the dump holds it once.
    assert_eq!(
        words(&conf)
            .iter()
            .filter(|w| w.as_str() == "return 204")
            .count(),
        6
    );
    let from_dump = nginx::load_dump(&dump).unwrap();
    assert_eq!(words(&from_dump), words(&conf));
    for (a, b) in conf.files.iter().zip(&from_dump.files) {
        assert_eq!(a.bytes, b.bytes, "{}", a.path.display());
    }
}

#[test]
fn a_missing_file_stops_both_where_nginx_stops() {
    let p = tree();
    p.write(
        "snippets/twice.conf",
        "server {\n  include snippets/nope.conf;\n}\n",
    );
    let (ok, stderr) = p.test();
    assert!(!ok);
    let e = nginx::load(Path::new("/"), &p.conf()).unwrap_err();
    assert!(e.message.starts_with("open() "), "{e}");
    let theirs = format!(
        "{} in {}:2",
        e.message,
        p.path().join("snippets/twice.conf").display()
    );
    assert!(stderr.contains(&theirs), "nginx: {stderr}\nours: {theirs}");
}

#[test]
fn an_include_cycle_is_an_error_not_a_crash() {
    let p = Prefix::new();
    p.write("nginx.conf", &format!("{}include a.conf;\n", p.preamble()));
    p.write("a.conf", "include b.conf;\n");
    p.write("b.conf", "\ninclude a.conf;\n");
    // nginx itself recurses until it runs out of stack or descriptors.
    let (ok, _) = p.test();
    assert!(!ok, "nginx accepted an include cycle");
    let e = nginx::load(Path::new("/"), &p.conf()).unwrap_err();
    assert!(e.message.starts_with("include cycle: "), "{e}");
    assert!(e.message.ends_with("/a.conf"), "{e}");
    assert_eq!((e.file, e.line), (p.path().join("b.conf"), 2));
}

#[test]
fn unbalanced_braces_in_an_included_file() {
    let p = tree();
    p.write("snippets/twice.conf", "server {\n");
    let (ok, stderr) = p.test();
    assert!(!ok);
    let e = nginx::load(Path::new("/"), &p.conf()).unwrap_err();
    let theirs = format!("{} in {}:{}", e.message, e.file.display(), e.line);
    assert!(stderr.contains(&theirs), "nginx: {stderr}\nours: {theirs}");
}
