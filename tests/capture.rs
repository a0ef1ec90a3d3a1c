//! `tuneguard capture -o DIR` then `audit --capture DIR`: a namespace with somaxconn 128
//! and real nginx (TLS, a certificate and its key), with sysctl.d files under a temp
//! --root, audited live and from its capture: the same findings. The key and the
//! certificate never reach the capture; a non-root run, a non-empty directory and a
//! link as the output are refused with nothing written.

mod common;

use common::nginx::Prefix;
use common::{bin, require_root, run, Netns};
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
    assert_eq!(comparable(host), comparable(captured));

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
    p.stop(&ns);
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
        let (host, captured) = (host.json(), captured.json());
        assert_eq!(host["host"]["initial_netns"], true);
        assert_eq!(comparable(host), comparable(captured), "{profile}");
    }
}
