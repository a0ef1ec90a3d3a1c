//! `tuneguard capture -o DIR` then `audit --capture DIR`: a namespace with somaxconn 128
//! and real nginx (TLS, a certificate and its key), with sysctl.d files under a temp
//! --root, audited live and from its capture: the same findings. The key and the
//! certificate never reach the capture; a non-root run, a non-empty directory and a
//! link as the output are refused with nothing written.

mod common;

use common::nginx::Prefix;
use common::{bin, require_root, run, run_with, Netns};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every regular file under `dir`, recursively (links are not followed).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A self-signed certificate and its key, made by openssl.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("site.crt"), dir.join("site.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=capture.test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// The report without what depends on when or from where it was read.
fn comparable(mut r: Value) -> Value {
    r["persisted"].as_object_mut().unwrap().remove("root");
    r
}

#[test]
fn a_capture_audits_as_the_host_did_and_holds_no_key_or_certificate() {
    let ns = Netns::new();
    ns.set("net.core.somaxconn", "128");
    let p = Prefix::new();
    let root = p.path();
    let (cert, key) = certificate(root);
    let conf = format!(
        "{}http {{ {}\n server {{ listen 127.0.0.1:8443 ssl backlog=4096; ssl_certificate {}; ssl_certificate_key {}; return 200 a; }}\n server {{ listen 127.0.0.1:8080; return 200 b; }}\n}}\n",
        p.preamble(),
        p.http_preamble(),
        cert.display(),
        key.display()
    );
    p.write("nginx.conf", &conf);
    p.write("etc/nginx/nginx.conf", &conf);
    p.write(
        "etc/sysctl.d/90-web.conf",
        "net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies = 1\n",
    );
    p.write("etc/sysctl.conf", "net.ipv4.tcp_keepalive_time = 600\n");
    // Debian's link, and one whose target is gone.
    std::os::unix::fs::symlink("../sysctl.conf", root.join("etc/sysctl.d/99-sysctl.conf")).unwrap();
    std::os::unix::fs::symlink("../gone.conf", root.join("etc/sysctl.d/98-gone.conf")).unwrap();
    p.start(&ns).expect("nginx starts");
    // The listeners' owners are part of the findings: wait for the worker, so that the
    // capture and the live audit see the same processes.
    let master = std::fs::read_to_string(p.path().join("nginx.pid")).unwrap();
    let worker_up = || {
        std::fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            master.trim(),
            master.trim()
        ))
        .is_ok_and(|c| !c.trim().is_empty())
    };
    for _ in 0..250 {
        if worker_up() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(worker_up(), "nginx's worker did not start");

    // One connection, so that the namespace's counters are not all zero.
    let got = ns.exec(&[
        "bash",
        "-c",
        "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
    ]);
    assert!(
        String::from_utf8_lossy(&got.stdout).contains("200"),
        "{got:?}"
    );
    let r = root.to_str().unwrap();
    let select = [
        "--netns",
        &ns.name,
        "--root",
        r,
        "--nginx-conf",
        "/etc/nginx/nginx.conf",
        "--profile",
        "web-frontend",
    ];
    let out_parent = tempfile::tempdir().unwrap();
    let out = out_parent.path().join("cap");
    let o = out.to_str().unwrap();
    let mut args = vec!["capture", "-o", o];
    args.extend_from_slice(&select);
    let c = run(&args);
    assert_eq!(c.code, 0, "{}", c.stderr);

    let mut args = vec!["audit", "--format", "json"];
    args.extend_from_slice(&select);
    let host = run(&args);
    assert!(host.code == 0 || host.code == 1, "{}", host.stderr);
    let captured = run(&[
        "audit",
        "--capture",
        o,
        "--profile",
        "web-frontend",
        "--format",
        "json",
    ]);
    assert_eq!(captured.code, host.code, "{}", captured.stderr);
    let host_code = host.code;
    let (host, captured) = (host.json(), captured.json());
    // The findings the live checks make: the 8080 listener capped at 128 by somaxconn.
    assert!(
        host["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"].as_str().unwrap().starts_with("nginx/")),
        "{host:#}"
    );
    assert!(!host["findings"].as_array().unwrap().is_empty());
    assert_eq!(comparable(host), comparable(captured.clone()));

    // Nothing of the key or the certificate is in the capture, and the manifest says
    // both were left out.
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap().to_string();
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let cert_body = cert_pem.lines().nth(1).unwrap().to_string();
    let written = files(&out);
    assert!(
        written.iter().any(|f| f.ends_with("nginx-T.conf")),
        "{written:?}"
    );
    assert!(
        written
            .iter()
            .any(|f| f.ends_with("root/etc/sysctl.d/90-web.conf")),
        "{written:?}"
    );
    assert!(
        written
            .iter()
            .any(|f| f.ends_with("proc/sys/net/core/somaxconn")),
        "{written:?}"
    );
    for f in written.iter().filter(|f| !f.is_symlink()) {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert!(
            !text.contains(&key_body) && !text.contains("PRIVATE KEY"),
            "{}",
            f.display()
        );
        assert!(
            !text.contains(&cert_body) && !text.contains("BEGIN CERTIFICATE"),
            "{}",
            f.display()
        );
    }
    let manifest = std::fs::read_to_string(out.join("MANIFEST")).unwrap();
    for f in [&key, &cert] {
        assert!(
            manifest.contains(&format!("{}\tnamed by ssl_certificate", f.display())),
            "{manifest}"
        );
    }
    // MANIFEST lists every file written.
    for f in &written {
        let rel = f.strip_prefix(&out).unwrap().display().to_string();
        assert!(
            manifest.contains(&format!("  {rel}\t")),
            "{rel} not in {manifest}"
        );
    }
    // Links stay links, leading inside the root tree.
    assert_eq!(
        std::fs::read_link(out.join("root/etc/sysctl.d/99-sysctl.conf")).unwrap(),
        Path::new("../../etc/sysctl.conf")
    );
    assert_eq!(
        std::fs::read_link(out.join("root/etc/sysctl.d/98-gone.conf")).unwrap(),
        Path::new("../../etc/gone.conf")
    );
    // Root's alone: the directory 0700, the files 0600.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&out).unwrap().mode() & 0o7777, 0o700);
    for f in written.iter().filter(|f| !f.is_symlink()) {
        assert_eq!(
            std::fs::metadata(f).unwrap().mode() & 0o077,
            0,
            "{}",
            f.display()
        );
    }

    // observe reads the same capture: one sample, the namespace's counters.
    let obs = run(&["observe", "--capture", o, "--format", "json"]);
    assert!(obs.code == 0 || obs.code == 1, "{}", obs.stderr);
    let obs = obs.json();
    let live = run(&["observe", "--netns", &ns.name, "--once", "--format", "json"]);
    assert!(live.code == 0 || live.code == 1, "{}", live.stderr);
    let live = live.json();
    assert_eq!(obs["host"], live["host"], "{obs:#}");
    // The counters are the namespace's (one connection was made there before the
    // capture), the settings the namespace's.
    let own = |r: &Value| -> Vec<Value> {
        r["counters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["scope"] == "namespace")
            .cloned()
            .collect()
    };
    assert_eq!(own(&obs), own(&live));
    let opens = own(&obs)
        .into_iter()
        .find(|c| c["name"] == "Tcp:PassiveOpens")
        .unwrap();
    assert!(opens["total"].as_u64().unwrap() >= 1, "{opens}");
    assert_eq!(obs["settings"], live["settings"]);
    // The socket census and what observe makes of it: nginx's listeners with their
    // owners, the connection's TIME_WAIT.
    for part in ["sockets", "owners", "diagnoses", "summary"] {
        assert_eq!(obs[part], live[part], "{part}: {obs:#}");
    }
    assert!(obs["sockets"].to_string().contains("8080"), "{obs:#}");

    // The single-file form: `capture -o x.tar.gz`, then `audit|observe --capture
    // x.tar.gz`: the directory form's findings, and no extracted tree left behind.
    let tgz = out_parent.path().join("x.tar.gz");
    let t = tgz.to_str().unwrap();
    let mut args = vec!["capture", "-o", t];
    args.extend_from_slice(&select);
    let c = run(&args);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(c.stdout.contains("x.tar.gz"), "{}", c.stdout);
    // Nothing but the archive was left beside it (the staging directory is gone).
    let mut beside: Vec<String> = std::fs::read_dir(out_parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["cap", "x.tar.gz"]);
    assert_eq!(std::fs::metadata(&tgz).unwrap().mode() & 0o7777, 0o600);
    let tmp = tempfile::tempdir().unwrap();
    let env = [("TMPDIR", tmp.path().to_str().unwrap())];
    let from_tgz = run_with(
        &[
            "audit",
            "--capture",
            t,
            "--profile",
            "web-frontend",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(from_tgz.code, host_code, "{}", from_tgz.stderr);
    assert_eq!(comparable(from_tgz.json()), comparable(captured.clone()));
    let obs_tgz = run_with(&["observe", "--capture", t, "--format", "json"], &env);
    assert!(obs_tgz.code == 0 || obs_tgz.code == 1, "{}", obs_tgz.stderr);
    let obs_tgz = obs_tgz.json();
    assert_eq!(obs_tgz["host"], obs["host"]);
    assert_eq!(own(&obs_tgz), own(&obs));
    for part in ["settings", "sockets", "owners", "diagnoses", "summary"] {
        assert_eq!(obs_tgz[part], obs[part], "{part}: {obs_tgz:#}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // The archive holds the directory's files and links, under one top directory,
    // root's, 0644 and 0755, the links as they are in the directory.
    let listing = archive_listing(&tgz);
    for (path, kind, mode, link) in &listing {
        assert!(path == "x" || path.starts_with("x/"), "{path}");
        match kind {
            'f' => assert_eq!(*mode, 0o644, "{path}"),
            'd' => assert_eq!(*mode, 0o755, "{path}"),
            'l' => {
                let rel = path.strip_prefix("x/").unwrap();
                assert_eq!(
                    std::fs::read_link(out.join(rel)).unwrap(),
                    Path::new(link),
                    "{path}"
                );
            }
            _ => panic!("{path}: {kind}"),
        }
    }
    let in_archive: Vec<&str> = listing
        .iter()
        .filter(|e| e.1 != 'd')
        .map(|e| e.0.strip_prefix("x/").unwrap())
        .collect();
    for f in &written {
        let rel = f.strip_prefix(&out).unwrap().to_str().unwrap();
        assert!(in_archive.contains(&rel), "{rel} not in {in_archive:?}");
    }
    p.stop(&ns);
}

/// Every entry of a .tar.gz: name, kind (f, d, l), mode, link target; owners 0/0.
fn archive_listing(tgz: &Path) -> Vec<(String, char, u32, String)> {
    let f = std::fs::File::open(tgz).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            other => panic!("{other:?}"),
        };
        out.push((
            e.path().unwrap().to_string_lossy().into_owned(),
            kind,
            h.mode().unwrap(),
            e.link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ));
    }
    out
}

#[test]
fn refuses_a_non_root_run_a_non_empty_directory_and_a_link() {
    require_root();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("cap");
    let nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .args(["capture", "-o"])
        .arg(&out)
        .arg("--no-nginx")
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(2));
    let err = String::from_utf8_lossy(&nobody.stderr);
    assert!(err.contains("tuneguard capture runs as root"), "{err}");
    assert!(!out.exists());

    // A directory that already holds something: left as it was.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("planted"), "x").unwrap();
    let r = run(&["capture", "-o", out.to_str().unwrap(), "--no-nginx"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("not empty: refused, nothing written"),
        "{}",
        r.stderr
    );
    assert_eq!(files(&out), vec![out.join("planted")]);

    // A link to an empty directory: nothing written through it.
    let target = parent.path().join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    let link = parent.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let r = run(&["capture", "-o", link.to_str().unwrap(), "--no-nginx"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("a symbolic link: refused, nothing written"),
        "{}",
        r.stderr
    );
    assert!(files(&target).is_empty());

    // --capture reads a capture, alone: not with another host's flags, not for apply.
    let dir = parent.path().join("none");
    let d = dir.to_str().unwrap();
    for (args, says) in [
        (vec!["audit", "--capture", d], "manifest.json"),
        (
            vec!["audit", "--capture", d, "--root", "/tmp"],
            "give --capture or --root, not both",
        ),
        (
            vec!["audit", "--capture", d, "--netns", "x"],
            "cannot be used with",
        ),
        (
            vec!["apply", "--capture", d, "--dry-run"],
            "apply changes this host: it does not take --capture",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }

    // A directory another user owns.
    let theirs = parent.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let r = run(&["capture", "-o", theirs.to_str().unwrap(), "--no-nginx"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("not root's alone (uid 65534"),
        "{}",
        r.stderr
    );
    assert!(files(&theirs).is_empty());
}

/// The host's own namespace (read only: a temp --root, no nginx): the defaults a new
/// namespace shows are learned for every catalog key by capture, and used by the
/// capture's audit only where the host's audit of that profile learns them.
#[test]
fn the_initial_namespace_audits_the_same_from_its_capture() {
    require_root();
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("90-web.conf"), "net.core.somaxconn = 8192\n").unwrap();
    let r = root.path().to_str().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("cap");
    let o = out.to_str().unwrap();
    let c = run(&["capture", "-o", o, "--root", r, "--no-nginx"]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    for profile in ["baseline", "web-frontend"] {
        let host = run(&[
            "audit",
            "--root",
            r,
            "--no-nginx",
            "--profile",
            profile,
            "--format",
            "json",
        ]);
        assert!(host.code == 0 || host.code == 1, "{}", host.stderr);
        let captured = run(&[
            "audit",
            "--capture",
            o,
            "--no-nginx",
            "--profile",
            profile,
            "--format",
            "json",
        ]);
        assert_eq!(captured.code, host.code, "{}", captured.stderr);
        // The same directory packed by hand, its contents without a top directory
        // (`tar czf FILE -C DIR .`, names `./...`): read as the directory is.
        let flat = parent.path().join("flat.tgz");
        let tar = Command::new("tar")
            .args(["czf", flat.to_str().unwrap(), "-C", o, "."])
            .status()
            .unwrap();
        assert!(tar.success());
        let packed = run(&[
            "audit",
            "--capture",
            flat.to_str().unwrap(),
            "--no-nginx",
            "--profile",
            profile,
            "--format",
            "json",
        ]);
        assert_eq!(packed.code, host.code, "{}", packed.stderr);
        let (host, captured, packed) = (host.json(), captured.json(), packed.json());
        assert_eq!(host["host"]["initial_netns"], true);
        assert_eq!(comparable(host), comparable(captured.clone()), "{profile}");
        assert_eq!(
            comparable(captured),
            comparable(packed),
            "{profile}: flat archive"
        );
    }
}

/// One raw entry of a hostile archive: written with its name as given (the tar crate's
/// own path checks bypassed), as a hand-made archive would be.
struct Raw<'a> {
    name: &'a str,
    kind: tar::EntryType,
    mode: u32,
    data: &'a [u8],
    link: &'a str,
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Regular,
        mode: 0o644,
        data,
        link: "",
    }
}

fn link<'a>(name: &'a str, to: &'a str) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Symlink,
        mode: 0o777,
        data: b"",
        link: to,
    }
}

fn raw_tar(entries: &[Raw]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_size(e.data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let g = h.as_gnu_mut().unwrap();
        g.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        g.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        h.set_cksum();
        b.append(&h, e.data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

/// Hostile capture archives: each is refused with exit 2, a message naming the file and
/// the reason, nothing written outside the private directory, and that directory gone.
#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let inbox = t.path().join("in");
    let tmp = t.path().join("tmp");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    let manifest = file("cap/manifest.json", b"{}");
    let dir = |name| Raw {
        name,
        kind: tar::EntryType::Directory,
        mode: 0o755,
        data: b"",
        link: "",
    };
    let special = |name, kind| Raw {
        name,
        kind,
        mode: 0o644,
        data: b"",
        link: "",
    };
    let abs_victim = t.path().join("abs-victim");
    let abs_name = abs_victim.to_str().unwrap().to_string();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            gzip(&raw_tar(&[dir("cap"), file("cap/../../../x", b"x")])),
            "a `..` component",
        ),
        (
            "dotdot-top",
            gzip(&raw_tar(&[file("../x", b"x")])),
            "a `..` component",
        ),
        (
            "absolute",
            gzip(&raw_tar(&[dir("cap"), file(&abs_name, b"x")])),
            "an absolute name",
        ),
        (
            "link-shadow",
            gzip(&raw_tar(&[dir("cap"), link("cap/s", "/etc/shadow")])),
            "absolute path /etc/shadow",
        ),
        (
            "link-up",
            gzip(&raw_tar(&[dir("cap"), link("cap/root/x", "../../x")])),
            "leads out of the archive's top directory",
        ),
        (
            "through-link",
            gzip(&raw_tar(&[
                dir("cap"),
                dir("cap/sub"),
                link("cap/d", "sub"),
                file("cap/d/x", b"x"),
            ])),
            "goes through d, which the archive made a symbolic link",
        ),
        (
            "hard-link",
            gzip(&raw_tar(&[
                dir("cap"),
                Raw {
                    name: "cap/h",
                    kind: tar::EntryType::Link,
                    mode: 0o644,
                    data: b"",
                    link: "/etc/shadow",
                },
            ])),
            "a hard link",
        ),
        (
            "fifo",
            gzip(&raw_tar(&[
                dir("cap"),
                special("cap/f", tar::EntryType::Fifo),
            ])),
            "a FIFO",
        ),
        (
            "device",
            gzip(&raw_tar(&[
                dir("cap"),
                special("cap/c", tar::EntryType::Char),
            ])),
            "a device",
        ),
        (
            "setuid",
            gzip(&raw_tar(&[
                dir("cap"),
                Raw {
                    mode: 0o4755,
                    ..file("cap/suid", b"#!/bin/sh\n")
                },
            ])),
            "set-user-ID",
        ),
        (
            "two-tops",
            gzip(&raw_tar(&[dir("cap"), file("other/x", b"x")])),
            "outside the archive's top directory cap",
        ),
        (
            "twice",
            gzip(&raw_tar(&[
                dir("cap"),
                file("cap/a", b"1"),
                file("cap/a", b"2"),
            ])),
            "named twice",
        ),
        (
            "not-gzip",
            b"this is no archive\n".to_vec(),
            "not a gzip-compressed tar",
        ),
        (
            "not-tar",
            gzip(b"hello, not a tar stream"),
            "not a gzip-compressed tar",
        ),
        (
            "plain-tar",
            raw_tar(&[manifest]),
            "not a gzip-compressed tar",
        ),
        ("empty", gzip(b""), "holds no entry"),
    ];
    let good = gzip(&raw_tar(&[dir("cap"), file("cap/a", &[7u8; 100_000])]));
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    cases.push(("truncated", truncated, "truncated or corrupt"));
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid - 8..mid + 8] {
        *b ^= 0x5a;
    }
    cases.push(("corrupt", corrupt, "truncated or corrupt"));
    // Gzip bombs: one 300 MiB file of zeros (300 KB compressed), refused by its header;
    // five of 60 MiB, refused at the total cap.
    cases.push(("bomb", bomb(&[300 << 20]), "over the 64 MiB"));
    cases.push((
        "bomb-total",
        bomb(&[60 << 20; 5]),
        "more than 256 MiB in all",
    ));
    // A tree with no manifest: a well-formed archive, but no capture.
    cases.push((
        "no-manifest",
        gzip(&raw_tar(&[dir("cap"), file("cap/x", b"x")])),
        "the archive holds no capture",
    ));

    for (name, bytes, says) in &cases {
        let path = inbox.join(format!("{name}.tar.gz"));
        std::fs::write(&path, bytes).unwrap();
        let p = path.to_str().unwrap();
        for cmd in ["audit", "observe"] {
            let r = run_with(
                &[cmd, "--capture", p, "--no-nginx"][..if cmd == "audit" { 4 } else { 3 }],
                &[("TMPDIR", tmp.to_str().unwrap())],
            );
            assert_eq!(r.code, 2, "{name} {cmd}: {}{}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains(&format!("--capture {p}")),
                "{name} {cmd}: {}",
                r.stderr
            );
            assert!(r.stderr.contains(says), "{name} {cmd}: {}", r.stderr);
            // The private directory is gone, and nothing was written beside it.
            assert_eq!(
                std::fs::read_dir(&tmp).unwrap().count(),
                0,
                "{name} {cmd}: left in TMPDIR"
            );
            let mut top: Vec<String> = std::fs::read_dir(t.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            top.sort();
            assert_eq!(top, ["in", "tmp"], "{name} {cmd}");
            assert!(!abs_victim.exists());
        }
        std::fs::remove_file(&path).unwrap();
    }
}

/// Ctrl-C (SIGINT) or SIGTERM during a large extraction: the process still ends by the
/// signal, and the private directory in $TMPDIR (here 240 MiB being written) is gone.
#[test]
fn a_signal_during_extraction_leaves_nothing_behind() {
    use std::os::unix::process::ExitStatusExt;
    let t = tempfile::tempdir().unwrap();
    let tmp = t.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let slow = t.path().join("slow.tar.gz");
    std::fs::write(&slow, bomb(&[60 << 20; 4])).unwrap();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut signalled = false;
        // The extraction takes a fraction of a second here: the signal must land while
        // the directory exists, so a run that ended first is tried again.
        for _ in 0..5 {
            let mut child = Command::new(bin())
                .args(["audit", "--capture", slow.to_str().unwrap(), "--no-nginx"])
                .env("TMPDIR", &tmp)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let status = loop {
                if let Some(s) = child.try_wait().unwrap() {
                    break s;
                }
                // Extracting: the private directory holds the top directory already.
                let busy = std::fs::read_dir(&tmp).unwrap().any(|e| {
                    std::fs::read_dir(e.unwrap().path()).is_ok_and(|mut d| d.next().is_some())
                });
                if busy && !signalled {
                    // SAFETY: kill has no memory preconditions; the pid is our child's.
                    unsafe { libc::kill(child.id() as i32, sig) };
                    signalled = true;
                }
                assert!(std::time::Instant::now() < deadline, "did not end");
                std::thread::sleep(std::time::Duration::from_millis(1));
            };
            if !signalled {
                continue;
            }
            assert_eq!(status.signal(), Some(sig), "{status:?}");
            break;
        }
        assert!(
            signalled,
            "the extraction never ran long enough to be signalled"
        );
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "signal {sig}: left in TMPDIR: {left:?}");
    }
}

/// A gzip-compressed tar of files of zeros of the given sizes, made by Python's tarfile
/// (zlib in C: seconds, where the test build's deflate would take minutes).
fn bomb(sizes: &[u64]) -> Vec<u8> {
    let python = std::env::var("TUNEGUARD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import io, sys, tarfile
class Zeros(io.RawIOBase):
    def __init__(self, n): self.n = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as t:
    d = tarfile.TarInfo("cap"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
    for i, n in enumerate(sys.argv[1:]):
        f = tarfile.TarInfo("cap/zeros%d" % i); f.size = int(n); f.mode = 0o644
        t.addfile(f, io.BufferedReader(Zeros(int(n))))
sys.stdout.buffer.write(out.getvalue())
"#;
    let o = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(sizes.iter().map(|s| s.to_string()))
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.len() < 2 << 20, "{}", o.stdout.len());
    o.stdout
}

/// `capture -o FILE.tar.gz` refuses what `capture -o DIR` refuses: a non-root run, an
/// existing output, a link at the output path, a parent another user owns or may write.
#[test]
fn the_archive_form_refuses_as_the_directory_form_does() {
    require_root();
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("cap.tar.gz");
    let o = out.to_str().unwrap();
    let nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .args(["capture", "-o", o, "--no-nginx"])
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("tuneguard capture runs as root"));
    assert!(!out.exists());

    // An existing file: left as it was.
    std::fs::write(&out, "mine").unwrap();
    let r = run(&["capture", "-o", o, "--no-nginx"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("exists: refused, nothing written"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    std::fs::remove_file(&out).unwrap();

    // A link at the output path, to a file or to nothing: nothing written through it.
    let target = parent.path().join("elsewhere.tar.gz");
    let l = parent.path().join("link.tar.gz");
    std::os::unix::fs::symlink(&target, &l).unwrap();
    let r = run(&["capture", "-o", l.to_str().unwrap(), "--no-nginx"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("a symbolic link: refused, nothing written"),
        "{}",
        r.stderr
    );
    assert!(!target.exists());
    std::fs::write(&target, "theirs").unwrap();
    let r = run(&["capture", "-o", l.to_str().unwrap(), "--no-nginx"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs");

    // A parent another user owns, and one others may write: refused by both forms.
    use std::os::unix::fs::PermissionsExt;
    let theirs = parent.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let open = parent.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    for (d, says) in [
        (&theirs, "is owned by uid 65534"),
        (&open, "is writable by"),
    ] {
        for name in ["cap", "cap.tar.gz", "cap.tgz"] {
            let p = d.join(name);
            let r = run(&["capture", "-o", p.to_str().unwrap(), "--no-nginx"]);
            assert_eq!(r.code, 2, "{name}: {}", r.stdout);
            assert!(r.stderr.contains(says), "{name}: {}", r.stderr);
            assert!(
                r.stderr.contains("refused, nothing written"),
                "{name}: {}",
                r.stderr
            );
            assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "{name}");
        }
    }
    // Nothing left beside: no staging directory, no temp file.
    let mut left: Vec<String> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["elsewhere.tar.gz", "link.tar.gz", "open", "theirs"]);

    // A missing archive: exit 2, named.
    let missing = parent.path().join("missing.tar.gz");
    let r = run(&["audit", "--capture", missing.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.tar.gz"), "{}", r.stderr);
}
