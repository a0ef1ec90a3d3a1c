//! The nginx version a configuration is judged by, end to end: read from the nginx
//! binary of a `--root` tree or of the running master, given with `--nginx-version`, or
//! the documented default; said in the text report and the JSON. Debian's nginx 1.22 is
//! the oracle (`nginx -t` on the very file tuneguard reads). A binary root does not
//! control alone is never read for it, nor run.

mod common;

use common::nginx::{binary, Prefix};
use common::{run, Netns, Run};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copied host: R/etc/nginx/nginx.conf and Debian's nginx at R/usr/sbin/nginx.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new(servers: &str) -> Root {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("usr/sbin")).unwrap();
        std::fs::copy(binary(), r.join("usr/sbin/nginx")).unwrap();
        let root = Root { dir };
        root.write_conf(servers);
        root
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn bin(&self) -> PathBuf {
        self.path().join("usr/sbin/nginx")
    }

    /// nginx.conf: the preamble of common::nginx (lines 1-3) and an http{} block whose
    /// first line (line 4) holds the temp paths, then `servers`.
    fn write_conf(&self, servers: &str) {
        let p = Prefix {
            dir: tempfile::tempdir_in(self.path()).unwrap(),
        };
        let text = format!(
            "{}http {{ {}\n{servers}}}\n",
            p.preamble(),
            p.http_preamble()
        );
        std::fs::create_dir_all(self.path().join("etc/nginx")).unwrap();
        std::fs::write(self.path().join("etc/nginx/nginx.conf"), text).unwrap();
        // The prefix stays for nginx -t's pid and log paths.
        std::mem::forget(p);
    }

    /// `nginx -t` of the real binary on the very file: (accepted, stderr).
    fn nginx_t(&self) -> (bool, String) {
        let out = Command::new(binary())
            .arg("-p")
            .arg(self.path())
            .arg("-c")
            .arg(self.path().join("etc/nginx/nginx.conf"))
            .args(["-e", "stderr", "-t"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn audit(&self, extra: &[&str]) -> Run {
        let root = self.path().to_str().unwrap();
        let mut args = vec!["audit", "--root", root, "--proc", "none", "--only", "nginx"];
        args.extend_from_slice(extra);
        let r = run(&args);
        assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
        r
    }

    fn json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        self.audit(&args).json()
    }
}

/// The messages of the report's failing nginx/config findings.
fn refusals(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["id"].as_str().unwrap().starts_with("nginx/config") && f["severity"] == "error"
        })
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect()
}

/// nginx's `[emerg] MESSAGE in FILE:LINE`, as (MESSAGE, LINE).
fn emerg(stderr: &str) -> (String, u32) {
    let msg = stderr.split_once("[emerg] ").unwrap().1;
    let msg = msg.split_once(": ").unwrap().1.lines().next().unwrap();
    let (text, at) = msg.rsplit_once(" in ").unwrap();
    (text.into(), at.rsplit_once(':').unwrap().1.parse().unwrap())
}

/// Same verdict as `nginx -t` of the binary in the root, same words, same line.
fn agrees_with_nginx_t(root: &Root, r: &Value) {
    let (ok, stderr) = root.nginx_t();
    let ours = refusals(r);
    if ok {
        assert_eq!(ours, Vec::<String>::new(), "nginx accepts: {stderr}");
    } else {
        let (msg, line) = emerg(&stderr);
        assert_eq!(
            ours.first().map(String::as_str),
            Some(format!("nginx -t fails: {msg} in /etc/nginx/nginx.conf:{line}").as_str()),
            "nginx said: {stderr}"
        );
    }
}

/// Valid for nginx 1.25.0 and later (the certificate files are not read by nginx 1.22,
/// which stops at `quic`, nor by tuneguard).
const QUIC: &str =
    "server { listen 8443 quic; ssl_certificate c.pem; ssl_certificate_key k.pem; return 200; }\n";

#[test]
fn quic_is_refused_by_the_1_22_binary_and_accepted_when_1_25_is_given() {
    common::require_root();
    let root = Root::new(QUIC);
    // The binary in the root is nginx 1.22: it refuses quic, and so does tuneguard.
    let (ok, stderr) = root.nginx_t();
    assert!(
        !ok && stderr.contains("invalid parameter \"quic\""),
        "{stderr}"
    );
    let r = root.json(&[]);
    agrees_with_nginx_t(&root, &r);
    let v = &r["nginx"]["version"];
    assert_eq!(v["version"], "1.22.1", "{v}");
    assert_eq!(v["source"], "binary");
    assert_eq!(v["binary"], root.bin().to_str().unwrap());
    let text = root.audit(&["-v"]);
    assert_eq!(text.code, 1, "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!(
            "nginx: nginx 1.22.1, read from the binary {}",
            root.bin().display()
        )),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("fix: nginx 1.22.1 does not know listen ... quic (nginx 1.25.0 brought it)"),
        "{}",
        text.stdout
    );

    // Said to run 1.25.0: accepted, and the report says which version and from where.
    let r = root.json(&["--nginx-version", "1.25.0"]);
    assert_eq!(refusals(&r), Vec::<String>::new(), "{r:#}");
    assert_eq!(r["nginx"]["version"]["source"], "flag");
    assert_eq!(r["nginx"]["version"]["version"], "1.25.0");
    let text = root.audit(&["--nginx-version", "1.25.0"]);
    assert_eq!(text.code, 0, "{}", text.stdout);
    assert!(
        text.stdout
            .contains("nginx: nginx 1.25.0, as given with --nginx-version"),
        "{}",
        text.stdout
    );
    // The QUIC socket is UDP: no accept queue to check.
    assert!(
        text.stdout.contains("declares no listening TCP socket"),
        "{}",
        text.stdout
    );
    let bad = run(&[
        "audit",
        "--root",
        root.path().to_str().unwrap(),
        "--proc",
        "none",
        "--nginx-version",
        "1.25",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad
        .stderr
        .contains("--nginx-version 1.25: expected MAJOR.MINOR.PATCH"));

    // No binary at all: the newest version tuneguard knows, and why.
    std::fs::remove_file(root.bin()).unwrap();
    let r = root.json(&[]);
    assert_eq!(refusals(&r), Vec::<String>::new(), "{r:#}");
    let v = &r["nginx"]["version"];
    assert_eq!(v["source"], "default", "{v}");
    assert_eq!(
        v["version"],
        tuneguard::host::nginx::versions::NEWEST.to_string()
    );
    assert_eq!(v["binary"], Value::Null);
    let text = root.audit(&[]);
    assert!(
        text.stdout.contains("assumed (the newest tuneguard knows")
            && text
                .stdout
                .contains("the version could not be read (no nginx binary at")
            && text.stdout.contains(&root.bin().display().to_string()),
        "{}",
        text.stdout
    );
}

/// Through the CLI with the binary in the root: each version-dependent word, the
/// verdict of `nginx -t` of that binary.
#[test]
fn each_version_dependent_word_gets_the_verdict_of_the_root_s_binary() {
    common::require_root();
    let root = Root::new("");
    for server in [
        "server { listen 8001 quic reuseport; return 200; }",
        "server { listen 8001 http2; return 200; }",
        "server { listen 8001; http2 on; return 200; }",
        "server { listen 8001; http3 on; return 200; }",
        "server { listen 8001 reuseport backlog=9 fastopen=3 deferred so_keepalive=on; return 200; }",
        "server { listen 127.0.0.1:8001 bind rcvbuf=8k sndbuf=8k proxy_protocol; return 200; }",
        "server { listen [::1]:8001 ipv6only=on; return 200; }",
        "server { listen 8001 setfib=1; return 200; }",
        "server { listen 8001 multipath; return 200; }",
        "server { listen 8001-8002; return 200; }",
        "server { listen 8001 udp; return 200; }",
    ] {
        root.write_conf(&format!("{server}\n"));
        let r = root.json(&[]);
        assert_eq!(r["nginx"]["version"]["source"], "binary", "{r:#}");
        agrees_with_nginx_t(&root, &r);
    }
}

/// Runs `sh -c SCRIPT` as nobody.
fn as_nobody(script: &str) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["sh", "-c", script])
        .output()
        .expect("setpriv (util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The version in the report and why it was not read from `bin`.
fn not_read(root: &Root, why: &str) {
    let r = root.json(&[]);
    let v = &r["nginx"]["version"];
    assert_eq!(v["source"], "default", "{v}");
    let passed: Vec<&str> = v["passed_over"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        passed
            .iter()
            .any(|p| p.contains(why) && p.contains("not read for the version")),
        "{passed:?}"
    );
    // Judged by the default (the newest): quic passes; the planted 1.9.0 would refuse it.
    assert_eq!(refusals(&r), Vec::<String>::new(), "{r:#}");
    let discovery = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "nginx/discovery")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(discovery["severity"], "warning");
    assert!(
        discovery["message"].as_str().unwrap().contains(why),
        "{discovery}"
    );
    let text = root.audit(&[]);
    assert!(
        text.stdout.contains("the version could not be read") && text.stdout.contains(why),
        "{}",
        text.stdout
    );
}

#[test]
fn a_binary_root_does_not_control_alone_is_neither_read_nor_run_for_the_version() {
    common::require_root();
    let root = Root::new(QUIC);
    let witness = root.path().join("executed");
    let sbin = root.path().join("usr/sbin");
    std::fs::remove_file(root.bin()).unwrap();
    // Root's sticky directory (as /tmp): nobody may create a file in it, and does, a
    // "binary" claiming nginx 1.9.0 (which would refuse quic) that leaves a witness
    // when run.
    std::fs::set_permissions(&sbin, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let fake = format!(
        "printf '#!/bin/sh\\ntouch {}\\n# nginx version: nginx/1.9.0\\n' > {b}; chmod 755 {b}",
        witness.display(),
        b = root.bin().display()
    );
    as_nobody(&fake);
    not_read(&root, "is owned by uid 65534, not root");

    // Root's, but its group may write it.
    std::os::unix::fs::chown(root.bin(), Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&sbin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(root.bin(), std::fs::Permissions::from_mode(0o775)).unwrap();
    not_read(&root, "is writable by its group");

    // A FIFO where the binary should be: refused, and nothing hangs.
    std::fs::remove_file(root.bin()).unwrap();
    let made = Command::new("mkfifo").arg(root.bin()).status().unwrap();
    assert!(made.success());
    not_read(&root, "is not a regular file");

    // A link that leads out of the root, to the host's (real, root's) nginx.
    std::fs::remove_file(root.bin()).unwrap();
    std::os::unix::fs::symlink(binary(), root.bin()).unwrap();
    not_read(&root, "leads out of the root");

    assert!(!witness.exists(), "the planted binary was run");
}

fn audit_ns(ns: &Netns) -> Value {
    let r = run(&[
        "audit", "--netns", &ns.name, "--only", "nginx", "--format", "json",
    ]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    r.json()
}

/// Live: the running master's binary (found through the sockets it holds) is the
/// nginx whose version counts, and only while it is the very file the master runs.
#[test]
fn the_running_master_s_binary_gives_the_version() {
    let ns = Netns::new();
    let p = Prefix::new();
    p.write_http(
        "nginx.conf",
        "server { listen 127.0.0.1:8080; return 200; }\n",
    );
    // A copy of the binary, started, then replaced by another file (an upgrade not yet
    // restarted, or what another mount namespace shows at the path).
    let bin = p.path().join("sbin/nginx");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(binary(), &bin).unwrap();
    p.start_with(&bin, &ns).expect("nginx starts");
    let r = audit_ns(&ns);
    let v = &r["nginx"]["version"];
    assert_eq!(v["source"], "binary", "{r:#}");
    assert_eq!(
        v["binary"],
        std::fs::canonicalize(&bin).unwrap().to_str().unwrap()
    );
    assert_eq!(v["version"], common::nginx::version().to_string());

    std::fs::remove_file(&bin).unwrap();
    std::fs::write(&bin, b"\0nginx/1.9.0\0").unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = audit_ns(&ns);
    let v = &r["nginx"]["version"];
    assert_eq!(v["source"], "default", "{r:#}");
    let passed = v["passed_over"].to_string();
    assert!(
        passed.contains("is not the file nginx master pid")
            && passed.contains("not read for the version"),
        "{passed}"
    );
}
